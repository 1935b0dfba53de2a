"""Where the time of a big `pulumi up` goes, per layer: the program, the engine, the provider host, the emulator.

One `pulumi up --skip-preview --parallel N` of N EbsSnapshot resources (each pending P seconds) under the real CLI,
with the emulator in a process of its own so that every layer is a process: while the `up` runs, each process's CPU
time and memory are read from /proc every half second, and the emulator's call log gives the timeline (first and
last CreateSnapshot, last `recorded` tag). A layer whose CPU time is close to the wall time of a phase had a core to
itself and set its pace (the program, the host and the emulator are single Python processes: one core each at most).

    venv/bin/python -m bench.profile_stack --n 256 --pending 10
    venv/bin/python -m bench.profile_stack --n 1000 --pending 10 --parallel 1000

Layers: `engine` (the `pulumi` CLI), `language host` (pulumi-language-python), `program` (the user's __main__.py
under pulumi-language-python-exec), `provider host` (`python -m pulumi.dynamic`, our provider code included), and
`emulator` (moto's server and this project's EC2 model).
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
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_stack import PROGRAM, default_venv, load, new_project, pulumi, pulumi_bin_dir

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LAYERS = ("engine", "language host", "program", "provider host", "emulator", "other")


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
    """Reads every process of the run every `every` seconds until stopped; keeps each one's last reading."""

    roots: list[int]
    every: float = 0.5
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


# --- the emulator in its own process ---------------------------------------------------------------------------------
class EmulatorProcess:
    def __init__(self, workdir: Path, extra_args: Sequence[str]) -> None:
        ready = workdir / "emulator.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--seed-volumes", "0", "--ready-file", str(ready), *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.1)  # waiting for a file another process writes; no event to wait on
        self.url = json.loads(ready.read_text())["url"]

    def control(self, name: str, body: object = None) -> object:
        request = urllib.request.Request(f"{self.url}/_emulator/{name}", data=json.dumps(body or {}).encode())
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- one run ----------------------------------------------------------------------------------------------------------
@dataclass
class Profile:
    n: int
    pending: float
    wall: float
    cpu: dict[str, float]
    peak_rss: dict[str, int]
    phases: dict[str, float]
    calls: dict[str, int]
    state_bytes: int


def profile(
    n: int,
    pending: float,
    parallel: int,
    venv: Path,
    emulator_args: Sequence[str],
    env: dict[str, str],
    up_args: Sequence[str],
) -> Profile:
    bin_dir = pulumi_bin_dir()
    with tempfile.TemporaryDirectory(prefix="profile-stack-") as tmp:
        workdir = Path(tmp)
        emulator = EmulatorProcess(workdir, emulator_args)
        try:
            volumes = emulator.control("seed-volumes", {"count": n})
            emulator.control("configure", {"pending_seconds": pending})
            project = new_project(workdir / "run", bin_dir, venv, emulator.url, env)
            pulumi(project, "stack", "init", "bench")
            pulumi(project, "config", "set", "volume_ids", "--", json.dumps(volumes))
            emulator.control("clear-calls")
            started_wall = time.time()
            started = time.monotonic()
            up = subprocess.Popen(
                ["pulumi", "--non-interactive", "up", "--yes", "--skip-preview", "--parallel", str(parallel), *up_args],
                cwd=project.dir,
                env=project.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            sampler = Sampler([up.pid, emulator.process.pid])
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            output, _ = up.communicate(timeout=3600)
            wall = time.monotonic() - started
            sampler.stop()
            thread.join()
            sampler.sample()  # the emulator's last reading (the CLI's processes have exited)
            if up.returncode != 0:
                raise RuntimeError(f"pulumi up failed:\n{output[-4000:]}")
            calls = emulator.control("calls")
            state = workdir / "run" / "state" / ".pulumi" / "stacks" / "bench-stack" / "bench.json"
            state_bytes = state.stat().st_size
        finally:
            emulator.stop()
    assert isinstance(calls, list)
    return Profile(
        n,
        pending,
        wall,
        sampler.cpu_by_layer(),
        sampler.peak_rss,
        timeline(calls, started_wall),
        count_calls(calls),
        state_bytes,
    )


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


def report(p: Profile) -> str:
    lines = [f"## N = {p.n}, P = {p.pending:g} s: wall {p.wall:.1f} s, {load()}", ""]
    lines.append("| layer | CPU s | CPU / wall | peak RSS MiB |")
    lines.append("|---|---|---|---|")
    for layer in LAYERS:
        if p.cpu.get(layer) or p.peak_rss.get(layer):
            lines.append(
                f"| {layer} | {p.cpu[layer]:.1f} | {p.cpu[layer] / p.wall:.2f} | "
                f"{p.peak_rss.get(layer, 0) / 2**20:.0f} |"
            )
    lines.append("")
    lines.append(
        "timeline: " + ", ".join(f"{name} at {t:.1f} s" for name, t in p.phases.items()) + f", exit {p.wall:.1f} s"
    )
    per = ", ".join(f"{action} {count / p.n:.2f}" for action, count in sorted(p.calls.items()))
    lines.append(f"calls per resource: {per}")
    lines.append(f"state file: {p.state_bytes / p.n:.0f} bytes per resource ({p.state_bytes / 2**20:.1f} MiB)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[256])
    parser.add_argument("--pending", type=float, default=10.0)
    parser.add_argument("--parallel", type=int, help="pulumi up --parallel (default: N)")
    parser.add_argument("--venv", type=Path, default=default_venv())
    parser.add_argument("--emulator-arg", action="append", default=[], help="passed to `python -m emulator`")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the `pulumi` commands")
    parser.add_argument("--up-arg", action="append", default=[], help="passed to `pulumi up`")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    print(f"program: {PROGRAM.splitlines()[-1].strip()}", flush=True)
    for n in args.n:
        result = profile(n, args.pending, args.parallel or n, args.venv, args.emulator_arg, env, args.up_arg)
        print(report(result), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
