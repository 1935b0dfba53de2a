"""Archiving takes time, and DescribeSnapshotTierStatus says where each snapshot's last tiering operation stands.

What EC2 does (EBS user guide, "Archive Amazon EBS snapshots" and "Work with snapshot archiving"; EC2 API reference,
ModifySnapshotTier and DescribeSnapshotTierStatus):

- `ModifySnapshotTier` starts archiving. While it runs the snapshot is still `standard` and usable ("You can continue
  to use the snapshot while the archive is in process"); once its tiering status is `archival-completed` it is
  `archive`, and no volume can be made from it until it is restored (`RestoreSnapshotTier`: `models.Restore`).
- `DescribeSnapshotTierStatus` reports each snapshot's last tiering operation (`LastTieringOperationStatus`:
  `archival-in-progress`, `archival-completed`, `temporary-restore-in-progress`, ...), filtered by `snapshot-id`,
  `volume-id` and `last-tiering-operation`.

How long archiving takes is `archive_seconds` (0, the default: at once), on the strict mode's clock (`strict.CLOCK`,
which `advance_clock` moves). `settle` archives the snapshots whose time has come; the server calls it before each
request, and `Ec2Emulator` before it reads the account in process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator import strict
from emulator.exceptions import InvalidParameterValue

STATUS_FILTERS = ("snapshot-id", "volume-id", "last-tiering-operation")


@dataclass
class TierTimes:
    """How long archiving takes, in seconds (0: at once). A restore's time is the strict mode's `restore_seconds`."""

    archive_seconds: float = 0.0


@dataclass
class Archival:
    """A ModifySnapshotTier to `archive`, on `strict.CLOCK` (wall seconds)."""

    snapshot: Any
    started_at: float
    seconds: float
    applied: bool = False  # archived: a later restore to the standard tier is not undone here

    def finished(self) -> bool:
        return strict.CLOCK.wall() >= self.started_at + self.seconds


TIMES = TierTimes()
_archivals: dict[str, Archival] = {}  # snapshot id -> its last archival
_lock = threading.Lock()


def reset() -> None:
    global TIMES
    TIMES = TierTimes()
    with _lock:
        _archivals.clear()


def start_archival(snapshot: Any) -> None:
    """ModifySnapshotTier to `archive` (the model has checked the snapshot is completed)."""
    with _lock:
        _archivals[snapshot.id] = Archival(snapshot, strict.CLOCK.wall(), TIMES.archive_seconds)
    settle()


def settle() -> None:
    """Archive every snapshot whose archival has finished and has not been applied yet."""
    with _lock:
        due = [a for a in _archivals.values() if not a.applied and a.finished()]
        for archival in due:
            archival.snapshot.storage_tier = "archive"
            archival.applied = True


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def status_of(snapshot: Any) -> dict[str, Any]:
    """One entry of DescribeSnapshotTierStatus: the restore under way or done if any, else the last archival."""
    entry: dict[str, Any] = {
        "SnapshotId": snapshot.id,
        "VolumeId": snapshot.volume.id,
        "Status": snapshot.status,
        "OwnerId": snapshot.owner_id,
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in snapshot.get_tags()],
    }
    usable = snapshot.usable()  # settles a restore that finished or expired
    entry["StorageTier"] = snapshot.storage_tier
    restore = snapshot.restore
    with _lock:
        archival = _archivals.get(snapshot.id)
    if restore is not None:
        kind = "permanent-restore" if restore.permanent else "temporary-restore"
        done = restore.finished()
        entry.update(
            LastTieringStartTime=_time(restore.started_at),
            LastTieringProgress=100 if done else 0,
            LastTieringOperationStatus=f"{kind}-{'completed' if done else 'in-progress'}",
        )
        if done and not restore.permanent and usable:
            entry["RestoreExpiryTime"] = restore.expires_at()
    elif archival is not None:
        done = archival.finished()
        entry.update(
            LastTieringStartTime=_time(archival.started_at),
            LastTieringProgress=100 if done else 0,
            LastTieringOperationStatus=f"archival-{'completed' if done else 'in-progress'}",
        )
        if done:
            entry["ArchivalCompleteTime"] = _time(archival.started_at + archival.seconds)
    return entry


def describe_statuses(backend: Any, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DescribeSnapshotTierStatus over the account's own snapshots."""
    unknown = sorted(set(filters) - set(STATUS_FILTERS))
    if unknown:
        raise InvalidParameterValue(f"The filter '{unknown[0]}' is invalid (known: {', '.join(STATUS_FILTERS)})")
    settle()
    found = []
    for snapshot in list(backend.snapshots.values()):
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
