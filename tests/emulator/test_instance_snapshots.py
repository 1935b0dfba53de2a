"""InstanceSnapshotsProvider against the emulator: an instance with a root and two data volumes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import InstanceSnapshotsProvider
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG, resource_token
from snapshot_provider.core.sources import Member, plan_members
from snapshot_provider.ec2.errors import SnapshotFailed, SnapshotProviderError, SnapshotTimedOut
from testbed import REGION

provider = InstanceSnapshotsProvider()
URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::set-of-"


@pytest.fixture
def instance(emulator: Ec2Emulator) -> dict[str, Any]:
    return emulator.seed_instance(data_volumes=2)


def props(instance: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "instance_id": instance["instance_id"],
        "region": REGION,
        "tags": {"purpose": "decommission"},
        "timeout": 30,
        "storage_tier": "standard",
        "exclude_boot_volume": False,
        "exclude_data_volume_ids": [],
        "resource_urn": URN + instance["instance_id"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def data(instance: dict[str, Any], index: int) -> str:
    return str(instance["data_volumes"][index]["volume_id"])


# --- pure planning ------------------------------------------------------------------------------------------------
MAPPINGS = {"/dev/xvda": "vol-root0000", "/dev/sdf": "vol-data0001", "/dev/sdg": "vol-data0002"}


def test_plan_members_applies_exclusions() -> None:
    assert plan_members(MAPPINGS, "/dev/xvda", True, ["vol-data0001"], "i-1") == [Member("vol-data0002", "/dev/sdg")]
    assert len(plan_members(MAPPINGS, "/dev/xvda", False, [], "i-1")) == 3


@pytest.mark.parametrize(
    "exclude_boot,excluded,words",
    [
        (False, ["vol-other000"], "is not attached to i-1 (attached: vol-data0001 (/dev/sdf)"),
        (False, ["vol-root0000"], "use exclude_boot_volume=True"),
        (True, ["vol-data0001", "vol-data0002"], "every volume of i-1 is excluded"),
    ],
)
def test_plan_members_refuses_exclusions_that_cannot_work(exclude_boot: bool, excluded: list[str], words: str) -> None:
    with pytest.raises(SnapshotProviderError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plan_members(MAPPINGS, "/dev/xvda", exclude_boot, excluded, "i-1")


def test_check_refuses_duplicate_exclusions() -> None:
    result = provider.check(
        {},
        {
            "instance_id": "i-0123456789abcdef0",
            "region": REGION,
            "exclude_data_volume_ids": ["vol-01234567", "vol-01234567"],
        },
    )
    assert [f.property for f in result.failures] == ["exclude_data_volume_ids"]
    assert "more than once" in result.failures[0].reason


DIFF_BASE = {
    "instance_id": "i-01234567",
    "region": REGION,
    "tags": {},
    "exclude_boot_volume": False,
    "exclude_data_volume_ids": [],
    "storage_tier": "standard",
    "timeout": 60,
}


@pytest.mark.parametrize(
    "change,replaces",
    [
        ({"instance_id": "i-89abcdef"}, ["instance_id"]),
        ({"exclude_boot_volume": True}, ["exclude_boot_volume"]),
        ({"exclude_data_volume_ids": ["vol-01234567"]}, ["exclude_data_volume_ids"]),
        ({"tags": {"a": "b"}}, []),
        ({"timeout": 5}, []),
    ],
)
def test_diff_replaces_on_instance_or_exclusion_change(change: dict[str, Any], replaces: list[str]) -> None:
    assert provider.diff("i-01234567:snap-1", DIFF_BASE, {**DIFF_BASE, **change}).replaces == replaces


def test_diff_replaces_a_set_with_a_missing_member() -> None:
    olds = {**DIFF_BASE, "snapshots": [{"snapshot_id": "snap-1", "state": "missing"}]}
    assert provider.diff("i-01234567:snap-1", olds, DIFF_BASE).replaces == ["snapshot_ids"]


# --- create -------------------------------------------------------------------------------------------------------
def test_create_snapshots_every_volume_and_waits_for_the_slowest(
    emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(pending_seconds=0.5, pending_seconds_by_volume={data(instance, 1): 2.0})
    result = provider.create(props(instance))
    outs = result.outs

    assert set(outs["snapshot_ids"]) == {instance["root_volume_id"], data(instance, 0), data(instance, 1)}
    assert {s["state"] for s in outs["snapshots"]} == {"completed"}
    devices = {s["volume_id"]: s["device_name"] for s in outs["snapshots"]}
    assert devices[data(instance, 0)] == "/dev/sdf"
    assert 2.0 <= outs["wait_time"] < 4.0
    assert [c.action for c in emulator.calls() if c.mutating] == ["CreateSnapshots", "CreateTags"]  # + recorded
    token = resource_token(URN + instance["instance_id"])
    assert all(s["tags"][RESOURCE_TAG] == token for s in emulator.snapshots())
    assert result.id.startswith(instance["instance_id"] + ":")


def test_create_sends_exclusions_and_tag_copying_to_ec2(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    outs = provider.create(
        props(
            instance,
            exclude_boot_volume=True,
            exclude_data_volume_ids=[data(instance, 0)],
            copy_tags_from_source="volume",
        )
    ).outs
    assert list(outs["snapshot_ids"]) == [data(instance, 1)]
    [call] = emulator.calls("CreateSnapshots")
    assert call.params["InstanceSpecification.ExcludeDataVolumeId.1"] == data(instance, 0)
    assert call.params["CopyTagsFromSource"] == "volume"
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"]["Name"] == "data-1" and snapshot["tags"]["purpose"] == "decommission"


def test_unattached_exclusion_fails_before_any_change(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    [stranger] = emulator.seed_volumes(1)
    with pytest.raises(SnapshotProviderError, match=f"{stranger} is not attached"):
        provider.create(props(instance, exclude_data_volume_ids=[stranger]))
    assert [c.action for c in emulator.calls() if c.mutating] == []


def test_failed_member_is_named_and_the_whole_set_is_removed(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    emulator.configure(pending_seconds=0.3, fail_volume_ids=[data(instance, 1)])
    with pytest.raises(SnapshotFailed) as failed:
        provider.create(props(instance))
    message = str(failed.value)
    assert data(instance, 1) in message and "/dev/sdg" in message and "not crash-consistent" in message
    assert emulator.snapshots() == []


def test_timeout_then_next_run_adopts_the_whole_set(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    emulator.configure(pending_seconds=2.5)
    with pytest.raises(SnapshotTimedOut):
        provider.create(props(instance, timeout=1))
    result = provider.create(props(instance))
    assert len(emulator.calls("CreateSnapshots")) == 1
    assert sorted(result.outs["snapshot_ids"].values()) == sorted(s["snapshot_id"] for s in emulator.snapshots())


def test_leftover_set_of_other_volumes_is_kept_not_deleted(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    emulator.configure(pending_seconds=30)
    with pytest.raises(SnapshotTimedOut):
        provider.create(props(instance, timeout=1, exclude_boot_volume=True))
    left = {s["snapshot_id"] for s in emulator.snapshots()}
    emulator.configure(pending_seconds=0)
    emulator.clear_calls()

    result = provider.create(props(instance))  # the inputs changed: the old partial set is not this set

    # Tagged with this resource's URN hash, which another backend's stack of the same name shares: kept (RT-1).
    new = set(result.outs["snapshot_ids"].values())
    assert {s["snapshot_id"] for s in emulator.snapshots()} == new | left and not new & left
    assert not emulator.calls("DeleteSnapshot")


# --- read, update, delete ------------------------------------------------------------------------------------------
def test_member_deleted_out_of_band_is_drift_not_a_crash(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    created = provider.create(props(instance))
    gone = created.outs["snapshot_ids"][data(instance, 0)]
    boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url).delete_snapshot(SnapshotId=gone)

    result = provider.read(created.id, created.outs)

    assert result.id == created.id
    states = {s["snapshot_id"]: s["state"] for s in result.outs["snapshots"]}
    assert states[gone] == "missing" and list(states.values()).count("completed") == 2
    assert provider.diff(created.id, result.outs, props(instance)).replaces == ["snapshot_ids"]


def test_set_deleted_out_of_band_leaves_state(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    created = provider.create(props(instance))
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    for snapshot_id in created.outs["snapshot_ids"].values():
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert provider.read(created.id, created.outs).id == ""


def test_update_tags_every_member_in_place(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    created = provider.create(props(instance))
    outs = provider.update(created.id, created.outs, props(instance, tags={"purpose": "archive"})).outs
    assert outs["tags"] == {"purpose": "archive"}
    assert {s["tags"]["purpose"] for s in emulator.snapshots()} == {"archive"}
    assert outs["snapshot_ids"] == created.outs["snapshot_ids"]


def test_delete_removes_every_member_even_if_some_are_gone(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    created = provider.create(props(instance))
    first = next(iter(created.outs["snapshot_ids"].values()))
    boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url).delete_snapshot(SnapshotId=first)
    provider.delete(created.id, created.outs)
    assert emulator.snapshots() == []
