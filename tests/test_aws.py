"""Client creation: the standard credential chain, profiles, endpoints, assumed roles and the account guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, aws
from snapshot_provider.args import AccountSelection
from snapshot_provider.errors import AccountNotAllowed, SnapshotProviderError

ROLE = "arn:aws:iam::123456789012:role/snapshots"


def test_endpoint_url_input_wins_over_the_environment(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
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
    assert aws.session_for(account).get_credentials().access_key == "AKIAPROFILEKEY000001"
    assert aws.caller_account_id(account) == "123456789012"


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
    assert aws.snapshot_arn("cn-north-1", "snap-1") == "arn:aws-cn:ec2:cn-north-1::snapshot/snap-1"
    assert aws.snapshot_arn("us-gov-west-1", "snap-1").startswith("arn:aws-us-gov:")
    assert aws.snapshot_arn("eu-west-1", "snap-1").startswith("arn:aws:ec2:eu-west-1::")
