"""The shared lifecycle against the emulator: a recorded snapshot is never adopted, interrupted creates are finished
(or refused, naming the leftover), and nothing of the user's is deleted on an error path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import REGION, URN_PREFIX, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
from snapshot_provider.ebs_snapshot import VOLUME
from snapshot_provider.errors import SnapshotFailed, SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.lifecycle import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, Member, mismatch, resource_token

provider = EbsSnapshotProvider()


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def leave_snapshot(emulator: Ec2Emulator, volume_id: str, urn: str, attempt: str = "0123456789abcdef") -> str:
    """What an interrupted create of the resource `urn` leaves behind: a snapshot tagged as its, not recorded."""
    tags = {RESOURCE_TAG: resource_token(urn), ATTEMPT_TAG: attempt}
    specification = {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    return str(ec2(emulator).create_snapshot(VolumeId=volume_id, TagSpecifications=[specification])["SnapshotId"])


def ids(emulator: Ec2Emulator) -> set[str]:
    return {s["snapshot_id"] for s in emulator.snapshots()}


# --- a recorded snapshot is never adopted ------------------------------------------------------------------------
def test_replace_takes_a_new_snapshot_and_the_old_delete_leaves_it(emulator: Ec2Emulator, volume_id: str) -> None:
    original = provider.create(snapshot_props(volume_id, description="a"))
    # The engine replaces: create with the new inputs (same URN), then delete the old resource.
    replacement = provider.create(snapshot_props(volume_id, description="b"))
    provider.delete(original.id, original.outs)

    assert replacement.id != original.id
    assert ids(emulator) == {replacement.id}
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"][ATTEMPT_TAG] == RECORDED


def test_forced_replace_with_unchanged_inputs_takes_a_new_snapshot(emulator: Ec2Emulator, volume_id: str) -> None:
    original = provider.create(snapshot_props(volume_id))
    replacement = provider.create(snapshot_props(volume_id))  # `pulumi up --replace`: same inputs, same URN
    provider.delete(original.id, original.outs)
    assert ids(emulator) == {replacement.id} and replacement.id != original.id


def test_retained_snapshot_stays_the_users_and_a_new_one_is_taken(emulator: Ec2Emulator, volume_id: str) -> None:
    kept = provider.create(snapshot_props(volume_id))  # then destroyed with retain_on_delete: delete never called
    again = provider.create(snapshot_props(volume_id))
    assert again.id != kept.id and ids(emulator) == {kept.id, again.id}


def test_same_name_under_two_parents_are_two_resources(emulator: Ec2Emulator, volume_id: str) -> None:
    top = provider.create(snapshot_props(volume_id, resource_urn=URN_PREFIX + "s"))
    nested = provider.create(
        snapshot_props(
            volume_id,
            resource_urn="urn:pulumi:test::ebs-snapshots::my:Component$pulumi-python:dynamic/ebs-snapshots:EbsSnapshot::s",
        )
    )
    assert top.id != nested.id
    provider.delete(top.id, top.outs)
    assert ids(emulator) == {nested.id}


# --- interrupted creates are finished ------------------------------------------------------------------------------
def test_create_adopts_snapshot_left_by_an_interrupted_create(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=1.5)
    props = snapshot_props(volume_id)
    left = leave_snapshot(emulator, volume_id, props["resource_urn"])
    emulator.clear_calls()

    result = provider.create(props)

    assert result.id == left
    assert emulator.calls("CreateSnapshot") == []
    assert result.outs["wait_time"] >= 1.0  # measured from the first request, not from adoption
    assert emulator.snapshots()[0]["tags"][ATTEMPT_TAG] == RECORDED


def test_timeout_then_next_create_adopts_with_tags_brought_to_the_inputs(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3)
    with pytest.raises(SnapshotTimedOut) as timed_out:
        provider.create(snapshot_props(volume_id, timeout=1, tags={"old": "1", "kept": "x"}))
    [left] = emulator.snapshots()
    assert left["snapshot_id"] in str(timed_out.value)

    result = provider.create(snapshot_props(volume_id, tags={"new": "2", "kept": "y"}))

    assert result.id == left["snapshot_id"]
    assert len(emulator.calls("CreateSnapshot")) == 1
    [snapshot] = emulator.snapshots()
    user_tags = {k: v for k, v in snapshot["tags"].items() if not k.startswith("pulumi-snapshot:")}
    assert user_tags == {"new": "2", "kept": "y"} == result.outs["tags"] == result.outs["all_tags"]


def test_leftover_with_another_description_is_refused_and_kept(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3)
    with pytest.raises(SnapshotTimedOut):
        provider.create(snapshot_props(volume_id, timeout=1, description="a"))
    [left] = emulator.snapshots()
    emulator.clear_calls()

    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(snapshot_props(volume_id, description="b"))

    message = str(refused.value)
    assert left["snapshot_id"] in message and "cannot change a snapshot's description" in message
    assert "Nothing was changed" in message
    assert [c.action for c in emulator.calls() if c.mutating] == []
    assert ids(emulator) == {left["snapshot_id"]}


def test_leftover_of_another_volume_is_refused(emulator: Ec2Emulator) -> None:
    first, second = emulator.seed_volumes(2)
    props = snapshot_props(second)
    left = leave_snapshot(emulator, first, props["resource_urn"])
    with pytest.raises(SnapshotProviderError, match=f"it is of {first}, and this create snapshots {second}"):
        provider.create(props)
    assert ids(emulator) == {left}


def test_leftover_in_error_state_is_deleted_and_a_new_snapshot_taken(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0, fail_volume_ids=[volume_id])
    props = snapshot_props(volume_id)
    failed = leave_snapshot(emulator, volume_id, props["resource_urn"])
    emulator.configure(fail_volume_ids=[])
    result = provider.create(props)
    assert result.id != failed and ids(emulator) == {result.id}


def test_lost_create_response_is_found_by_its_attempt_not_repeated(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.2, seed=1, drop_rate=0.5, actions=["CreateSnapshot"])  # seed 1: first drops
    result = provider.create(snapshot_props(volume_id))
    assert emulator.calls("CreateSnapshot")[0].fault == "drop"
    assert ids(emulator) == {result.id}


def test_stale_leftover_is_refused(emulator: Ec2Emulator, volume_id: str) -> None:
    props = snapshot_props(volume_id, timeout=60)
    group = [
        {
            "SnapshotId": "snap-01234567",
            "VolumeId": volume_id,
            "StartTime": datetime.now(UTC) - timedelta(hours=2),
        }
    ]
    reason = mismatch(VOLUME, VOLUME.schema.parse(props), [Member(volume_id)], group)
    assert reason is not None and "pass old data off as a new snapshot" in reason
    group[0]["StartTime"] = datetime.now(UTC) - timedelta(minutes=30)
    assert mismatch(VOLUME, VOLUME.schema.parse(props), [Member(volume_id)], group) is None


# --- error paths delete only what this create made -----------------------------------------------------------------
def test_failed_snapshot_of_this_create_is_deleted(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.3, fail_volume_ids=[volume_id])
    with pytest.raises(SnapshotFailed, match="ended in state error"):
        provider.create(snapshot_props(volume_id))
    assert emulator.snapshots() == []


def test_imported_snapshot_in_error_state_is_refused_and_kept(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0, fail_volume_ids=[volume_id])
    users = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match=f"import_snapshot_id {users} is in state error"):
        provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    assert ids(emulator) == {users}


def test_imported_snapshot_failing_while_pending_is_kept(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.5, fail_volume_ids=[volume_id])
    users = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotFailed, match="It was left as it is"):
        provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    assert ids(emulator) == {users}


def test_delete_ignores_todays_input_rules(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    # State written under looser rules (or by an older version): inputs today's check refuses.
    stored = {**created.outs, "tags": {f"k{i}": "v" for i in range(60)}, "timeout": -1, "description": "x" * 999}
    provider.delete(created.id, stored)
    assert emulator.snapshots() == []


def test_instance_set_replace_with_failing_new_set_keeps_the_old_set(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    data = [d["volume_id"] for d in instance["data_volumes"]]
    sets = InstanceSnapshotsProvider()
    urn = URN_PREFIX.replace("EbsSnapshot", "InstanceSnapshots") + "set"
    props = {"instance_id": instance["instance_id"], "region": REGION, "timeout": 30, "resource_urn": urn, "tags": {}}
    original = sets.create(props)
    emulator.clear_calls()
    emulator.configure(pending_seconds=0.3, fail_volume_ids=[data[1]])

    with pytest.raises(SnapshotFailed, match="not crash-consistent"):
        sets.create({**props, "exclude_data_volume_ids": [data[0]]})  # the replacement fails

    assert set(original.outs["snapshot_ids"].values()) <= ids(emulator)
    actions = [c.action for c in emulator.calls() if c.mutating]
    assert actions.index("CreateSnapshots") < actions.index("DeleteSnapshot")  # only the new set's are deleted
    assert ids(emulator) == set(original.outs["snapshot_ids"].values())


# --- "gone" only once EC2 would list it: its listing delay ---------------------------------------------------------
def just_taken(emulator: Ec2Emulator, volume_id: str) -> dict[str, Any]:
    """A snapshot taken a moment ago, still out of EC2's listings (strict emulator: 3 s), and its state as a record
    of it (an import) holds it: a start time, no wait of this provider's."""
    emulator.configure(listing_delay=(3.0, 3.0), mutations_see_delay=True, pending_seconds=0.0)
    snapshot = ec2(emulator).create_snapshot(VolumeId=volume_id)
    return {
        **snapshot_props(volume_id),
        "snapshot_id": snapshot["SnapshotId"],
        "start_time": snapshot["StartTime"].isoformat(),
        "account_id": "123456789012",
    }


def test_refresh_keeps_a_snapshot_ec2_does_not_list_yet(emulator: Ec2Emulator, volume_id: str) -> None:
    props = just_taken(emulator, volume_id)
    with pytest.raises(ClientError, match="NotFound"):  # as EC2 answers for a while
        ec2(emulator).describe_snapshots(SnapshotIds=[props["snapshot_id"]])

    read = provider.read(props["snapshot_id"], props)

    assert read.id == props["snapshot_id"] and read.outs["state"] == "completed"


def test_delete_of_a_snapshot_ec2_does_not_list_yet_deletes_it(emulator: Ec2Emulator, volume_id: str) -> None:
    props = just_taken(emulator, volume_id)

    provider.delete(props["snapshot_id"], props)

    emulator.settle()
    assert emulator.snapshots() == []
