"""VolumeRemovalProvider against the emulator: the guards, the delete, and the undo that restores the volume."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.errors import SnapshotProviderError
from snapshot_provider.volume_removal import VolumeRemovalProvider

provider = VolumeRemovalProvider()


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def removal_props(volume_id: str, snapshot_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "volume_id": volume_id,
        "snapshot_id": snapshot_id,
        "confirm_delete_volume": volume_id,
        "region": REGION,
        **overrides,
    }


@pytest.fixture
def snapshot_id(emulator: Ec2Emulator, volume_id: str) -> str:
    return str(EbsSnapshotProvider().create(snapshot_props(volume_id)).id)


def test_check_requires_the_volume_id_as_confirmation(emulator: Ec2Emulator) -> None:
    result = provider.check({}, removal_props("vol-01234567", "snap-01234567", confirm_delete_volume="yes"))
    assert [f.property for f in result.failures] == ["confirm_delete_volume"]
    assert "explicit opt-in" in result.failures[0].reason
    assert emulator.calls() == []


def test_create_deletes_the_volume_and_records_how_to_restore_it(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    outs = provider.create(removal_props(volume_id, snapshot_id)).outs
    assert outs["size"] == 8 and outs["availability_zone"] == "us-east-1a"
    assert outs["volume_tags"]["team"] == "storage"
    assert volume_id not in emulator.ec2_backend().volumes


def test_undo_restores_the_volume_from_the_snapshot(emulator: Ec2Emulator, volume_id: str, snapshot_id: str) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    provider.delete(created.id, created.outs)
    restored = ec2(emulator).describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [volume_id]}])
    [volume] = restored["Volumes"]
    assert (volume["Size"], volume["AvailabilityZone"], volume["SnapshotId"]) == (8, "us-east-1a", snapshot_id)
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["team"] == "storage"


def test_attached_volume_is_never_deleted(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    attached = instance["data_volumes"][0]["volume_id"]
    snapshot_id = EbsSnapshotProvider().create(snapshot_props(attached)).id
    with pytest.raises(SnapshotProviderError, match=f"refusing to delete volume {attached}: it is in-use"):
        provider.create(removal_props(attached, snapshot_id))
    assert attached in emulator.ec2_backend().volumes


def test_volume_is_not_deleted_before_its_snapshot_completed(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=60)
    pending = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match="is pending, not completed"):
        provider.create(removal_props(volume_id, pending))
    assert volume_id in emulator.ec2_backend().volumes


def test_snapshot_of_another_volume_does_not_count(emulator: Ec2Emulator, snapshot_id: str) -> None:
    [other] = emulator.seed_volumes(1)
    with pytest.raises(SnapshotProviderError, match="is not a snapshot of it"):
        provider.create(removal_props(other, snapshot_id))
    assert other in emulator.ec2_backend().volumes


def test_undo_without_the_snapshot_fails_clearly_and_changes_nothing(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    ec2(emulator).delete_snapshot(SnapshotId=snapshot_id)
    with pytest.raises(SnapshotProviderError, match=f"its snapshot {snapshot_id} no longer exists"):
        provider.delete(created.id, created.outs)
    assert not [c for c in emulator.calls("CreateVolume")]
