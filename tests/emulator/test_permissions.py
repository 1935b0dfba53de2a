"""Permission checks at preview with EC2 DryRun: a denied action is named, nothing is created."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator import Ec2Emulator
from emulator.accounts import DEFAULT_ACCOUNT_ID
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider, SnapshotCopyProvider
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.rules import UNKNOWN
from testbed import REGION, URN_PREFIX, snapshot_props


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
    assert asked == {"DescribeSnapshots", "CreateSnapshot", "DescribeLockedSnapshots", "LockSnapshot", "CreateTags"}


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


# --- the rest of the create's plan: every call EC2 can answer with DryRun -------------------------------------------
def reasons(failures: list[Any], prop: str) -> list[str]:
    return [f.reason for f in failures if f.property == prop]


def test_a_create_whose_tagging_is_denied_is_reported_though_create_snapshot_is_allowed(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(denied_actions=["CreateTags"])
    failures = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    [create, recorded] = reasons(failures, "volume_id")
    assert f"ec2:CreateSnapshot on {volume_id} in {REGION} would be denied" in create
    assert "ec2:CreateTags" in create and "ec2:CreateAction" in create
    assert f"ec2:CreateTags on the new snapshot in {REGION} would be denied" in recorded
    [asked] = emulator.calls("CreateSnapshot")  # the create's own request: its input tags and resource token
    assert asked.params["TagSpecification.1.ResourceType"] == "snapshot"
    assert {"purpose", RESOURCE_TAG} <= {v for k, v in asked.params.items() if k.endswith(".Key")}
    assert emulator.snapshots() == [] and not emulator.mutating_calls()


def test_tagging_the_new_snapshot_is_asked_about_where_a_policy_allows_tags_only_at_creation(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    # CreateTags allowed only with ec2:CreateAction: the tagged create passes, the `recorded` tag written once the
    # snapshot completed would not.
    emulator.configure(denied_actions=["CreateTags"], tagging_allowed_at_creation=True)
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    assert failure.property == "volume_id"
    assert f"ec2:CreateTags on the new snapshot in {REGION} would be denied" in failure.reason
    assert emulator.snapshots() == [] and not emulator.mutating_calls()


def test_a_create_snapshots_whose_tagging_is_denied_is_reported(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    emulator.configure(denied_actions=["CreateTags"])
    props = {"instance_id": instance["instance_id"], "region": REGION, "tags": {"team": "db"}, "permission_check": True}
    [create, _recorded] = reasons(InstanceSnapshotsProvider().check({}, props).failures, "instance_id")
    assert f"ec2:CreateSnapshots on {instance['instance_id']} in {REGION} would be denied" in create
    assert "ec2:CreateTags" in create
    assert emulator.snapshots() == [] and not emulator.mutating_calls()


def test_archiving_is_asked_about_for_a_resource_that_archives(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(denied_actions=["ModifySnapshotTier"])
    assert EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures == []
    props = snapshot_props(volume_id, storage_tier="archive", permission_check=True)
    [failure] = EbsSnapshotProvider().check({}, props).failures
    assert failure.property == "storage_tier"
    assert f"ec2:ModifySnapshotTier on the new snapshot in {REGION} would be denied" in failure.reason
    assert emulator.snapshots() == [] and not emulator.mutating_calls()


@pytest.mark.parametrize("denied", ["StopInstances", "StartInstances", "CreateTags", "DeleteTags"])
def test_a_denied_call_on_the_instance_a_stopped_snapshot_stops_is_reported(emulator: Ec2Emulator, denied: str) -> None:
    instance = emulator.seed_instance()
    instance_id = instance["instance_id"]
    emulator.configure(denied_actions=[denied])
    props = snapshot_props(instance["root_volume_id"], consistency="stopped", permission_check=True)
    [failure] = reasons(EbsSnapshotProvider().check({}, props).failures, "consistency")
    assert f"ec2:{denied} on {instance_id} in {REGION} would be denied" in failure
    assert emulator.stopped_instances() == [] and emulator.snapshots() == [] and not emulator.mutating_calls()


def test_a_stopped_snapshot_everything_allows_passes_and_asks_about_the_real_instance(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    props = {"instance_id": instance["instance_id"], "region": REGION, "consistency": "stopped"}
    assert InstanceSnapshotsProvider().check({}, {**props, "permission_check": True}).failures == []
    for action in ("StopInstances", "StartInstances"):
        [call] = emulator.calls(action)
        assert call.params["InstanceId.1"] == instance["instance_id"] and call.params["DryRun"] == "true"
    assert emulator.stopped_instances() == [] and emulator.snapshots() == [] and not emulator.mutating_calls()


def test_an_instance_left_stopped_is_not_asked_to_start(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    emulator.configure(denied_actions=["StartInstances"])
    props = {"instance_id": instance["instance_id"], "region": REGION, "consistency": "stopped", "leave_stopped": True}
    assert InstanceSnapshotsProvider().check({}, {**props, "permission_check": True}).failures == []
    assert emulator.calls("StartInstances") == []


BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"


def cross_account_copy(source_id: str) -> dict[str, Any]:
    return {
        "source_snapshot_id": source_id,
        "source_region": REGION,
        "region": "eu-west-1",
        "role_arn": BACKUP_ROLE,
        "resource_urn": URN_PREFIX + "dr-copy",
        "permission_check": True,
    }


@pytest.fixture
def source_id(emulator: Ec2Emulator, volume_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    return str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])


@pytest.mark.parametrize("denied", ["ModifySnapshotAttribute", "CreateTags", "DeleteTags"])
def test_a_denied_share_of_a_cross_account_copys_source_is_reported_as_the_source_account_asked(
    emulator: Ec2Emulator, source_id: str, denied: str
) -> None:
    emulator.configure(denied_actions=[denied])
    emulator.clear_calls()
    failures = SnapshotCopyProvider().check({}, cross_account_copy(source_id)).failures
    [failure] = reasons(failures, "role_arn")
    assert f"ec2:{denied} on the source {source_id} in {REGION} would be denied" in failure
    assert "source account's credentials" in failure
    on_source = [c for c in emulator.calls(denied) if source_id in c.params.values()]
    assert {c.account_id for c in on_source} == {DEFAULT_ACCOUNT_ID}
    assert emulator.snapshots(account_id=BACKUP_ACCOUNT, region="eu-west-1") == [] and not emulator.mutating_calls()


def test_a_copy_whose_tagging_is_denied_is_reported_in_the_destination(emulator: Ec2Emulator, source_id: str) -> None:
    emulator.configure(denied_actions=["CreateTags"])
    emulator.clear_calls()
    props = {k: v for k, v in cross_account_copy(source_id).items() if k != "role_arn"}  # one account: no share
    [create, recorded] = reasons(SnapshotCopyProvider().check({}, props).failures, "source_snapshot_id")
    assert f"ec2:CopySnapshot of {source_id} in eu-west-1 would be denied" in create and "ec2:CreateTags" in create
    assert "ec2:CreateTags on the new snapshot in eu-west-1 would be denied" in recorded
    assert emulator.snapshots(region="eu-west-1") == [] and not emulator.mutating_calls()


def test_a_cross_account_copy_everything_allows_passes_and_shares_nothing(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.clear_calls()
    assert SnapshotCopyProvider().check({}, cross_account_copy(source_id)).failures == []
    [share] = emulator.calls("ModifySnapshotAttribute")
    assert share.account_id == DEFAULT_ACCOUNT_ID and share.params["DryRun"] == "true"
    [copy] = emulator.calls("CopySnapshot")
    assert copy.account_id == BACKUP_ACCOUNT and "TagSpecification.1.ResourceType" in copy.params
    assert not emulator.mutating_calls() and emulator.snapshots(account_id=BACKUP_ACCOUNT, region="eu-west-1") == []


def test_a_preview_with_unknown_inputs_asks_nothing(emulator: Ec2Emulator, volume_id: str) -> None:
    props = snapshot_props(volume_id, consistency="stopped", storage_tier="archive", permission_check=True)
    assert EbsSnapshotProvider().check({}, {**props, "description": UNKNOWN}).failures == []
    assert SnapshotCopyProvider().check({}, {**cross_account_copy(UNKNOWN)}).failures == []
    assert emulator.calls() == []


def dry_runs(ec2: Any, instance: dict[str, Any], snapshot_id: str) -> dict[str, Any]:
    """Each call permission_check asks about, by the action IAM authorizes."""
    tags = [{"Key": "k", "Value": "v"}]
    on_instance = {"InstanceIds": [instance["instance_id"]], "DryRun": True}
    return {
        "StopInstances": lambda: ec2.stop_instances(**on_instance),
        "StartInstances": lambda: ec2.start_instances(**on_instance),
        "CreateTags": lambda: ec2.create_tags(Resources=[instance["instance_id"]], Tags=tags, DryRun=True),
        "DeleteTags": lambda: ec2.delete_tags(Resources=[instance["instance_id"]], Tags=tags, DryRun=True),
        "ModifySnapshotAttribute": lambda: ec2.modify_snapshot_attribute(
            SnapshotId=snapshot_id,
            Attribute="createVolumePermission",
            OperationType="add",
            UserIds=[BACKUP_ACCOUNT],
            DryRun=True,
        ),
        "ModifySnapshotTier": lambda: ec2.modify_snapshot_tier(
            SnapshotId=snapshot_id, StorageTier="archive", DryRun=True
        ),
        "CopySnapshot": lambda: ec2.copy_snapshot(
            SourceRegion=REGION,
            SourceSnapshotId=snapshot_id,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}],
            DryRun=True,
        ),
        "CreateSnapshot": lambda: ec2.create_snapshot(
            VolumeId=instance["root_volume_id"],
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}],
            DryRun=True,
        ),
    }


def test_the_emulator_answers_each_dry_run_as_iam_would(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    snapshot_id = str(ec2.create_snapshot(VolumeId=instance["root_volume_id"])["SnapshotId"])
    for action, call in dry_runs(ec2, instance, snapshot_id).items():
        with pytest.raises(ClientError, match="DryRunOperation"):
            call()
        emulator.configure(denied_actions=[action])
        with pytest.raises(ClientError, match=f"UnauthorizedOperation.*ec2:{action}"):
            call()
        emulator.configure(denied_actions=[])
    emulator.configure(denied_actions=["CreateTags"])  # a create tagged at creation is authorized on CreateTags too
    for tagged_at_creation in ("CreateSnapshot", "CopySnapshot"):
        with pytest.raises(ClientError, match=r"UnauthorizedOperation.*ec2:CreateTags"):
            dry_runs(ec2, instance, snapshot_id)[tagged_at_creation]()
    with pytest.raises(ClientError, match="DryRunOperation"):  # without tags, CreateTags is not evaluated
        ec2.create_snapshot(VolumeId=instance["root_volume_id"], DryRun=True)


# --- red team, stop 30: what a real account would make of permission_check (RT30-1..7, fixed) ---------------------
@pytest.mark.parametrize(
    "unknown_inside",
    [{"exclude_data_volume_ids": [UNKNOWN]}, {"tags": {"owner": UNKNOWN}}],
    ids=["an excluded volume made in the same stack", "a tag from another resource's output"],
)
def test_a_preview_with_an_unknown_inside_an_input_asks_nothing(
    emulator: Ec2Emulator, unknown_inside: dict[str, Any]
) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    props = {"instance_id": instance["instance_id"], "region": REGION, "permission_check": True, **unknown_inside}
    assert InstanceSnapshotsProvider().check({}, props).failures == []
    assert emulator.calls() == []  # asked at the next preview, once the value is known


@pytest.mark.parametrize(
    ("read", "consistency"),
    [("DescribeVolumes", "stopped"), ("DescribeSnapshots", "crash")],
    ids=["the look at the volume a stopped snapshot pauses", "describe snapshots"],
)
def test_a_denied_read_of_the_plan_is_reported_at_preview(emulator: Ec2Emulator, read: str, consistency: str) -> None:
    instance = emulator.seed_instance()
    emulator.configure(denied_actions=[read])
    props = snapshot_props(instance["root_volume_id"], consistency=consistency, permission_check=True, timeout=5)
    failures = EbsSnapshotProvider().check({}, props).failures
    with pytest.raises(SnapshotProviderError, match=read):  # what the create makes of it
        EbsSnapshotProvider().create(props)
    assert any(f"ec2:{read}" in f.reason for f in failures)


def test_a_role_that_cannot_be_assumed_is_reported_once_on_role_arn(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(denied_actions=["AssumeRole"])
    props = snapshot_props(volume_id, permission_check=True, role_arn=BACKUP_ROLE)
    failures = EbsSnapshotProvider().check({}, props).failures
    assert failures, "the preview must not pass: no call of the plan can be made"
    [failure] = failures
    assert failure.property == "role_arn" and BACKUP_ROLE in failure.reason
    assert "sts:AssumeRole" in failure.reason and "would be denied" not in failure.reason


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A pipeline with no AWS credentials at all (read-only PR runner); the process's sessions forgotten before and
    after, so that no other test meets a session built without credentials."""
    from snapshot_provider.ec2 import clients

    def forget() -> None:
        for cache in (clients._sessions, clients._clients, clients._account_ids):
            cache.forget(lambda key: True)

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    forget()
    yield
    forget()


@pytest.mark.usefixtures("no_credentials")
def test_a_preview_with_a_role_and_no_credentials_says_so_without_a_traceback(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    props = snapshot_props(volume_id, permission_check=True, role_arn=BACKUP_ROLE)
    failures = EbsSnapshotProvider().check({}, props).failures
    assert failures and all("no AWS credentials found" in f.reason for f in failures)


@pytest.mark.usefixtures("no_credentials")
def test_a_preview_without_credentials_says_so_once(emulator: Ec2Emulator, volume_id: str) -> None:
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    assert failure.property == "permission_check" and "no AWS credentials found" in failure.reason
    assert emulator.calls() == []


def test_the_stopped_by_tag_asked_about_is_the_one_the_create_writes(emulator: Ec2Emulator) -> None:
    from snapshot_provider.core.quiesce.stopping import StoppedBy

    instance = emulator.seed_instance()
    props = snapshot_props(instance["root_volume_id"], consistency="stopped", permission_check=True)
    assert EbsSnapshotProvider().check({}, props).failures == []
    [tagging] = [c for c in emulator.calls("CreateTags") if c.params.get("ResourceId.1") == instance["instance_id"]]
    held = StoppedBy.of(tagging.params["Tag.1.Key"], tagging.params["Tag.1.Value"])
    assert held.launched, f"the create's tag names the instance's launch: {tagging.params['Tag.1.Value']!r}"


# --- red team, stop 30b: the credentials and endpoint a real pipeline brings (RT30b-1..4, fixed) -------------------
@pytest.fixture
def forgotten_sessions() -> Any:
    """The process's sessions forgotten before and after: a test's credentials are resolved afresh and kept from
    the next test."""
    from snapshot_provider.ec2 import clients

    def forget() -> None:
        for cache in (clients._sessions, clients._clients, clients._account_ids):
            cache.forget(lambda key: True)

    forget()
    yield
    forget()


def test_credentials_ec2_rejects_are_reported_once_not_per_call(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance()
    emulator.configure(credentials_expired=True)  # static keys: nothing to resolve locally, EC2 refuses each call
    props = snapshot_props(instance["root_volume_id"], consistency="stopped", permission_check=True)
    failures = EbsSnapshotProvider().check({}, props).failures
    assert failures, "the preview must not pass"
    [failure] = failures
    assert "ExpiredToken" in failure.reason and failure.property != "volume_id"


def test_credentials_ec2_rejects_are_reported_once_for_a_copy_too(emulator: Ec2Emulator, source_id: str) -> None:
    emulator.configure(credentials_expired=True)
    props = {k: v for k, v in cross_account_copy(source_id).items() if k != "role_arn"}
    [failure] = SnapshotCopyProvider().check({}, props).failures
    assert (
        failure.property == "permission_check" and "EC2 refused" in failure.reason and "ExpiredToken" in failure.reason
    )


@pytest.mark.usefixtures("forgotten_sessions")
def test_expired_session_keys_in_the_environment_are_one_failure_not_a_traceback(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a CI recipe exports after `aws sts assume-role` (botocore reads the expiry): the keys ran out mid-pipeline.
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-never-in-a-message")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2020-01-01T00:00:00Z")
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    assert "expired" in failure.reason and "session-token-never-in-a-message" not in failure.reason
    assert emulator.calls() == []


@pytest.mark.usefixtures("forgotten_sessions")
def test_a_profile_whose_role_cannot_be_assumed_is_reported_as_the_profiles(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\naws_access_key_id = AKIAEMULATORTESTKEY1\naws_secret_access_key = base-secret\n"
        f"[profile ops]\nrole_arn = {BACKUP_ROLE}\nsource_profile = base\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ops")  # the standard chain: botocore assumes the profile's role
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    emulator.configure(denied_actions=["AssumeRole"])
    [failure] = EbsSnapshotProvider().check({}, snapshot_props(volume_id, permission_check=True)).failures
    assert "sts:AssumeRole" in failure.reason and BACKUP_ROLE in failure.reason
    assert "None" not in failure.reason and failure.property != "role_arn"


def test_an_unreachable_endpoint_is_reported_once(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    import types

    import botocore.endpoint

    # botocore's backoff between attempts skipped, so that the test is fast; the attempts themselves still happen,
    # one more than the backoffs counted here.
    backoffs: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(**{**vars(time), "sleep": backoffs.append}))
    lock = {"mode": "governance", "duration_days": 1}
    props = snapshot_props(volume_id, permission_check=True, lock=lock, endpoint_url="http://127.0.0.1:9")
    failures = EbsSnapshotProvider().check({}, props).failures
    assert failures, "the preview must not pass"
    [failure] = failures
    assert "could not reach the AWS endpoint" in failure.reason and "endpoint_url" in failure.reason
    assert len(backoffs) < 3, f"a preview asks a few times, then stops: {len(backoffs) + 1} attempts"
