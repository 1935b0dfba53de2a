"""A big `pulumi up`, measured: wall against EC2's API floor, and where the time goes, per layer and per function.

Each case is one `pulumi up --skip-preview --parallel N` of N EbsSnapshot resources (each pending P seconds) under
the real CLI, on a fresh stack, with the emulator in a process of its own so that every layer is a process: while the
`up` runs, each process's CPU time and memory are read from /proc every half second; the emulator's call log gives
the timeline (first and last CreateSnapshot, last `recorded` tag) and the calls per resource; its strict EC2 mode
(`configure(strict=True)`: token buckets with EC2's published sizes, listing delays, per-volume limits...) gives the
API floor. With py-spy (requirements-dev.txt), the Python layers' CPU is also broken down by code (`bench.pyspy`).

    venv/bin/python -m bench.profile_stack            # everything the scale issue asks for (about 25 minutes)
    venv/bin/python -m bench.profile_stack --n 256 --arms off on
    venv/bin/python -m bench.profile_stack --n 1000 --arms off skip-checkpoints no-backups no-stack-trace

Arms (`--arms`): `off` strict mode off; `on` strict mode on; `unpaced` strict mode on with the provider's pacing off
(SNAPSHOT_API_PACING=off: botocore's retries alone); `skip-checkpoints` off + PULUMI_SKIP_CHECKPOINTS=true;
`no-backups` off + PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true; `no-stack-trace` off, with a program that
turns off the SDK's registration stack traces (a private SDK function: measured, not recommended).

The API floor of a run is the least time EC2's buckets allow for the calls it made: for each bucket (one per action),
(calls - capacity) / refill per second, the largest over the buckets (the strict emulator's sizes; the published ones
when the emulator does not report them). Layers: `engine` (the `pulumi` CLI), `language host`, `program` (the user's
__main__.py), `provider host` (`python -m pulumi.dynamic`, our provider code included), `emulator`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import pyspy
from bench.bench_stack import PROGRAM, default_venv, load, new_project, pulumi, pulumi_bin_dir
from snapshot_provider.ec2 import pacing

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LAYERS = ("engine", "language host", "program", "provider host", "emulator", "other")
PYTHON_LAYERS = ("program", "provider host", "emulator")

# A program that drops the SDK's registration stack traces (`pulumi.runtime.resource._get_stack_trace`, private):
# what they cost, measured. Pulumi then records no source position for the resources.
NO_STACK_TRACE = (
    "import pulumi.runtime.resource\n"
    "from pulumi.runtime.proto import source_pb2\n"
    "pulumi.runtime.resource._get_stack_trace = lambda: source_pb2.StackTrace()\n"
)


@dataclass(frozen=True)
class Arm:
    """One way of running the same stack."""

    name: str
    strict: bool = False
    env: tuple[tuple[str, str], ...] = ()
    program_prefix: str = ""


# With strict mode off the emulator has no API budget, as an account whose limits AWS raised far enough: the provider's
# pacing is told so (off), and what is left is this package's own cost and the engine's. With strict mode on, the
# provider paces by the emulator's buckets (EC2's published sizes), as it does by default against AWS.
UNLIMITED = (("SNAPSHOT_API_PACING", "off"),)
ARMS = {
    "off": Arm("off", env=UNLIMITED),
    "on": Arm("on", strict=True),
    "unpaced": Arm("unpaced", strict=True, env=UNLIMITED),
    "skip-checkpoints": Arm("skip-checkpoints", env=(*UNLIMITED, ("PULUMI_SKIP_CHECKPOINTS", "true"))),
    "no-backups": Arm("no-backups", env=(*UNLIMITED, ("PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS", "true"))),
    "no-stack-trace": Arm("no-stack-trace", env=UNLIMITED, program_prefix=NO_STACK_TRACE),
}

# The targets, with P = 10 s, and what the code measured before this work (main at ebadd79, quiet machine).
BEFORE_DESCRIBES_PER_RESOURCE = {64: 0.16, 256: 0.16, 1000: 0.71}
# A single Python process busy this much of the wall sets the pace (the emulator serves from one process).
EMULATOR_BOUND = 0.8


@dataclass(frozen=True)
class Case:
    n: int
    pending: float
    arm: Arm
    parallel: int


def default_cases(pending: float) -> list[Case]:
    """Everything the scale issue asks for: N = 64 (and its P = 0 floor), 256 and 1000, strict mode off and on; at
    N = 1000 also the provider unpaced, the engine's settings and the SDK's stack traces."""
    plan = [(64, "off"), (64, "on"), (256, "off"), (256, "on"), (1000, "off"), (1000, "on"), (1000, "unpaced")]
    plan += [(1000, "skip-checkpoints"), (1000, "no-backups"), (1000, "no-stack-trace")]
    cases = [Case(n, pending, ARMS[arm], n) for n, arm in plan]
    return [*cases[:2], Case(64, 0.0, ARMS["off"], 64), *cases[2:]]


# --- processes --------------------------------------------------------------------------------------------------------
def layer_of(cmdline: list[str]) -> str:
    """Which layer a process of the run belongs to, from its command line."""
    text = " ".join(cmdline)
    if "pulumi.dynamic" in text:
        return "provider host"
    if "pulumi-language-python-exec" in text:
        return "program"
    if cmdline and cmdline[0].endswith("pulumi-language-python"):
        return "language host"
    if "-m emulator" in text:
        return "emulator"
    if cmdline and os.path.basename(cmdline[0]) == "pulumi":
        return "engine"
    return "other"


@dataclass
class Usage:
    """The last reading of one process: CPU seconds so far and resident memory."""

    layer: str
    cpu: float = 0.0
    rss: int = 0


def read_process(pid: int) -> tuple[float, int, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = [part.decode() for part in f.read().split(b"\0") if part]
    except OSError:
        return None
    # Fields after the command name: state is [0], utime [11], stime [12], rss (pages) [21].
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, int(fields[21]) * PAGE, cmdline


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass
class Sampler:
    """Reads every process of the run every `every` seconds until stopped; keeps each one's last reading, and tells
    `on_new` about each process it sees first."""

    roots: list[int]
    every: float = 0.5
    on_new: Callable[[int, str], None] | None = None
    usage: dict[int, Usage] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        rss_now: dict[str, int] = {}
        for root in self.roots:
            for pid in descendants(root):
                reading = read_process(pid)
                if reading is None:
                    continue
                cpu, rss, cmdline = reading
                if pid not in self.usage and self.on_new is not None:
                    self.on_new(pid, layer_of(cmdline))
                entry = self.usage.setdefault(pid, Usage(layer_of(cmdline)))
                entry.cpu, entry.rss = max(entry.cpu, cpu), rss
                rss_now[entry.layer] = rss_now.get(entry.layer, 0) + rss
        for layer, rss in rss_now.items():
            self.peak_rss[layer] = max(self.peak_rss.get(layer, 0), rss)

    def stop(self) -> None:
        self._stop.set()

    def cpu_by_layer(self) -> dict[str, float]:
        totals = dict.fromkeys(LAYERS, 0.0)
        for u in self.usage.values():
            totals[u.layer] += u.cpu
        return totals


class EmulatorProcess:
    """The emulator in a process of its own (`python -m emulator`), driven through its control API."""

    def __init__(self, workdir: Path) -> None:
        ready = workdir / "emulator.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--seed-volumes", "0", "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.1)  # waiting for a file another process writes; no event to wait on
        started = json.loads(ready.read_text())
        self.url: str = started["url"]
        self.sts_url: str | None = started.get("sts_url")

    def control(self, name: str, body: object = None) -> object:
        request = urllib.request.Request(f"{self.url}/_emulator/{name}", data=json.dumps(body or {}).encode())
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def optional(self, name: str, body: object = None) -> object | None:
        """A control endpoint this emulator may not have (the strict mode's readouts)."""
        try:
            return self.control(name, body)
        except urllib.error.HTTPError:
            return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- one run ----------------------------------------------------------------------------------------------------------
@dataclass
class Run:
    case: Case
    wall: float
    ok: bool
    output: str
    cpu: dict[str, float]
    peak_rss: dict[str, int]
    phases: dict[str, float]
    calls: dict[str, int]
    throttled: dict[str, int]
    buckets: dict[str, pacing.Size]
    peak_pending: int
    state_bytes: int
    server_seconds: float | None
    profiles: dict[str, pyspy.Summary] = field(default_factory=dict)

    @property
    def floor(self) -> tuple[float, str]:
        return api_floor(self.calls, self.throttled, self.buckets)

    def per_resource(self, action: str) -> float:
        return self.calls.get(action, 0) / self.case.n

    @property
    def user_saw_throttling(self) -> bool:
        return "RequestLimitExceeded" in self.output


def run_case(case: Case, venv: Path, py_spy: bool) -> Run:
    bin_dir = pulumi_bin_dir()
    with tempfile.TemporaryDirectory(prefix="profile-stack-") as tmp:
        workdir = Path(tmp)
        emulator = EmulatorProcess(workdir)
        recorder = None
        try:
            volumes = emulator.control("seed-volumes", {"count": case.n})
            emulator.control("configure", {"pending_seconds": case.pending})
            if case.arm.strict:
                emulator.control("configure", {"strict": True})
            buckets, reported = emulator_buckets(emulator)
            env = dict(case.arm.env)
            if case.arm.strict and reported:  # the provider is told the account's limits, as a user would
                env[pacing.BUCKETS_ENV] = ",".join(f"{a}={b.capacity:g}/{b.refill:g}" for a, b in reported.items())
            if emulator.sts_url:
                env["AWS_ENDPOINT_URL_STS"] = emulator.sts_url
            project = new_project(workdir / "run", bin_dir, venv, emulator.url, env)
            (project.dir / "__main__.py").write_text(case.arm.program_prefix + PROGRAM)
            pulumi(project, "stack", "init", "bench")
            pulumi(project, "config", "set", "volume_ids", "--", json.dumps(volumes))
            emulator.control("clear-calls")
            exe = pyspy.available() if py_spy else None
            if exe:
                recorder = pyspy.Recorder(workdir, exe)
            started_wall, started = time.time(), time.monotonic()
            up = subprocess.Popen(
                ["pulumi", "--non-interactive", "up", "--yes", "--skip-preview", "--parallel", str(case.parallel)],
                cwd=project.dir,
                env=project.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

            def on_new(pid: int, layer: str) -> None:
                if recorder is not None and layer in PYTHON_LAYERS:
                    recorder.attach(pid, layer)

            sampler = Sampler([up.pid, emulator.process.pid], on_new=on_new)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            output, _ = up.communicate(timeout=7200)
            wall = time.monotonic() - started
            sampler.stop()
            thread.join()
            sampler.sample()  # the emulator's last reading (the CLI's processes have exited)
            calls = emulator.control("calls")
            assert isinstance(calls, list)
            throttled = emulator.optional("throttled") or {}
            stats = emulator.optional("call-stats")
            peak = emulator.control("peak-pending")
            state = workdir / "run" / "state" / ".pulumi" / "stacks" / "bench-stack" / "bench.json"
            state_bytes = state.stat().st_size if state.exists() else 0
        finally:
            emulator.stop()
            files = recorder.stop() if recorder else {}
            profiles = {layer: pyspy.summary(paths) for layer, paths in files.items()}
    assert isinstance(throttled, dict) and isinstance(peak, int)
    server_seconds = None
    if isinstance(stats, dict):
        server_seconds = sum(float(a.get("total_seconds", 0)) for a in stats.get("actions", {}).values())
    return Run(
        case,
        wall,
        up.returncode == 0,
        output,
        sampler.cpu_by_layer(),
        sampler.peak_rss,
        timeline(calls, started_wall),
        count_calls(calls),
        {str(k): int(v) for k, v in throttled.items()},
        buckets,
        peak,
        state_bytes,
        server_seconds,
        profiles,
    )


def emulator_buckets(emulator: EmulatorProcess) -> tuple[dict[str, pacing.Size], dict[str, pacing.Size]]:
    """The bucket sizes for the floor (the strict emulator's by action, else EC2's published ones), and those the
    emulator reported (by action; its per-class entries, `<class>`, are left to `pacing.published_size`)."""
    answer = emulator.optional("buckets")
    reported = {
        name: pacing.Size(float(b["capacity"]), float(b["refill_per_second"]))
        for name, b in (answer.items() if isinstance(answer, dict) else [])
        if not name.startswith("<")
    }
    published = {name: pacing.published_size(name) for name in ("CreateSnapshot", "CreateTags", "DescribeSnapshots")}
    return published | reported, reported


def api_floor(calls: dict[str, int], throttled: dict[str, int], buckets: dict[str, pacing.Size]) -> tuple[float, str]:
    """The least time EC2's buckets allow for these calls (refused ones took no token), and the bucket that binds."""
    worst, binding = 0.0, "-"
    for action, count in calls.items():
        if action in ("GetCallerIdentity", "AssumeRole"):
            continue  # STS: not EC2's buckets
        size = buckets.get(action) or pacing.published_size(action)
        seconds = max(0.0, (count - throttled.get(action, 0) - size.capacity) / size.refill)
        if seconds > worst:
            worst, binding = seconds, action
    return worst, binding


def timeline(calls: list[dict[str, object]], started: float) -> dict[str, float]:
    """Seconds from the start of `pulumi up` to moments the call log shows."""

    def at(action: str, last: bool, extra: str | None = None) -> float:
        times = [float(str(c["at"])) for c in calls if c["action"] == action and (extra is None or extra in str(c))]
        return (max(times) if last else min(times)) - started if times else float("nan")

    return {
        "first CreateSnapshot": at("CreateSnapshot", last=False),
        "last CreateSnapshot": at("CreateSnapshot", last=True),
        "last recorded tag": at("CreateTags", last=True, extra="recorded"),
    }


def count_calls(calls: list[dict[str, object]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in calls:
        action = str(c["action"])
        counts[action] = counts.get(action, 0) + 1
    return counts


# --- reports ----------------------------------------------------------------------------------------------------------
def title(run: Run) -> str:
    c = run.case
    return f"N = {c.n}, P = {c.pending:g} s, {c.arm.name}"


def report(run: Run) -> str:
    """One run: CPU and memory per layer, the timeline, calls, state size, and the Python profiles."""
    lines = [f"## {title(run)}: wall {run.wall:.1f} s{'' if run.ok else ' (FAILED)'}, {load()}", ""]
    lines.append("| layer | CPU s | CPU / wall | peak RSS MiB |")
    lines.append("|---|---|---|---|")
    for layer in LAYERS:
        if run.cpu.get(layer) or run.peak_rss.get(layer):
            lines.append(
                f"| {layer} | {run.cpu[layer]:.1f} | {run.cpu[layer] / run.wall:.2f} | "
                f"{run.peak_rss.get(layer, 0) / 2**20:.0f} |"
            )
    lines.append("")
    lines.append(
        "timeline: " + ", ".join(f"{name} at {t:.1f} s" for name, t in run.phases.items()) + f", exit {run.wall:.1f} s"
    )
    per = ", ".join(f"{action} {count / run.case.n:.2f}" for action, count in sorted(run.calls.items()))
    lines.append(f"calls per resource: {per}")
    if run.throttled:
        lines.append(f"refused by the emulator's buckets: {run.throttled}")
    size = run.state_bytes
    lines.append(f"state file: {size / run.case.n:.0f} bytes per resource ({size / 2**20:.1f} MiB)")
    if not run.ok:
        lines += ["", "```", run.output[-3000:], "```"]
    for layer, summary in run.profiles.items():
        lines += ["", pyspy.report(layer, summary, run.cpu.get(layer, 0.0))]
    return "\n".join(lines)


COLUMNS = (
    "N",
    "P s",
    "arm",
    "wall s",
    "API floor s (bucket)",
    "wall / floor",
    "wall / (P + floor)",
    "peak pending",
    "CreateSnapshot / res",
    "DescribeSnapshots / res",
    "CreateTags / res",
    "all calls / res",
    "throttled (at EC2 / seen by user)",
    "emulator CPU / wall",
    "emulator server time / wall",
    "engine CPU s",
    "program CPU s",
    "provider CPU s",
    "state B / res",
)


def table(runs: Sequence[Run]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in runs:
        c = r.case
        floor, binding = r.floor
        server = f"{r.server_seconds / r.wall:.2f}" if r.server_seconds is not None else "n/a"
        cells = [
            str(c.n),
            f"{c.pending:g}",
            c.arm.name,
            f"{r.wall:.1f}" + ("" if r.ok else " FAILED"),
            f"{floor:.1f} ({binding})",
            f"{r.wall / floor:.2f}" if floor else "-",
            f"{r.wall / (c.pending + floor):.2f}" if c.pending + floor else "-",
            str(r.peak_pending),
            f"{r.per_resource('CreateSnapshot'):.2f}",
            f"{r.per_resource('DescribeSnapshots'):.2f}",
            f"{r.per_resource('CreateTags'):.2f}",
            f"{sum(r.calls.values()) / c.n:.2f}",
            f"{sum(r.throttled.values())} / {'yes' if r.user_saw_throttling else 'no'}",
            f"{r.cpu['emulator'] / r.wall:.2f}",
            server,
            f"{r.cpu['engine']:.1f}",
            f"{r.cpu['program']:.1f}",
            f"{r.cpu['provider host']:.1f}",
            f"{r.state_bytes / c.n:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find(runs: Sequence[Run], n: int, arm: str, pending: float) -> Run | None:
    return next((r for r in runs if (r.case.n, r.case.arm.name, r.case.pending) == (n, arm, pending)), None)


def verdict(ok: bool) -> str:
    return "holds" if ok else "MISSED"


def targets(runs: Sequence[Run], p: float = 10.0) -> list[str]:
    """The scale issue's targets, each with what was measured (or why it was not)."""
    lines = []
    off = find(runs, 1000, "off", p)
    if off:
        limit = p + 60
        wall, peak = off.wall, off.peak_pending
        lines.append(f"strict off, N = 1000: wall <= P + 60 = {limit:g} s: {wall:.1f} s, {verdict(wall <= limit)}")
        lines.append(f"strict off, N = 1000: peak pending 1000: {peak}, {verdict(peak == 1000)}")
    on = find(runs, 1000, "on", p)
    if on:
        floor, binding = on.floor
        limit = 1.2 * (p + floor)
        lines.append(
            f"strict on, N = 1000: wall <= 1.2 x (P + floor {floor:.1f} s, {binding}) = {limit:.1f} s: "
            f"{on.wall:.1f} s, {verdict(on.ok and on.wall <= limit)}"
        )
        lines.append(
            f"strict on, N = 1000: no throttling error reaching the user: "
            f"{'none' if on.ok and not on.user_saw_throttling else 'SEEN'} "
            f"({sum(on.throttled.values())} requests refused by the buckets and retried), "
            f"{verdict(on.ok and not on.user_saw_throttling)}"
        )
    small = find(runs, 64, "off", p)
    if small:
        lines.append(f"N = 64: wall / P <= 1.4: {small.wall / p:.2f}, {verdict(small.wall / p <= 1.4)}")
    zero = find(runs, 64, "off", 0.0)
    if zero:
        lines.append(f"N = 64, P = 0 (the floor): wall <= 6 s: {zero.wall:.1f} s, {verdict(zero.wall <= 6)}")
    for r in runs:
        busy = r.cpu["emulator"] / r.wall
        if busy >= EMULATOR_BOUND:
            lines.append(f"{title(r)}: LIMITED BY THE EMULATOR (its CPU {busy:.0%} of the wall, one Python process)")
    if runs and all(r.cpu["emulator"] / r.wall < EMULATOR_BOUND for r in runs):
        worst = max(runs, key=lambda r: r.cpu["emulator"] / r.wall)
        lines.append(
            f"the emulator bounds no run: its CPU is at most {worst.cpu['emulator'] / worst.wall:.0%} of the wall "
            f"({title(worst)})"
        )
    for n, before in BEFORE_DESCRIBES_PER_RESOURCE.items():
        r = find(runs, n, "off", p)
        if r:
            now = r.per_resource("DescribeSnapshots")
            what = f"N = {n}: DescribeSnapshots per resource <= {before} (before)"
            lines.append(f"{what}: {now:.2f}, {verdict(now <= before)}")
    return lines


# --- main -------------------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", help="stack sizes (default: the issue's cases)")
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), help="(default with --n: off on)")
    parser.add_argument("--pending", type=float, default=10.0, help="seconds each snapshot stays pending (10)")
    parser.add_argument("--parallel", type=int, help="pulumi up --parallel (default: N)")
    parser.add_argument("--venv", type=Path, default=default_venv())
    parser.add_argument("--no-py-spy", action="store_true", help="leave the Python layers' profiles out")
    args = parser.parse_args(argv)
    if args.n:
        arms = [ARMS[a] for a in args.arms or ["off", "on"]]
        cases = [Case(n, args.pending, arm, args.parallel or n) for n in args.n for arm in arms]
    else:
        cases = default_cases(args.pending)
    py_spy = not args.no_py_spy
    if py_spy and not pyspy.available():
        print("py-spy is not installed (pip install -r requirements-dev.txt): no Python profiles", flush=True)
    print(f"program: {PROGRAM.splitlines()[-1].strip()}; {len(cases)} runs; before: {load()}", flush=True)
    runs = []
    for case in cases:
        run = run_case(case, args.venv, py_spy and case.arm.name == "off" and case.pending > 0)
        runs.append(run)
        print(report(run), flush=True)
        print(flush=True)
    print("## Side by side\n")
    print(table(runs))
    print()
    for line in targets(runs):
        print(line)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
