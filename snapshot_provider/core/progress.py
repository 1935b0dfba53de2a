"""Long waits made visible: while a create waits, the user sees per snapshot the percent, the time elapsed and an
estimate of the time left, through the Pulumi engine, next to the resource.

Calm on purpose: a line at 25, 50 and 75% and otherwise about once a minute (after the first minute, so a short
snapshot says nothing); the CLI shows the latest next to the resource and all of them under Diagnostics. When many
resources wait in one provider process, a stack with hundreds of snapshots must not flood its output (a
non-interactive CLI prints every update): each resource's quartile lines become status updates (`ephemeral`: shown in
its row, not kept under Diagnostics) and one summary line a minute speaks for all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from snapshot_provider.process.engine_log import EngineLog, duration, engine_log

# How many operations a provider process runs at once, in either front door (the dynamic host widened, the plugin's
# own pool): SNAPSHOT_PROVIDER_HOST_WORKERS in its environment, else DEFAULT_WORKERS (threads start only when used).
WORKERS_ENV = "SNAPSHOT_PROVIDER_HOST_WORKERS"
DEFAULT_WORKERS = 1024

QUARTILES = (25, 50, 75)
INTERVAL = 60.0  # seconds between two "still waiting" lines of one resource
DETAILED_UP_TO = 10  # more resources than this waiting at once: one summary line a minute instead


def time_left(elapsed: float, progress: int) -> float | None:
    """From the progress rate so far; None before there is any progress to go by."""
    if not 0 < progress < 100:
        return None
    return elapsed * (100 - progress) / progress


def progress_line(what: str, progress: int, elapsed: float) -> str:
    """`what: 40% after 2 min, about 3 min left`."""
    left = time_left(elapsed, progress)
    estimate = f", about {duration(left)} left" if left is not None else ""
    return f"{what}: {progress}% after {duration(elapsed)}{estimate}"


@dataclass
class Cadence:
    """When one resource's wait is worth a line (pure: the caller passes the clock)."""

    started: float
    interval: float = INTERVAL
    last_line: float | None = None
    quartiles_told: set[int] = field(default_factory=set)

    def line_due(self, now: float, progress: int) -> bool:
        """A quartile crossed for the first time, or a minute since the last line."""
        crossed = [q for q in QUARTILES if progress >= q and q not in self.quartiles_told]
        since = now - (self.last_line if self.last_line is not None else self.started)
        if crossed or (progress < 100 and since >= self.interval):
            self.quartiles_told.update(q for q in QUARTILES if progress >= q)
            self.last_line = now
            return True
        return False

    def quartile_crossed(self, progress: int) -> bool:
        """A quartile crossed for the first time (the only news worth a status when many resources wait)."""
        crossed = [q for q in QUARTILES if progress >= q and q not in self.quartiles_told]
        self.quartiles_told.update(crossed)
        return bool(crossed)


class Board:
    """Every wait in progress in this process, so that many of them share one summary line a minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, interval: float = INTERVAL) -> None:
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[str, int, float]] = {}  # wait id -> (what, progress, started)
        self._last_summary: float | None = None

    def detailed(self) -> bool:
        with self._lock:
            return len(self._waiting) <= DETAILED_UP_TO

    def update(self, key: int, what: str, progress: int, started: float) -> None:
        with self._lock:
            self._waiting[key] = (what, progress, started)

    def done(self, key: int) -> None:
        with self._lock:
            self._waiting.pop(key, None)

    def summary_due(self) -> str | None:
        """One line for every wait, at most once per interval, when there are too many to tell one by one."""
        now = self._clock()
        with self._lock:
            if len(self._waiting) <= DETAILED_UP_TO:
                return None
            if self._last_summary is not None and now - self._last_summary < self._interval:
                return None
            if self._last_summary is None and all(now - s < self._interval for _, _, s in self._waiting.values()):
                return None
            self._last_summary = now
            waits = list(self._waiting.values())
        slowest = min(waits, key=lambda w: w[1])
        done = sum(1 for _, p, _ in waits if p >= 100)
        return (
            f"{len(waits)} snapshot waits in progress ({done} at 100%); slowest: "
            f"{progress_line(slowest[0], slowest[1], now - slowest[2])}"
        )


BOARD = Board()


@dataclass
class Reporter:
    """Tells the user how one resource's wait goes; fed the poller's statuses each time the waiter wakes."""

    urn: str | None
    what: str  # "snapshot snap-... of vol-...", "snapshot set of i-..."
    started: float  # monotonic time of the request
    clock: Callable[[], float] = time.monotonic
    board: Board = field(default_factory=lambda: BOARD)
    sink: EngineLog | None = None

    def __post_init__(self) -> None:
        self.cadence = Cadence(self.started)
        self.board.update(id(self), self.what, 0, self.started)  # counted from the start of its wait

    def __call__(self, progress_by_id: Mapping[str, int]) -> None:
        if not progress_by_id:
            return
        now = self.clock()
        progress = min(progress_by_id.values())  # a set is as far as its slowest member
        elapsed = now - self.started
        sink = self.sink or engine_log()
        self.board.update(id(self), self.what, progress, self.started)
        if self.board.detailed():
            if self.cadence.line_due(now, progress):
                sink.info(self.urn, progress_line(self.what, progress, elapsed))
        elif self.cadence.quartile_crossed(progress):
            sink.info(self.urn, progress_line(self.what, progress, elapsed), ephemeral=True)
        summary = self.board.summary_due()
        if summary:
            sink.info(None, summary)

    def finish(self) -> None:
        self.board.done(id(self))
