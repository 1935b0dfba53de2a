"""bench/tree_cpu.py counts the CPU of what a run started, including a process its parent left behind (as the engine
leaves the provider plugin when it kills the language host that started it)."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.tree_cpu import TreeCpu

BURN = "import time; end = time.process_time() + {cpu}; time.sleep({delay})\nwhile time.process_time() < end: pass"


def test_cpu_of_a_child_that_was_reaped_is_counted() -> None:
    with TreeCpu() as tree:
        subprocess.run([sys.executable, "-c", BURN.format(cpu=0.5, delay=0)], check=True)
    assert tree.seconds >= 0.5


def test_cpu_of_an_orphaned_grandchild_is_counted() -> None:
    """The grandchild burns its CPU after its parent exited without waiting for it."""
    grandchild = f"{sys.executable} -c '{BURN.format(cpu=0.5, delay=0.8)}' & sleep 0.5; exit 0"
    with TreeCpu(interval=0.05) as tree:
        subprocess.run(["sh", "-c", grandchild], check=True)
        deadline = time.monotonic() + 20
        while tree.seconds < 0.45 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert tree.seconds >= 0.45  # all but at most one interval of its last work
