"""Waiting for snapshots: one poller per account selection in a process, shared by every waiting create (`wait_for`).

Every pending snapshot id is described in as few DescribeSnapshots calls as the API allows (up to 200 ids a call, one
call per budget slot), each waiting thread is woken as soon as its snapshots are seen `completed` or `error`, and the
poll schedule follows each unfinished snapshot's reported `progress` so that small snapshots are seen within a second
or two and big ones cost a call every half minute at most. Throttling (after botocore's own retries) backs the whole
poller off with jitter, but never past a waiter's deadline: before a wait times out, its unfinished snapshots get one
last look at the deadline, and the wait only times out if that look still finds them unfinished.

Two things end a wait early, and leave its snapshots as they are (tagged, for the next `up` to adopt): the engine's
Cancel (the first Ctrl-C: `ec2.cancel`, which the provider host calls, see `dynamic/host.py`), and credentials that
expired and that re-resolving the credential chain once (`renew`) did not replace.

Also here: how long EC2 may take to show what was just done (`consistency_window`), and the one small poller for a
single thing (`until`: a tag, a volume, what one request made), which the engine's Cancel ends too.
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
from typing import Any, TypeVar

from snapshot_provider.ec2 import cancel, clients, snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError, explain, is_credential_problem, is_throttling
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES

log = logging.getLogger("snapshot_provider.waiting")  # the name users filter on since 0.1.0, kept through the move

TERMINAL_STATES = ("completed", "error")
PROGRESS_EVERY = 5.0  # seconds between two progress callbacks of one wait
CONSISTENCY_WINDOW_ENV = "SNAPSHOT_CONSISTENCY_WINDOW"
DEFAULT_CONSISTENCY_WINDOW = 120.0

Describe = Callable[[list[str]], list[dict[str, Any]]]
T = TypeVar("T")


def consistency_window() -> float:
    """Seconds EC2 may take to show what a request just did: list a new snapshot, volume or instance (by id it
    answers `...NotFound` meanwhile), or show a tag just written. Within it, what is missing is looked for again
    rather than taken for gone (a lost answer's snapshot, a snapshot or volume created moments ago), and a second
    look decides what a first one cannot (a leftover maybe recorded moments ago, a tag maybe written moments ago).
    `SNAPSHOT_CONSISTENCY_WINDOW` in the provider's environment; default 120.

    Why 120 s: AWS publishes no bound. Its advice ("Eventual consistency in the Amazon EC2 API", EC2 developer guide)
    is to describe again with exponential backoff, "starting with a couple of seconds of wait time, and increasing
    gradually up to a few minutes". A shorter window risks what the provider must never do: take a second snapshot
    because the first was not listed yet, or take a snapshot for deleted. A longer one only slows the rare cases
    that wait it out (a lost answer, a completed leftover, a refresh right after a tag change): the usual run never
    does."""
    return float(os.environ.get(CONSISTENCY_WINDOW_ENV, DEFAULT_CONSISTENCY_WINDOW))


def until(
    look: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    *,
    what: str,
    every: float = 2.0,
    most: float | None = None,
    on_look: Callable[[T, float], object] | None = None,
    started: float | None = None,
) -> T:
    """Look until `done(seen)` holds or `timeout` seconds have passed since `started` (monotonic; now when unset), the
    last look either way, and return what it saw. A small wait for one thing (a tag, a volume, what one request made),
    where the shared poller below is for snapshots by the thousand.

    Looks `every` seconds; with `most`, the pause doubles after each look up to `most` (EC2 advises exponential
    backoff). `on_look` hears each look that is not done, with the seconds elapsed. Raises LookCancelled, naming
    `what` it waited for ("for volume vol-... to be available"), at once after `cancel.cancel_waits` (even for a wait
    that starts later)."""
    start = time.monotonic() if started is None else started
    pause = every
    while True:
        if cancel.cancelled():
            raise cancel.LookCancelled(what)
        seen = look()
        elapsed = time.monotonic() - start
        if done(seen) or elapsed >= timeout:
            return seen
        if on_look is not None:
            on_look(seen, elapsed)
        cancel.pause(min(pause, max(0.0, timeout - elapsed)), what)
        pause = min(pause * 2, most) if most is not None else pause


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
    # A just-created snapshot may not be listed yet (see `consistency_window`); after this long it is gone.
    missing_grace: float = DEFAULT_CONSISTENCY_WINDOW
    max_backoff: float = 60.0
    # Consecutive failed polls (other than throttling) before the waiters are told.
    max_failures: int = 5

    @classmethod
    def from_env(cls) -> PollPolicy:
        """Defaults, adjustable per process through the provider's environment: SNAPSHOT_POLL_CALLS_PER_SECOND (the
        budget), SNAPSHOT_POLL_MAX_DELAY and SNAPSHOT_POLL_MIN_DELAY (the longest and shortest wait between two
        looks at a snapshot) and SNAPSHOT_POLL_FIRST_LOOK (seconds after the request); the grace for a snapshot not
        listed yet is the consistency window."""
        return cls(
            calls_per_second=float(os.environ.get("SNAPSHOT_POLL_CALLS_PER_SECOND", cls.calls_per_second)),
            max_delay=float(os.environ.get("SNAPSHOT_POLL_MAX_DELAY", cls.max_delay)),
            min_delay=float(os.environ.get("SNAPSHOT_POLL_MIN_DELAY", cls.min_delay)),
            first_poll=float(os.environ.get("SNAPSHOT_POLL_FIRST_LOOK", cls.first_poll)),
            missing_grace=consistency_window(),
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
    """Snapshots still unfinished at the deadline and at one last look; `statuses` holds what was last seen."""

    def __init__(self, statuses: dict[str, SnapshotStatus]):
        self.statuses = statuses
        super().__init__("timed out")


class PollingFailed(Exception):
    """DescribeSnapshots kept failing, or failed in a way retries cannot fix; `__cause__` is the last error."""


class WaitInterrupted(Exception):
    """A wait ended before its snapshots did (they are left as they are); `statuses` holds what was last seen."""

    def __init__(self, statuses: dict[str, SnapshotStatus]):
        self.statuses = statuses
        super().__init__(type(self).__name__)


class WaitCancelled(WaitInterrupted):
    """The engine cancelled the operation (the first Ctrl-C)."""


class CredentialsExpired(WaitInterrupted):
    """The credentials stopped working (expired, revoked), and could not be renewed; `__cause__` is AWS's answer."""


@dataclass
class _Entry:
    snapshot_id: str
    registered: float
    started: float
    next_due: float
    status: SnapshotStatus | None = None
    waiters: int = 0
    # When a call last brought an answer about this snapshot, and when one last returned at all (answer or error).
    seen_at: float = -math.inf
    tried_at: float = -math.inf

    @property
    def finished(self) -> bool:
        return self.status is not None and self.status.terminal


@dataclass(eq=False)  # identity: a list of a thousand waiters is searched by `remove`
class _Waiter:
    """One `wait` call. The poller thread ends it (`done`): finished, timed out, or failed, and wakes it alone."""

    snapshot_ids: list[str]
    deadline: float
    # On the poller's lock. One per waiter: with a condition shared by a thousand waiting threads, every ended wait
    # woke all of them (a thousand ends, a million wake-ups: most of a big stack's provider CPU).
    wake: threading.Condition
    done: bool = False
    timed_out: bool = False
    cancelled: bool = False
    failure: Exception | None = None
    statuses: dict[str, SnapshotStatus] = field(default_factory=dict)


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
        renew: Callable[[], bool] | None = None,
    ) -> None:
        self._describe = describe
        # Resolves the credentials again after a credential error; True when it found others (then tried once more).
        self._renew = renew
        self._cancelled = False
        self.policy = policy or PollPolicy()
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        # The poller thread waits on this one; each waiter on its own `wake`, on the same lock.
        self._cond = threading.Condition(self._lock)
        # How the poller thread waits for its next look; tests pass one that moves a fake `clock` instead.
        self._pause = pause or (lambda seconds: self._cond.wait(timeout=seconds))
        self._entries: dict[str, _Entry] = {}
        self._waiters: list[_Waiter] = []
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._backoff_until = -math.inf
        self._last_call = -math.inf
        self._rng = random.Random()
        self.calls = 0

    def wait(
        self,
        snapshot_ids: list[str],
        timeout: float,
        started_at: float | None = None,
        on_progress: Callable[[dict[str, int]], object] | None = None,
    ) -> dict[str, SnapshotStatus]:
        """Block until every snapshot is completed, in error or gone; raise WaitTimedOut after `timeout`.

        `started_at` is the monotonic time the snapshots were requested (for the poll schedule). Before WaitTimedOut,
        the snapshots still unfinished get one last look: a call made at the deadline, or the answer of the call in
        flight then, or one less than a budget interval (1 / calls_per_second) old, as no fresher one was allowed.
        So a wait ends at its deadline or about one DescribeSnapshots call later (plus, when other ids keep the
        budget busy, the wait for a slot).

        `on_progress`, if given, is called every few seconds (from this thread, without the poller's lock) with the
        last known progress of each snapshot, for telling the user how a long wait goes.

        Raises WaitCancelled at once after `cancel` (even for a wait that starts later), and CredentialsExpired when
        the credentials stopped working and could not be renewed.
        """
        now = self._clock()
        ids = list(dict.fromkeys(snapshot_ids))
        waiter = _Waiter(ids, deadline=now + timeout, wake=threading.Condition(self._lock))
        with self._cond:
            self._register(waiter, now, started_at if started_at is not None else now)
            while not waiter.done:
                # The poller thread ends every waiter, even when it dies, and notifies it.
                waiter.wake.wait(timeout=PROGRESS_EVERY if on_progress else None)
                if on_progress is not None and not waiter.done:
                    self._tell(on_progress, self._progress_of(waiter))
        if waiter.cancelled:
            raise WaitCancelled(waiter.statuses)
        if waiter.failure is not None and is_credential_problem(waiter.failure):
            raise CredentialsExpired(waiter.statuses) from waiter.failure
        if waiter.failure is not None:
            raise PollingFailed(str(waiter.failure)) from waiter.failure
        if waiter.timed_out:
            raise WaitTimedOut(waiter.statuses)
        return waiter.statuses

    def _progress_of(self, waiter: _Waiter) -> dict[str, int]:
        return {e.snapshot_id: e.status.progress for e in self._entries_of(waiter.snapshot_ids) if e.status}

    def _tell(self, on_progress: Callable[[dict[str, int]], object], progress: dict[str, int]) -> None:
        self._cond.release()
        try:
            on_progress(progress)
        except Exception:
            log.exception("reporting progress failed (the wait goes on)")
        finally:
            self._cond.acquire()

    def _register(self, waiter: _Waiter, now: float, started: float) -> None:
        for sid in waiter.snapshot_ids:
            entry = self._entries.get(sid)
            if entry is None:
                first_look = max(now, started + self.policy.first_poll)
                entry = self._entries[sid] = _Entry(sid, registered=now, started=started, next_due=first_look)
            entry.waiters += 1
        self._waiters.append(waiter)
        self._settle(now, [waiter])  # its snapshots may all be finished already
        if not waiter.done:
            self._ensure_thread()
            self._cond.notify_all()  # the poller may now have an earlier look to make

    def cancel(self) -> None:
        """End every wait now, and every later one at once: the engine cancelled (see `cancel.cancel_waits`)."""
        with self._cond:
            self._cancelled = True
            self._settle(self._clock())

    def _settle(self, now: float, waiters: list[_Waiter] | None = None) -> None:
        """End the waits (all, or `waiters`) whose snapshots are all finished, and those at their deadline that had
        their final look; after `cancel`, every wait."""
        for waiter in list(self._waiters if waiters is None else waiters):
            if self._cancelled:
                self._end(waiter, cancelled=True)
                continue
            unfinished = [e for e in self._entries_of(waiter.snapshot_ids) if not e.finished]
            if not unfinished:
                self._end(waiter)
            elif now >= waiter.deadline and all(self._had_final_look(e, waiter.deadline) for e in unfinished):
                self._end(waiter, timed_out=True)

    def _had_final_look(self, entry: _Entry, deadline: float) -> bool:
        # Seen less than a budget interval before the deadline (no fresher look was allowed), or asked about again
        # since the deadline, whatever the answer: a call in flight then (botocore retrying it) counts once back.
        return entry.seen_at >= deadline - 1.0 / self.policy.calls_per_second or entry.tried_at >= deadline

    def _end(
        self, waiter: _Waiter, timed_out: bool = False, failure: Exception | None = None, cancelled: bool = False
    ) -> None:
        waiter.statuses = {sid: s for sid in waiter.snapshot_ids if (s := self._entries[sid].status) is not None}
        waiter.timed_out, waiter.failure, waiter.cancelled, waiter.done = timed_out, failure, cancelled, True
        self._waiters.remove(waiter)
        for sid in waiter.snapshot_ids:
            entry = self._entries[sid]
            entry.waiters -= 1
            if entry.waiters == 0:
                del self._entries[sid]
        waiter.wake.notify()

    def _entries_of(self, snapshot_ids: list[str]) -> list[_Entry]:
        # An id of a call in flight may have been dropped meanwhile, its last waiter gone.
        return [self._entries[sid] for sid in snapshot_ids if sid in self._entries]

    def _fail_all(self, failure: Exception) -> None:
        for waiter in list(self._waiters):
            self._end(waiter, failure=failure)

    # --- the loop ---------------------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="snapshot-poller", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            try:
                while self._waiters:
                    self._step()
            except Exception as error:
                # A bug, or an answer the code did not expect: tell the waiters now rather than never.
                log.exception("the snapshot poller stopped unexpectedly")
                stopped = RuntimeError(f"the snapshot poller stopped unexpectedly ({type(error).__name__}: {error})")
                stopped.__cause__ = error
                self._fail_all(stopped)
            finally:
                self._thread = None  # the next wait starts a fresh one

    def _step(self) -> None:
        """End the waits that are over; then make the next call if it is due, else pause until it or a deadline."""
        now = self._clock()
        self._settle(now)
        if not self._waiters:
            return
        batch, due_at = self._next_call()
        if due_at <= now:
            self._call(batch)
            return
        upcoming_deadlines = [w.deadline for w in self._waiters if w.deadline > now]
        self._pause(min([due_at, *upcoming_deadlines]) - now)  # a new waiter also wakes the poller

    def _next_call(self) -> tuple[list[str], float]:
        """The ids for the next call, soonest due first, and when it may be made."""
        final_looks = self._final_looks_owed()

        def due(entry: _Entry) -> float:
            # Error backoff holds the schedule back, but never a final look past its deadline: backoff can grow
            # to max_backoff, longer than many timeouts, and one look at the deadline is a call well spent.
            scheduled = max(entry.next_due, self._backoff_until)
            return min(scheduled, final_looks.get(entry.snapshot_id, math.inf))

        # Finished snapshots are not looked at again, so they have no say in when the next look is.
        batch = sorted((e for e in self._entries.values() if not e.finished), key=due)[:MAX_FILTER_VALUES]
        # Every call takes a budget slot, final looks included.
        return [e.snapshot_id for e in batch], max(due(batch[0]), self._last_call + 1.0 / self.policy.calls_per_second)

    def _final_looks_owed(self) -> dict[str, float]:
        """Snapshot id -> the earliest deadline of a waiter that still needs one last look at it."""
        owed: dict[str, float] = {}
        for waiter in self._waiters:
            for sid in waiter.snapshot_ids:
                if not self._had_final_look(self._entries[sid], waiter.deadline):
                    owed[sid] = min(owed.get(sid, math.inf), waiter.deadline)
        return owed

    def _call(self, batch: list[str]) -> None:
        """One DescribeSnapshots call, with the lock released while AWS answers; then record what it said."""
        self._last_call = self._clock()
        self.calls += 1
        self._cond.release()
        try:
            found, error = self._ask(batch)
        finally:
            self._cond.acquire()
        now = self._clock()
        for entry in self._entries_of(batch):
            entry.tried_at = now
            if error is None:
                entry.seen_at = now
        if error is not None:
            self._on_error(error)
            return
        self._failures = 0
        self._backoff_until = -math.inf
        self._record(batch, found, now)

    def _ask(self, batch: list[str]) -> tuple[list[dict[str, Any]], Exception | None]:
        """DescribeSnapshots; after a credential error, once more if resolving the credentials again found others (a
        shared credentials file rewritten, an SSO login, a credential process): static keys are not renewed."""
        try:
            return self._describe(batch), None
        except Exception as error:
            if not (is_credential_problem(error) and self._renew is not None and self._renew()):
                return [], error
            log.info("credentials renewed after %s; looking again", error)
        try:
            return self._describe(batch), None
        except Exception as again:
            return [], again

    def _record(self, batch: list[str], found: list[dict[str, Any]], now: float) -> None:
        wall = self._wall()
        by_id = {d["SnapshotId"]: d for d in found}
        for entry in self._entries_of(batch):
            sid = entry.snapshot_id
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
            log.warning("DescribeSnapshots throttled; backing off %.1fs (but not past a waiter's deadline)", backoff)
            return
        if self._failures >= self.policy.max_failures or is_credential_problem(error):
            self._failures = 0
            self._fail_all(error)  # each waiter says why, with its snapshots
            return
        log.warning("DescribeSnapshots failed (%s); retrying in %.1fs", error, backoff)


_pollers: dict[Any, SnapshotPoller] = {}
_pollers_lock = threading.Lock()


def poller_for(key: Any, describe: Describe, renew: Callable[[], bool] | None = None) -> SnapshotPoller:
    """The process-wide poller for `key` (an account selection) and the policy the environment asks for, created on
    first use."""
    policy = PollPolicy.from_env()
    with _pollers_lock:
        poller = _pollers.get((key, policy))
        if poller is None:
            poller = _pollers[(key, policy)] = SnapshotPoller(describe, policy, renew=renew)
            if cancel.cancelled():
                poller.cancel()
        return poller


def wait_for(
    account: AccountSelection,
    snapshot_ids: list[str],
    timeout: float,
    started_at: float,
    on_progress: Callable[[dict[str, int]], object] | None = None,
) -> dict[str, SnapshotStatus]:
    """Block until every snapshot of `account` is terminal, on the account's poller; raises WaitTimedOut, or
    WaitInterrupted when the engine cancelled or the credentials stopped working."""

    def describe(ids: list[str]) -> list[dict[str, Any]]:
        return list(snapshots.existing(clients.client(account), ids).values())  # the poller tells unlisted from gone

    poller = poller_for(account, describe, renew=lambda: clients.renew_credentials(account))
    try:
        return poller.wait(snapshot_ids, timeout, started_at=started_at, on_progress=on_progress)
    except PollingFailed as failed:
        cause = failed.__cause__ or failed
        raise SnapshotProviderError(
            explain(cause, "waiting for the snapshots (ec2:DescribeSnapshots)", snapshot_ids=",".join(snapshot_ids))
            + " The snapshots were left in place, tagged as this resource's: once this is fixed, run "
            "`pulumi up` again and they are adopted, not taken again."
        ) from cause


def _cancel_pollers() -> None:
    # After the engine's Cancel (`cancel.cancel_waits`): a poller made from now on is cancelled by `poller_for`.
    with _pollers_lock:
        pollers = list(_pollers.values())
    for poller in pollers:
        poller.cancel()


cancel.on_cancel(_cancel_pollers)


def until_uncancellable(look: Callable[[], T], done: Callable[[T], bool], timeout: float, *, every: float) -> T:
    """`until` that a Cancel does not end (what undoes a pause: the engine's Cancel must not leave an instance frozen
    or stopped): `look()` every `every` seconds until `done`, or `timeout`; the last look."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    seen = look()
    while not done(seen) and time.monotonic() < deadline:
        pause.wait(every)
        seen = look()
    return seen
