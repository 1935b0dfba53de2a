"""CPU seconds of everything this process starts, including processes that outlive their parents.

`getrusage(RUSAGE_CHILDREN)` counts a process once its parent reaped it, and the parent's count reaches us when we
reap the parent. A provider plugin that the Python language host starts outlives the host (the engine kills the host,
the plugin is orphaned): nobody in the tree reaps it, and its CPU would be missing. So every descendant is followed by
pid (and start time, against pid reuse) from the moment a sample sees it; one seen orphaned (its parent no longer
ours) adds its last sampled CPU to `RUSAGE_CHILDREN`'s. Work an orphan does after its last sample (under one interval)
is missed; a process orphaned before any sample saw it is not followed.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds, start time in ticks) of a live process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, int(fields[19])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class TreeCpu:
    """Within `with`: `seconds` is the CPU of the processes started (reaped ones and orphans), `own` the sampler's."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._cpu: dict[tuple[int, int], float] = {}  # (pid, start time) -> CPU seconds last seen
        self._orphans: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = 0.0
        self._end: float | None = None
        self.own = 0.0

    def __enter__(self) -> TreeCpu:
        self._start = _children_cpu()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._end = _children_cpu()

    @property
    def seconds(self) -> float:
        reaped = (_children_cpu() if self._end is None else self._end) - self._start
        return reaped + sum(self._cpu[key] for key in self._orphans)

    def _run(self) -> None:
        root = os.getpid()
        followed: set[tuple[int, int]] = set()
        while True:
            stopping = self._stop.is_set()  # one last sample after the stop
            stats = {pid: s for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (s := _stat(pid))}
            ours = {root} | {pid for pid, _ in followed}
            for pid, (parent, cpu, started) in stats.items():
                key = (pid, started)
                if key not in followed and pid != root and parent in ours:
                    followed.add(key)
                    ours.add(pid)
                if key in followed:
                    self._cpu[key] = cpu
                    if parent not in ours:
                        self._orphans.add(key)
            self.own = time.thread_time()
            if stopping:
                return
            self._stop.wait(self.interval)
