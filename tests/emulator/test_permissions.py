"""Permission checks at preview with EC2 DryRun: a denied action is named, nothing is created."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider, SnapshotCopyProvider
from testbed import REGION, snapshot_props


def test_permission_check_passes_without_side_effects(emulator: Ec2Emulator, volume_id: str) -> None:
    result = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True))
    assert result.failures == []
    [call] = emulator.calls("CreateSnapshot")
    assert call.params["DryRun"] == "true" and not call.mutating
    assert emulator.snapshots() == []


def test_denied_create_is_reported_at_preview_with_action_and_resource(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(denied_actions=["CreateSnapshot"])
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    assert failure.property == "volume_id"
    assert f"ec2:CreateSnapshot on {volume_id} in {REGION} would be denied" in failure.reason
    assert "UnauthorizedOperation" in failure.reason and "permission_check=False" in failure.reason
    assert emulator.snapshots() == []


def test_permission_check_is_off_by_default_and_skipped_for_existing_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(denied_actions=["CreateSnapshot"])
    assert EbsSnapshotProvider().check({}, snapshot_props(volume_id)).failures == []
    olds: dict[str, Any] = snapshot_props(volume_id, permission_check=True)
    assert EbsSnapshotProvider().check(olds, snapshot_props(volume_id, permission_check=True)).failures == []
    assert emulator.calls() == []


def test_denied_create_snapshots_is_reported(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    emulator.configure(denied_actions=["CreateSnapshots"])
    props = {"instance_id": instance["instance_id"], "region": REGION, "permission_check": True}
    [failure] = InstanceSnapshotsProvider().check({}, props).failures
    assert failure.property == "instance_id" and "ec2:CreateSnapshots" in failure.reason
    assert emulator.snapshots() == []


@pytest.mark.parametrize(
    ("lock", "denied", "action"),
    [
        ({"mode": "governance", "duration_days": 30}, "LockSnapshot", "ec2:LockSnapshot"),
        ({"mode": "governance", "duration_days": 30}, "UnlockSnapshot", "ec2:UnlockSnapshot"),
        ({"mode": "compliance", "duration_days": 30}, "DescribeLockedSnapshots", "ec2:DescribeLockedSnapshots"),
    ],
)
def test_a_denied_lock_call_is_reported_at_preview_for_a_resource_with_lock(
    emulator: Ec2Emulator, volume_id: str, lock: dict[str, Any], denied: str, action: str
) -> None:
    emulator.configure(denied_actions=[denied])
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, lock=lock, permission_check=True)).failures
    assert failure.property == "lock" and f"{action} in {REGION} would be denied" in failure.reason
    assert emulator.snapshots() == [] and not emulator.mutating_calls()


def test_a_lock_that_can_never_be_removed_does_not_ask_for_unlock(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(denied_actions=["UnlockSnapshot"])
    lock = {"mode": "compliance", "duration_days": 30}
    assert EbsSnapshotProvider().check({}, snapshot_props(volume_id, lock=lock, permission_check=True)).failures == []
    asked = {c.action for c in emulator.calls()}
    assert asked == {"CreateSnapshot", "DescribeLockedSnapshots", "LockSnapshot", "CreateTags"}


def test_a_denied_copy_is_reported_at_preview(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    source_id = str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])
    props = {"source_snapshot_id": source_id, "region": "eu-west-1", "source_region": REGION, "permission_check": True}
    assert SnapshotCopyProvider().check({}, props).failures == []
    emulator.configure(denied_actions=["CopySnapshot"])
    [failure] = SnapshotCopyProvider().check({}, props).failures
    assert failure.property == "source_snapshot_id"
    assert f"ec2:CopySnapshot of {source_id} in eu-west-1 would be denied" in failure.reason
    assert len(emulator.snapshots(region="eu-west-1")) == 0
