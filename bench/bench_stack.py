"""`pulumi up` of N EbsSnapshot resources under the real Pulumi CLI, on the local EC2 emulator: the dynamic-provider
host's old pool of 4 against the widened one, side by side.

Every snapshot stays pending P seconds. For each N, P and arm, a fresh project, state backend and PULUMI_HOME run one
`pulumi up --skip-preview --parallel <N or --parallel>`; the emulator (in this process) is reset before each, so its
snapshots and call log are that run's alone. The "old" arm sets SNAPSHOT_PROVIDER_HOST_WORKERS=4, which leaves the
SDK host's pool of 4 untouched; everything else is the same code. P = 0 measures the per-resource floor.

    venv/bin/python -m bench.bench_stack                              # N = 1 8 32 64, P = 10 and 0, both arms
    venv/bin/python -m bench.bench_stack --n 1 8 --pending 3          # a quick check
    venv/bin/python -m bench.bench_stack --n 64 --pending 0 --arms new

Wall times depend on the machine (and on whatever else runs on it): the load average is printed with the table, and
CPU seconds with each run: those of `pulumi up` and everything it started (bench/tree_cpu.py: the plugin too, which
outlives the language host that started it), and of this process (the emulator). On a busy machine they compare where
wall times cannot.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.tree_cpu import TreeCpu
from emulator import Ec2Emulator
from snapshot_provider.plugin.install import write_plugin_dir

ROOT = Path(__file__).resolve().parent.parent
# old / new: the dynamic route with the SDK host's pool of 4 / widened; plugin: the same resources as a YAML program
# through the `ebs-snapshots` provider plugin (its own thread pool, no host adaptation).
ARM_ENV = {"old": {"SNAPSHOT_PROVIDER_HOST_WORKERS": "4"}, "new": {}, "plugin": {}}
REGION = "us-east-1"

PROGRAM = """\
import pulumi
from snapshot_provider import EbsSnapshot

for i, volume_id in enumerate(pulumi.Config().require_object("volume_ids")):
    EbsSnapshot(f"snap-{i}", volume_id=volume_id, tags={"bench": "stack"})
"""


def plugin_program(volumes: Sequence[str], plugin_dir: Path) -> str:
    """PROGRAM's resources in Pulumi YAML, served by the provider plugin in `plugin_dir`."""
    lines = [
        "name: bench-stack",
        "runtime: yaml",
        f"plugins:\n  providers:\n    - name: ebs-snapshots\n      path: {plugin_dir}",
        "resources:",
    ]
    for i, volume_id in enumerate(volumes):
        lines.append(
            f"  snap-{i}:\n    type: ebs-snapshots:index:EbsSnapshot\n"
            f"    properties:\n      volumeId: {volume_id}\n      tags:\n        bench: stack"
        )
    return "\n".join(lines) + "\n"


# --- the Pulumi CLI -------------------------------------------------------------------------------------------------
def pulumi_bin_dir() -> Path:
    """The directory of the Pulumi CLI: one on PATH, else the one scripts/engine.sh finds or builds."""
    found = shutil.which("pulumi")
    if found:
        return Path(found).resolve().parent
    built = subprocess.run(["bash", str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, check=True)
    return Path(built.stdout.strip())


@dataclass
class Project:
    """A throwaway Pulumi project: its directory and the environment every `pulumi` command of it runs with."""

    dir: Path
    env: dict[str, str]


def new_project(
    workdir: Path,
    bin_dir: Path,
    venv: Path,
    endpoint_url: str,
    extra_env: dict[str, str],
    volumes: list[str] | None = None,
) -> Project:
    """A project running PROGRAM with `venv`'s Python, its own file:// backend and PULUMI_HOME, against the emulator;
    with `volumes`, the YAML program of `plugin_program` instead.

    Nothing from this shell's PULUMI_*, AWS_* or PYTHONPATH gets through: the venv has the package installed."""
    project_dir, state_dir, home = workdir / "project", workdir / "state", workdir / "pulumi-home"
    for d in (project_dir, state_dir, home):
        d.mkdir(parents=True)
    (project_dir / "Pulumi.yaml").write_text(
        f"name: bench-stack\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {venv}\n"
    )
    (project_dir / "__main__.py").write_text(PROGRAM)
    if volumes is not None:
        (project_dir / "Pulumi.yaml").write_text(plugin_program(volumes, write_plugin_dir(workdir / "plugin", venv)))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_", "PYTHONPATH"))}
    env = inherited | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PULUMI_HOME": str(home),
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE": "bench-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    return Project(project_dir, env | extra_env)


def pulumi(project: Project, *args: str, timeout: float = 1800) -> None:
    result = subprocess.run(
        ["pulumi", "--non-interactive", *args],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# --- one run --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    n: int
    pending: float
    arm: str
    parallel: int


@dataclass
class Outcome:
    case: Case
    wall: float
    cpu: float  # `pulumi up` and its descendants (CLI, language host, program, plugins)
    emulator_cpu: float  # this process: the emulator's server
    peak_pending: int
    calls: collections.Counter[str] = field(default_factory=collections.Counter)

    def per_resource(self, action: str) -> float:
        return self.calls[action] / self.case.n


def run_case(emulator: Ec2Emulator, case: Case, bin_dir: Path, venv: Path) -> Outcome:
    """One `pulumi up` of `case.n` snapshots, each pending `case.pending` seconds, on a fresh emulator and stack."""
    emulator.reset()
    volumes = emulator.seed_volumes(case.n)
    emulator.configure(pending_seconds=case.pending)
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as workdir:
        plugin_volumes = volumes if case.arm == "plugin" else None
        project = new_project(Path(workdir), bin_dir, venv, emulator.url, ARM_ENV[case.arm], plugin_volumes)
        pulumi(project, "stack", "init", "bench")
        pulumi(project, "config", "set", "volume_ids", "--", json.dumps(volumes))
        emulator.clear_calls()
        own = cpu_seconds()
        with TreeCpu() as tree:
            started = time.monotonic()
            pulumi(project, "up", "--yes", "--skip-preview", "--parallel", str(case.parallel))
            wall = time.monotonic() - started
        cpu, emulator_cpu = tree.seconds, cpu_seconds() - own - tree.own
    check_all_recorded(emulator, case.n)
    calls = collections.Counter(c.action for c in emulator.calls())
    return Outcome(case, wall, cpu, emulator_cpu, peak_pending(emulator), calls)


def cpu_seconds() -> float:
    """This process's CPU seconds (the emulator's server, and the sampler's, subtracted by the caller)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def check_all_recorded(emulator: Ec2Emulator, n: int) -> None:
    """A benchmark of creates that did not all complete would measure something else."""
    done = [
        s
        for s in emulator.snapshots()
        if s["state"] == "completed" and s["tags"].get("pulumi-snapshot:attempt") == "recorded"
    ]
    if len(done) != n:
        raise RuntimeError(f"expected {n} completed, recorded snapshots after `pulumi up`, found {len(done)}")


def peak_pending(emulator: Ec2Emulator) -> int:
    """The most snapshots pending at one moment (from the emulator's own creation and completion times)."""
    backend = emulator.ec2_backend()
    made = [s for s in backend.snapshots.values() if not s.from_ami]
    return max_overlap([(s.created_at, s.completed_at()) for s in made])


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most half-open intervals [start, end) covering one point; an empty interval covers none."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in events:  # at equal times -1 sorts first: one ending as another starts is not an overlap
        running += delta
        peak = max(peak, running)
    return peak


# --- report ---------------------------------------------------------------------------------------------------------
COLUMNS = (
    "N",
    "P s",
    "arm",
    "--parallel",
    "wall s",
    "wall/P",
    "CPU s (up)",
    "CPU s (emulator)",
    "peak pending",
    "DescribeSnapshots/res",
    "GetCallerIdentity/res",
    "CreateTags/res",
)


def table(outcomes: Sequence[Outcome]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for o in outcomes:
        c = o.case
        cells = [
            str(c.n),
            f"{c.pending:g}",
            c.arm,
            str(c.parallel),
            f"{o.wall:.1f}",
            f"{o.wall / c.pending:.2f}" if c.pending else "-",
            f"{o.cpu:.1f}",
            f"{o.emulator_cpu:.1f}",
            str(o.peak_pending) if c.pending else "-",
            f"{o.per_resource('DescribeSnapshots'):.2f}",
            f"{o.per_resource('GetCallerIdentity'):.3f}",
            f"{o.per_resource('CreateTags'):.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find(outcomes: Sequence[Outcome], n: int, arm: str, pending: float) -> Outcome | None:
    return next((o for o in outcomes if (o.case.n, o.case.arm, o.case.pending) == (n, arm, pending)), None)


def verdict(ok: bool) -> str:
    return "holds" if ok else "MISSED"


def targets(outcomes: Sequence[Outcome]) -> list[str]:
    """The issue's targets, each with what was measured (or why it was not)."""
    lines = []
    slow = find(outcomes, 64, "new", 10)
    if slow is None:
        lines.append("target N = 64, P = 10 s, new: not run (needs --n 64 --pending 10 --arms new)")
    else:
        ratio = slow.wall / 10
        lines.append(
            f"target N = 64, P = 10 s, new, --parallel {slow.case.parallel}: wall/P <= 1.6: "
            f"{ratio:.2f}, {verdict(ratio <= 1.6)}"
        )
        lines.append(
            f"target N = 64, P = 10 s, new: peak pending = 64: {slow.peak_pending}, {verdict(slow.peak_pending == 64)}"
        )
    floor = find(outcomes, 64, "new", 0)
    if floor is None:
        lines.append("target N = 64, P = 0, new: not run (needs --n 64 --pending 0 --arms new)")
    else:
        lines.append(f"target N = 64, P = 0, new: wall <= 6 s: {floor.wall:.1f} s, {verdict(floor.wall <= 6)}")
    identities = [o.calls["GetCallerIdentity"] for o in outcomes if o.case.arm == "new"]
    if identities:
        lines.append(
            "target GetCallerIdentity: 1 per account selection (this stack has 1) per `up`, new arm: "
            f"{sorted(set(identities))} per run, {verdict(set(identities) == {1})}"
        )
    return lines


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


# --- main -----------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8, 32, 64], help="stack sizes (default 1 8 32 64)")
    parser.add_argument(
        "--pending", type=float, nargs="+", default=[10.0, 0.0], help="seconds each snapshot stays pending (10 0)"
    )
    parser.add_argument(
        "--arms", nargs="+", choices=sorted(ARM_ENV), default=["old", "new"], help="(old new; or plugin)"
    )
    parser.add_argument("--parallel", type=int, help="pulumi up --parallel (default: N, every resource at once)")
    parser.add_argument("--venv", type=Path, default=default_venv(), help="venv with this package (default: this one)")
    return parser.parse_args(argv)


def default_venv() -> Path:
    in_venv = sys.prefix != sys.base_prefix
    return Path(sys.prefix) if in_venv else ROOT / "venv"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    bin_dir = pulumi_bin_dir()
    cases = [Case(n, pending, arm, args.parallel or n) for pending in args.pending for n in args.n for arm in args.arms]
    print(f"{len(cases)} runs of `pulumi up` with {bin_dir / 'pulumi'}; before: {load()}", flush=True)
    outcomes = []
    with Ec2Emulator() as emulator:
        for case in cases:
            outcome = run_case(emulator, case, bin_dir, args.venv)
            print(f"  N={case.n} P={case.pending:g} {case.arm}: {outcome.wall:.1f} s", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    print(table(outcomes))
    print()
    for line in targets(outcomes):
        print(line)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
