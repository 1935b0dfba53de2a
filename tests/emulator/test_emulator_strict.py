"""The strict EC2 mode (`emulator.strict`): listing and tag delays, per-volume limits, throttling, parameter rules,
archive restores; each behaviour against boto3 through the in-process emulator, the switch and knobs over HTTP too.

Delays are stepped over with `advance_clock` and `settle` (no sleeps); the one test of a delay ending by itself polls
with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from emulator_helpers import client, client_as, control, error_of, wait_until

from emulator import Ec2Emulator
from emulator.strict import PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME
from testbed import REGION

LONG = (30.0, 30.0)  # a delay no test outlives without stepping the clock


def snapshot_ids(ec2: Any, **request: Any) -> list[str]:
    return [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], **request)["Snapshots"]]


def tag_map(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


# --- the switch ------------------------------------------------------------------------------------------------------
def test_strict_switch_sets_every_knob_and_a_knob_can_be_turned_on_its_own(emulator: Ec2Emulator) -> None:
    lenient = emulator.settings()
    assert (lenient["listing_delay"], lenient["throttling"], lenient["pending_snapshots_per_volume"]) == (
        [0.0, 0.0],
        False,
        {},
    )
    emulator.configure(strict=True, listing_delay=(20, 20))
    strict = emulator.settings()
    assert strict["listing_delay"] == [20.0, 20.0]  # the knob given with the switch wins
    assert strict["tag_delay"] == [1.0, 5.0] and strict["snapshot_interval_per_volume"] == 15.0
    assert strict["pending_snapshots_per_volume"] == PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME
    assert strict["throttling"] and strict["sts_separate_endpoint"] and strict["session_expiry"]
    emulator.configure(throttling=False)
    assert emulator.settings()["throttling"] is False and emulator.settings()["session_expiry"] is True
    emulator.configure(strict=False)
    assert emulator.settings() == lenient


def test_a_bad_knob_value_is_refused_and_changes_nothing(emulator: Ec2Emulator) -> None:
    before = emulator.settings()
    with pytest.raises(ValueError, match="listing_delay"):
        emulator.configure(strict=True, listing_delay=(5, 1))
    with pytest.raises(ValueError, match="bucket_overrides"):
        emulator.configure(bucket_overrides={"CreateSnapshot": [0, 1]})
    assert emulator.settings() == before


# --- 1. listing and tag delays -------------------------------------------------------------------------------------
def test_new_snapshot_is_unlisted_and_not_found_by_id_until_its_delay_passes(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(listing_delay=LONG)
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert error_of(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id])) == ("InvalidSnapshot.NotFound", 400)
    assert snapshot_ids(ec2) == []
    assert snapshot_ids(ec2, Filters=[{"Name": "volume-id", "Values": [volume_id]}]) == []
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]  # the account holds it all along
    emulator.advance_clock(29)
    assert snapshot_ids(ec2) == []
    emulator.advance_clock(1.5)
    assert snapshot_ids(ec2) == [snapshot_id]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["SnapshotId"] == snapshot_id


def test_a_listing_delay_ends_by_itself(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(listing_delay=(0.3, 0.3))
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    looks = wait_until(lambda: snapshot_ids(ec2), lambda seen: seen == [snapshot_id], timeout=30)
    assert looks[0] == []  # first unlisted, then listed without any help


def test_new_volume_and_image_are_hidden_by_id_too(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(listing_delay=LONG)
    ec2 = client(emulator)
    created = ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a")["VolumeId"]
    assert error_of(lambda: ec2.describe_volumes(VolumeIds=[created])) == ("InvalidVolume.NotFound", 400)
    assert created not in [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
    assert volume_id in [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]  # seeded: visible at once
    emulator.settle()
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    emulator.settle()
    image_id = ec2.register_image(
        Name="image",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
    )["ImageId"]
    assert error_of(lambda: ec2.describe_images(ImageIds=[image_id])) == ("InvalidAMIID.NotFound", 400)
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    emulator.settle()
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [image_id]
    assert [v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=[created])["Volumes"]] == [created]


def test_tag_changes_are_unseen_by_describe_and_tag_filters_until_their_delay(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "run", "Value": "a"}]}]
    )["SnapshotId"]
    emulator.configure(tag_delay=LONG)
    ec2.create_tags(Resources=[snapshot_id], Tags=[{"Key": "run", "Value": "b"}, {"Key": "new", "Value": "x"}])
    ec2.delete_tags(Resources=[volume_id], Tags=[{"Key": "team"}])
    seen = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert tag_map(seen) == {"run": "a"}  # the old value, and no new tag yet
    assert snapshot_ids(ec2, Filters=[{"Name": "tag:run", "Values": ["a"]}]) == [snapshot_id]
    assert snapshot_ids(ec2, Filters=[{"Name": "tag:run", "Values": ["b"]}]) == []
    assert snapshot_ids(ec2, Filters=[{"Name": "tag-key", "Values": ["new"]}]) == []
    assert tag_map(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])["team"] == "storage"
    assert {
        t["Key"] for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [snapshot_id]}])["Tags"]
    } == {"run"}
    emulator.advance_clock(31)
    assert tag_map(ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]) == {"run": "b", "new": "x"}
    assert snapshot_ids(ec2, Filters=[{"Name": "tag:run", "Values": ["b"]}]) == [snapshot_id]
    assert "team" not in tag_map(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])


def test_create_answers_with_the_tags_it_set_while_listings_lag(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(tag_delay=LONG)
    ec2 = client(emulator)
    created = ec2.create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "run", "Value": "a"}]}]
    )
    assert tag_map(created) == {"run": "a"}
    assert tag_map(ec2.describe_snapshots(SnapshotIds=[created["SnapshotId"]])["Snapshots"][0]) == {}
    assert snapshot_ids(ec2, Filters=[{"Name": "tag:run", "Values": ["a"]}]) == []


def test_deleted_snapshot_and_volume_stay_listed_until_their_delay(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(deleted_listing_delay=LONG)
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert emulator.snapshots() == []  # gone from the account at once
    assert snapshot_ids(ec2) == [snapshot_id]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "completed"
    assert error_of(lambda: ec2.delete_snapshot(SnapshotId=snapshot_id))[0] == "InvalidSnapshot.NotFound"
    ec2.delete_volume(VolumeId=volume_id)
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "deleting"
    emulator.advance_clock(31)
    assert snapshot_ids(ec2) == []
    assert error_of(lambda: ec2.describe_volumes(VolumeIds=[volume_id]))[0] == "InvalidVolume.NotFound"


def test_calls_acting_on_a_resource_not_yet_visible_fail_not_found(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(listing_delay=LONG, mutations_see_delay=True)
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert error_of(lambda: ec2.delete_snapshot(SnapshotId=snapshot_id))[0] == "InvalidSnapshot.NotFound"
    tag = [{"Key": "a", "Value": "b"}]
    assert error_of(lambda: ec2.create_tags(Resources=[snapshot_id], Tags=tag))[0] == "InvalidSnapshot.NotFound"
    zone = f"{REGION}a"
    assert error_of(lambda: ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=zone))[0] == (
        "InvalidSnapshot.NotFound"
    )
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]  # refused, so still there
    emulator.settle()
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert emulator.snapshots() == []


def test_delays_follow_the_seed(emulator: Ec2Emulator) -> None:
    def visible_after_ten_seconds() -> list[int]:
        emulator.reset()
        emulator.configure(listing_delay=(0, 20), seed=11)
        volumes = emulator.seed_volumes(6)
        ec2 = client(emulator)
        made = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in volumes]
        emulator.advance_clock(10)
        listed = set(snapshot_ids(ec2))
        return [i for i, snapshot_id in enumerate(made) if snapshot_id in listed]

    first = visible_after_ten_seconds()
    assert visible_after_ten_seconds() == first
    assert 0 < len(first) < 6


# --- 2. lookups by id and pagination -------------------------------------------------------------------------------
def test_one_missing_id_fails_the_whole_call_while_a_filter_returns_what_exists(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    missing = "snap-0123456789abcdef0"
    assert error_of(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id, missing]))[0] == "InvalidSnapshot.NotFound"
    assert snapshot_ids(ec2, Filters=[{"Name": "snapshot-id", "Values": [snapshot_id, missing]}]) == [snapshot_id]


def test_pages_cover_every_snapshot_once_and_keep_their_place_across_deletes(emulator: Ec2Emulator) -> None:
    ec2 = client(emulator)
    made = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in emulator.seed_volumes(12)]
    first = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5)
    assert [s["SnapshotId"] for s in first["Snapshots"]] == made[:5]
    ec2.delete_snapshot(SnapshotId=made[2])  # already seen
    ec2.delete_snapshot(SnapshotId=made[6])  # not yet seen
    second = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5, NextToken=first["NextToken"])
    third = ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5, NextToken=second["NextToken"])
    assert [s["SnapshotId"] for s in second["Snapshots"] + third["Snapshots"]] == made[5:6] + made[7:]
    assert "NextToken" not in third
    paged = ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], PaginationConfig={"PageSize": 5})
    assert [s["SnapshotId"] for page in paged for s in page["Snapshots"]] == [
        m for i, m in enumerate(made) if i not in (2, 6)
    ]
    assert error_of(lambda: ec2.describe_snapshots(MaxResults=5, NextToken="nonsense"))[0] == "InvalidNextToken"


def test_pagination_rules_are_enforced_in_strict_mode_only(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert len(ec2.describe_snapshots(SnapshotIds=[snapshot_id], MaxResults=5)["Snapshots"]) == 1
    emulator.configure(parameter_rules=True)
    assert error_of(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id], MaxResults=5))[0] == (
        "InvalidParameterCombination"
    )
    assert error_of(lambda: ec2.describe_snapshots(MaxResults=3))[0] == "InvalidParameterValue"
    assert error_of(lambda: ec2.describe_volumes(VolumeIds=[volume_id], MaxResults=5))[0] == (
        "InvalidParameterCombination"
    )


# --- 3. per-volume limits ------------------------------------------------------------------------------------------
def test_a_second_snapshot_of_a_volume_within_the_interval_is_refused(emulator: Ec2Emulator) -> None:
    first, other = emulator.seed_volumes(2)
    emulator.configure(snapshot_interval_per_volume=15)
    ec2 = client(emulator)
    ec2.create_snapshot(VolumeId=first)
    assert error_of(lambda: ec2.create_snapshot(VolumeId=first)) == ("SnapshotCreationPerVolumeRateExceeded", 400)
    ec2.create_snapshot(VolumeId=other)  # the interval is per volume
    emulator.advance_clock(14)
    assert error_of(lambda: ec2.create_snapshot(VolumeId=first))[0] == "SnapshotCreationPerVolumeRateExceeded"
    emulator.advance_clock(1)
    ec2.create_snapshot(VolumeId=first)
    assert len(emulator.snapshots()) == 3


@pytest.mark.parametrize("volume_type", ["gp3", "st1"])
def test_pending_snapshots_per_volume_are_limited_by_volume_type(emulator: Ec2Emulator, volume_type: str) -> None:
    emulator.configure(strict=True, throttling=False, snapshot_interval_per_volume=0, listing_delay=0, tag_delay=0)
    emulator.configure(pending_seconds=3600)
    limit = PUBLISHED_PENDING_SNAPSHOTS_PER_VOLUME[volume_type]
    ec2 = client(emulator)
    volume_id = ec2.create_volume(Size=500, AvailabilityZone=f"{REGION}a", VolumeType=volume_type)["VolumeId"]
    made = [ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"] for _ in range(limit)]
    assert error_of(lambda: ec2.create_snapshot(VolumeId=volume_id)) == ("ConcurrentSnapshotLimitExceeded", 400)
    emulator.age_snapshot(made[0], seconds_ago=3600)  # one completes: room for one more
    ec2.create_snapshot(VolumeId=volume_id)
    assert len(emulator.snapshots()) == limit + 1


def test_create_snapshots_is_refused_whole_when_one_member_volume_is_over_a_limit(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    emulator.configure(snapshot_interval_per_volume=15)
    ec2 = client(emulator)
    ec2.create_snapshot(VolumeId=instance["data_volumes"][1]["volume_id"])
    spec = {"InstanceId": instance["instance_id"]}
    assert error_of(lambda: ec2.create_snapshots(InstanceSpecification=spec))[0] == (
        "SnapshotCreationPerVolumeRateExceeded"
    )
    assert len(emulator.snapshots()) == 1
    emulator.advance_clock(15)
    assert len(ec2.create_snapshots(InstanceSpecification=spec)["Snapshots"]) == 3


# --- 4. throttling -------------------------------------------------------------------------------------------------
def test_an_empty_bucket_answers_request_limit_exceeded_and_refills(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(throttling=True, bucket_overrides={"CreateTags": (2, 1)})
    ec2 = client(emulator)
    tag = [{"Key": "a", "Value": "b"}]
    ec2.create_tags(Resources=[volume_id], Tags=tag)
    ec2.create_tags(Resources=[volume_id], Tags=tag)
    assert error_of(lambda: ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "c", "Value": "d"}])) == (
        "RequestLimitExceeded",
        503,
    )
    assert "c" not in emulator.export_world()["volumes"][0]["tags"]  # refused, not carried out
    ec2.describe_volumes()  # another action's bucket is untouched
    assert emulator.throttled() == {"CreateTags": 1}
    emulator.advance_clock(1)
    ec2.create_tags(Resources=[volume_id], Tags=tag)


def test_unfiltered_unpaginated_describe_takes_from_the_smaller_bucket(emulator: Ec2Emulator) -> None:
    emulator.configure(throttling=True, bucket_overrides={"unfiltered": (1, 0), "non_mutating": (100, 0)})
    ec2 = client(emulator)
    ec2.describe_snapshots(OwnerIds=["self"])
    assert error_of(lambda: ec2.describe_snapshots(OwnerIds=["self"]))[0] == "RequestLimitExceeded"
    for _ in range(3):
        ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["pending"]}])
        ec2.describe_snapshots(OwnerIds=["self"], MaxResults=5)
    assert emulator.throttled() == {"DescribeSnapshots": 1}


def test_buckets_are_per_account_and_region(emulator: Ec2Emulator) -> None:
    emulator.configure(throttling=True, bucket_overrides={"DescribeVolumes": (1, 0)})
    other = emulator.credentials("111122223333")
    ec2 = client(emulator)
    ec2.describe_volumes(MaxResults=5)
    assert error_of(lambda: ec2.describe_volumes(MaxResults=5))[0] == "RequestLimitExceeded"
    client_as(emulator, other).describe_volumes(MaxResults=5)
    client_as(
        emulator, {"aws_access_key_id": "AKIAANY", "aws_secret_access_key": "x"}, region="eu-west-1"
    ).describe_volumes(MaxResults=5)


def test_bucket_readout_gives_the_published_sizes_and_overrides(emulator: Ec2Emulator) -> None:
    sizes = emulator.buckets(["DescribeSnapshots", "ModifySnapshotTier"])
    assert (sizes["CreateSnapshot"]["capacity"], sizes["CreateSnapshot"]["refill_per_second"]) == (100, 5)
    assert (sizes["CreateTags"]["capacity"], sizes["CreateTags"]["refill_per_second"]) == (100, 10)
    assert (sizes["DescribeSnapshots"]["capacity"], sizes["DescribeSnapshots"]["refill_per_second"]) == (100, 20)
    unfiltered = sizes["DescribeSnapshots (unfiltered)"]
    assert (unfiltered["capacity"], unfiltered["refill_per_second"]) == (50, 10)
    assert sizes["ModifySnapshotTier"] | {} == {"capacity": 50, "refill_per_second": 5, "class": "mutating"}
    emulator.configure(bucket_overrides={"mutating": (10, 1), "CreateSnapshot": (7, 0.5)})
    sizes = emulator.buckets(["ModifySnapshotTier"])
    assert (sizes["ModifySnapshotTier"]["capacity"], sizes["CreateSnapshot"]["capacity"]) == (10, 7)
    assert sizes["CreateTags"]["capacity"] == 100  # an action with its own size keeps it


# --- 8. parameter rules, encryption, archive restores --------------------------------------------------------------
def test_kms_key_without_encrypted_is_refused(emulator: Ec2Emulator) -> None:
    ec2 = client(emulator)
    refused = error_of(lambda: ec2.create_volume(Size=8, AvailabilityZone=f"{REGION}a", KmsKeyId="alias/mine"))
    assert refused == ("InvalidParameterDependency", 400)


def test_tag_restrictions_and_volume_size_are_enforced_in_strict_mode(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    reserved = [{"Key": "aws:backup", "Value": "x"}]
    ec2.create_tags(Resources=[volume_id], Tags=reserved)  # moto's own: accepted
    emulator.configure(parameter_rules=True)
    assert error_of(lambda: ec2.create_tags(Resources=[volume_id], Tags=reserved)) == ("InvalidParameterValue", 400)
    spec = [{"ResourceType": "snapshot", "Tags": [{"Key": "k" * 129, "Value": "v"}]}]
    assert error_of(lambda: ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=spec))[0] == (
        "InvalidParameterValue"
    )
    assert emulator.snapshots() == []  # refused before anything was made
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    too_small = error_of(lambda: ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a", Size=4))
    assert too_small[0] == "InvalidParameterValue"
    assert ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a", Size=8)["Size"] == 8


def test_encryption_keys_follow_volume_to_snapshot_to_volume(emulator: Ec2Emulator) -> None:
    ec2 = client(emulator)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    zone = f"{REGION}a"
    volume_id = ec2.create_volume(Size=8, AvailabilityZone=zone, Encrypted=True, KmsKeyId=key)["VolumeId"]
    created = ec2.create_snapshot(VolumeId=volume_id)
    assert (created["Encrypted"], created["KmsKeyId"]) == (True, key)
    described = ec2.describe_snapshots(SnapshotIds=[created["SnapshotId"]])["Snapshots"][0]
    assert (described["Encrypted"], described["KmsKeyId"]) == (True, key)
    restored = ec2.create_volume(SnapshotId=created["SnapshotId"], AvailabilityZone=zone)
    assert (restored["Encrypted"], restored["KmsKeyId"]) == (True, key)
    other_key = key.replace("1234abcd", "5678efab")
    rekeyed = ec2.create_volume(
        SnapshotId=created["SnapshotId"], AvailabilityZone=zone, Encrypted=True, KmsKeyId=other_key
    )
    assert rekeyed["KmsKeyId"] == other_key
    plain = ec2.create_snapshot(VolumeId=emulator.seed_volumes(1)[0])
    assert plain["Encrypted"] is False and "KmsKeyId" not in plain


def test_client_token_gives_back_the_same_volume_and_refuses_other_parameters(emulator: Ec2Emulator) -> None:
    ec2 = client(emulator)
    zone = f"{REGION}a"
    first = ec2.create_volume(Size=8, AvailabilityZone=zone, ClientToken="undo-1")["VolumeId"]
    again = ec2.create_volume(Size=8, AvailabilityZone=zone, ClientToken="undo-1")["VolumeId"]
    assert again == first
    assert len(ec2.describe_volumes()["Volumes"]) == 1
    assert error_of(lambda: ec2.create_volume(Size=9, AvailabilityZone=zone, ClientToken="undo-1")) == (
        "IdempotentParameterMismatch",
        400,
    )
    assert ec2.create_volume(Size=8, AvailabilityZone=zone, ClientToken="undo-2")["VolumeId"] != first


def archived_snapshot(emulator: Ec2Emulator, volume_id: str) -> str:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    return str(snapshot_id)


def test_no_volume_from_an_archived_snapshot_until_its_restore_finished(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = archived_snapshot(emulator, volume_id)
    emulator.configure(archive_restore_required=True, restore_seconds=(3600, 3600))
    ec2 = client(emulator)
    zone = f"{REGION}a"
    assert error_of(lambda: ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=zone)) == ("IncorrectState", 400)
    restore = ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=2)
    assert (restore["RestoreDuration"], restore["IsPermanentRestore"]) == (1, False)
    assert error_of(lambda: ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=zone))[0] == "IncorrectState"
    emulator.advance_clock(3600)
    ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=zone)
    seen = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert seen["StorageTier"] == "archive" and "RestoreExpiryTime" in seen  # temporarily restored
    emulator.advance_clock(2 * 86400)
    assert error_of(lambda: ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=zone))[0] == "IncorrectState"


def test_a_permanent_restore_moves_the_snapshot_back_to_standard(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = archived_snapshot(emulator, volume_id)
    emulator.configure(strict=True, throttling=False, listing_delay=0, tag_delay=0)
    ec2 = client(emulator)
    restore = ec2.restore_snapshot_tier(SnapshotId=snapshot_id, PermanentRestore=True)
    assert restore["IsPermanentRestore"] and 24 <= restore["RestoreDuration"] <= 72  # the published 24-72 h
    emulator.advance_clock(72 * 3600)
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["StorageTier"] == "standard"
    ec2.create_volume(SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a")


def test_restore_snapshot_tier_refuses_what_ec2_refuses(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    standard = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert error_of(lambda: ec2.restore_snapshot_tier(SnapshotId=standard, PermanentRestore=True))[0] == (
        "IncorrectState"
    )
    archived = archived_snapshot(emulator, emulator.seed_volumes(1)[0])
    both = error_of(
        lambda: ec2.restore_snapshot_tier(SnapshotId=archived, TemporaryRestoreDays=1, PermanentRestore=True)
    )
    assert both[0] == "InvalidParameterCombination"
    assert error_of(lambda: ec2.restore_snapshot_tier(SnapshotId=archived))[0] == "MissingParameter"


def test_lenient_mode_still_makes_a_volume_from_an_archived_snapshot(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = archived_snapshot(emulator, volume_id)
    client(emulator).create_volume(SnapshotId=snapshot_id, AvailabilityZone=f"{REGION}a")


# --- the control API and the command line --------------------------------------------------------------------------
def test_strict_mode_and_its_readouts_over_the_control_api(emulator: Ec2Emulator, volume_id: str) -> None:
    control(
        emulator, "configure", {"strict": True, "listing_delay": [20, 20], "bucket_overrides": {"CreateTags": [1, 0]}}
    )
    assert control(emulator, "settings")["listing_delay"] == [20, 20]
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(emulator, "configure", {"tag_delay": "soon"})
    assert refused.value.code == 400
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert snapshot_ids(ec2) == []
    control(emulator, "advance-clock", {"seconds": 21})
    assert snapshot_ids(ec2) == [snapshot_id]
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "a", "Value": "b"}])
    assert error_of(lambda: ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "a", "Value": "b"}]))[0] == (
        "RequestLimitExceeded"
    )
    assert control(emulator, "throttled") == {"CreateTags": 1}
    assert control(emulator, "buckets")["CreateTags"]["capacity"] == 1
    stats = control(emulator, "call-stats")
    assert stats["actions"]["CreateSnapshot"]["count"] == 1 and stats["process_cpu_seconds"] > 0
    control(emulator, "configure", {"bucket_overrides": {}, "deleted_listing_delay": [20, 20]})
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert snapshot_ids(ec2) == [snapshot_id]
    control(emulator, "settle")
    assert snapshot_ids(ec2) == []
    assert control(emulator, "accounts") == {"123456789012": {REGION: {"volumes": 1, "snapshots": 0, "images": 0}}}


def test_command_line_strict_writes_both_endpoints(tmp_path: Path) -> None:
    ready_file, log = tmp_path / "emulator.json", tmp_path / "emulator.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--strict", "--seed", "3", "--ready-file", str(ready_file)],
            cwd=Path(__file__).parents[2],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: ready_file.exists() or process.poll() is not None, bool, timeout=60)
        assert process.poll() is None, log.read_text()
        ready = json.loads(ready_file.read_text())
        assert ready["strict"] is True and ready["sts_url"] != ready["url"]
        settings = json.loads(urllib.request.urlopen(f"{ready['url']}/_emulator/settings", data=b"{}").read())
        assert settings["throttling"] and settings["seed"] == 3
        keys = {"aws_access_key_id": "AKIAEMULATORTEST", "aws_secret_access_key": "x", "region_name": REGION}
        refused = error_of(lambda: boto3.client("sts", endpoint_url=ready["url"], **keys).get_caller_identity())
        assert refused == ("InvalidAction", 400)
        assert boto3.client("sts", endpoint_url=ready["sts_url"], **keys).get_caller_identity()["Account"]
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
