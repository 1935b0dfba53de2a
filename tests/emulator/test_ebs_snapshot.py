"""EbsSnapshotProvider against the local EC2 emulator: every method and branch, with the calls it made."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, resource_token
from snapshot_provider.ebs_snapshot import SCHEMA
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import (
    AccountNotAllowed,
    SnapshotFailed,
    SnapshotInUse,
    SnapshotProviderError,
    SnapshotTimedOut,
)
from testbed import REGION, URN_PREFIX, snapshot_props

provider = EbsSnapshotProvider()


def ec2(emulator: Ec2Emulator):
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def mutating_actions(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]


# --- check --------------------------------------------------------------------------------------------------------
def test_check_makes_no_aws_call_even_for_bad_input(emulator: Ec2Emulator) -> None:
    result = provider.check({}, {"volume_id": "vol-nope", "region": "mars-1", "timeout": -1})
    assert {f.property for f in result.failures} == {"volume_id", "region", "timeout"}
    assert emulator.calls() == []


def test_check_fills_defaults_so_diffs_compare_like_with_like(volume_id: str) -> None:
    result = provider.check({}, {"volume_id": volume_id, "region": REGION, "__provider": "p"})
    assert result.failures == []
    assert result.inputs["storage_tier"] == "standard"
    assert result.inputs["tags"] == {}
    assert result.inputs["__provider"] == "p"


def test_check_refuses_moving_archived_snapshot_back() -> None:
    result = provider.check(
        {"storage_tier": "archive"}, {"volume_id": "vol-01234567", "region": REGION, "storage_tier": "standard"}
    )
    assert [f.property for f in result.failures] == ["storage_tier"]
    assert "RestoreSnapshotTier" in result.failures[0].reason


# --- create -------------------------------------------------------------------------------------------------------
def test_create_waits_until_completed_and_reports_wait_time(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=2.0)
    result = provider.create(snapshot_props(volume_id))

    outs = result.outs
    assert result.id == outs["snapshot_id"]
    assert outs["state"] == "completed" and outs["progress"] == "100%"
    assert 2.0 <= outs["wait_time"] < 4.0
    assert outs["volume_id"] == volume_id and outs["volume_size"] == 8
    assert outs["arn"] == f"arn:aws:ec2:{REGION}::snapshot/{result.id}"
    assert outs["account_id"] == "123456789012" and outs["region"] == REGION
    assert outs["tags"] == {"purpose": "test"}
    [snapshot] = emulator.snapshots()
    assert snapshot["state"] == "completed"


def test_create_tags_at_creation_in_one_call(emulator: Ec2Emulator, volume_id: str) -> None:
    provider.create(snapshot_props(volume_id, tags={"owner": "finops"}, description="before cleanup"))

    # Tags go with the request; the one CreateTags afterwards marks the snapshot recorded (see lifecycle).
    assert mutating_actions(emulator) == ["CreateSnapshot", "CreateTags"]
    [call] = emulator.calls("CreateSnapshot")
    assert call.params["TagSpecification.1.ResourceType"] == "snapshot"
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"]["owner"] == "finops"
    assert snapshot["tags"][RESOURCE_TAG] == resource_token(snapshot_props(volume_id)["resource_urn"])


def test_create_copies_volume_tags_when_asked(emulator: Ec2Emulator, volume_id: str) -> None:
    outs = provider.create(snapshot_props(volume_id, copy_volume_tags=True, tags={"team": "override"})).outs
    assert outs["all_tags"]["team"] == "override"  # inputs win over the volume's tags
    assert outs["all_tags"]["Name"].startswith("emulator-seed")
    assert outs["tags"] == {"team": "override"}


def test_create_fails_clearly_on_error_state_and_removes_the_failed_snapshot(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5, fail_volume_ids=[volume_id])
    with pytest.raises(SnapshotFailed) as failure:
        provider.create(snapshot_props(volume_id))
    message = str(failure.value)
    assert volume_id in message and "ended in state error" in message
    assert "the emulator was told to fail" in message  # AWS's state message is passed on
    assert emulator.snapshots() == []


def test_create_times_out_leaving_the_snapshot_for_the_next_run(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=60)
    with pytest.raises(SnapshotTimedOut) as timed_out:
        provider.create(snapshot_props(volume_id, timeout=2))
    [snapshot] = emulator.snapshots()
    assert snapshot["state"] == "pending"
    assert snapshot["snapshot_id"] in str(timed_out.value) and "adopt" in str(timed_out.value)


def test_create_refuses_other_account_before_any_change(emulator: Ec2Emulator, volume_id: str) -> None:
    with pytest.raises(AccountNotAllowed) as refused:
        provider.create(snapshot_props(volume_id, allowed_account_ids=["111111111111"]))
    assert "123456789012" in str(refused.value) and "111111111111" in str(refused.value)
    assert mutating_actions(emulator) == []


def test_create_of_missing_volume_names_volume_and_region(emulator: Ec2Emulator) -> None:
    with pytest.raises(SnapshotProviderError) as missing:
        provider.create(snapshot_props("vol-0123456789abcdef0"))
    assert "vol-0123456789abcdef0" in str(missing.value) and REGION in str(missing.value)
    assert "InvalidVolume.NotFound" in str(missing.value)
    assert emulator.snapshots() == []


def test_create_archives_after_completion(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.5)
    outs = provider.create(snapshot_props(volume_id, storage_tier="archive")).outs
    assert outs["storage_tier"] == "archive"
    actions = [c.action for c in emulator.calls()]
    assert actions.index("ModifySnapshotTier") > actions.index("CreateSnapshot")
    assert emulator.snapshots()[0]["storage_tier"] == "archive"


# --- read ---------------------------------------------------------------------------------------------------------
def test_refresh_after_out_of_band_delete_drops_the_resource(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    ec2(emulator).delete_snapshot(SnapshotId=created.id)
    result = provider.read(created.id, created.outs)
    assert result.id == "" and result.outs == {}


def test_refresh_keeps_wait_time_and_reports_tag_drift(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id, tags={"a": "1", "b": "2"}))
    client = ec2(emulator)
    client.delete_tags(Resources=[created.id], Tags=[{"Key": "b"}])
    client.create_tags(Resources=[created.id], Tags=[{"Key": "a", "Value": "changed"}])

    result = provider.read(created.id, created.outs)

    assert result.outs["wait_time"] == created.outs["wait_time"]
    assert result.outs["tags"] == {"a": "changed"}
    assert result.inputs is None  # refresh keeps the program's inputs, so the next up repairs the drift


# --- diff ---------------------------------------------------------------------------------------------------------
BASE = {
    "volume_id": "vol-01234567",
    "region": REGION,
    "tags": {"a": "1"},
    "storage_tier": "standard",
    "timeout": 60,
    "description": "d",
}

DIFF_CASES = [
    ("nothing", {}, False, []),
    ("new volume", {"volume_id": "vol-89abcdef"}, True, ["volume_id"]),
    ("new region", {"region": "eu-west-1"}, True, ["region"]),
    (
        "new outpost",
        {"outpost_arn": "arn:aws:outposts:us-east-1:123456789012:outpost/op-0123456789abcdef0"},
        True,
        ["outpost_arn"],
    ),
    ("new description", {"description": "other"}, True, ["description"]),
    # Access settings never replace (a snapshot cannot move accounts): another account is refused at diff, see
    # test_aws.py's account tests.
    ("role (state only)", {"role_arn": "arn:aws:iam::999999999999:role/r"}, True, []),
    ("tags", {"tags": {"a": "2"}}, True, []),
    ("tier", {"storage_tier": "archive"}, True, []),
    ("profile (state only)", {"profile": "other"}, True, []),
    ("allowed accounts (state only)", {"allowed_account_ids": ["123456789012"]}, True, []),
    ("timeout", {"timeout": 600}, False, []),
    ("copy volume tags", {"copy_volume_tags": True}, False, []),
    ("triggers", {"triggers": {"release": "v2"}}, True, ["triggers"]),
    ("internal urn (aliases, upgrades)", {"resource_urn": "urn:pulumi:other"}, False, []),
    ("tags removed", {"tags": None}, True, []),
    ("import id set (after the create)", {"import_snapshot_id": "snap-01234567"}, False, []),
]


@pytest.mark.parametrize("case,change,changes,replaces", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_diff_reports_replaces_and_updates_precisely(
    case: str, change: dict, changes: bool, replaces: list[str]
) -> None:
    result = SCHEMA.diff(BASE, {**BASE, **change})
    assert result.changes is changes, case
    assert result.replaces == replaces, case


def test_diff_another_import_id_replaces_and_removing_it_changes_nothing() -> None:
    old = {**BASE, "import_snapshot_id": "snap-01234567"}
    assert SCHEMA.diff(old, {**BASE, "import_snapshot_id": "snap-89abcdef"}).replaces == ["import_snapshot_id"]
    assert SCHEMA.diff(old, BASE).changes is False


def test_diff_same_account_role_change_does_not_replace() -> None:
    old = {**BASE, "role_arn": "arn:aws:iam::123456789012:role/a"}
    result = SCHEMA.diff(old, {**BASE, "role_arn": "arn:aws:iam::123456789012:role/b"})
    assert result.changes and result.replaces == []


# --- update -------------------------------------------------------------------------------------------------------
def test_update_changes_tags_in_place_and_leaves_other_tags(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id, tags={"keep": "1", "drop": "2"}, copy_volume_tags=True))
    news = snapshot_props(volume_id, tags={"keep": "1", "new": "3"}, copy_volume_tags=True)
    emulator.clear_calls()

    outs = provider.update(created.id, created.outs, news).outs

    assert mutating_actions(emulator) == ["DeleteTags", "CreateTags"]  # dropped first: a rename fits at the limit
    assert outs["tags"] == {"keep": "1", "new": "3"}
    assert "team" in outs["all_tags"] and "drop" not in outs["all_tags"]
    assert emulator.snapshots()[0]["tags"][ATTEMPT_TAG] == RECORDED  # the provider's own tags are left alone
    assert outs["wait_time"] == created.outs["wait_time"]


def test_update_archives_in_place(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    outs = provider.update(created.id, created.outs, snapshot_props(volume_id, storage_tier="archive")).outs
    assert outs["storage_tier"] == "archive"
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]


# --- delete -------------------------------------------------------------------------------------------------------
def test_delete_removes_the_snapshot(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    provider.delete(created.id, created.outs)
    assert emulator.snapshots() == []


def test_delete_when_already_deleted_succeeds(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    ec2(emulator).delete_snapshot(SnapshotId=created.id)
    provider.delete(created.id, created.outs)  # no error


def test_delete_of_snapshot_used_by_an_ami_names_the_ami(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    image_id = ec2(emulator).register_image(
        Name="from-snapshot",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": created.id}}],
    )["ImageId"]
    backend = emulator.ec2_backend()
    backend.snapshots[created.id].from_ami = image_id  # moto links AMI and snapshot only for CreateImage
    with pytest.raises(SnapshotInUse) as in_use:
        provider.delete(created.id, created.outs)
    assert image_id in str(in_use.value) and "deregister" in str(in_use.value)
    assert ec2(emulator).describe_snapshots(SnapshotIds=[created.id])["Snapshots"][0]["State"] == "completed"


# --- import by id (Pulumi's import_ option cannot reach a dynamic provider's read: pulumi/pulumi#16175) -----------
def test_create_with_import_snapshot_id_adopts_without_creating(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = ec2(emulator).create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "a", "Value": "old"}]}]
    )["SnapshotId"]
    emulator.clear_calls()
    result = provider.create(snapshot_props(volume_id, import_snapshot_id=snapshot_id, tags={"a": "new"}))
    assert result.id == snapshot_id
    assert result.outs["wait_time"] is None
    assert mutating_actions(emulator) == ["CreateTags"]  # the input tags; an imported snapshot gets no provider tags
    assert emulator.snapshots()[0]["tags"]["a"] == "new"


@pytest.mark.parametrize("ended_by", ["timeout", "ctrl-c"])
def test_an_import_whose_wait_ends_says_the_snapshot_is_the_users_and_leaves_it(
    emulator: Ec2Emulator, volume_id: str, ended_by: str, fresh_cancel: None
) -> None:
    emulator.configure(pending_seconds=3600.0)
    snapshot_id = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    if ended_by == "ctrl-c":
        cancel.cancel_waits()  # the engine's Cancel came first: the wait ends at once

    with pytest.raises(SnapshotProviderError) as ended:
        provider.create(snapshot_props(volume_id, import_snapshot_id=snapshot_id, timeout=2))

    said = str(ended.value)
    assert f"{snapshot_id} is yours (import_snapshot_id)" in said and "tagged as this resource's" not in said, said
    assert "delete-snapshot" not in said
    [left] = emulator.snapshots()
    assert left["snapshot_id"] == snapshot_id and not any(k.startswith("pulumi-snapshot:") for k in left["tags"])


def test_import_of_a_snapshot_of_another_volume_is_refused(emulator: Ec2Emulator) -> None:
    first, second = emulator.seed_volumes(2)
    snapshot_id = ec2(emulator).create_snapshot(VolumeId=first)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match=f"set volume_id to {first}"):
        provider.create(snapshot_props(second, import_snapshot_id=snapshot_id))


def test_import_of_a_missing_snapshot_names_it(emulator: Ec2Emulator, volume_id: str) -> None:
    with pytest.raises(SnapshotProviderError, match="snap-0123456789abcdef0 was not found"):
        provider.create(snapshot_props(volume_id, import_snapshot_id="snap-0123456789abcdef0"))


# --- an imported snapshot is the user's ---------------------------------------------------------------------------
def users_snapshot(emulator: Ec2Emulator, volume_id: str, **request: Any) -> str:
    return str(ec2(emulator).create_snapshot(VolumeId=volume_id, **request)["SnapshotId"])


def test_delete_of_an_imported_snapshot_leaves_it_and_says_so(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    users = users_snapshot(emulator, volume_id)
    imported = provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    assert imported.outs["imported"] is True
    emulator.clear_calls()
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    provider.delete(imported.id, imported.outs)

    assert [s["snapshot_id"] for s in emulator.snapshots()] == [users]
    assert emulator.calls("DeleteSnapshot") == []
    assert f"left {users} in place: it was recorded through import_snapshot_id" in caplog.text


def test_replacing_an_imported_snapshot_keeps_it(emulator: Ec2Emulator, volume_id: str) -> None:
    users = users_snapshot(emulator, volume_id)
    original = provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    # `pulumi up --replace` (or a trigger or tag change that replaces): create with the same inputs, delete the old.
    replacement = provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    provider.delete(original.id, original.outs)

    assert replacement.id == users
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [users]


def test_a_snapshot_imported_before_imports_were_marked_is_still_left(emulator: Ec2Emulator, volume_id: str) -> None:
    users = users_snapshot(emulator, volume_id)
    imported = provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    older_state = {k: v for k, v in imported.outs.items() if k != "imported"}  # written by an earlier version

    provider.delete(imported.id, older_state)

    assert [s["snapshot_id"] for s in emulator.snapshots()] == [users]


def test_an_update_keeps_an_imported_snapshot_marked_imported(emulator: Ec2Emulator, volume_id: str) -> None:
    users = users_snapshot(emulator, volume_id)
    imported = provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    # import_snapshot_id removed from the program (a change that does nothing) together with a tag change.
    updated = provider.update(imported.id, imported.outs, snapshot_props(volume_id, tags={"new": "1"}))
    assert updated.outs["imported"] is True
    provider.delete(imported.id, updated.outs)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [users]


def test_a_snapshot_this_provider_took_is_not_marked_imported(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    assert created.outs["imported"] is False
    assert provider.read(created.id, created.outs).outs["imported"] is False


def test_import_refuses_a_snapshot_another_resource_manages(emulator: Ec2Emulator, volume_id: str) -> None:
    other = provider.create(snapshot_props(volume_id, resource_urn=URN_PREFIX + "other"))
    before = emulator.snapshots()
    emulator.clear_calls()

    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(snapshot_props(volume_id, import_snapshot_id=other.id))

    message = str(refused.value)
    assert f"import_snapshot_id {other.id} is managed by another Pulumi resource" in message
    assert "Nothing was changed" in message
    assert mutating_actions(emulator) == [] and emulator.snapshots() == before


def test_import_refuses_a_snapshot_of_a_series(emulator: Ec2Emulator, volume_id: str) -> None:
    tags = [{"Key": "pulumi-snapshot:series", "Value": "series-0123456789abcdef"}]
    specification = [{"ResourceType": "snapshot", "Tags": tags}]
    series_snapshot = users_snapshot(emulator, volume_id, TagSpecifications=specification)
    emulator.clear_calls()

    with pytest.raises(SnapshotProviderError, match="belongs to SnapshotSeries series-0123456789abcdef"):
        provider.create(snapshot_props(volume_id, import_snapshot_id=series_snapshot))
    assert mutating_actions(emulator) == []


def test_import_refuses_a_snapshot_with_another_description(emulator: Ec2Emulator, volume_id: str) -> None:
    users = users_snapshot(emulator, volume_id, Description="taken by hand")
    emulator.clear_calls()

    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(snapshot_props(volume_id, import_snapshot_id=users, description="nightly"))

    message = str(refused.value)
    assert "its description is 'taken by hand' and the description input says 'nightly'" in message
    assert "EC2 cannot change" in message
    assert mutating_actions(emulator) == []


def test_import_with_the_snapshots_own_description_is_accepted(emulator: Ec2Emulator, volume_id: str) -> None:
    users = users_snapshot(emulator, volume_id, Description="taken by hand")
    result = provider.create(snapshot_props(volume_id, import_snapshot_id=users, description="taken by hand"))
    assert result.id == users and result.outs["description"] == "taken by hand"


def test_check_refuses_triggers_together_with_import() -> None:
    result = provider.check(
        {},
        {
            "volume_id": "vol-01234567",
            "region": REGION,
            "import_snapshot_id": "snap-01234567",
            "triggers": {"release": "v2"},
        },
    )
    [failure] = result.failures
    assert failure.property == "triggers"
    assert "import_snapshot_id takes no snapshot" in failure.reason and "Remove triggers" in failure.reason


def test_another_import_id_replaces_after_the_first_up(emulator: Ec2Emulator, volume_id: str) -> None:
    """The diff reads the old import id from state's outputs: they must hold it."""
    first, second = users_snapshot(emulator, volume_id), users_snapshot(emulator, volume_id)
    imported = provider.create(snapshot_props(volume_id, import_snapshot_id=first))

    diff = provider.diff(imported.id, imported.outs, snapshot_props(volume_id, import_snapshot_id=second))

    assert diff.replaces == ["import_snapshot_id"]
