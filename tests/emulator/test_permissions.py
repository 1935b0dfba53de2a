"""Permission checks at preview with EC2 DryRun: a denied action is named, nothing is created."""

from __future__ import annotations

from typing import Any

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
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
