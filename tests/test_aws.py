"""Client creation: the standard credential chain, profiles, endpoints, assumed roles and the account guard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import ResourceProvider

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import (
    EbsSnapshotProvider,
    InstanceSnapshotsProvider,
    SnapshotSeriesProvider,
    VolumeRemovalProvider,
)
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import AccountMismatch, AccountNotAllowed, SnapshotProviderError
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.rules import UNKNOWN
from snapshot_provider.instance_snapshots import SCHEMA as INSTANCE_SCHEMA
from snapshot_provider.series import SCHEMA as SERIES_SCHEMA
from snapshot_provider.volume_removal import SCHEMA as REMOVAL_SCHEMA

ROLE = "arn:aws:iam::123456789012:role/snapshots"


def test_endpoint_url_input_wins_over_the_environment(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.sts_url)  # endpoint_url is EC2's alone
    created = EbsSnapshotProvider().create(snapshot_props(volume_id, endpoint_url=emulator.url))
    assert created.outs["state"] == "completed"


def test_named_profile_from_the_shared_config(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[snapshots]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    account = AccountSelection.of(region=REGION, profile="snapshots")
    assert clients.session_for(account).get_credentials().access_key == "AKIAPROFILEKEY000001"
    assert clients.caller_account_id(account) == "123456789012"


def test_missing_profile_is_a_clear_error(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, volume_id: str
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(SnapshotProviderError, match=r"could not be found.*Check ~/\.aws/config or the profile input"):
        EbsSnapshotProvider().create(snapshot_props(volume_id, profile="nope"))
    assert emulator.calls() == []


def test_assumed_role_with_external_id_and_stack_session_name(emulator: Ec2Emulator, volume_id: str) -> None:
    created = EbsSnapshotProvider().create(
        snapshot_props(volume_id, role_arn=ROLE, external_id="ext-4242", role_session_name="pulumi-proj-dev")
    )
    assert created.outs["account_id"] == "123456789012"
    [assume] = emulator.calls("AssumeRole")
    assert assume.params["RoleArn"] == ROLE
    assert assume.params["ExternalId"] == "ext-4242"
    assert assume.params["RoleSessionName"] == "pulumi-proj-dev"
    assert emulator.calls()[0].action == "AssumeRole"  # the role is assumed before anything else


def test_role_in_another_account_is_refused_before_any_change(emulator: Ec2Emulator, volume_id: str) -> None:
    other = "arn:aws:iam::210987654321:role/snapshots"
    with pytest.raises(AccountNotAllowed) as refused:
        EbsSnapshotProvider().create(snapshot_props(volume_id, role_arn=other, allowed_account_ids=["123456789012"]))
    assert "210987654321" in str(refused.value) and "123456789012" in str(refused.value)
    assert [c.action for c in emulator.calls() if c.mutating] == []


def test_delete_and_update_check_the_account_too(emulator: Ec2Emulator, volume_id: str) -> None:
    provider = EbsSnapshotProvider()
    created = provider.create(snapshot_props(volume_id))
    guarded = {**created.outs, "allowed_account_ids": ["111111111111"]}
    with pytest.raises(AccountNotAllowed):
        provider.delete(created.id, guarded)
    with pytest.raises(AccountNotAllowed):
        provider.update(created.id, created.outs, snapshot_props(volume_id, allowed_account_ids=["111111111111"]))
    assert len(emulator.snapshots()) == 1


def test_arn_partition_follows_the_region() -> None:
    assert clients.snapshot_arn("cn-north-1", "snap-1") == "arn:aws-cn:ec2:cn-north-1::snapshot/snap-1"
    assert clients.snapshot_arn("us-gov-west-1", "snap-1").startswith("arn:aws-us-gov:")
    assert clients.snapshot_arn("eu-west-1", "snap-1").startswith("arn:aws:ec2:eu-west-1::")


def test_every_region_botocore_knows_is_accepted_with_its_partition() -> None:
    assert rules.region("eusc-de-east-1") is None
    assert clients.snapshot_arn("eusc-de-east-1", "snap-0123456789abcdef0").startswith("arn:aws-eusc:ec2:")
    assert clients.snapshot_arn("us-isob-east-1", "snap-1").startswith("arn:aws-iso-b:ec2:")


def test_a_region_no_partition_has_is_refused() -> None:
    assert "not an AWS region name" in str(rules.region("mars-1"))
    assert rules.region("aws-cn-global") is not None  # a partition's global endpoint, not a region


# --- the account a resource's snapshots live in -------------------------------------------------------------------
HOME_ACCOUNT = "123456789012"  # the emulator's default account: the fake keys in conftest act there
OTHER_ACCOUNT = "210987654321"
SAME_ACCOUNT_ROLE = f"arn:aws:iam::{HOME_ACCOUNT}:role/snapshots"
OTHER_ACCOUNT_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/snapshots"
SERIES_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
SET_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::host"


@dataclass
class Made:
    """A resource as the engine left it after `pulumi up`: its provider, id, state (outs) and inputs."""

    name: str
    provider: ResourceProvider
    id: str
    outs: dict[str, Any]
    inputs: dict[str, Any]

    def news(self, **changes: Any) -> dict[str, Any]:
        """The inputs with `changes` (None unsets), as check hands them to diff and update."""
        changed = {**self.inputs, **changes}
        return self.provider.check(self.inputs, {k: v for k, v in changed.items() if v is not None}).inputs


def make_snapshot(emulator: Ec2Emulator) -> Made:
    [volume_id] = emulator.seed_volumes(1)
    inputs = snapshot_props(volume_id)
    created = EbsSnapshotProvider().create(inputs)
    return Made("EbsSnapshot", EbsSnapshotProvider(), created.id, created.outs, inputs)


def make_instance_set(emulator: Ec2Emulator) -> Made:
    instance = emulator.seed_instance(data_volumes=1)
    inputs = INSTANCE_SCHEMA.stored(
        {"instance_id": instance["instance_id"], "region": REGION, "timeout": 30, "resource_urn": SET_URN}
    )
    created = InstanceSnapshotsProvider().create(inputs)
    return Made("InstanceSnapshots", InstanceSnapshotsProvider(), created.id, created.outs, inputs)


def make_series(emulator: Ec2Emulator) -> Made:
    [volume_id] = emulator.seed_volumes(1)
    inputs = SERIES_SCHEMA.stored(
        {"volume_id": volume_id, "region": REGION, "timeout": 30, "trigger": "day-1", "resource_urn": SERIES_URN}
    )
    created = SnapshotSeriesProvider().create(inputs)
    return Made("SnapshotSeries", SnapshotSeriesProvider(), created.id, created.outs, inputs)


def make_removal(emulator: Ec2Emulator) -> Made:
    [volume_id] = emulator.seed_volumes(1)
    snapshot_id = EbsSnapshotProvider().create(snapshot_props(volume_id)).id
    inputs = REMOVAL_SCHEMA.stored(
        {"volume_id": volume_id, "snapshot_id": snapshot_id, "confirm_delete_volume": volume_id, "region": REGION}
    )
    created = VolumeRemovalProvider().create(inputs)
    return Made("VolumeRemoval", VolumeRemovalProvider(), created.id, created.outs, inputs)


EVERY_RESOURCE = [make_snapshot, make_instance_set, make_series, make_removal]
every_resource = pytest.mark.parametrize(
    "make", EVERY_RESOURCE, ids=["EbsSnapshot", "InstanceSnapshots", "SnapshotSeries", "VolumeRemoval"]
)


def act_in(emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, account_id: str) -> None:
    """From now on the standard chain finds keys that act in `account_id` (the emulator's, as AWS's would)."""
    keys = emulator.credentials(account_id)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["aws_secret_access_key"])


def snapshots_held(emulator: Ec2Emulator) -> list[str]:
    return sorted(s["snapshot_id"] for s in emulator.snapshots())


@every_resource
def test_refresh_under_another_accounts_credentials_is_refused_naming_both(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make(emulator)
    held = snapshots_held(emulator)
    act_in(emulator, monkeypatch, OTHER_ACCOUNT)

    with pytest.raises(AccountMismatch) as refused:
        made.provider.read(made.id, made.outs)

    message = str(refused.value)
    assert "refusing to refresh" in message and HOME_ACCOUNT in message and OTHER_ACCOUNT in message
    assert snapshots_held(emulator) == held


@every_resource
def test_destroy_under_another_accounts_credentials_is_refused_and_deletes_nothing(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make(emulator)
    held = snapshots_held(emulator)
    volumes = sorted(emulator.ec2_backend().volumes)
    act_in(emulator, monkeypatch, OTHER_ACCOUNT)
    emulator.clear_calls()

    with pytest.raises(AccountMismatch, match=f"refusing to delete: .*{HOME_ACCOUNT}.*{OTHER_ACCOUNT}"):
        made.provider.delete(made.id, made.outs)

    assert [c.action for c in emulator.calls() if c.mutating] == []
    assert snapshots_held(emulator) == held and sorted(emulator.ec2_backend().volumes) == volumes


@every_resource
def test_refresh_honours_allowed_account_ids(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make(emulator)
    act_in(emulator, monkeypatch, OTHER_ACCOUNT)

    with pytest.raises(AccountNotAllowed, match=OTHER_ACCOUNT):
        made.provider.read(made.id, {**made.outs, "allowed_account_ids": [OTHER_ACCOUNT[::-1]]})


@every_resource
def test_role_in_the_same_account_set_then_unset_updates_in_place(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator
) -> None:
    made = make(emulator)
    held = snapshots_held(emulator)
    outs = made.outs
    for role in (SAME_ACCOUNT_ROLE, None):
        news = made.news(role_arn=role)
        assert not made.provider.check(made.inputs, news).failures
        diff = made.provider.diff(made.id, outs, news)
        assert diff.changes and not diff.replaces, (role, diff.replaces)
        emulator.clear_calls()
        outs = made.provider.update(made.id, outs, news).outs
        assert [c.action for c in emulator.calls() if c.mutating] == []
        assert outs.get("role_arn") == role and outs.get("account_id", HOME_ACCOUNT) == HOME_ACCOUNT

    assert snapshots_held(emulator) == held


@every_resource
def test_unknown_role_at_preview_is_an_update(make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator) -> None:
    made = make(emulator)
    with_role = made.news(role_arn=SAME_ACCOUNT_ROLE)
    outs = made.provider.update(made.id, made.outs, with_role).outs

    diff = made.provider.diff(made.id, outs, {**with_role, "role_arn": UNKNOWN})

    assert diff.changes and not diff.replaces


@every_resource
def test_role_in_another_account_is_refused_at_preview_naming_both(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator
) -> None:
    made = make(emulator)
    emulator.clear_calls()

    with pytest.raises(AccountMismatch) as refused:
        made.provider.diff(made.id, made.outs, made.news(role_arn=OTHER_ACCOUNT_ROLE))

    message = str(refused.value)
    assert HOME_ACCOUNT in message and OTHER_ACCOUNT in message and "cannot move between accounts" in message
    assert emulator.calls() == []  # known from the inputs alone: no credentials needed at preview


@every_resource
def test_profile_acting_in_another_account_is_refused_at_update(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made = make(emulator)
    held = snapshots_held(emulator)
    keys = emulator.credentials(OTHER_ACCOUNT)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[elsewhere]\naws_access_key_id = {keys['aws_access_key_id']}\n"
        f"aws_secret_access_key = {keys['aws_secret_access_key']}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    news = made.news(profile="elsewhere")
    assert not made.provider.diff(made.id, made.outs, news).replaces  # only STS can tell where a profile acts
    emulator.clear_calls()

    with pytest.raises(AccountMismatch, match=f"refusing the new access settings: .*{HOME_ACCOUNT}.*{OTHER_ACCOUNT}"):
        made.provider.update(made.id, made.outs, news)

    assert [c.action for c in emulator.calls() if c.mutating] == []
    assert snapshots_held(emulator) == held


def test_endpoint_url_is_ec2s_alone_sts_follows_botocores_configuration(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str
) -> None:
    # As with a VPC endpoint for EC2: that URL serves EC2 only (the strict emulator refuses STS there).
    emulator.configure(sts_separate_endpoint=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.sts_url)

    created = EbsSnapshotProvider().create(
        snapshot_props(volume_id, endpoint_url=emulator.url, role_arn=SAME_ACCOUNT_ROLE)
    )

    assert created.outs["state"] == "completed" and created.outs["account_id"] == HOME_ACCOUNT
    assert {c.action for c in emulator.calls()} >= {"AssumeRole", "GetCallerIdentity", "CreateSnapshot"}


def test_sts_endpoint_url_input_wins_over_the_environment(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str
) -> None:
    emulator.configure(sts_separate_endpoint=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")

    props = snapshot_props(
        volume_id, endpoint_url=emulator.url, sts_endpoint_url=emulator.sts_url, role_arn=SAME_ACCOUNT_ROLE
    )
    assert EbsSnapshotProvider().create(props).outs["account_id"] == HOME_ACCOUNT


@every_resource
def test_allowed_account_ids_without_the_recorded_account_is_refused_at_preview(
    make: Callable[[Ec2Emulator], Made], emulator: Ec2Emulator
) -> None:
    made = make(emulator)
    emulator.clear_calls()

    with pytest.raises(AccountNotAllowed, match=f"refusing to act in AWS account {HOME_ACCOUNT}"):
        made.provider.diff(made.id, made.outs, made.news(allowed_account_ids=[OTHER_ACCOUNT]))

    assert emulator.calls() == []
    assert not made.provider.diff(made.id, made.outs, made.news(allowed_account_ids=[HOME_ACCOUNT])).replaces
