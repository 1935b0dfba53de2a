"""Seeding a world with given ids and exporting it back, checked with boto3 against the running emulator."""

from __future__ import annotations

import copy
import urllib.error
from datetime import UTC, datetime
from typing import Any

import pytest
from emulator_helpers import client, control

from emulator import Ec2Emulator, World
from testbed import REGION

ROOT = "vol-0a1b2c3d4e5f60001"
DATA = "vol-0a1b2c3d4e5f60002"
LOOSE = "vol-0a1b2c3d4e5f60003"
GONE = "vol-0a1b2c3d4e5f6dead"  # deleted since its snapshot was taken
INSTANCE = "i-0a1b2c3d4e5f60001"
DATA_SNAPSHOT = "snap-0a1b2c3d4e5f60001"
ORPHAN_SNAPSHOT = "snap-0a1b2c3d4e5f60002"
ZONE = f"{REGION}b"

WORLD: World = {
    "volumes": [
        {"id": ROOT, "size": 8, "availability_zone": ZONE, "volume_type": "gp3", "iops": 3000, "throughput": 125},
        {
            "id": DATA,
            "size": 50,
            "availability_zone": ZONE,
            "volume_type": "io1",
            "iops": 2500,
            "encrypted": True,
            "tags": {"Name": "data", "team": "storage"},
        },
        {"id": LOOSE, "size": 20, "volume_type": "gp2", "iops": 100, "tags": {"Name": "loose"}, "state": "available"},
    ],
    "instances": [
        {
            "id": INSTANCE,
            "root_device_name": "/dev/xvda",
            "block_device_mappings": {"/dev/xvda": ROOT, "/dev/sdf": DATA},
            "tags": {"Name": "app"},
        }
    ],
    "snapshots": [
        {
            "id": DATA_SNAPSHOT,
            "volume_id": DATA,
            "description": "nightly",
            "tags": {"team": "storage"},
            "start_time": "2024-05-01T12:00:00Z",
            "storage_tier": "archive",
        },
        {"id": ORPHAN_SNAPSHOT, "volume_id": GONE, "volume_size": 100, "start_time": "2024-04-01T00:00:00.000Z"},
    ],
}


def tags(described: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


@pytest.fixture
def seeded(emulator: Ec2Emulator) -> Ec2Emulator:
    emulator.seed_world(copy.deepcopy(WORLD))
    return emulator


def test_seeded_volumes_are_described_by_their_ids(seeded: Ec2Emulator) -> None:
    volumes = client(seeded).describe_volumes(VolumeIds=[ROOT, DATA, LOOSE])["Volumes"]
    by_id = {v["VolumeId"]: v for v in volumes}
    root, data, loose = by_id[ROOT], by_id[DATA], by_id[LOOSE]
    assert (root["Size"], root["VolumeType"], root["Iops"], root["Throughput"]) == (8, "gp3", 3000, 125)
    assert (data["Size"], data["VolumeType"], data["Iops"], data["Encrypted"]) == (50, "io1", 2500, True)
    assert (loose["AvailabilityZone"], loose["Iops"], loose["State"]) == (f"{REGION}a", 100, "available")
    assert {root["AvailabilityZone"], data["AvailabilityZone"]} == {ZONE}
    assert tags(data) == {"Name": "data", "team": "storage"} and tags(root) == {}
    assert [(a["InstanceId"], a["Device"]) for a in data["Attachments"]] == [(INSTANCE, "/dev/sdf")]
    assert root["State"] == data["State"] == "in-use"


def test_seeded_instance_is_described_with_its_volumes(seeded: Ec2Emulator) -> None:
    [reservation] = client(seeded).describe_instances(InstanceIds=[INSTANCE])["Reservations"]
    [instance] = reservation["Instances"]
    assert instance["RootDeviceName"] == "/dev/xvda"
    assert instance["Placement"]["AvailabilityZone"] == ZONE  # its volumes' zone
    assert {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]} == {
        "/dev/xvda": ROOT,
        "/dev/sdf": DATA,
    }
    assert tags(instance) == {"Name": "app"}


def test_seeded_snapshots_are_described_by_their_ids(seeded: Ec2Emulator) -> None:
    ec2 = client(seeded)
    by_id = {
        s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=[DATA_SNAPSHOT, ORPHAN_SNAPSHOT])["Snapshots"]
    }
    data, orphan = by_id[DATA_SNAPSHOT], by_id[ORPHAN_SNAPSHOT]
    assert (data["VolumeId"], data["Description"], data["State"], data["Progress"]) == (
        DATA,
        "nightly",
        "completed",
        "100%",
    )
    assert (data["StartTime"], data["StorageTier"], data["VolumeSize"], data["Encrypted"]) == (
        datetime(2024, 5, 1, 12, tzinfo=UTC),
        "archive",
        50,
        True,
    )
    assert tags(data) == {"team": "storage"}
    assert (orphan["VolumeId"], orphan["VolumeSize"], orphan["StorageTier"]) == (GONE, 100, "standard")
    found = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [DATA]}])["Snapshots"]
    assert [s["SnapshotId"] for s in found] == [DATA_SNAPSHOT]
    assert seeded.pending_intervals() == {}  # seeded, not created by a request


def test_seeded_ids_take_changes(seeded: Ec2Emulator) -> None:
    ec2 = client(seeded)
    ec2.create_tags(Resources=[LOOSE, INSTANCE, ORPHAN_SNAPSHOT], Tags=[{"Key": "owner", "Value": "platform"}])
    assert tags(ec2.describe_volumes(VolumeIds=[LOOSE])["Volumes"][0])["owner"] == "platform"
    instance = ec2.describe_instances(InstanceIds=[INSTANCE])["Reservations"][0]["Instances"][0]
    assert tags(instance) == {"Name": "app", "owner": "platform"}

    restored = ec2.create_volume(SnapshotId=ORPHAN_SNAPSHOT, AvailabilityZone=ZONE)
    assert (restored["Size"], restored["SnapshotId"]) == (100, ORPHAN_SNAPSHOT)
    assert tags(ec2.describe_snapshots(SnapshotIds=[ORPHAN_SNAPSHOT])["Snapshots"][0]) == {"owner": "platform"}

    ec2.delete_snapshot(SnapshotId=ORPHAN_SNAPSHOT)
    assert [s["snapshot_id"] for s in seeded.snapshots()] == [DATA_SNAPSHOT]

    made = ec2.create_snapshots(InstanceSpecification={"InstanceId": INSTANCE, "ExcludeBootVolume": True})
    assert [s["VolumeId"] for s in made["Snapshots"]] == [DATA]


def test_export_gives_back_the_seeded_world(seeded: Ec2Emulator) -> None:
    exported = seeded.export_world()
    volumes = {v["id"]: v for v in exported["volumes"]}
    assert volumes[LOOSE] == {
        "id": LOOSE,
        "size": 20,
        "availability_zone": f"{REGION}a",
        "volume_type": "gp2",
        "iops": 100,
        "throughput": None,
        "encrypted": False,
        "tags": {"Name": "loose"},
        "state": "available",
    }
    assert volumes[DATA]["state"] == "in-use" and volumes[DATA]["tags"] == {"Name": "data", "team": "storage"}
    assert exported["instances"] == [
        {
            "id": INSTANCE,
            "root_device_name": "/dev/xvda",
            "block_device_mappings": {"/dev/xvda": ROOT, "/dev/sdf": DATA},
            "availability_zone": ZONE,
            "instance_type": "t3.micro",
            "tags": {"Name": "app"},
        }
    ]
    assert exported["snapshots"] == [
        {
            "id": DATA_SNAPSHOT,
            "volume_id": DATA,
            "description": "nightly",
            "tags": {"team": "storage"},
            "start_time": "2024-05-01T12:00:00.000Z",
            "state": "completed",
            "storage_tier": "archive",
            "volume_size": 50,
            "encrypted": True,
        },
        {
            "id": ORPHAN_SNAPSHOT,
            "volume_id": GONE,
            "description": "",
            "tags": {},
            "start_time": "2024-04-01T00:00:00.000Z",
            "state": "completed",
            "storage_tier": "standard",
            "volume_size": 100,
            "encrypted": False,
        },
    ]


def test_an_exported_world_seeds_the_same_world(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    emulator.seed_volumes(2, tags={"team": "storage"})
    ec2 = client(emulator)
    for data in instance["data_volumes"]:
        snapshot_id = ec2.create_snapshot(VolumeId=data["volume_id"], Description="before upgrade")["SnapshotId"]
        emulator.age_snapshot(snapshot_id, seconds_ago=3 * 86400)
    exported = emulator.export_world()
    emulator.reset()
    emulator.seed_world(exported)
    assert emulator.export_world() == exported


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda w: w["volumes"][0].update(id="vol-xyz"), "'vol-xyz' is not a valid id (expected vol- then 8 or 17"),
        (lambda w: w["volumes"].append(dict(w["volumes"][0])), f"volume id {ROOT} appears twice"),
        (lambda w: w["volumes"][2].update(availability_zone="mars-1a"), "availability_zone 'mars-1a' is not one of"),
        (lambda w: w["volumes"][2].update(volume_type="io2", iops=None), "a io2 volume needs iops"),
        (lambda w: w["volumes"][2].update(state="in-use"), f"volume {LOOSE}: state 'in-use' but it is attached to no"),
        (lambda w: w["volumes"][0].update(state="available"), f"attached to {INSTANCE} (expected 'in-use')"),
        (lambda w: w["instances"][0]["block_device_mappings"].update({"/dev/sdg": GONE}), "not among the world's"),
        (
            lambda w: (
                w["volumes"][2].update(availability_zone=f"{REGION}c", state="in-use")
                or w["instances"][0]["block_device_mappings"].update({"/dev/sdg": LOOSE})
            ),
            "share one availability zone",
        ),
        (lambda w: w["snapshots"][0].update(state="pending"), "seeded snapshots are completed"),
        (lambda w: w["snapshots"][0].update(start_time="2999-01-01T00:00:00Z"), "is in the future"),
        (lambda w: w["snapshots"][0].update(start_time="yesterday"), "not an ISO 8601 time"),
        (lambda w: w["snapshots"][0].update(storage_tier="glacier"), "storage_tier 'glacier' is not one of"),
        (lambda w: w.update(amis=[]), "unknown key 'amis'"),
    ],
)
def test_a_bad_world_is_refused_whole_with_each_problem_named(emulator: Ec2Emulator, change: Any, words: str) -> None:
    world = copy.deepcopy(WORLD)
    change(world)
    with pytest.raises(ValueError, match="cannot seed this world") as refused:
        emulator.seed_world(world)
    assert words in str(refused.value)
    assert emulator.export_world() == {"volumes": [], "instances": [], "snapshots": []}


def test_ids_already_in_the_emulator_are_refused(seeded: Ec2Emulator) -> None:
    with pytest.raises(ValueError) as refused:
        seeded.seed_world({"snapshots": [{"id": DATA_SNAPSHOT, "volume_id": DATA}]})
    assert f"snapshot {DATA_SNAPSHOT} already exists in the emulator (reset it first" in str(refused.value)


def test_seed_and_export_through_the_control_api(emulator: Ec2Emulator) -> None:
    assert control(emulator, "seed-world", WORLD) == {}
    exported = control(emulator, "export-world")
    assert [i["id"] for i in exported["instances"]] == [INSTANCE]
    assert {s["id"] for s in exported["snapshots"]} == {DATA_SNAPSHOT, ORPHAN_SNAPSHOT}
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(emulator, "seed-world", WORLD)
    assert refused.value.code == 400 and "already exists" in refused.value.read().decode()
