"""The typed finders (`snapshot_provider.ec2.find`) against moto in-process: what is there is returned, what is not
raises NotFound naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from snapshot_provider.ec2 import find
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES

MISSING = "snap-0123456789abcdef0"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def _snapshots(ec2: Any, count: int) -> list[str]:
    """One snapshot per volume: EC2 limits how fast one volume takes snapshots (the emulator, once imported, too)."""
    volumes = [ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"] for _ in range(count)]
    return [ec2.create_snapshot(VolumeId=volume)["SnapshotId"] for volume in volumes]


def test_snapshot_returns_the_snapshot_found(ec2: Any) -> None:
    [sid] = _snapshots(ec2, 1)
    assert find.snapshot(ec2, sid)["SnapshotId"] == sid


def test_snapshot_raises_not_found_naming_a_missing_id(ec2: Any) -> None:
    with pytest.raises(find.NotFound) as missing:
        find.snapshot(ec2, MISSING)
    assert missing.value.ids == [MISSING]


def test_snapshot_of_a_deleted_snapshot_raises_not_found(ec2: Any) -> None:
    [sid] = _snapshots(ec2, 1)
    ec2.delete_snapshot(SnapshotId=sid)
    with pytest.raises(find.NotFound):
        find.snapshot(ec2, sid)


def test_snapshots_returns_each_by_id_over_more_ids_than_one_call_takes(ec2: Any) -> None:
    ids = _snapshots(ec2, MAX_FILTER_VALUES + 5)
    asked: list[int] = []  # ids per DescribeSnapshots call: EC2 takes at most MAX_FILTER_VALUES in a filter
    ec2.meta.events.register(
        "before-parameter-build.ec2.DescribeSnapshots",
        lambda params, **_: asked.append(len(params["Filters"][0]["Values"])),
    )
    found = find.snapshots(ec2, ids)
    assert asked == [MAX_FILTER_VALUES, 5]
    assert sorted(found) == sorted(ids)
    assert all(found[sid]["SnapshotId"] == sid for sid in ids)


def test_snapshots_raises_not_found_naming_the_missing_and_carrying_the_found(ec2: Any) -> None:
    ids = _snapshots(ec2, MAX_FILTER_VALUES + 1)
    with pytest.raises(find.NotFound) as missing:
        find.snapshots(ec2, [*ids, MISSING])
    assert missing.value.ids == [MISSING]
    assert sorted(missing.value.found) == sorted(ids)


def test_missing_raised_turns_ec2s_snapshot_not_found_into_not_found(ec2: Any) -> None:
    with pytest.raises(find.NotFound) as missing, find.missing_raised(MISSING):
        ec2.delete_snapshot(SnapshotId=MISSING)
    assert missing.value.ids == [MISSING]


def test_missing_raised_lets_other_errors_through(ec2: Any) -> None:
    with pytest.raises(ClientError) as refused, find.missing_raised("vol-0123456789abcdef0"):
        ec2.delete_volume(VolumeId="vol-0123456789abcdef0")
    assert refused.value.response["Error"]["Code"] == "InvalidVolume.NotFound"
