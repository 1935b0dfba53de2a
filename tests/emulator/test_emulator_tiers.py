"""The emulator's storage tiers over time: archiving in progress, RestoreSnapshotTier, DescribeSnapshotTierStatus."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import client

from emulator import Ec2Emulator


def tier_status(ec2: Any, snapshot_id: str) -> dict[str, Any]:
    found = ec2.describe_snapshot_tier_status(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])
    [status] = found["SnapshotTierStatuses"]
    return dict(status)


def storage_tier(ec2: Any, snapshot_id: str) -> str:
    return str(ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["StorageTier"])


@pytest.fixture
def snapshot_id(emulator: Ec2Emulator, volume_id: str) -> str:
    return str(client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])


def test_a_snapshot_being_archived_stays_standard_until_archival_completes(
    emulator: Ec2Emulator, snapshot_id: str
) -> None:
    ec2 = client(emulator)
    emulator.configure(archive_seconds=3600)
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    assert tier_status(ec2, snapshot_id)["LastTieringOperationStatus"] == "archival-in-progress"
    assert storage_tier(ec2, snapshot_id) == "standard"
    emulator.advance_clock(3600)
    assert tier_status(ec2, snapshot_id)["LastTieringOperationStatus"] == "archival-completed"
    assert storage_tier(ec2, snapshot_id) == "archive"


def test_tier_status_follows_a_restore_until_it_expires(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    emulator.configure(restore_seconds=[24 * 3600, 24 * 3600])
    ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=7)
    assert tier_status(ec2, snapshot_id)["LastTieringOperationStatus"] == "temporary-restore-in-progress"

    emulator.advance_clock(24 * 3600)
    restored = tier_status(ec2, snapshot_id)
    assert restored["LastTieringOperationStatus"] == "temporary-restore-completed" and "RestoreExpiryTime" in restored

    emulator.advance_clock(7 * 24 * 3600)
    expired = tier_status(ec2, snapshot_id)
    assert (expired["StorageTier"], "RestoreExpiryTime" in expired) == ("archive", False)


def test_a_snapshot_being_archived_cannot_be_restored_yet(emulator: Ec2Emulator, snapshot_id: str) -> None:
    emulator.configure(archive_seconds=3600)
    client(emulator).modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    with pytest.raises(ClientError, match="IncorrectState"):
        client(emulator).restore_snapshot_tier(SnapshotId=snapshot_id, PermanentRestore=True)


def test_tier_status_filters_by_snapshot_volume_and_operation(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    ec2 = client(emulator)
    other = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")

    def ids(filters: list[dict[str, Any]]) -> set[str]:
        return {s["SnapshotId"] for s in ec2.describe_snapshot_tier_status(Filters=filters)["SnapshotTierStatuses"]}

    assert ids([{"Name": "volume-id", "Values": [volume_id]}]) == {snapshot_id, other}
    assert ids([{"Name": "last-tiering-operation", "Values": ["archival-completed"]}]) == {snapshot_id}
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        ids([{"Name": "storage-tier", "Values": ["archive"]}])
