"""EC2's limits on the snapshots of one volume, waited for rather than failed on.

EC2 refuses a `CreateSnapshot(s)` of a volume
- within about 15 s of the last one of that volume: `SnapshotCreationPerVolumeRateExceeded` (EC2 API reference,
  "Error codes": "wait at least 15 seconds between concurrent volume snapshots");
- while the volume has as many `pending` snapshots as it may: `ConcurrentSnapshotLimitExceeded` (EBS user guide,
  "Create Amazon EBS snapshots": five for gp2, io1 and magnetic volumes, one for st1 and sc1).

Within one provider process, creates of the same volume take turns through `GATE`: each waits until 15 s after the
last request for any of its volumes, and while a volume has as many pending snapshots of this process as EC2 was seen
to allow, until one of them completes. A snapshot taken elsewhere (another stack, the console, AWS Backup) can still
trip either limit: the create then waits too (`lifecycle`), within the resource's timeout, and says what it waits for.
The engine's Cancel (Ctrl-C) ends every such wait at once (`cancel.LookCancelled`): nothing is requested after it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from snapshot_provider.ec2 import cancel

RATE_LIMITED = "SnapshotCreationPerVolumeRateExceeded"
TOO_MANY_PENDING = "ConcurrentSnapshotLimitExceeded"
PER_VOLUME_CODES = frozenset({RATE_LIMITED, TOO_MANY_PENDING})
INTERVAL = 15.0  # seconds between two requests for one volume
# EC2 counts the interval from when it received the last request, a little after this process sent it.
MARGIN = 1.0
# Longest single wait for room when the pending snapshots holding a volume's limit are not this process's (nothing
# will wake the waiter): look again this often.
RECHECK = 30.0


class LimitWaitExpired(Exception):
    """The deadline came while a create still waited for its volumes' limits; nothing was requested."""


@dataclass(frozen=True)
class Turn:
    """One request's turn, as `Gate.turn` gave it: its volumes, when the next request may go after it (`given`), and
    when it could go before (`before`, per volume). `give_back` takes it, so that it undoes only this turn."""

    volumes: tuple[str, ...]
    given: float
    before: Mapping[str, float]


@dataclass
class Gate:
    """This process's requests per volume: when the last one went, how many of its snapshots are pending, and how
    many EC2 allowed when it last refused (thread-safe; one per process, `GATE`)."""

    interval: float | None = None  # None: SNAPSHOT_VOLUME_INTERVAL from the environment, default INTERVAL
    clock: Callable[[], float] = time.monotonic
    _next_turn: dict[str, float] = field(default_factory=dict)
    _pending: dict[str, int] = field(default_factory=dict)
    _allowed: dict[str, int] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        cancel.on_cancel(self._wake)

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def turn(self, volume_ids: Iterable[str], deadline: float, say: Callable[[str], None]) -> Turn:
        """Block until a request for these volumes may go, then count it as pending; the turn, for `give_back`.
        Raises LimitWaitExpired at the deadline. `say` hears once of each kind of wait."""
        volumes = sorted(set(volume_ids))
        told: set[str] = set()
        with self._changed:
            while True:
                now = self.clock()
                full = [v for v in volumes if self._pending.get(v, 0) >= self._allowed.get(v, 1 << 30)]
                if full:
                    if "pending" not in told:
                        told.add("pending")
                        say(_pending_line(full, self._pending))
                    self._wait_until(min(deadline, now + RECHECK), deadline)
                    continue
                go_at = max([now, *(self._next_turn.get(v, now) for v in volumes)])
                spacing = self.spacing()
                given = go_at + spacing + (MARGIN if spacing else 0.0)
                taken = Turn(tuple(volumes), given, {v: self._next_turn.get(v, 0.0) for v in volumes})
                for v in volumes:
                    self._next_turn[v] = given
                    self._pending[v] = self._pending.get(v, 0) + 1
                break
        wait = go_at - self.clock()
        if wait > 0:
            if go_at > deadline:
                self.release(volumes)
                raise LimitWaitExpired()
            say(
                f"waiting {wait:.0f}s to request a snapshot of {', '.join(volumes)}: EC2 allows one request per "
                f"volume every {self.spacing():g}s"
            )
            try:
                cancel.pause(wait, f"to request a snapshot of {', '.join(volumes)} (nothing was requested)")
            except cancel.LookCancelled:
                self.release(volumes)
                raise
        return taken

    def spacing(self) -> float:
        """Seconds between two requests for one volume: SNAPSHOT_VOLUME_INTERVAL in the provider's environment (an
        emulator without the limit: 0), default EC2's 15."""
        if self.interval is not None:
            return self.interval
        return float(os.environ.get("SNAPSHOT_VOLUME_INTERVAL", INTERVAL))

    def release(self, volume_ids: Iterable[str]) -> None:
        """A counted request that made no snapshot, or a snapshot of it that is no longer pending."""
        with self._changed:
            for v in set(volume_ids):
                self._pending[v] = max(0, self._pending.get(v, 0) - 1)
            self._changed.notify_all()

    def give_back(self, turn: Turn) -> None:
        """A counted request EC2 never acted on (throttled, or never sent): un-count it, and give its turn back
        unless a later request took the next one (its spacing counts from this turn's), so a throttled retry does
        not wait out a 15 s interval that EC2 never started."""
        with self._changed:
            for v in turn.volumes:
                if self._next_turn.get(v) == turn.given:
                    self._next_turn[v] = turn.before[v]
        self.release(turn.volumes)

    def refused(self, code: str, volume_ids: Iterable[str]) -> None:
        """EC2 refused a counted request for one of its per-volume limits: learn from it, and un-count it."""
        volumes = set(volume_ids)
        with self._changed:
            for v in volumes:
                others = max(0, self._pending.get(v, 0) - 1)  # this process's pending snapshots, besides this one
                if code == TOO_MANY_PENDING and others:
                    self._allowed[v] = min(self._allowed.get(v, 1 << 30), others)
                if code == RATE_LIMITED:  # EC2 has the limit, whatever the setting says: the next is 15 s from now
                    self._next_turn[v] = max(self._next_turn.get(v, 0.0), self.clock() + max(self.spacing(), INTERVAL))
        self.release(volumes)

    def wait_for_room(self, volume_ids: Iterable[str], deadline: float, longest: float) -> None:
        """After ConcurrentSnapshotLimitExceeded: until one of this process's pending snapshots of these volumes
        completes, `longest` seconds pass, or the deadline comes (whichever first)."""
        with self._changed:
            self._wait_until(min(deadline, self.clock() + longest), deadline)
        if self.clock() >= deadline:
            raise LimitWaitExpired()
        _unless_cancelled()

    def _wait_until(self, until: float, deadline: float) -> None:
        """Wait (the condition's lock held) until woken or `until`; raises at the deadline, and after the engine's
        Cancel."""
        _unless_cancelled()
        remaining = until - self.clock()
        if remaining <= 0 and self.clock() >= deadline:
            raise LimitWaitExpired()
        self._changed.wait(max(0.0, remaining))
        _unless_cancelled()


def _unless_cancelled() -> None:
    if cancel.cancelled():
        raise cancel.LookCancelled("for room among the volume's pending snapshots (nothing was requested)")


def _pending_line(full: list[str], pending: dict[str, int]) -> str:
    counts = ", ".join(f"{v} ({pending.get(v, 0)} pending)" for v in full)
    return (
        f"waiting for {counts}: EC2 allows only so many pending snapshots of one volume "
        "(ConcurrentSnapshotLimitExceeded); the request goes once one of them completes"
    )


GATE = Gate()
