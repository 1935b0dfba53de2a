"""Python-side profiles of a run's processes (the program, the provider host, the emulator) with py-spy.

py-spy samples a running Python process from outside (ptrace), so it works on the processes the Pulumi CLI starts,
whatever their threads: `py-spy record --pid P --gil --format raw`. `--gil` keeps only samples of the thread that holds
the GIL, so the samples of a process are where its Python CPU time went (time in C code that releases the GIL, such
as grpc's core or socket I/O, is not in them). `Recorder` attaches one py-spy to each process it is given and stops it
when the process ends; `summary` turns its file into CPU seconds per part of the code and the top functions.

py-spy is a dev dependency (requirements-dev.txt); without it, or without the right to ptrace, the profiles are left
out and the bench says why.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

RATE = 100  # samples per second


# Where a frame's file lives -> the part of the code it belongs to. First match wins; the innermost frame that is in
# one of the "ours" parts decides `ours`.
PARTS = (
    ("snapshot_provider", ("/snapshot_provider/",)),
    ("emulator", ("/emulator/",)),
    ("pulumi SDK", ("/pulumi/",)),
    ("grpc / protobuf", ("/grpc/", "/google/protobuf/")),
    ("boto3 / botocore", ("/botocore/", "/boto3/", "/urllib3/", "/s3transfer/")),
    ("moto / werkzeug", ("/moto/", "/werkzeug/", "/flask/", "/xmltodict", "/jinja2/")),
    ("dill / pickle", ("/dill/", "pickle")),
    ("asyncio", ("/asyncio/",)),
    ("threading / queue", ("threading.py", "queue.py", "concurrent/futures")),
)


def available() -> str | None:
    """The py-spy executable next to this Python, or on PATH; None when not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


@dataclass
class Recorder:
    """One py-spy per process, each writing `<dir>/<layer>.<pid>.txt`."""

    out_dir: Path
    exe: str
    processes: dict[int, tuple[str, subprocess.Popen[bytes]]] = field(default_factory=dict)

    def attach(self, pid: int, layer: str) -> None:
        if pid in self.processes:
            return
        out = self.out_dir / f"{layer.replace(' ', '-')}.{pid}.txt"
        options = ["--rate", str(RATE), "--gil", "--nonblocking", "--format", "raw", "--full-filenames"]
        spy = subprocess.Popen(
            [self.exe, "record", "--pid", str(pid), *options, "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes[pid] = (layer, spy)

    def stop(self, timeout: float = 60) -> dict[str, list[Path]]:
        """Wait for every py-spy (each ends with its process; SIGINT makes one write its file now)."""
        files: dict[str, list[Path]] = {}
        for pid, (layer, spy) in self.processes.items():
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
            out = self.out_dir / f"{layer.replace(' ', '-')}.{pid}.txt"
            if out.exists():
                files.setdefault(layer, []).append(out)
        return files


@dataclass
class Summary:
    """What one layer's samples say: seconds per part (innermost frame), seconds under our code, top functions."""

    samples: int
    by_part: Counter[str]
    under_ours: int
    top_self: Counter[str]
    top_total: Counter[str]

    def seconds(self, count: int) -> float:
        return count / RATE


def part_of(filename: str) -> str:
    for part, markers in PARTS:
        if any(m in filename for m in markers):
            return part
    return "other"


def parse_frame(frame: str) -> tuple[str, str]:
    """`function (file:line)` -> (function, file)."""
    name, _, rest = frame.partition(" (")
    return name, rest.rsplit(":", 1)[0]


def summary(files: list[Path], ours: str = "snapshot_provider") -> Summary:
    by_part: Counter[str] = Counter()
    top_self: Counter[str] = Counter()
    top_total: Counter[str] = Counter()
    samples = under_ours = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [parse_frame(f) for f in stack.split(";") if " (" in f]
            if not frames:
                continue
            samples += count
            name, filename = frames[-1]
            by_part[part_of(filename)] += count
            top_self[f"{name} ({short(filename)})"] += count
            seen = set()
            for name, filename in frames:
                key = f"{name} ({short(filename)})"
                if key not in seen:
                    seen.add(key)
                    top_total[key] += count
            if any(part_of(filename) == ours for _, filename in frames):
                under_ours += count
    return Summary(samples, by_part, under_ours, top_self, top_total)


def short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/work/wt/", "/bin/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def report(layer: str, s: Summary, cpu: float, top: int = 12) -> str:
    """A layer's profile as markdown: CPU seconds per part (scaled to the layer's measured CPU), top functions."""
    if not s.samples:
        return f"{layer}: no samples"
    lines = [
        f"#### {layer}: {s.seconds(s.samples):.1f} s of Python CPU sampled (GIL held), {cpu:.1f} s CPU measured",
        "",
        "| part (innermost frame) | share | CPU s (of the measured) |",
        "|---|---|---|",
    ]
    for part, count in s.by_part.most_common():
        lines.append(f"| {part} | {count / s.samples:.0%} | {count / s.samples * cpu:.1f} |")
    lines.append(
        f"| *under snapshot_provider code (any frame)* | {s.under_ours / s.samples:.0%} | "
        f"{s.under_ours / s.samples * cpu:.1f} |"
    )
    lines += ["", f"top {top} functions by total (inclusive) share, below 90% (the loops every sample is in):", ""]
    for key, count in [kc for kc in s.top_total.most_common() if kc[1] < 0.9 * s.samples][:top]:
        lines.append(f"- {count / s.samples:.0%} {key}")
    lines += ["", f"top {top} functions by self share:", ""]
    for key, count in s.top_self.most_common(top):
        lines.append(f"- {count / s.samples:.0%} {key}")
    return "\n".join(lines)
