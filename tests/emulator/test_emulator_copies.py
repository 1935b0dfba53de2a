"""The emulator's CopySnapshot (`emulator.copies`): across regions and accounts, pending for a set time, encryption
rules, CompletionDurationMinutes, and no idempotence (CopySnapshot has no ClientToken)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from emulator_helpers import NO_RETRIES, client, client_as, error_of

from emulator import DEFAULT_ACCOUNT_ID, Ec2Emulator
from testbed import REGION

OTHER_REGION = "eu-west-1"
BACKUP_ACCOUNT = "210987654321"
UNCHECKED = NO_RETRIES.merge(Config(parameter_validation=False))


@pytest.fixture
def snapshot_id(emulator: Ec2Emulator, volume_id: str) -> str:
    return str(client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])


def in_region(emulator: Ec2Emulator, region: str) -> Any:
    return client_as(emulator, emulator.credentials(DEFAULT_ACCOUNT_ID), region=region)


def described(ec2: Any, snapshot_id: str) -> dict[str, Any]:
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return dict(snapshot)


def test_a_copy_is_made_in_the_region_the_request_is_sent_to(emulator: Ec2Emulator, snapshot_id: str) -> None:
    west = in_region(emulator, OTHER_REGION)
    copy_id = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)["SnapshotId"]
    copy = described(west, copy_id)
    assert (copy["VolumeId"], copy["VolumeSize"], copy["OwnerId"]) == ("vol-ffffffff", 8, DEFAULT_ACCOUNT_ID)
    assert copy_id in {s["snapshot_id"] for s in emulator.snapshots(region=OTHER_REGION)}
    assert copy_id not in {s["snapshot_id"] for s in emulator.snapshots()}


def test_a_copy_stays_pending_for_the_copy_time_then_completes(emulator: Ec2Emulator, snapshot_id: str) -> None:
    emulator.configure(copy_seconds=3600)
    west = in_region(emulator, OTHER_REGION)
    copy_id = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)["SnapshotId"]
    assert described(west, copy_id)["State"] == "pending"
    emulator.age_snapshot(copy_id, seconds_ago=3600, region=OTHER_REGION)
    assert described(west, copy_id)["State"] == "completed"


def test_a_time_based_copy_completes_within_its_completion_duration(emulator: Ec2Emulator, snapshot_id: str) -> None:
    emulator.configure(copy_seconds=24 * 3600)
    west = in_region(emulator, OTHER_REGION)
    copy_id = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id, CompletionDurationMinutes=15)[
        "SnapshotId"
    ]
    copy = described(west, copy_id)
    assert (copy["State"], copy["CompletionDurationMinutes"], copy["TransferType"]) == ("pending", 15, "time-based")
    emulator.age_snapshot(copy_id, seconds_ago=15 * 60, region=OTHER_REGION)
    assert described(west, copy_id)["State"] == "completed"


@pytest.mark.parametrize("minutes", [0, 10, 20, 2895])
def test_completion_durations_outside_15_minute_steps_up_to_2880_are_refused(
    emulator: Ec2Emulator, snapshot_id: str, minutes: int
) -> None:
    ec2 = client(emulator, UNCHECKED)  # the emulator, not botocore, refuses 0 and 2895
    copy = lambda: ec2.copy_snapshot(  # noqa: E731
        SourceRegion=REGION, SourceSnapshotId=snapshot_id, CompletionDurationMinutes=minutes
    )
    assert error_of(copy)[0] == "InvalidParameterValue"
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]


def test_a_pending_snapshot_cannot_be_copied(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3600)
    pending = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    west = in_region(emulator, OTHER_REGION)
    assert error_of(lambda: west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=pending))[0] == "IncorrectState"


def test_another_account_copies_only_a_snapshot_shared_with_it(emulator: Ec2Emulator, snapshot_id: str) -> None:
    backup = client_as(emulator, emulator.credentials(BACKUP_ACCOUNT), region=OTHER_REGION)
    copy = lambda: backup.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)  # noqa: E731
    assert error_of(copy)[0] == "InvalidSnapshot.NotFound"
    client(emulator).modify_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", UserIds=[BACKUP_ACCOUNT]
    )
    copy_id = copy()["SnapshotId"]
    assert described(backup, copy_id)["OwnerId"] == BACKUP_ACCOUNT
    assert [s["snapshot_id"] for s in emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)] == [copy_id]


def encrypted_snapshot(emulator: Ec2Emulator, kms_key_id: str | None = None) -> str:
    ec2 = client(emulator)
    key = {"KmsKeyId": kms_key_id} if kms_key_id else {}
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", Encrypted=True, **key)["VolumeId"]
    return str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])


def share(emulator: Ec2Emulator, snapshot_id: str, account_id: str) -> Any:
    return client(emulator).modify_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", UserIds=[account_id]
    )


def test_a_snapshot_encrypted_with_the_default_key_cannot_be_shared(emulator: Ec2Emulator) -> None:
    # EC2 API reference, ModifySnapshotAttribute: "Snapshots encrypted with your default KMS key cannot be shared".
    snapshot_id = encrypted_snapshot(emulator)
    assert error_of(lambda: share(emulator, snapshot_id, BACKUP_ACCOUNT)) == ("OperationNotPermitted", 400)
    assert not client(emulator).describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")[
        "CreateVolumePermissions"
    ]


def test_the_default_ebs_key_is_aws_managed_and_a_customer_key_snapshot_can_be_shared(emulator: Ec2Emulator) -> None:
    kms = client_as(emulator, emulator.credentials(DEFAULT_ACCOUNT_ID), region=REGION, service="kms")
    default_key = described(client(emulator), encrypted_snapshot(emulator))["KmsKeyId"]
    assert kms.describe_key(KeyId=default_key)["KeyMetadata"]["KeyManager"] == "AWS"
    customer_key = kms.create_key()["KeyMetadata"]["Arn"]
    snapshot_id = encrypted_snapshot(emulator, customer_key)
    share(emulator, snapshot_id, BACKUP_ACCOUNT)
    permissions = client(emulator).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    assert permissions == [{"UserId": BACKUP_ACCOUNT}]


def test_an_encrypted_snapshot_copies_encrypted_with_the_key_asked_for_or_the_default(
    emulator: Ec2Emulator,
) -> None:
    ec2 = client(emulator)
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", Encrypted=True)["VolumeId"]
    source = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    source_key = described(ec2, source)["KmsKeyId"]
    same_region = ec2.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=source)["SnapshotId"]
    assert described(ec2, same_region)["KmsKeyId"] == source_key

    west = in_region(emulator, OTHER_REGION)
    other_region = described(west, west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=source)["SnapshotId"])
    assert other_region["Encrypted"] and other_region["KmsKeyId"] not in (None, source_key)
    chosen = "arn:aws:kms:eu-west-1:123456789012:key/backup"
    named = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=source, Encrypted=True, KmsKeyId=chosen)
    assert described(west, named["SnapshotId"])["KmsKeyId"] == chosen


def test_an_unencrypted_snapshot_copies_encrypted_only_when_asked(emulator: Ec2Emulator, snapshot_id: str) -> None:
    west = in_region(emulator, OTHER_REGION)
    plain = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)["SnapshotId"]
    encrypted = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id, Encrypted=True)["SnapshotId"]
    assert (described(west, plain)["Encrypted"], described(west, encrypted)["Encrypted"]) == (False, True)
    key_alone = lambda: west.copy_snapshot(  # noqa: E731
        SourceRegion=REGION, SourceSnapshotId=snapshot_id, KmsKeyId="alias/backup"
    )
    assert error_of(key_alone)[0] == "InvalidParameterDependency"


def test_a_repeated_copy_request_makes_a_second_copy_so_callers_find_theirs_by_a_tag(
    emulator: Ec2Emulator, snapshot_id: str
) -> None:
    west = in_region(emulator, OTHER_REGION)
    tagged = [{"ResourceType": "snapshot", "Tags": [{"Key": "copy-token", "Value": "abc"}]}]
    first = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id, TagSpecifications=tagged)
    second = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id, TagSpecifications=tagged)
    assert first["SnapshotId"] != second["SnapshotId"]
    found = west.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:copy-token", "Values": ["abc"]}])
    assert {s["SnapshotId"] for s in found["Snapshots"]} == {first["SnapshotId"], second["SnapshotId"]}


def test_source_tags_are_not_copied(emulator: Ec2Emulator, snapshot_id: str) -> None:
    client(emulator).create_tags(Resources=[snapshot_id], Tags=[{"Key": "team", "Value": "storage"}])
    west = in_region(emulator, OTHER_REGION)
    copy_id = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)["SnapshotId"]
    assert described(west, copy_id).get("Tags", []) == []


def test_a_locked_source_copies_without_its_lock(emulator: Ec2Emulator, snapshot_id: str) -> None:
    client(emulator).lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=3)
    west = in_region(emulator, OTHER_REGION)
    copy_id = west.copy_snapshot(SourceRegion=REGION, SourceSnapshotId=snapshot_id)["SnapshotId"]
    west.delete_snapshot(SnapshotId=copy_id)
