"""`lock` on the snapshot resources (`snapshot_provider.locking`): the input's rules and allowed changes, and
EbsSnapshotProvider locking, changing, unlocking and refusing to delete against the local EC2 emulator."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.ec2 import locks
from snapshot_provider.ec2.locks import SnapshotLocked
from testbed import REGION, snapshot_props

provider = EbsSnapshotProvider()
GOVERNANCE = {"mode": "governance", "duration_days": 30}
COMPLIANCE = {"mode": "compliance", "duration_days": 30}


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def lock_failures(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    return [f.reason for f in provider.check(olds, news).failures if f.property == "lock"]


@pytest.mark.parametrize(
    ("lock", "says"),
    [
        ({"mode": "forever", "duration_days": 3}, "mode must be"),
        ({"mode": "governance"}, "exactly one of duration_days or expires_at"),
        ({"mode": "governance", "duration_days": 3, "expires_at": "2999-01-01T00:00:00Z"}, "exactly one"),
        ({"mode": "governance", "duration_days": 0}, "1 to 36500"),
        ({"mode": "governance", "duration_days": 3, "cool_off_hours": 2}, "compliance mode only"),
        ({"mode": "compliance", "duration_days": 3, "cool_off_hours": 73}, "1 to 72"),
        ({"mode": "compliance", "expires_at": "2001-01-01T00:00:00Z"}, "in the past"),
        ({"mode": "compliance", "expires_at": "next tuesday"}, "ISO 8601"),
        ({"mode": "governance", "days": 3}, "unknown key 'days'"),
    ],
)
def test_check_refuses_a_lock_ec2_would_refuse(volume_id: str, lock: dict[str, Any], says: str) -> None:
    reasons = lock_failures({}, snapshot_props(volume_id, lock=lock))
    assert any(says in reason for reason in reasons), reasons


@pytest.mark.parametrize(
    ("new", "says"),
    [
        (None, "cannot be removed"),
        (GOVERNANCE, "cannot be turned into governance"),
        ({"mode": "compliance", "duration_days": 10}, "cannot be shortened"),
        ({"mode": "compliance", "duration_days": 40, "cool_off_hours": 2}, "cooling-off period"),
    ],
)
def test_preview_refuses_changing_a_compliance_lock_without_cool_off_except_to_extend_it(
    volume_id: str, new: dict[str, Any] | None, says: str
) -> None:
    olds = snapshot_props(volume_id, lock=COMPLIANCE)
    reasons = lock_failures(olds, snapshot_props(volume_id, lock=new))
    assert any(says in reason for reason in reasons), reasons


def test_preview_allows_extending_a_compliance_lock_and_any_change_of_a_governance_lock(volume_id: str) -> None:
    longer = {"mode": "compliance", "duration_days": 60}
    assert lock_failures(snapshot_props(volume_id, lock=COMPLIANCE), snapshot_props(volume_id, lock=longer)) == []
    assert lock_failures(snapshot_props(volume_id, lock=GOVERNANCE), snapshot_props(volume_id)) == []


def test_create_locks_the_snapshot_once_completed_and_outputs_the_lock(emulator: Ec2Emulator, volume_id: str) -> None:
    outs = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    assert outs["lock_state"] == "governance" and outs["lock_expires_at"].endswith("Z")
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[outs["snapshot_id"]])["Snapshots"]
    assert info["LockDuration"] == 30


def test_a_snapshot_without_lock_makes_no_lock_call(emulator: Ec2Emulator, volume_id: str) -> None:
    outs = provider.create(snapshot_props(volume_id)).outs
    provider.delete(outs["snapshot_id"], outs)
    assert not [c for c in emulator.calls() if "Lock" in c.action]


def test_delete_of_a_locked_snapshot_fails_naming_the_lock_and_deletes_nothing(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    with pytest.raises(SnapshotLocked, match=rf"{outs['snapshot_id']} is locked in governance mode until 20\d\d-"):
        provider.delete(outs["snapshot_id"], outs)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [outs["snapshot_id"]]
    assert not emulator.mutating_calls("DeleteSnapshot") and not emulator.calls("DeleteSnapshot")


def test_removing_a_governance_lock_unlocks_in_place_and_then_destroy_deletes(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id)).outs
    assert outs["lock_state"] is None
    provider.delete(outs["snapshot_id"], outs)
    assert emulator.snapshots() == []


def test_a_compliance_lock_past_its_cool_off_cannot_be_removed_and_says_so(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    with_cool_off = {"mode": "compliance", "duration_days": 30, "cool_off_hours": 1}
    olds = provider.create(snapshot_props(volume_id, lock=with_cool_off)).outs
    assert olds["lock_state"] == "compliance-cooloff"
    emulator.advance_clock(3600)
    with pytest.raises(SnapshotLocked, match="can no longer be removed"):
        provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id))
    assert not emulator.calls("UnlockSnapshot")


def test_a_governance_lock_is_extended_in_place(emulator: Ec2Emulator, volume_id: str) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    longer = {"mode": "governance", "duration_days": 90}
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id, lock=longer)).outs
    assert outs["lock_expires_at"] > olds["lock_expires_at"] and outs["snapshot_id"] == olds["snapshot_id"]


def test_describe_lock_names_the_mode_and_end() -> None:
    from datetime import UTC, datetime

    info = {"LockState": "compliance-cooloff", "LockExpiresOn": datetime(2030, 1, 31, tzinfo=UTC)}
    assert locks.describe_lock(info) == (
        "is locked in compliance mode (still in its cooling-off period) until 2030-01-31T00:00:00Z"
    )


def test_a_locked_instance_set_is_deleted_whole_or_not_at_all(emulator: Ec2Emulator) -> None:
    from snapshot_provider import InstanceSnapshotsProvider

    instance = emulator.seed_instance(data_volumes=1)
    sets = InstanceSnapshotsProvider()
    inputs = {
        "instance_id": instance["instance_id"],
        "region": REGION,
        "tags": {},
        "timeout": 30,
        "storage_tier": "standard",
        "exclude_boot_volume": False,
        "exclude_data_volume_ids": [],
        "lock": GOVERNANCE,
        "resource_urn": "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::s",
    }
    created = sets.create(inputs)
    assert {s["lock_state"] for s in created.outs["snapshots"]} == {"governance"}
    [first, _] = created.outs["snapshot_ids"].values()
    ec2(emulator).unlock_snapshot(SnapshotId=first)  # one member unlocked outside Pulumi: the other still is
    with pytest.raises(SnapshotLocked, match="Nothing was deleted"):
        sets.delete(str(created.id), created.outs)
    assert len(emulator.snapshots()) == 2


def test_whole_numbers_arriving_as_floats_from_the_engine_are_accepted(volume_id: str) -> None:
    lock = {"mode": "compliance", "duration_days": 30.0, "cool_off_hours": 2.0}
    assert lock_failures({}, snapshot_props(volume_id, lock=lock)) == []
    assert lock_failures({}, snapshot_props(volume_id, lock={"mode": "governance", "duration_days": 1.5})) != []
