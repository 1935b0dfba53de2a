"""What a series has: its snapshots (by tag, and as its state records them), the AMIs that use them, and
the points the pruning planner works on. Read-only: the run, refresh and preview survey the same way."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from snapshot_provider.core import pruning
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, SERIES_TAG
from snapshot_provider.ec2 import snapshots, undo_tags
from snapshot_provider.ec2.errors import aws_errors

POINT_TAG = "pulumi-snapshot:point"


# The Recycle Bin keeps a deleted snapshot at most a year (a retention rule's period is 1 to 365 days: Recycle Bin
# user guide, "Retention rules"): a snapshot the series deleted longer ago can no longer come back.
RECYCLE_BIN_MAX_DAYS = 365


# What marks a snapshot as the series' (the lifecycle's tags, and the series' own): removed from one it lets go of.
OWN_TAGS = (SERIES_TAG, POINT_TAG, RESOURCE_TAG, ATTEMPT_TAG)


NO_IMAGES = (
    "could not list the AMIs that use the series' snapshots (ec2:DescribeImages); a delete EC2 refuses because an "
    "AMI uses the snapshot is reported instead"
)


def owned(snapshot: Mapping[str, Any], series_id: str) -> bool:
    """The rule for everything the series archives or deletes: tagged with its id, and handed over."""
    return (
        snapshots.tag_value(snapshot, SERIES_TAG) == series_id
        and snapshots.tag_value(snapshot, ATTEMPT_TAG) == RECORDED
    )


def series_snapshots(
    ec2: Any,
    series_id: str,
    recorded: Mapping[str, Mapping[str, Any]] | None = None,
    deleted: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The series' snapshots, newest first. `recorded`: what the series knows it handed over (snapshot id -> its
    details as written, or its entry in state), in case EC2 does not show their `recorded` tag yet; `deleted`: what
    it deleted, which EC2 may still list for a while, or the Recycle Bin give back (see `pruned_in`)."""
    known = dict(recorded or {})
    listed = {
        s["SnapshotId"]: _as_known(s, known.get(s["SnapshotId"]))
        for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id)
        if (owned(s, series_id) or s["SnapshotId"] in known) and s["SnapshotId"] not in deleted
    }
    # Handed over moments ago: EC2 may not list it by its tags yet (tags set at creation show after a delay too).
    unlisted = [sid for sid in known if sid not in listed]
    fresh = {sid: dict(known[sid]) for sid in unlisted if "StartTime" in known[sid]}  # described by this run
    looked_up = [sid for sid in unlisted if sid not in fresh]
    if looked_up:
        with aws_errors("reading the series' snapshots (ec2:DescribeSnapshots)", snapshot_ids=",".join(looked_up)):
            fresh |= {sid: _as_known(s, known[sid]) for sid, s in snapshots.existing(ec2, looked_up).items()}
    listed |= fresh
    return sorted(listed.values(), key=lambda s: snapshots.aware(s["StartTime"]), reverse=True)


def _as_known(snapshot: dict[str, Any], known: Mapping[str, Any] | None) -> dict[str, Any]:
    """A listed snapshot with the tags the series wrote and EC2 may not show yet (its point, `recorded`)."""
    if not known:
        return snapshot
    tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags") or []}
    point = snapshots.tag_value(known, POINT_TAG) if "Tags" in known else known.get("point")
    tags |= {ATTEMPT_TAG: RECORDED} | ({POINT_TAG: point} if point else {})
    return {**snapshot, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def pruned_in(previous: Mapping[str, Any]) -> dict[str, str]:
    """The snapshots the series deleted (id -> the day), while the Recycle Bin could give them back. One that exists
    again was recovered by its user (RestoreSnapshotFromRecycleBin gives back the same id, with the series' tags):
    theirs now, never pruned or deleted again. The last run's `deleted` counts too (state older than this record)."""
    oldest = (datetime.now(UTC).date() - timedelta(days=RECYCLE_BIN_MAX_DAYS)).isoformat()
    kept = {sid: day for sid, day in (previous.get("pruned") or {}).items() if str(day) >= oldest}
    return dict.fromkeys(previous.get("deleted") or [], today()) | kept


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def recorded_in(previous: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The snapshots the series' state records, by id (their entries: the point they belong to)."""
    return {e["snapshot_id"]: dict(e) for e in previous.get("snapshots") or [] if e.get("snapshot_id")}


def batches(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), snapshots.MAX_TAGGED_PER_CALL):
        yield ids[start : start + snapshots.MAX_TAGGED_PER_CALL]


def archive_requested(previous: Mapping[str, Any]) -> set[str]:
    """Snapshots state says were archived: AWS reports `standard` for hours while archiving, so the request counts."""
    return {e["snapshot_id"] for e in previous.get("snapshots") or [] if e.get("tier") == "archive"}


def planner_snapshots(
    listing: Sequence[Mapping[str, Any]], archived: set[str], images: Mapping[str, list[str]] | None
) -> list[pruning.Snapshot]:
    return [
        pruning.Snapshot(
            snapshot_id=s["SnapshotId"],
            point=snapshots.tag_value(s, POINT_TAG) or s["SnapshotId"],
            started=snapshots.aware(s["StartTime"]),
            state=s["State"] if s["State"] in ("pending", "completed", "error") else "pending",
            tier="archive" if tier_of(s, archived) == "archive" else "standard",
            used_by=tuple((images or {}).get(s["SnapshotId"], [])),
            held_for=undo_tags.holder_of(s.get("Tags")),
        )
        for s in listing
    ]


def tier_of(snapshot: Mapping[str, Any], archived: set[str]) -> str:
    return "archive" if snapshot.get("StorageTier") == "archive" or snapshot["SnapshotId"] in archived else "standard"


def to_delete(ec2: Any, series_id: str, props: Mapping[str, Any]) -> list[str]:
    """What a series' delete deletes: its snapshots by tag (handed over or not), and those its state records, which
    EC2's tag filters may not show yet (tags set moments ago, by the request or at the hand-over, show after a
    delay: EC2 API reference, "Eventual consistency"); never one it pruned that its user recovered since."""
    tagged = [s["SnapshotId"] for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id)]
    recovered = pruned_in(props)
    return [sid for sid in dict.fromkeys([*tagged, *recorded_in(props)]) if sid not in recovered]


@dataclass
class Survey:
    """What a series has now: its snapshots (newest first), the AMIs that use them (None: could not list them), and
    the ones state says were archived (AWS reports `standard` for hours while archiving)."""

    listing: list[dict[str, Any]]
    images: dict[str, list[str]] | None
    archived: set[str]

    def points(self) -> list[pruning.Point]:
        """The series' points, as the pruning planner takes them."""
        return pruning.points(planner_snapshots(self.listing, self.archived, self.images))


def survey(
    ec2: Any,
    series_id: str,
    previous: Mapping[str, Any],
    recorded: Mapping[str, Mapping[str, Any]] | None = None,
    deleted: Sequence[str] | None = None,
) -> Survey:
    """List the series' snapshots, then find the AMIs that use them. `previous`: the series' state;
    `recorded`/`deleted` default to what it records (see `series_snapshots`)."""
    listing = series_snapshots(
        ec2,
        series_id,
        recorded_in(previous) if recorded is None else recorded,
        list(pruned_in(previous)) if deleted is None else deleted,
    )
    images = snapshots.images_using(ec2, [s["SnapshotId"] for s in listing])
    return Survey(listing, images, archive_requested(previous))
