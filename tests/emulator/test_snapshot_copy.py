"""SnapshotCopyProvider against the local EC2 emulator: a copy in another region waited for until completed, its
inputs' rules, tags, delete, and a lost CopySnapshot answer that never makes a second copy."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import SnapshotCopyProvider
from snapshot_provider.core import copy_shares
from snapshot_provider.core.copying import copy_request
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, resource_token
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.inputs.declarations import AccountSelection
from testbed import REGION

provider = SnapshotCopyProvider()
OTHER_REGION = "eu-west-1"
URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotCopy::dr-copy"


@pytest.fixture
def source_id(emulator: Ec2Emulator, volume_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    return str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])


def copy_props(source_id: str, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "source_snapshot_id": source_id,
        "source_region": REGION,
        "region": OTHER_REGION,
        "tags": {"purpose": "dr"},
        "timeout": 30,
        "resource_urn": URN,
    }
    props.update(overrides)
    return {k: v for k, v in props.items() if v is not None}


def copies_in(emulator: Ec2Emulator, region: str = OTHER_REGION) -> list[dict[str, Any]]:
    return emulator.snapshots(region=region)


def test_create_copies_into_the_destination_region_and_waits_until_completed(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=1.0)
    result = provider.create(copy_props(source_id))
    [copy] = copies_in(emulator)
    assert (result.id, copy["state"], copy["tags"][ATTEMPT_TAG]) == (copy["snapshot_id"], "completed", RECORDED)
    assert result.outs["region"] == OTHER_REGION and result.outs["account_id"] == "123456789012"
    assert result.outs["wait_time"] >= 1.0 and result.outs["tags"] == {"purpose": "dr"}


def test_a_lost_copy_answer_adopts_the_copy_it_made_instead_of_copying_again(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(drop_rate=1.0, actions=["CopySnapshot"])
    result = provider.create(copy_props(source_id))
    assert len(emulator.mutating_calls("CopySnapshot")) == 1
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [result.id]


def test_a_create_cut_short_is_finished_by_the_next_one_with_the_same_copy(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(Exception, match="still pending"):
        provider.create(copy_props(source_id, timeout=1))
    [left] = copies_in(emulator)
    emulator.age_snapshot(left["snapshot_id"], seconds_ago=3600, region=OTHER_REGION)
    result = provider.create(copy_props(source_id))
    assert result.id == left["snapshot_id"] and len(emulator.calls("CopySnapshot")) == 1


def test_a_replacement_makes_a_new_copy_and_leaves_the_recorded_one_to_the_engines_delete(
    emulator: Ec2Emulator, source_id: str
) -> None:
    first = provider.create(copy_props(source_id))
    second = provider.create(copy_props(source_id, description="again"))
    assert first.id != second.id and len(copies_in(emulator)) == 2
    provider.delete(first.id, first.outs)
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [second.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [("completion_duration_minutes", 20), ("completion_duration_minutes", 2895), ("source_snapshot_id", "snap-x")],
)
def test_check_refuses_what_ec2_would_refuse(source_id: str, field: str, value: Any) -> None:
    failures = provider.check({}, copy_props(source_id, **{field: value})).failures
    assert [f.property for f in failures] == [field]


def test_a_time_based_copy_within_the_timeout_passes_the_preview(source_id: str) -> None:
    props = copy_props(source_id, completion_duration_minutes=120, timeout=3 * 3600)
    assert provider.check({}, props).failures == []


@pytest.mark.parametrize("timeout", [None, 600], ids=["default timeout (24 h)", "timeout 10 min"])
def test_a_time_based_copy_longer_than_the_timeout_is_refused_at_preview(timeout: float | None) -> None:
    # RT-2-17: EC2 completes it within completion_duration_minutes (up to 2880: 48 h); a shorter timeout gives up first.
    props = copy_props("snap-0123456789abcdef0", completion_duration_minutes=2880, timeout=timeout)
    [failure] = provider.check({}, props).failures
    assert failure.property == "timeout", failure
    assert "completion_duration_minutes=2880" in failure.reason and "at least 173700 s" in failure.reason


def test_a_changed_source_replaces_the_copy(source_id: str) -> None:
    olds = provider.check({}, copy_props(source_id)).inputs
    news = provider.check(olds, copy_props("snap-0123456789abcdef0")).inputs
    assert "source_snapshot_id" in provider.diff("snap-1", olds, news).replaces


def test_a_left_copy_is_not_adopted_when_the_inputs_now_ask_for_encryption(
    emulator: Ec2Emulator, source_id: str
) -> None:
    # RT-LF3: the left copy is this resource's own (its token, never recorded) but made for other inputs.
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotProviderError, match="still pending"):
        provider.create(copy_props(source_id, timeout=1))
    [left] = copies_in(emulator)
    emulator.age_snapshot(left["snapshot_id"], seconds_ago=3600, region=OTHER_REGION)
    emulator.configure(copy_seconds=0.5)
    result = provider.create(copy_props(source_id, encrypted=True))
    # The unencrypted left copy was deleted: it can never be this resource's copy.
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [result.id] != [left["snapshot_id"]]
    dest = boto3.client("ec2", region_name=OTHER_REGION, endpoint_url=emulator.url)
    assert dest.describe_snapshots(SnapshotIds=[result.id])["Snapshots"][0]["Encrypted"]


def test_a_left_copy_made_for_another_kms_key_or_description_is_not_adopted(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotProviderError, match="still pending"):
        provider.create(copy_props(source_id, timeout=1, encrypted=True))
    [left] = copies_in(emulator)
    emulator.configure(copy_seconds=0.5)
    result = provider.create(copy_props(source_id, kms_key_id="alias/backup", description="dr"))
    assert result.id != left["snapshot_id"] and [c["snapshot_id"] for c in copies_in(emulator)] == [result.id]


def test_a_left_copy_that_cannot_be_deleted_now_is_kept_tagged_and_the_create_goes_on(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotProviderError, match="still pending"):
        provider.create(copy_props(source_id, timeout=1))
    [left] = copies_in(emulator)
    emulator.configure(copy_seconds=0.5, denied_actions=["DeleteSnapshot"])
    result = provider.create(copy_props(source_id, encrypted=True))
    kept = {c["snapshot_id"]: c for c in copies_in(emulator)}
    assert set(kept) == {left["snapshot_id"], result.id}
    assert kept[left["snapshot_id"]]["tags"][ATTEMPT_TAG] != RECORDED  # the next create deletes it


def test_a_copy_that_failed_is_not_adopted_by_the_retry_its_error_asks_for(
    emulator: Ec2Emulator, source_id: str
) -> None:
    # RT-LF6. What a copy EC2 failed leaves in the destination: a snapshot in `error`, with the tags CopySnapshot gave
    # it (made here by a snapshot of a failing volume, pending at first as a copy is).
    dest = boto3.client("ec2", region_name=OTHER_REGION, endpoint_url=emulator.url)
    failing = dest.create_volume(AvailabilityZone=f"{OTHER_REGION}a", Size=8)["VolumeId"]
    emulator.configure(fail_volume_ids=[failing], pending_seconds_by_volume={failing: 1.0})
    tags = copy_request(copy_props(source_id), resource_token(URN))["TagSpecifications"]
    failed_id = dest.create_snapshot(VolumeId=failing, TagSpecifications=tags)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match="run `pulumi up` again to retry"):
        provider.create(copy_props(source_id))
    result = provider.create(copy_props(source_id))  # the retry the error asks for
    assert dest.describe_snapshots(SnapshotIds=[result.id])["Snapshots"][0]["State"] == "completed"
    assert failed_id not in [c["snapshot_id"] for c in copies_in(emulator)]


def test_a_failed_copy_left_by_an_earlier_run_is_deleted_and_a_fresh_copy_made(
    emulator: Ec2Emulator, source_id: str
) -> None:
    dest = boto3.client("ec2", region_name=OTHER_REGION, endpoint_url=emulator.url)
    failing = dest.create_volume(AvailabilityZone=f"{OTHER_REGION}a", Size=8)["VolumeId"]
    emulator.configure(fail_volume_ids=[failing], pending_seconds=0.0)
    tags = copy_request(copy_props(source_id), resource_token(URN))["TagSpecifications"]
    failed_id = dest.create_snapshot(VolumeId=failing, TagSpecifications=tags)["SnapshotId"]
    result = provider.create(copy_props(source_id))
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [result.id] and result.id != failed_id


def test_delete_of_a_copy_locked_outside_pulumi_names_the_lock_and_deletes_nothing(
    emulator: Ec2Emulator, source_id: str
) -> None:
    result = provider.create(copy_props(source_id))
    dest = boto3.client("ec2", region_name=OTHER_REGION, endpoint_url=emulator.url)
    dest.lock_snapshot(SnapshotId=result.id, LockMode="governance", LockDuration=7)
    with pytest.raises(SnapshotProviderError, match=rf"{result.id} is locked in governance mode until .*Nothing was"):
        provider.delete(result.id, result.outs)
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [result.id]


def test_destroying_a_copy_locked_in_its_account_names_the_lock_and_the_way_out(
    emulator: Ec2Emulator, source_id: str
) -> None:
    # RT-2-9: a compliance lock in the backup account; EC2 publishes no error code for its refused delete.
    result = provider.create(copy_props(source_id))
    dest = boto3.client("ec2", region_name=OTHER_REGION, endpoint_url=emulator.url)
    dest.lock_snapshot(SnapshotId=result.id, LockMode="compliance", LockDuration=30)
    with pytest.raises(SnapshotProviderError) as refused:
        provider.delete(result.id, result.outs)
    message = str(refused.value)
    assert f"{result.id} is locked in compliance mode until 20" in message, message
    assert "retain_on_delete" in message and "wait until the lock ends" in message, message
    assert len(emulator.calls("DeleteSnapshot")) == 0


def test_a_left_copy_of_another_source_under_the_same_token_is_left_alone(
    emulator: Ec2Emulator, source_id: str, volume_id: str
) -> None:
    # A series copies many points under one token: each point's left copy waits for that point's own create.
    other_source = str(
        boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url).create_snapshot(VolumeId=volume_id)[
            "SnapshotId"
        ]
    )
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotProviderError, match="still pending"):
        provider.create(copy_props(source_id, timeout=1))
    [left] = copies_in(emulator)
    emulator.configure(copy_seconds=0.5)
    result = provider.create(copy_props(other_source))
    assert {c["snapshot_id"] for c in copies_in(emulator)} == {left["snapshot_id"], result.id}


# --- another account: the source shared for the copy, and only for it ----------------------------------------------
BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"


def shared_with(snapshot_id: str) -> list[dict[str, str]]:
    source = boto3.client("ec2", region_name=REGION)
    return list(
        source.describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")[
            "CreateVolumePermissions"
        ]
    )


def test_a_copy_to_another_account_shares_the_source_for_the_copy_and_removes_that_share(
    emulator: Ec2Emulator, source_id: str
) -> None:
    result = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    assert result.outs["account_id"] == BACKUP_ACCOUNT
    assert [c["snapshot_id"] for c in emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)] == [result.id]
    assert shared_with(source_id) == []
    assert [c.params.get("OperationType") for c in emulator.calls("ModifySnapshotAttribute")] == ["add", "remove"]


def test_a_share_that_was_there_before_the_copy_is_left_as_it_was(emulator: Ec2Emulator, source_id: str) -> None:
    boto3.client("ec2", region_name=REGION).modify_snapshot_attribute(
        SnapshotId=source_id, Attribute="createVolumePermission", OperationType="add", UserIds=[BACKUP_ACCOUNT]
    )
    emulator.clear_calls()
    provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}]
    assert emulator.calls("ModifySnapshotAttribute") == []


def test_a_failed_copy_to_another_account_removes_the_share_it_added(emulator: Ec2Emulator, source_id: str) -> None:
    emulator.configure(fail_copies=True)
    with pytest.raises(SnapshotProviderError, match="ended in state error"):
        provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    assert shared_with(source_id) == []


def test_a_source_encrypted_with_the_default_key_is_refused_before_anything_changes(
    emulator: Ec2Emulator,
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", Encrypted=True)["VolumeId"]
    source_id = str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])
    emulator.clear_calls()
    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    message = str(refused.value)
    assert f"cannot copy {source_id} to account {BACKUP_ACCOUNT}" in message, message
    assert "default EBS key" in message and "customer managed key" in message and "key policy" in message, message
    assert emulator.calls("CopySnapshot") == [] and shared_with(source_id) == []
    assert emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION) == []


# --- the share recorded on the source (a holder tag per resource), so that no run leaves it unknown -----------------
OTHER_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotCopy::dr-copy-2"


def holders_on(snapshot_id: str) -> set[str]:
    [found] = boto3.client("ec2", region_name=REGION).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return copy_shares.holders(found, BACKUP_ACCOUNT)


def cut_short(emulator: Ec2Emulator, props: dict[str, Any]) -> str:
    """A create given up at its timeout, its copy still pending: the copy's id."""
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotTimedOut):
        provider.create({**props, "timeout": 1})
    emulator.configure(copy_seconds=0.0)
    [left] = [
        c
        for c in emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
        if c["state"] == "pending" and c["tags"].get(RESOURCE_TAG) == resource_token(props["resource_urn"])
    ]
    return str(left["snapshot_id"])


def test_a_copy_cut_short_keeps_the_share_recorded_and_the_create_that_adopts_the_copy_removes_it(
    emulator: Ec2Emulator, source_id: str
) -> None:
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE))
    # AWS does not say whether a pending copy survives its source's unshare: kept, and recorded for the next run.
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}]
    assert holders_on(source_id) == {copy_shares.holder_key(BACKUP_ACCOUNT, OTHER_REGION, resource_token(URN))}
    emulator.age_snapshot(left_id, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    result = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    assert result.id == left_id
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_the_share_is_recorded_before_it_is_added_so_an_unrecordable_share_is_never_added(
    emulator: Ec2Emulator, source_id: str
) -> None:
    # The record first: a run killed (or an answer lost) right after ModifySnapshotAttribute still left it recorded.
    emulator.configure(denied_actions=["CreateTags"], tagging_allowed_at_creation=True)
    with pytest.raises(SnapshotProviderError, match=r"ec2:CreateTags.*Nothing was shared or copied"):
        provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    emulator.configure(denied_actions=[])
    assert shared_with(source_id) == [] and emulator.calls("ModifySnapshotAttribute") == []
    assert emulator.calls("CopySnapshot") == []


def test_a_failed_unshare_stays_recorded_and_the_destroy_removes_the_share(
    emulator: Ec2Emulator, source_id: str
) -> None:
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE))
    emulator.age_snapshot(left_id, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.configure(denied_actions=["ModifySnapshotAttribute"])
    result = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    emulator.configure(denied_actions=[])
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}] and holders_on(source_id) != set()
    provider.delete(result.id, result.outs)
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_destroying_a_copy_whose_replacement_was_cut_short_removes_the_share_it_holds(
    emulator: Ec2Emulator, source_id: str
) -> None:
    first = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE, description="again"))
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}]
    provider.delete(first.id, first.outs)
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_a_copy_that_ends_keeps_the_share_another_copy_of_the_same_source_still_holds(
    emulator: Ec2Emulator, source_id: str
) -> None:
    other_left = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE, resource_urn=OTHER_URN))
    provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}]
    assert holders_on(source_id) == {copy_shares.holder_key(BACKUP_ACCOUNT, OTHER_REGION, resource_token(OTHER_URN))}
    emulator.age_snapshot(other_left, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    provider.create(copy_props(source_id, role_arn=BACKUP_ROLE, resource_urn=OTHER_URN))
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_an_update_ends_a_holding_once_no_copy_of_the_resource_is_pending(
    emulator: Ec2Emulator, source_id: str
) -> None:
    first = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE, description="again"))
    news = copy_props(source_id, role_arn=BACKUP_ROLE, tags={"purpose": "audit"})
    provider.update(first.id, first.outs, news)
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}], "unshared under a pending copy"
    emulator.age_snapshot(left_id, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    provider.update(first.id, first.outs, news)
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_the_holder_tags_stay_on_the_source_and_are_not_copied(emulator: Ec2Emulator, source_id: str) -> None:
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE))
    [left] = [
        c for c in emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION) if c["snapshot_id"] == left_id
    ]
    assert not any(key.startswith(copy_shares.HOLDER_PREFIX) for key in left["tags"])


def test_a_copy_cut_short_says_the_source_stays_shared_and_how_to_end_it(emulator: Ec2Emulator, source_id: str) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotTimedOut) as cut:  # a user who then takes the resource out never runs its delete
        provider.create(copy_props(source_id, role_arn=BACKUP_ROLE, timeout=1))
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}]
    message = str(cut.value)
    assert f"{source_id} stays shared with account {BACKUP_ACCOUNT} until the copy ends" in message, message
    assert "the next `pulumi up` or `pulumi destroy`" in message, message
    assert f"modify-snapshot-attribute --snapshot-id {source_id}" in message and "delete-tags" in message, message


def _left_recorded_by_a_failed_unshare(emulator: Ec2Emulator, source_id: str) -> Any:
    """A create cut short, then the create that adopts its copy with its unshare refused: the share stays recorded."""
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE))
    emulator.age_snapshot(left_id, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.configure(denied_actions=["ModifySnapshotAttribute"])
    try:
        created = provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))
    finally:
        emulator.configure(denied_actions=[])
    assert shared_with(source_id) == [{"UserId": BACKUP_ACCOUNT}] and holders_on(source_id) != set()
    return created


def test_destroying_a_copy_already_gone_still_removes_the_share_it_recorded(
    emulator: Ec2Emulator, source_id: str
) -> None:
    created = _left_recorded_by_a_failed_unshare(emulator, source_id)
    assert created.outs["share_holder_key"] == copy_shares.holder_key(BACKUP_ACCOUNT, OTHER_REGION, resource_token(URN))
    backup = clients.client(AccountSelection.from_props(copy_props(source_id, role_arn=BACKUP_ROLE)))
    backup.delete_snapshot(SnapshotId=created.id)  # deleted in the backup account (by hand, a lifecycle policy)
    provider.delete(created.id, created.outs)
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_destroying_with_state_of_the_previous_build_reads_the_token_from_the_copy(
    emulator: Ec2Emulator, source_id: str
) -> None:
    created = _left_recorded_by_a_failed_unshare(emulator, source_id)
    earlier_state = {k: v for k, v in created.outs.items() if k != "share_holder_key"}
    provider.delete(created.id, earlier_state)
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_a_holder_tag_of_the_previous_build_is_taken_as_ours_and_released(
    emulator: Ec2Emulator, source_id: str
) -> None:
    left_id = cut_short(emulator, copy_props(source_id, role_arn=BACKUP_ROLE))
    source = boto3.client("ec2", region_name=REGION)
    earlier = copy_shares.earlier_holder_key(BACKUP_ACCOUNT, resource_token(URN))
    source.delete_tags(Resources=[source_id], Tags=[{"Key": k} for k in holders_on(source_id)])
    source.create_tags(Resources=[source_id], Tags=[{"Key": earlier, "Value": "2026-01-01T00:00:00Z"}])
    emulator.age_snapshot(left_id, seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    provider.create(copy_props(source_id, role_arn=BACKUP_ROLE))  # adopts the copy the previous build left
    assert shared_with(source_id) == [] and holders_on(source_id) == set()


def test_a_source_at_the_tag_limit_is_refused_with_the_way_out(emulator: Ec2Emulator, volume_id: str) -> None:
    full = [{"Key": f"team-{i}", "Value": "x"} for i in range(50)]  # EC2's limit (EC2 user guide, Tag restrictions)
    source = boto3.client("ec2", region_name=REGION).create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": full}]
    )["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match="TagLimitExceeded") as refused:
        provider.create(copy_props(source, role_arn=BACKUP_ROLE))
    message = str(refused.value)
    assert f"Free one tag on {source}, or share it yourself: `aws ec2 modify-snapshot-attribute" in message, message
    assert "50 tags per snapshot" in message and "left alone as yours" in message, message
    assert shared_with(source) == [] and emulator.calls("CopySnapshot") == []
