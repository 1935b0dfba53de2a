"""The undo source: the snapshot a removed volume comes back from, found (EC2's listings lag) and fit to restore
from (completed, of that volume, not archived or being archived)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from snapshot_provider.core import waiting
from snapshot_provider.ec2 import find
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    aws_errors,
)

# A snapshot seen before is looked for again this long before it counts as gone.
MISSING_SNAPSHOT_GRACE_SECONDS = 10.0

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import SnapshotTierStatusTypeDef


def require_undo_source(ec2: EC2Client, volume_id: str, snapshot_id: str, prefix: str) -> dict[str, Any]:
    """The snapshot, if the undo can restore the volume from it now and later; else a refusal starting `prefix`."""
    snapshot = find_snapshot(ec2, snapshot_id)
    if snapshot is None or snapshot["VolumeId"] != volume_id:
        raise SnapshotProviderError(f"{prefix}: {snapshot_id} is not a snapshot of it")
    if snapshot["State"] != "completed":
        raise SnapshotProviderError(f"{prefix}: its snapshot {snapshot_id} is {snapshot['State']}, not completed")
    unusable = archive_problem(ec2, snapshot)
    if unusable:
        raise SnapshotProviderError(
            f"{prefix}: its snapshot {snapshot_id} {unusable}, so the undo could not bring the volume back when asked "
            "(no volume can be made from an archived snapshot until it is restored to the standard tier, which "
            f"takes 24 to 72 hours). Restore it for good first (aws ec2 restore-snapshot-tier --snapshot-id "
            f"{snapshot_id} --permanent-restore), or use a snapshot in the standard tier."
        )
    return snapshot


def archive_problem(ec2: EC2Client, snapshot: Mapping[str, Any]) -> str | None:
    """Why an archive makes the snapshot unfit as an undo source, or None."""
    if snapshot.get("StorageTier") == "archive":
        return "is in the archive tier"
    if snapshot.get("RestoreExpiryTime"):
        return f"is restored from the archive only until {snapshot['RestoreExpiryTime']}, then archived again"
    status = tier_status(ec2, snapshot["SnapshotId"])
    if status.get("LastTieringOperationStatus") == "archival-in-progress":
        return f"is being archived (since {status.get('LastTieringStartTime')})"
    return None


def tier_status(ec2: EC2Client, snapshot_id: str) -> SnapshotTierStatusTypeDef:
    """EC2 says `standard` while a snapshot is being archived; only DescribeSnapshotTierStatus tells."""
    with aws_errors("reading the snapshot's tier (ec2:DescribeSnapshotTierStatus)", snapshot_id=snapshot_id):
        answer = ec2.describe_snapshot_tier_status(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])
    none_yet: SnapshotTierStatusTypeDef = {}
    return next(iter(answer.get("SnapshotTierStatuses") or []), none_yet)


def find_snapshot(ec2: EC2Client, snapshot_id: str) -> dict[str, Any] | None:
    """The snapshot, looked for again for a few seconds before it counts as gone (EC2's listings lag)."""

    def look() -> dict[str, Any] | None:
        try:
            with aws_errors("reading the snapshot (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
                return dict(find.snapshot(ec2, snapshot_id))
        except find.NotFound:
            return None  # looked for again until the grace ends

    return waiting.until(
        look, lambda s: s is not None, MISSING_SNAPSHOT_GRACE_SECONDS, what=f"for EC2 to list {snapshot_id}"
    )
