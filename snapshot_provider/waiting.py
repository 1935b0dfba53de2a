"""Waiting for snapshots: one poller per account selection in a process, shared by every waiting create.

Every pending snapshot id is described in as few DescribeSnapshots calls as the API allows (up to 200 ids a call),
each waiting thread is woken as soon as its snapshots are seen `completed` or `error`, and the poll schedule follows
each snapshot's reported `progress` so that small snapshots are seen within a second or two and big ones cost a call
every half minute at most. Throttling (after botocore's own retries) backs the whole poller off with jitter.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapshot_provider.errors import is_credential_problem, is_throttling

log = logging.getLogger(__name__)

TERMINAL_STATES = ("completed", "error")
MAX_IDS_PER_CALL = 200  # EC2's limit on values in one filter

Describe = Callable[[list[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class PollPolicy:
    """How often to look. All times in seconds."""

    min_delay: float = 1.0
    max_delay: float = 30.0
    first_poll: float = 1.0
    # Allowance after a predicted completion, so that the poll lands just after it.
    eta_margin: float = 0.25
    # API budget of the whole poller: at most this many DescribeSnapshots calls per second, whatever is waiting.
    calls_per_second: float = 1.0
    # A just-created snapshot may not be listed yet (eventual consistency); after this long it is gone.
    missing_grace: float = 30.0
    max_backoff: float = 60.0
    # Consecutive failed polls (other than throttling) before the waiters are told.
    max_failures: int = 5

    @classmethod
    def from_env(cls) -> PollPolicy:
        """Defaults, with the budget and the longest delay adjustable per process (the provider's environment)."""
        return cls(
            calls_per_second=float(os.environ.get("SNAPSHOT_POLL_CALLS_PER_SECOND", cls.calls_per_second)),
            max_delay=float(os.environ.get("SNAPSHOT_POLL_MAX_DELAY", cls.max_delay)),
        )

    def __post_init__(self) -> None:
        if self.calls_per_second <= 0 or self.min_delay <= 0 or self.max_delay < self.min_delay:
            raise ValueError(f"invalid poll policy {self}: the budget and delays must be positive, max >= min")

    def delay(self, elapsed: float, progress: int) -> float:
        """Seconds until the next look at a snapshot `elapsed` seconds old that reported `progress` percent."""
        if 0 < progress < 100:
            eta = elapsed * (100 - progress) / progress
            # Predictions are good for steady progress; re-check at least at half the elapsed time in case not.
            return _clamp(min(eta + self.eta_margin, max(elapsed / 2, self.min_delay)), self.min_delay, self.max_delay)
        return _clamp(elapsed / 4, self.min_delay, self.max_delay)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass
class SnapshotStatus:
    """The last thing DescribeSnapshots said about a snapshot, and when (wall clock) that was seen."""

    snapshot_id: str
    state: str
    progress: int
    observed_at: float
    state_message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES or self.state == "missing"


class WaitTimedOut(Exception):
    def __init__(self, statuses: dict[str, SnapshotStatus]):
        self.statuses = statuses
        super().__init__("timed out")


class PollingFailed(Exception):
    """DescribeSnapshots kept failing, or failed in a way retries cannot fix; `__cause__` is the last error."""


@dataclass
class _Entry:
    snapshot_id: str
    registered: float
    started: float
    next_due: float
    status: SnapshotStatus | None = None
    waiters: int = 0
    # Set when polling gave up while this snapshot was waited for; later waiters start afresh.
    failure: Exception | None = None


def parse_progress(text: str | None) -> int:
    try:
        return int(str(text or "0").rstrip("%"))
    except ValueError:
        return 0


class SnapshotPoller:
    """Shared DescribeSnapshots loop; `wait` blocks the calling thread until its snapshots are done."""

    def __init__(
        self,
        describe: Describe,
        policy: PollPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self._describe = describe
        self.policy = policy or PollPolicy()
        self._clock = clock
        self._wall = wall
        self._cond = threading.Condition()
        # How the poller thread waits for its next look; tests pass one that moves a fake `clock` instead.
        self._pause = pause or (lambda seconds: self._cond.wait(timeout=seconds))
        self._entries: dict[str, _Entry] = {}
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._backoff_until = 0.0
        self._last_call = -math.inf
        self._rng = random.Random()
        self.calls = 0

    def wait(
        self, snapshot_ids: list[str], timeout: float, started_at: float | None = None
    ) -> dict[str, SnapshotStatus]:
        """Block until every snapshot is completed, in error or gone; raise WaitTimedOut after `timeout`.

        `started_at` is the monotonic time the snapshots were requested (for the poll schedule).
        """
        now = self._clock()
        deadline = now + timeout
        started = started_at if started_at is not None else now
        with self._cond:
            for sid in snapshot_ids:
                entry = self._entries.get(sid)
                if entry is None:
                    entry = _Entry(
                        sid, registered=now, started=started, next_due=max(now, started + self.policy.first_poll)
                    )
                    self._entries[sid] = entry
                entry.waiters += 1
            self._ensure_thread()
            self._cond.notify_all()
            try:
                while True:
                    statuses = {sid: self._entries[sid].status for sid in snapshot_ids}
                    if all(s is not None and s.terminal for s in statuses.values()):
                        return {sid: s for sid, s in statuses.items() if s is not None}
                    failure = next(
                        (self._entries[sid].failure for sid in snapshot_ids if self._entries[sid].failure is not None),
                        None,
                    )
                    if failure is not None:
                        raise PollingFailed(str(failure)) from failure
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise WaitTimedOut({sid: s for sid, s in statuses.items() if s is not None})
                    self._cond.wait(timeout=min(remaining, 1.0))
            finally:
                for sid in snapshot_ids:
                    entry = self._entries[sid]
                    entry.waiters -= 1
                    if entry.waiters <= 0:
                        del self._entries[sid]

    # --- the loop ---------------------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="snapshot-poller", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            try:
                self._loop()
            except Exception as error:
                # A bug, or an answer the code did not expect: tell the waiters now rather than at their deadlines.
                log.exception("the snapshot poller stopped unexpectedly")
                stopped = RuntimeError(f"the snapshot poller stopped unexpectedly ({type(error).__name__}: {error})")
                stopped.__cause__ = error
                for entry in self._entries.values():
                    entry.failure = stopped
                self._cond.notify_all()
            finally:
                self._thread = None  # the next wait starts a fresh one

    def _loop(self) -> None:
        while self._entries:
            now = self._clock()
            pending = sorted(
                (e for e in self._entries.values() if e.status is None or not e.status.terminal),
                key=lambda e: e.next_due,
            )
            if not pending:
                self._cond.wait(timeout=0.5)
                continue
            # Only unfinished snapshots set the pace: a finished one is not looked at again, so its next_due
            # stays in the past and would make every budget slot due.
            due_at = max(
                min(e.next_due for e in pending),
                self._backoff_until,
                self._last_call + 1.0 / self.policy.calls_per_second,
            )
            if due_at > now:
                self._pause(due_at - now)
                continue
            # One call per turn, so that each call takes a budget slot; the ids due soonest go first.
            self._poll([e.snapshot_id for e in pending[:MAX_IDS_PER_CALL]])

    def _poll(self, batch: list[str]) -> None:
        """One DescribeSnapshots call (lock released while calling AWS), then update and wake."""
        self._last_call = self._clock()
        self._cond.release()
        try:
            self.calls += 1
            found = self._describe(batch)
            error = None
        except Exception as exc:
            found, error = [], exc
        finally:
            self._cond.acquire()
        if error is not None:
            self._on_error(error)
            return
        self._failures = 0
        self._backoff_until = 0.0
        self._record(batch, found)
        self._cond.notify_all()

    def _record(self, batch: list[str], found: list[dict[str, Any]]) -> None:
        now, wall = self._clock(), self._wall()
        by_id = {d["SnapshotId"]: d for d in found}
        for sid in batch:
            entry = self._entries.get(sid)
            if entry is None:
                continue
            details = by_id.get(sid)
            if details is None:
                if now - entry.registered >= self.policy.missing_grace:
                    entry.status = SnapshotStatus(sid, "missing", 0, wall, "the snapshot no longer exists")
                entry.next_due = now + self.policy.min_delay
                continue
            progress = parse_progress(details.get("Progress"))
            entry.status = SnapshotStatus(
                sid, details.get("State", "pending"), progress, wall, details.get("StateMessage"), details
            )
            entry.next_due = now + self.policy.delay(now - entry.started, progress)

    def _on_error(self, error: Exception) -> None:
        self._failures += 1
        backoff = min(self.policy.max_backoff, 2 ** min(self._failures, 10)) * (0.5 + self._rng.random() / 2)
        self._backoff_until = self._clock() + backoff
        if is_throttling(error):
            log.warning("DescribeSnapshots throttled; backing off %.1fs", backoff)
            return
        log.warning("DescribeSnapshots failed (%s); retrying in %.1fs", error, backoff)
        if self._failures >= self.policy.max_failures or is_credential_problem(error):
            for entry in self._entries.values():
                entry.failure = error
            self._failures = 0
            self._cond.notify_all()


_pollers: dict[Any, SnapshotPoller] = {}
_pollers_lock = threading.Lock()


def poller_for(key: Any, describe: Describe) -> SnapshotPoller:
    """The process-wide poller for `key` (an account selection), created on first use."""
    with _pollers_lock:
        poller = _pollers.get(key)
        if poller is None:
            poller = SnapshotPoller(describe, PollPolicy.from_env())
            _pollers[key] = poller
        return poller
