"""EBS snapshot lock as AWS documents it: LockSnapshot, UnlockSnapshot, DescribeLockedSnapshots, and no DeleteSnapshot
of a locked snapshot (moto has none of it).

Sources, named again where each rule is enforced:
- EC2 API reference, LockSnapshot (and botocore's model of it): modes `governance` and `compliance`; CoolOffPeriod
  1..72 hours, compliance only; LockDuration 1..36500 days or ExpirationDate, exactly one; what may be modified in
  which state.
- EC2 API reference, UnlockSnapshot: governance, or compliance still in its cooling-off period; never compliance after.
- EC2 API reference, LockedSnapshotsInfo: the four lock states; "If you lock a snapshot that is in the pending state,
  the lock duration starts only once the snapshot enters the completed state."
- EBS user guide, "Amazon EBS snapshot lock concepts": during the cooling-off period users may unlock, change the
  mode, the cooling-off period and the duration; after it only increase the duration or expiry date.
- EBS user guide, "Lock an Amazon EBS snapshot": "You can lock a snapshot that is in the pending or completed state."

AWS publishes no error code for a refused DeleteSnapshot, UnlockSnapshot or LockSnapshot modification: the emulator
answers `InvalidSnapshot.Locked` for the delete and `IncorrectState` for refused unlocks and modifications (its
choice; the provider must not depend on them, and reads DescribeLockedSnapshots instead). All times are on
`strict.CLOCK` (wall seconds), so `advance_clock` steps over a cooling-off period or a lock's end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator import strict
from emulator.exceptions import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidSnapshotLocked,
    InvalidSnapshotNotFound,
    MissingParameter,
)

MODES = ("governance", "compliance")
STATES = ("compliance-cooloff", "governance", "compliance", "expired")
COOL_OFF_HOURS = (1, 72)  # LockSnapshot CoolOffPeriod: "Allowed values: Min 1, max 72."
DURATION_DAYS = (1, 36500)  # LockSnapshot LockDuration: "Allowed values: Min: 1, max 36500"
DAY, HOUR = 86400.0, 3600.0


@dataclass
class SnapshotLock:
    """One snapshot's lock; times are `strict.CLOCK.wall()` seconds."""

    mode: str
    created_on: float
    duration_days: int | None
    expiration: float | None
    cool_off_hours: int | None
    cool_off_started: float
    duration_anchor: float
    """When the duration starts: the first lock's time, or when the snapshot was then due to complete
    (LockedSnapshotsInfo, lockDurationStartTime: a pending snapshot's lock duration starts once it completes)."""

    def duration_start(self, snapshot: Any) -> float:
        return self.duration_anchor

    def expires_on(self, snapshot: Any) -> float:
        if self.expiration is not None:
            return self.expiration
        assert self.duration_days is not None
        return self.duration_start(snapshot) + self.duration_days * DAY

    def cool_off_ends(self) -> float | None:
        if self.mode != "compliance" or not self.cool_off_hours:
            return None
        return self.cool_off_started + self.cool_off_hours * HOUR

    def state(self, snapshot: Any) -> str:
        now = strict.CLOCK.wall()
        if now >= self.expires_on(snapshot):
            return "expired"
        if self.mode == "governance":
            return "governance"
        ends = self.cool_off_ends()
        return "compliance-cooloff" if ends is not None and now < ends else "compliance"


def completes_at(snapshot: Any) -> float:
    """When the snapshot completes (or completed), on `strict.CLOCK`'s wall time (its pending clock is monotonic, so
    this is read when a lock is made: `advance_clock` later moves locks, not pending snapshots)."""
    completed_at = getattr(snapshot, "completed_at", None)
    now = strict.CLOCK.wall()
    if completed_at is None:
        return now
    return now + max(0.0, float(completed_at()) - time.monotonic())


def lock_of(snapshot: Any) -> SnapshotLock | None:
    lock: SnapshotLock | None = getattr(snapshot, "lock", None)
    return lock


def active_lock(snapshot: Any) -> SnapshotLock | None:
    """The snapshot's lock unless it has expired."""
    lock = lock_of(snapshot)
    return lock if lock is not None and lock.state(snapshot) != "expired" else None


@dataclass(frozen=True)
class LockRequest:
    """A LockSnapshot request's parameters (ExpirationDate as wall seconds)."""

    mode: str | None
    duration_days: int | None = None
    expiration: float | None = None
    cool_off_hours: int | None = None


def check_request(request: LockRequest) -> None:
    """The rules of LockSnapshot's parameters alone (EC2 API reference, LockSnapshot)."""
    if request.mode is None:
        raise MissingParameter("The request must contain the parameter LockMode")
    if request.mode not in MODES:
        raise InvalidParameterValue(f"Value ({request.mode}) for parameter LockMode is invalid. Expected: {MODES}")
    if (request.duration_days is None) == (request.expiration is None):
        # "You must specify either this parameter or ExpirationDate, but not both."
        raise InvalidParameterCombination("Specify either LockDuration or ExpirationDate, but not both")
    if request.duration_days is not None and not DURATION_DAYS[0] <= request.duration_days <= DURATION_DAYS[1]:
        raise InvalidParameterValue(
            f"LockDuration must be {DURATION_DAYS[0]} to {DURATION_DAYS[1]} days (got {request.duration_days})"
        )
    if request.expiration is not None:
        now = strict.CLOCK.wall()
        if request.expiration <= now:
            raise InvalidParameterValue("ExpirationDate must be in the future")
        if request.expiration > now + DURATION_DAYS[1] * DAY:
            raise InvalidParameterValue(f"ExpirationDate must be at most {DURATION_DAYS[1]} days from now")
    if request.cool_off_hours is not None:
        if request.mode != "compliance":
            # "If you lock a snapshot in governance mode, omit CoolOffPeriod."
            raise InvalidParameterCombination("CoolOffPeriod can only be specified with LockMode compliance")
        if not COOL_OFF_HOURS[0] <= request.cool_off_hours <= COOL_OFF_HOURS[1]:
            raise InvalidParameterValue(
                f"CoolOffPeriod must be {COOL_OFF_HOURS[0]} to {COOL_OFF_HOURS[1]} hours (got {request.cool_off_hours})"
            )


def lock_snapshot(backend: Any, snapshot_id: str, request: LockRequest) -> tuple[Any, SnapshotLock]:
    """LockSnapshot: a new lock, or a modification of the current one where its mode and state allow it."""
    snapshot = _owned_snapshot(backend, snapshot_id)
    check_request(request)
    if snapshot.status not in ("pending", "completed"):
        # EBS user guide, "Lock an Amazon EBS snapshot": pending or completed snapshots only.
        raise IncorrectState(f"Snapshot {snapshot_id} is {snapshot.status}; only pending or completed can be locked")
    now = strict.CLOCK.wall()
    current = active_lock(snapshot)
    if current is None:
        lock = SnapshotLock(
            request.mode or "",
            now,
            request.duration_days,
            request.expiration,
            request.cool_off_hours,
            now,
            completes_at(snapshot),
        )
    else:
        lock = _modified(snapshot, current, request, now)
    snapshot.lock = lock
    return snapshot, lock


def _modified(snapshot: Any, current: SnapshotLock, request: LockRequest, now: float) -> SnapshotLock:
    state = current.state(snapshot)
    if state == "compliance":
        # LockSnapshot: "If the snapshot is locked in compliance mode and the cooling-off period has lapsed, you can
        # only increase the lock duration or extend the lock expiration date."
        if request.mode != "compliance":
            raise IncorrectState(
                f"Snapshot {snapshot.id} is locked in compliance mode after its cooling-off period: its mode cannot "
                "change"
            )
        if request.cool_off_hours is not None:
            # CoolOffPeriod: "If you specify a cooling-period in a such a request, the request fails."
            raise InvalidParameterCombination(
                "CoolOffPeriod cannot be specified when extending a compliance lock after its cooling-off period"
            )
    anchor = current.duration_anchor
    cool_off_started = current.cool_off_started if current.mode == "compliance" else now
    lock = SnapshotLock(
        request.mode or current.mode,
        current.created_on,
        request.duration_days,
        request.expiration,
        request.cool_off_hours if state != "compliance" else current.cool_off_hours,
        cool_off_started,
        anchor,
    )
    if state == "compliance" and lock.expires_on(snapshot) < current.expires_on(snapshot):
        raise IncorrectState(
            f"Snapshot {snapshot.id} is locked in compliance mode until {iso(current.expires_on(snapshot))}: the lock "
            "can only be extended"
        )
    return lock


def unlock_snapshot(backend: Any, snapshot_id: str) -> Any:
    """UnlockSnapshot: governance, or compliance inside its cooling-off period (EC2 API reference, UnlockSnapshot)."""
    snapshot = _owned_snapshot(backend, snapshot_id)
    current = active_lock(snapshot)
    if current is None:
        raise IncorrectState(f"Snapshot {snapshot_id} is not locked")
    if current.state(snapshot) == "compliance":
        raise IncorrectState(
            f"Snapshot {snapshot_id} is locked in compliance mode and its cooling-off period has ended: it cannot be "
            f"unlocked before {iso(current.expires_on(snapshot))}"
        )
    snapshot.lock = None
    return snapshot


def check_deletable(snapshot: Any) -> None:
    """DeleteSnapshot of a locked snapshot fails (EBS user guide, snapshot lock: "While a snapshot is locked, it can't
    be deleted by any user, regardless of their IAM permissions")."""
    lock = active_lock(snapshot)
    if lock is not None:
        raise InvalidSnapshotLocked(snapshot.id, lock.state(snapshot), iso(lock.expires_on(snapshot)))


def describe_locked_snapshots(backend: Any, snapshot_ids: list[str], states: list[str] | None) -> list[dict[str, Any]]:
    """DescribeLockedSnapshots: the snapshots that have a lock (expired ones too), by id and `lock-state` filter."""
    if snapshot_ids:
        snapshots = [_owned_snapshot(backend, snapshot_id) for snapshot_id in snapshot_ids]
    else:
        snapshots = list(backend.snapshots.values())
    for state in states or []:
        if state not in STATES:
            raise InvalidParameterValue(f"Value ({state}) for filter lock-state is invalid. Expected: {STATES}")
    found = []
    for snapshot in snapshots:
        lock = lock_of(snapshot)
        if lock is None or (states and lock.state(snapshot) not in states):
            continue
        found.append(lock_info(backend, snapshot, lock))
    return found


def lock_info(backend: Any, snapshot: Any, lock: SnapshotLock) -> dict[str, Any]:
    """A lock as LockSnapshot and DescribeLockedSnapshots answer it (LockedSnapshotsInfo)."""
    info: dict[str, Any] = {
        "OwnerId": backend.account_id,
        "SnapshotId": snapshot.id,
        "LockState": lock.state(snapshot),
        "LockCreatedOn": _moment(lock.created_on),
        "LockExpiresOn": _moment(lock.expires_on(snapshot)),
        "LockDurationStartTime": _moment(lock.duration_start(snapshot)),
    }
    if lock.duration_days is not None:
        info["LockDuration"] = lock.duration_days
    ends = lock.cool_off_ends()
    if ends is not None:
        info["CoolOffPeriod"] = lock.cool_off_hours
        info["CoolOffPeriodExpiresOn"] = _moment(ends)
    return info


def _owned_snapshot(backend: Any, snapshot_id: str) -> Any:
    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is None:
        raise InvalidSnapshotNotFound(snapshot_id)
    return snapshot


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(seconds: float) -> str:
    """Wall seconds as EC2 writes a time: ISO 8601, UTC, milliseconds, Z."""
    return _moment(seconds).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
