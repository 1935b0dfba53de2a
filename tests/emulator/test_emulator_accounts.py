"""Accounts, regions, STS on its own endpoint and expiring sessions (`emulator.accounts`), through boto3 and the
control API. Session lifetimes are stepped over with `advance_clock` or shortened with `session_duration_scale`."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_helpers import NO_RETRIES, client, client_as, control, error_of

from emulator import Ec2Emulator
from emulator.strict import CLOCK
from testbed import REGION

ACCOUNT_A = "111122223333"
ACCOUNT_B = "444455556666"
ANY_KEY = {"aws_access_key_id": "AKIAUNKNOWNKEY", "aws_secret_access_key": "x"}


def assume(sts: Any, account: str, role: str = "deployer", **request: Any) -> dict[str, Any]:
    arn = f"arn:aws:iam::{account}:role/{role}"
    credentials: dict[str, Any] = sts.assume_role(RoleArn=arn, RoleSessionName="emulator-test", **request)[
        "Credentials"
    ]
    return credentials


# --- 5. accounts ---------------------------------------------------------------------------------------------------
def test_credentials_select_the_account_and_each_sees_only_its_own(emulator: Ec2Emulator) -> None:
    [volume_a] = emulator.seed_volumes(1, account_id=ACCOUNT_A)
    ec2_a = client_as(emulator, emulator.credentials(ACCOUNT_A))
    snapshot_id = ec2_a.create_snapshot(VolumeId=volume_a)["SnapshotId"]
    assert [s["SnapshotId"] for s in ec2_a.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == [snapshot_id]
    ec2_b = client_as(emulator, emulator.credentials(ACCOUNT_B))
    assert ec2_b.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert error_of(lambda: ec2_b.describe_snapshots(SnapshotIds=[snapshot_id]))[0] == "InvalidSnapshot.NotFound"
    assert error_of(lambda: ec2_b.delete_snapshot(SnapshotId=snapshot_id))[0] == "InvalidSnapshot.NotFound"
    assert client(emulator).describe_volumes()["Volumes"] == []  # unknown keys: the default account, empty
    assert [s["snapshot_id"] for s in emulator.snapshots(account_id=ACCOUNT_A)] == [snapshot_id]
    assert emulator.snapshots() == []
    assert emulator.credentials(ACCOUNT_A) == emulator.credentials(ACCOUNT_A)  # the same keys every time
    assert [c.account_id for c in emulator.calls("CreateSnapshot")] == [ACCOUNT_A]


def test_any_account_and_region_can_be_seeded_and_read_over_the_control_api(emulator: Ec2Emulator) -> None:
    [volume_id] = control(emulator, "seed-volumes", {"count": 1, "account_id": ACCOUNT_A, "region": "eu-west-1"})
    control(
        emulator,
        "seed-world",
        {
            "account_id": ACCOUNT_A,
            "region": "eu-west-1",
            "snapshots": [{"id": "snap-0a1b2c3d4e5f60009", "volume_id": volume_id, "encrypted": True}],
        },
    )
    instance = control(emulator, "seed-instance", {"data_volumes": 1, "account_id": ACCOUNT_B})
    held = control(emulator, "accounts")
    assert held[ACCOUNT_A] == {"eu-west-1": {"volumes": 1, "snapshots": 1, "images": 0}}
    assert held[ACCOUNT_B] == {REGION: {"volumes": 2, "snapshots": 0, "images": 0}}
    [summary] = control(emulator, "snapshots", {"account_id": ACCOUNT_A, "region": "eu-west-1"})
    assert summary["snapshot_id"] == "snap-0a1b2c3d4e5f60009"
    exported = control(emulator, "export-world", {"account_id": ACCOUNT_B})
    assert [i["id"] for i in exported["instances"]] == [instance["instance_id"]]
    ec2_a = client_as(emulator, emulator.credentials(ACCOUNT_A), region="eu-west-1")
    described = ec2_a.describe_snapshots(SnapshotIds=["snap-0a1b2c3d4e5f60009"])["Snapshots"][0]
    assert described["Encrypted"] and described["KmsKeyId"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT_A}:key/")
    assert client_as(emulator, emulator.credentials(ACCOUNT_A)).describe_volumes()["Volumes"] == []  # regions apart


def test_assume_role_acts_in_the_roles_account(emulator: Ec2Emulator) -> None:
    sts = client_as(emulator, emulator.credentials(ACCOUNT_A), "sts")
    assert sts.get_caller_identity()["Account"] == ACCOUNT_A
    session = assume(sts, ACCOUNT_B)
    identity = client_as(emulator, session, "sts").get_caller_identity()
    assert identity["Account"] == ACCOUNT_B and ":assumed-role/deployer/" in identity["Arn"]
    [volume_b] = emulator.seed_volumes(1, account_id=ACCOUNT_B)
    assert [v["VolumeId"] for v in client_as(emulator, session).describe_volumes()["Volumes"]] == [volume_b]
    [listed] = emulator.sessions()
    assert (listed["account_id"], listed["chained"], listed["expired"]) == (ACCOUNT_B, False, False)


# --- 6. STS on its own endpoint ------------------------------------------------------------------------------------
def test_sts_answers_on_its_own_url_and_strict_ec2_refuses_sts(emulator: Ec2Emulator) -> None:
    on_ec2_url = client_as(emulator, ANY_KEY, "sts", endpoint_url=emulator.url)
    assert on_ec2_url.get_caller_identity()["Account"] == "123456789012"  # lenient: one URL serves both
    emulator.configure(sts_separate_endpoint=True)
    assert error_of(on_ec2_url.get_caller_identity) == ("InvalidAction", 400)
    assert client_as(emulator, ANY_KEY, "sts").get_caller_identity()["Account"] == "123456789012"
    ec2_on_sts_url = client_as(emulator, ANY_KEY, endpoint_url=emulator.sts_url)
    assert error_of(ec2_on_sts_url.describe_volumes)[0] == "InvalidAction"  # in every mode


def test_botocore_takes_the_sts_endpoint_from_aws_endpoint_url_sts(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(sts_separate_endpoint=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.sts_url)  # beside AWS_ENDPOINT_URL (EC2), set by the fixture
    keys = {"aws_access_key_id": "AKIAUNKNOWNKEY", "aws_secret_access_key": "x", "config": NO_RETRIES}
    assert boto3.client("sts", region_name=REGION, **keys).get_caller_identity()["Account"] == "123456789012"
    boto3.client("ec2", region_name=REGION, **keys).describe_volumes()
    assert [(c.action, c.service) for c in emulator.calls()] == [
        ("GetCallerIdentity", "sts"),
        ("DescribeVolumes", "ec2"),
    ]


# --- 7. expiring sessions ------------------------------------------------------------------------------------------
def test_a_session_expires_after_its_duration_then_every_call_fails_expired_token(emulator: Ec2Emulator) -> None:
    emulator.configure(session_expiry=True)
    session = assume(client_as(emulator, ANY_KEY, "sts"), ACCOUNT_B, DurationSeconds=900)
    ec2 = client_as(emulator, session)
    ec2.describe_volumes()
    emulator.advance_clock(899)
    ec2.describe_volumes()
    emulator.advance_clock(1)
    assert error_of(ec2.describe_volumes) == ("ExpiredToken", 400)
    assert error_of(client_as(emulator, session, "sts").get_caller_identity) == ("ExpiredToken", 403)
    assert emulator.sessions()[0]["expired"] is True
    client(emulator).describe_volumes()  # static keys never expire unless told to


def test_session_duration_scale_shortens_sessions_and_their_expiration(emulator: Ec2Emulator) -> None:
    emulator.configure(session_expiry=True, session_duration_scale=0.001)
    session = assume(client_as(emulator, ANY_KEY, "sts"), ACCOUNT_B)  # 3600 s by default: 3.6 s here
    lifetime = session["Expiration"].timestamp() - CLOCK.wall()
    assert 2.0 < lifetime <= 3.6
    assert emulator.sessions()[0]["expires_at"] == pytest.approx(session["Expiration"].timestamp(), abs=0.01)
    emulator.advance_clock(3.6)
    assert error_of(client_as(emulator, session).describe_volumes)[0] == "ExpiredToken"


def test_duration_rules_of_sts(emulator: Ec2Emulator) -> None:
    emulator.configure(session_expiry=True)
    sts = client_as(emulator, ANY_KEY, "sts")
    assume(sts, ACCOUNT_B, DurationSeconds=43200)  # a role the emulator does not hold: up to 12 h by default
    emulator.configure(role_max_session_seconds=7200)
    assert error_of(lambda: assume(sts, ACCOUNT_B, DurationSeconds=7201))[0] == "ValidationError"
    chained = client_as(emulator, assume(sts, ACCOUNT_B), "sts")
    assume(chained, ACCOUNT_A, DurationSeconds=3600)
    assert error_of(lambda: assume(chained, ACCOUNT_A, DurationSeconds=3601))[0] == "ValidationError"
    iam = boto3.client("iam", region_name=REGION, endpoint_url=emulator.url, config=NO_RETRIES, **ANY_KEY)
    iam.create_role(RoleName="short", AssumeRolePolicyDocument="{}", MaxSessionDuration=3600)
    assert error_of(lambda: assume(sts, "123456789012", "short", DurationSeconds=7200))[0] == "ValidationError"
    assert [s["chained"] for s in emulator.sessions()] == [False, False, True]  # refused ones gave no session


def test_web_identity_sessions_expire_too(emulator: Ec2Emulator) -> None:
    emulator.configure(session_expiry=True)
    sts = boto3.client("sts", region_name=REGION, endpoint_url=emulator.sts_url, config=NO_RETRIES)
    session = sts.assume_role_with_web_identity(
        RoleArn=f"arn:aws:iam::{ACCOUNT_A}:role/ci",
        RoleSessionName="github-actions",
        WebIdentityToken="token-from-the-ci-provider",
        DurationSeconds=3600,
    )["Credentials"]
    ec2 = client_as(emulator, session)
    ec2.describe_volumes()
    emulator.advance_clock(3600)
    assert error_of(ec2.describe_volumes)[0] == "ExpiredToken"


def test_lenient_sessions_never_expire(emulator: Ec2Emulator) -> None:
    session = assume(client_as(emulator, ANY_KEY, "sts"), ACCOUNT_B, DurationSeconds=900)
    emulator.advance_clock(10 * 3600)
    client_as(emulator, session).describe_volumes()


def test_expire_credentials_ends_one_key_now_over_http(emulator: Ec2Emulator) -> None:
    keys = emulator.credentials(ACCOUNT_A)
    other = emulator.credentials(ACCOUNT_B)
    control(emulator, "expire-credentials", {"access_key_id": keys["aws_access_key_id"]})
    assert error_of(client_as(emulator, keys).describe_volumes) == ("ExpiredToken", 400)
    assert error_of(client_as(emulator, keys, "sts").get_caller_identity) == ("ExpiredToken", 403)
    client_as(emulator, other).describe_volumes()
    assert control(emulator, "credentials", {"account_id": ACCOUNT_B}) == other


def test_a_denied_assume_role_is_answered_as_sts_answers(emulator: Ec2Emulator) -> None:
    role_arn = f"arn:aws:iam::{ACCOUNT_B}:role/backup"
    sts = boto3.client("sts", region_name=REGION, endpoint_url=emulator.sts_url, config=NO_RETRIES)
    emulator.configure(denied_actions=["AssumeRole"])
    assert error_of(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="rt30")) == ("AccessDenied", 403)
    with pytest.raises(ClientError, match=f"sts:AssumeRole on resource: {role_arn}"):
        sts.assume_role(RoleArn=role_arn, RoleSessionName="rt30")
