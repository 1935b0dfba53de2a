"""Snapshot storage tiers over time: archiving and restoring from the archive take a while, as on EC2.

What EC2 does (EBS user guide, "Archive Amazon EBS snapshots" and "Work with snapshot archiving"; EC2 API reference,
ModifySnapshotTier, RestoreSnapshotTier, DescribeSnapshotTierStatus):

- `ModifySnapshotTier` starts archiving. While it runs the snapshot is still `standard` and usable ("You can continue
  to use the snapshot while the archive is in process"); once its tiering status is `archival-completed` it is
  `archive` and no volume can be made from it.
- `RestoreSnapshotTier` brings an archived snapshot back, for `TemporaryRestoreDays` or permanently. It takes up to
  72 hours; meanwhile the snapshot stays `archive`. A temporary restore ends at `RestoreExpiryTime`, when the snapshot
  is archived again. On a temporarily restored snapshot the same call changes the period or makes it permanent.
- `DescribeSnapshotTierStatus` reports each snapshot's last tiering operation (`LastTieringOperationStatus`).

How long a restore takes is the strict mode's `restore_seconds` (drawn in [lo, hi] per request; strict: 24 to 72 h);
how long archiving takes is `archive_seconds` here (0, the default: at once). Both run on the strict mode's clock
(`strict.CLOCK`: `advance_clock` steps over a 24 h restore). Snapshots' tiers follow that clock: `settle` brings every
snapshot with an operation under way to where the clock says it is, and the server calls it before each request.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator import strict
from emulator.exceptions import IncorrectState, InvalidParameterValue

ARCHIVAL = "archival"
TEMPORARY_RESTORE = "temporary-restore"
PERMANENT_RESTORE = "permanent-restore"
STATUS_FILTERS = ("snapshot-id", "volume-id", "last-tiering-operation")


@dataclass
class TierTimes:
    """How long archiving takes, in seconds (0: at once); a restore's time is `strict.SETTINGS.restore_seconds`."""

    archive_seconds: float = 0.0


@dataclass
class Operation:
    """The last tiering operation of one snapshot."""

    kind: str  # ARCHIVAL, TEMPORARY_RESTORE or PERMANENT_RESTORE
    started: datetime  # naive UTC, as moto keeps times
    seconds: float
    restore_days: int | None = None

    @property
    def ends(self) -> datetime:
        return self.started + timedelta(seconds=self.seconds)

    def status(self, now: datetime) -> str:
        return f"{self.kind}-{'completed' if now >= self.ends else 'in-progress'}"

    def restore_expiry(self) -> datetime | None:
        if self.kind != TEMPORARY_RESTORE or self.restore_days is None:
            return None
        return self.ends + timedelta(days=self.restore_days)

    def tier(self, now: datetime) -> str:
        """The snapshot's StorageTier at `now`."""
        done = now >= self.ends
        if self.kind == ARCHIVAL:
            return "archive" if done else "standard"
        expiry = self.restore_expiry()
        if not done or (expiry is not None and now >= expiry):
            return "archive"
        return "standard"


TIMES = TierTimes()
_operations: dict[str, Operation] = {}
_lock = threading.Lock()
_rng = random.Random(0)


def now() -> datetime:
    """The strict mode's clock as naive UTC, as moto keeps times."""
    return datetime.fromtimestamp(strict.CLOCK.wall(), UTC).replace(tzinfo=None)


def _restore_seconds() -> float:
    lo, hi = strict.SETTINGS.restore_seconds
    with _lock:
        return _rng.uniform(lo, hi)


def reset() -> None:
    global TIMES
    TIMES = TierTimes()
    with _lock:
        _operations.clear()
        _rng.seed(0)


def start_archival(snapshot: Any) -> None:
    """ModifySnapshotTier to `archive` (the model has checked the snapshot is completed)."""
    with _lock:
        _operations[snapshot.id] = Operation(ARCHIVAL, now(), TIMES.archive_seconds)
    settle_one(snapshot)


def restore(snapshot: Any, temporary_days: int | None, permanent: bool) -> Operation:
    """RestoreSnapshotTier: start a restore of an archived snapshot, or change a temporary one's period or type."""
    if permanent == (temporary_days is not None):
        raise InvalidParameterValue("Specify either TemporaryRestoreDays or PermanentRestore=true, not both")
    if temporary_days is not None and not 1 <= temporary_days <= 180:
        raise InvalidParameterValue(f"TemporaryRestoreDays must be between 1 and 180, got {temporary_days}")
    at = now()
    seconds = _restore_seconds()
    with _lock:
        current = _operations.get(snapshot.id)
        kind = PERMANENT_RESTORE if permanent else TEMPORARY_RESTORE
        if current is not None and current.kind != ARCHIVAL and at < current.ends:
            raise IncorrectState(f"Snapshot {snapshot.id} is already being restored from the archive tier")
        restored = current is not None and current.kind == TEMPORARY_RESTORE and current.tier(at) == "standard"
        if restored:  # a temporary restore: a new period, or permanent, from now on
            operation = Operation(kind, at, 0.0, temporary_days)
        elif _tier(snapshot, current, at) != "archive":
            raise IncorrectState(f"Snapshot {snapshot.id} is not in the archive tier")
        else:
            operation = Operation(kind, at, seconds, temporary_days)
        _operations[snapshot.id] = operation
    settle_one(snapshot)
    return operation


def _tier(snapshot: Any, operation: Operation | None, now: datetime) -> str:
    return operation.tier(now) if operation is not None else str(snapshot.storage_tier)


def settle(backend: Any) -> None:
    """Bring the tier of every snapshot with an operation to where the clock says it is."""
    with _lock:
        ids = list(_operations)
    for snapshot_id in ids:
        snapshot = backend.snapshots.get(snapshot_id)
        if snapshot is not None:
            settle_one(snapshot)


def settle_one(snapshot: Any) -> None:
    with _lock:
        operation = _operations.get(snapshot.id)
    if operation is None:
        return
    snapshot.storage_tier = operation.tier(now())
    snapshot.restore_expiry_time = operation.restore_expiry() if snapshot.storage_tier == "standard" else None


def status_of(snapshot: Any) -> dict[str, Any]:
    """One entry of DescribeSnapshotTierStatus."""
    with _lock:
        operation = _operations.get(snapshot.id)
    entry: dict[str, Any] = {
        "SnapshotId": snapshot.id,
        "VolumeId": snapshot.volume.id,
        "Status": snapshot.status,
        "OwnerId": snapshot.owner_id,
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in snapshot.get_tags()],
        "StorageTier": snapshot.storage_tier,
    }
    if operation is not None:
        at = now()
        entry.update(
            LastTieringStartTime=operation.started,
            LastTieringProgress=100 if at >= operation.ends else 0,
            LastTieringOperationStatus=operation.status(at),
        )
        if operation.kind == ARCHIVAL and at >= operation.ends:
            entry["ArchivalCompleteTime"] = operation.ends
        if operation.restore_expiry() is not None:
            entry["RestoreExpiryTime"] = operation.restore_expiry()
    return entry


def describe_statuses(backend: Any, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DescribeSnapshotTierStatus with its `snapshot-id`, `volume-id` and `last-tiering-operation` filters."""
    unknown = sorted(set(filters) - set(STATUS_FILTERS))
    if unknown:
        raise InvalidParameterValue(f"The filter '{unknown[0]}' is invalid (known: {', '.join(STATUS_FILTERS)})")
    settle(backend)
    found = []
    for snapshot in backend.snapshots.values():
        if snapshot.from_ami or snapshot.owner_id != backend.account_id:
            continue
        entry = status_of(snapshot)
        values = {
            "snapshot-id": snapshot.id,
            "volume-id": snapshot.volume.id,
            "last-tiering-operation": entry.get("LastTieringOperationStatus"),
        }
        if all(values[name] in wanted for name, wanted in filters.items()):
            found.append(entry)
    return found
