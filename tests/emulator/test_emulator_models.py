"""The emulator's EBS model beyond moto's: aged snapshots, how many were pending at once, snapshots in use by AMIs,
DescribeSnapshots' owners."""

from __future__ import annotations

import urllib.error
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import client, control

from emulator import Ec2Emulator, models

DAY = 86400.0


def describe(emulator: Ec2Emulator, snapshot_id: str) -> dict:
    return client(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def progress(snapshot: dict) -> int:
    return int(snapshot["Progress"].rstrip("%"))


# --- aged snapshots ------------------------------------------------------------------------------------------------
def test_aged_snapshot_reports_its_start_time_and_has_completed(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3600)
    snapshot_id = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    returned = emulator.age_snapshot(snapshot_id, seconds_ago=3 * DAY)
    snapshot = describe(emulator, snapshot_id)
    assert abs(snapshot["StartTime"] - returned) < timedelta(seconds=1)
    assert abs(datetime.now(UTC) - timedelta(days=3) - snapshot["StartTime"]) < timedelta(minutes=1)
    assert (snapshot["State"], snapshot["Progress"]) == ("completed", "100%")


def test_aging_moves_a_pending_snapshot_along_its_pending_time(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=1000)
    snapshot_id = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    assert progress(describe(emulator, snapshot_id)) < 5
    emulator.age_snapshot(snapshot_id, seconds_ago=500)
    halfway = describe(emulator, snapshot_id)
    assert halfway["State"] == "pending" and 50 <= progress(halfway) < 55  # 50 s of slack for a slow machine


def test_aging_never_makes_a_snapshot_pending_again(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=1000)
    snapshot_id = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    emulator.age_snapshot(snapshot_id, seconds_ago=2000)
    recent = datetime.now(UTC) - timedelta(seconds=10)
    emulator.age_snapshot(snapshot_id, start_time=recent)  # younger than its pending time, yet it stays completed
    snapshot = describe(emulator, snapshot_id)
    assert snapshot["State"] == "completed"
    assert abs(snapshot["StartTime"] - recent) < timedelta(seconds=1)


def test_age_takes_a_naive_utc_time_or_an_aware_one_in_any_zone(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    naive = datetime(2024, 5, 1, 12, 0, 0)
    assert emulator.age_snapshot(snapshot_id, naive) == naive.replace(tzinfo=UTC)
    in_berlin = datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    emulator.age_snapshot(snapshot_id, in_berlin)
    assert describe(emulator, snapshot_id)["StartTime"] == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"seconds_ago": -60}, "in the future"),
        ({"start_time": datetime.now(UTC) + timedelta(days=1)}, "in the future"),
        ({}, "exactly one of"),
        ({"start_time": datetime(2024, 1, 1), "seconds_ago": 5}, "exactly one of"),
    ],
)
def test_age_refuses_a_future_or_ambiguous_time(
    emulator: Ec2Emulator, volume_id: str, kwargs: dict, words: str
) -> None:
    snapshot_id = client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(ValueError, match=words):
        emulator.age_snapshot(snapshot_id, **kwargs)


def test_age_of_an_unknown_snapshot_names_it(emulator: Ec2Emulator) -> None:
    with pytest.raises(ValueError, match="snap-0123456789abcdef0"):
        emulator.age_snapshot("snap-0123456789abcdef0", seconds_ago=60)


def test_age_through_the_control_api(emulator: Ec2Emulator, volume_id: str) -> None:
    first, second = (client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"] for _ in range(2))
    answer = control(emulator, "age-snapshot", {"snapshot_id": first, "start_time": "2024-05-01T12:00:00Z"})
    assert answer == "2024-05-01T12:00:00.000Z"
    control(emulator, "age-snapshot", {"snapshot_id": second, "seconds_ago": 3 * DAY})
    by_id = {
        s["SnapshotId"]: s["StartTime"] for s in client(emulator).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }
    assert by_id[first] == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert abs(datetime.now(UTC) - timedelta(days=3) - by_id[second]) < timedelta(minutes=1)
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(emulator, "age-snapshot", {"snapshot_id": first, "start_time": "last tuesday"})
    assert refused.value.code == 400 and "ISO 8601" in refused.value.read().decode()


# --- how many snapshots were pending at once -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("intervals", "peak"),
    [
        ([], 0),
        ([(0.0, 1.0)], 1),
        ([(0.0, 0.0), (0.0, 0.0)], 0),  # completed on creation: never pending
        ([(0.0, 1.0), (1.0, 2.0)], 1),  # one ends as the next starts
        ([(0.0, 2.0), (1.0, 3.0)], 2),
        ([(0.0, 10.0), (1.0, 2.0), (3.0, 4.0), (3.5, 5.0)], 3),
    ],
)
def test_peak_pending_counts_overlapping_intervals(intervals: list[tuple[float, float]], peak: int) -> None:
    assert models.peak_pending(intervals) == peak
    assert models.peak_pending(iter(intervals)) == peak


def test_pending_intervals_follow_each_volumes_pending_time(emulator: Ec2Emulator) -> None:
    volumes = emulator.seed_volumes(3)
    emulator.configure(pending_seconds_by_volume={v: 60.0 * (i + 1) for i, v in enumerate(volumes)})
    ec2 = client(emulator)
    ids = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in volumes]
    ec2.delete_snapshot(SnapshotId=ids[0])  # deleted while pending: still counted
    intervals = emulator.pending_intervals()
    assert list(intervals) == ids
    assert [round(end - start) for start, end in intervals.values()] == [60, 120, 180]
    assert emulator.peak_pending() == 3


def test_peak_pending_sees_snapshots_created_concurrently(emulator: Ec2Emulator) -> None:
    volumes = emulator.seed_volumes(6)
    emulator.configure(pending_seconds=600)
    ec2 = client(emulator)  # clients are thread-safe; creating them is not
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda v: ec2.create_snapshot(VolumeId=v), volumes))
    assert emulator.peak_pending() > 4


def test_snapshots_completed_on_creation_and_amis_snapshots_are_never_pending(emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    ec2 = client(emulator)
    ec2.create_snapshot(VolumeId=volume_id)
    ec2.register_image(Name="moto-made-snapshot")
    assert len(emulator.pending_intervals()) == 1
    assert emulator.peak_pending() == 0


def test_pending_intervals_and_peak_through_the_control_api(emulator: Ec2Emulator) -> None:
    first, second = emulator.seed_volumes(2)
    emulator.configure(pending_seconds=600)
    ids = [client(emulator).create_snapshot(VolumeId=v)["SnapshotId"] for v in (first, second)]
    intervals = control(emulator, "pending-intervals")
    assert list(intervals) == ids and all(end - start == pytest.approx(600) for start, end in intervals.values())
    assert control(emulator, "peak-pending") == 2
    control(emulator, "reset")
    assert control(emulator, "pending-intervals") == {} and control(emulator, "peak-pending") == 0


# --- snapshots in use by an AMI ------------------------------------------------------------------------------------
def register(ec2: Any, *snapshot_ids: str, name: str = "from-snapshots") -> str:
    devices = ["/dev/xvda", *(f"/dev/sd{chr(ord('f') + i)}" for i in range(len(snapshot_ids) - 1))]
    image_id: str = ec2.register_image(
        Name=name,
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[
            {"DeviceName": d, "Ebs": {"SnapshotId": s}} for d, s in zip(devices, snapshot_ids, strict=True)
        ],
    )["ImageId"]
    return image_id


def images_using(ec2: Any, snapshot_id: str) -> list[str]:
    filters = [{"Name": "block-device-mapping.snapshot-id", "Values": [snapshot_id]}]
    return [i["ImageId"] for i in ec2.describe_images(Filters=filters)["Images"]]


def test_snapshot_of_an_ami_cannot_be_deleted_until_the_ami_is_deregistered(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    snapshots_before = len(emulator.ec2_backend().snapshots)
    image_id = register(ec2, snapshot_id)
    assert len(emulator.ec2_backend().snapshots) == snapshots_before  # no snapshot of its own, unlike moto's images
    with pytest.raises(ClientError) as in_use:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert in_use.value.response["Error"] == {
        "Code": "InvalidSnapshot.InUse",
        "Message": f"The snapshot {snapshot_id} is currently in use by {image_id}",
    }
    assert images_using(ec2, snapshot_id) == [image_id]
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["RootDeviceName"] == "/dev/xvda"
    assert image["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"SnapshotId": snapshot_id, "VolumeSize": 8, "DeleteOnTermination": True, "VolumeType": "gp2"},
        }
    ]

    ec2.deregister_image(ImageId=image_id)
    assert images_using(ec2, snapshot_id) == []
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert emulator.snapshots() == []


def test_snapshot_in_two_amis_stays_in_use_until_both_are_deregistered(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    root, data = (ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"] for _ in range(2))
    first = register(ec2, root, data, name="first")
    second = register(ec2, data, name="second")
    assert sorted(images_using(ec2, data)) == sorted([first, second])
    ec2.deregister_image(ImageId=first)
    ec2.delete_snapshot(SnapshotId=root)
    with pytest.raises(ClientError, match=f"in use by {second}"):
        ec2.delete_snapshot(SnapshotId=data)


def test_register_image_from_an_unknown_snapshot_names_it(emulator: Ec2Emulator) -> None:
    ec2 = client(emulator)
    with pytest.raises(ClientError) as missing:
        register(ec2, "snap-0123456789abcdef0")
    assert missing.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
    assert "snap-0123456789abcdef0" in missing.value.response["Error"]["Message"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []


# --- DescribeSnapshots' owners -------------------------------------------------------------------------------------
def test_owner_self_lists_the_accounts_snapshots_only(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    account = emulator.ec2_backend().account_id
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == [snapshot_id]
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=[account])["Snapshots"]] == [snapshot_id]
    everyone = ec2.describe_snapshots()["Snapshots"]  # moto's public AMIs come with snapshots of other accounts
    assert len(everyone) > 1 and snapshot_id in {s["SnapshotId"] for s in everyone}
