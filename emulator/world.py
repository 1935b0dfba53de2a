"""Seeding the emulator's account and reading it back: volumes, instances, snapshots, with their ids and tags.

`seed_world` builds a world with given ids (for a test that imports a Pulumi state exported elsewhere);
`export_world` reads the same shape back. The shape, as JSON (every key but the ids and the mappings optional):

    {
      "volumes": [{"id": "vol-0123456789abcdef0", "size": 8, "availability_zone": "us-east-1a",
                   "volume_type": "gp3", "iops": 3000, "throughput": 125, "encrypted": true,
                   "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/...", "tags": {"Name": "data"},
                   "state": "in-use"}],
      "instances": [{"id": "i-0123456789abcdef0", "root_device_name": "/dev/xvda",
                     "block_device_mappings": {"/dev/xvda": "vol-0123456789abcdef0"},
                     "availability_zone": "us-east-1a", "instance_type": "t3.micro", "tags": {}}],
      "snapshots": [{"id": "snap-0123456789abcdef0", "volume_id": "vol-0123456789abcdef0",
                     "description": "nightly", "tags": {"team": "storage"},
                     "start_time": "2024-05-01T12:00:00.000Z", "state": "completed",
                     "storage_tier": "standard", "volume_size": 8, "encrypted": true, "kms_key_id": "..."}]
    }

Defaults: volumes 8 GiB gp2 in the region's first zone, unencrypted, untagged; an encrypted volume without a key has
the account's default EBS key; an instance's zone is its volumes' (they must share one), type t3.micro; a snapshot
starts now, in the standard tier, with its volume's size, encryption and key. A volume's `state` must agree with the
instances (`in-use` when one maps it, else `available`). A snapshot's volume need not exist (AWS keeps snapshots of
deleted volumes). Seeded snapshots are `completed` and are not counted by `pending_intervals`.

moto draws random ids, so each volume and instance is created by moto, then re-keyed to its id before anything
refers to it; snapshots are constructed with their id directly.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from moto.core.utils import utcnow

from emulator import models

VOLUME_TYPES = ("standard", "gp2", "gp3", "io1", "io2", "st1", "sc1")
STORAGE_TIERS = ("standard", "archive")
ID_PATTERNS = {
    "volume": re.compile(r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$"),
    "instance": re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$"),
    "snapshot": re.compile(r"^snap-([0-9a-f]{8}|[0-9a-f]{17})$"),
}
ID_PREFIXES = {"volume": "vol-", "instance": "i-", "snapshot": "snap-"}
SEED_IMAGE_ID = "ami-12c6146b"
WORLD_KEYS = ("volumes", "instances", "snapshots")


class WorldVolume(TypedDict):
    id: str
    size: NotRequired[int]
    availability_zone: NotRequired[str]
    volume_type: NotRequired[str]
    iops: NotRequired[int | None]
    throughput: NotRequired[int | None]
    encrypted: NotRequired[bool]
    kms_key_id: NotRequired[str | None]
    tags: NotRequired[dict[str, str]]
    state: NotRequired[str]


class WorldInstance(TypedDict):
    id: str
    root_device_name: str
    block_device_mappings: dict[str, str]
    availability_zone: NotRequired[str]
    instance_type: NotRequired[str]
    tags: NotRequired[dict[str, str]]


class WorldSnapshot(TypedDict):
    id: str
    volume_id: str
    description: NotRequired[str]
    tags: NotRequired[dict[str, str]]
    start_time: NotRequired[str | datetime]
    state: NotRequired[str]
    storage_tier: NotRequired[str]
    volume_size: NotRequired[int]
    encrypted: NotRequired[bool]
    kms_key_id: NotRequired[str | None]


class World(TypedDict):
    volumes: NotRequired[list[WorldVolume]]
    instances: NotRequired[list[WorldInstance]]
    snapshots: NotRequired[list[WorldSnapshot]]


# --- seeding -----------------------------------------------------------------------------------------------------
def seed_volumes(
    backend: Any, count: int = 1, size: int = 8, zone: str | None = None, tags: dict[str, str] | None = None
) -> list[str]:
    """Create `count` available volumes and return their ids."""
    ids = []
    for _ in range(count):
        volume = backend.create_volume(size=size, zone_name=zone or f"{backend.region_name}a")
        volume.add_tags({"Name": f"emulator-seed-{len(backend.volumes)}", **(tags or {})})
        ids.append(volume.id)
    return ids


def seed_instance(backend: Any, data_volumes: int = 2, size: int = 8, windows: bool = False) -> dict[str, Any]:
    """Launch an instance (Linux, or Windows) with a root volume and `data_volumes` attached data volumes, each
    tagged."""
    region = backend.region_name
    reservation = backend.run_instances(
        SEED_IMAGE_ID,
        1,
        None,
        [],
        instance_type="t3.micro",
        is_instance_type_default=True,
        placement=f"{region}a",
        region_name=region,
    )
    instance = reservation.instances[0]
    # The seed image is a Windows AMI in moto's list; instances are Linux unless asked (what `Platform` says).
    instance.platform = "windows" if windows else None
    root_volume = instance.block_device_mapping[instance.root_device_name].volume_id
    backend.volumes[root_volume].add_tags({"Name": "root", "Role": "boot"})
    data = []
    for index in range(data_volumes):
        volume = backend.create_volume(size=size, zone_name=f"{region}a")
        volume.add_tags({"Name": f"data-{index}", "Role": "data"})
        device = f"/dev/sd{chr(ord('f') + index)}"
        backend.attach_volume(volume.id, instance.id, device)
        data.append({"volume_id": volume.id, "device": device})
    return {"instance_id": instance.id, "root_volume_id": root_volume, "data_volumes": data}


def seed_world(backend: Any, world: World) -> None:
    """Create the world's volumes, instances (with their volumes attached) and snapshots, with their ids.

    Checked whole first: a world with a problem raises ValueError listing every problem, and creates nothing.
    """
    problems = check_world(backend, world)
    if problems:
        raise ValueError("cannot seed this world:\n- " + "\n- ".join(problems))
    region = backend.region_name
    zone_of = {v["id"]: v.get("availability_zone", f"{region}a") for v in world.get("volumes", [])}
    for volume in world.get("volumes", []):
        _seed_volume(backend, volume, zone_of[volume["id"]])
    for instance in world.get("instances", []):
        devices = instance["block_device_mappings"]
        zone = instance.get("availability_zone") or next((zone_of[v] for v in devices.values()), f"{region}a")
        _seed_instance(backend, instance, zone)
    for snapshot in world.get("snapshots", []):
        _seed_snapshot(backend, snapshot)


def _seed_volume(backend: Any, spec: WorldVolume, zone: str) -> None:
    volume = backend.create_volume(
        size=spec.get("size", 8),
        zone_name=zone,
        encrypted=spec.get("encrypted", False),
        kms_key_id=spec.get("kms_key_id"),
        volume_type=spec.get("volume_type"),
        # moto checks IOPS against the type as a request would; a world reports them as AWS describes them.
        iops=spec.get("iops") if spec.get("volume_type") in ("io1", "io2") else None,
    )
    _rekey_volume(backend, volume, spec["id"])
    if spec.get("iops") is not None:
        volume.iops = spec["iops"]
    if spec.get("throughput") is not None:
        volume.throughput = spec["throughput"]
    volume.add_tags(spec.get("tags", {}))


def _seed_instance(backend: Any, spec: WorldInstance, zone: str) -> None:
    reservation = backend.run_instances(
        SEED_IMAGE_ID,
        1,
        None,
        [],
        instance_type=spec.get("instance_type", "t3.micro"),
        is_instance_type_default="instance_type" not in spec,
        placement=zone,
        region_name=backend.region_name,
        block_device_mappings=[],  # present and empty: no root volume of moto's own
    )
    instance = reservation.instances[0]
    # moto finds instances by scanning reservations for `.id`; the ENI and subnet hold the object, not the id.
    instance.id = spec["id"]
    instance.root_device_name = spec["root_device_name"]
    for device, volume_id in spec["block_device_mappings"].items():
        backend.attach_volume(volume_id, instance.id, device, device == spec["root_device_name"])
    instance.add_tags(spec.get("tags", {}))


def _rekey_volume(backend: Any, volume: Any, volume_id: str) -> None:
    # Called right after create_volume, before tags or attachments refer to moto's id: the dict key is the only one.
    del backend.volumes[volume.id]
    volume.id = volume_id
    backend.volumes[volume_id] = volume


def _seed_snapshot(backend: Any, spec: WorldSnapshot) -> None:
    volume = backend.volumes.get(spec["volume_id"])
    if volume is None:
        # The snapshot of a volume deleted since: a volume object the snapshot keeps, outside the account's volumes.
        volume = backend.create_volume(
            size=spec.get("volume_size", 8), zone_name=f"{backend.region_name}a", encrypted=spec.get("encrypted", False)
        )
        del backend.volumes[volume.id]
        volume.id = spec["volume_id"]
    snapshot = models.EmulatedSnapshot(
        backend,
        snapshot_id=spec["id"],
        volume=volume,
        description=spec.get("description", ""),
        encrypted=spec.get("encrypted", volume.encrypted),
        kms_key_id=spec.get("kms_key_id"),
        settled=True,
    )
    snapshot.fixed_volume_size = spec.get("volume_size", volume.size)
    snapshot.storage_tier = spec.get("storage_tier", "standard")
    if "start_time" in spec:
        snapshot.age_to(models.parse_time(spec["start_time"]))
    backend.snapshots[snapshot.id] = snapshot
    snapshot.add_tags(spec.get("tags", {}))


def check_world(backend: Any, world: Any) -> list[str]:
    """Every problem that would stop `world` from being seeded as given, each naming the item and the fix."""
    if not isinstance(world, dict):
        return [f"a world is a dict with volumes, instances and snapshots, not {type(world).__name__}"]
    problems = [f"unknown key {k!r} (expected {', '.join(WORLD_KEYS)})" for k in world if k not in WORLD_KEYS]
    lists = {}
    for key in WORLD_KEYS:
        items = world.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
            problems.append(f"{key} must be a list of dicts, each with an 'id' string")
            items = []
        lists[key] = items
    existing = {
        "volume": set(backend.volumes),
        "instance": {i.id for i in backend.all_instances()},
        "snapshot": set(backend.snapshots),
    }
    for kind, key in (("volume", "volumes"), ("instance", "instances"), ("snapshot", "snapshots")):
        seen: set[str] = set()
        for item in lists[key]:
            problems += _check_id(kind, item["id"], seen, existing[kind])
    zones = {z.name for z in backend.describe_availability_zones()}
    volumes = {v["id"]: v for v in lists["volumes"]}
    for v in lists["volumes"]:
        problems += _check_volume(v, zones)
    attached_by: dict[str, str] = {}
    for i in lists["instances"]:
        problems += _check_instance(i, volumes, zones, attached_by, backend.region_name)
    for volume_id, volume in volumes.items():
        expected = "in-use" if volume_id in attached_by else "available"
        if volume.get("state", expected) != expected:
            where = f"attached to {attached_by[volume_id]}" if volume_id in attached_by else "attached to no instance"
            problems.append(f"volume {volume_id}: state {volume['state']!r} but it is {where} (expected {expected!r})")
    for s in lists["snapshots"]:
        problems += _check_snapshot(s)
    return problems


def _check_id(kind: str, item_id: str, seen: set[str], existing: set[str]) -> list[str]:
    if not ID_PATTERNS[kind].match(item_id):
        return [f"{kind} id {item_id!r} is not a valid id (expected {ID_PREFIXES[kind]} then 8 or 17 hex digits)"]
    if item_id in seen:
        return [f"{kind} id {item_id} appears twice in the world"]
    seen.add(item_id)
    if item_id in existing:
        return [f"{kind} {item_id} already exists in the emulator (reset it first, or leave it out of the world)"]
    return []


def _check_volume(v: dict[str, Any], zones: set[str]) -> list[str]:
    problems = []
    where = f"volume {v['id']}"
    if not isinstance(v.get("size", 8), int) or v.get("size", 8) < 1:
        problems.append(f"{where}: size must be a whole number of GiB, at least 1 (got {v.get('size')!r})")
    zone = v.get("availability_zone")
    if zone is not None and zone not in zones:
        problems.append(f"{where}: availability_zone {zone!r} is not one of {sorted(zones)}")
    volume_type = v.get("volume_type", "gp2")
    if volume_type not in VOLUME_TYPES:
        problems.append(f"{where}: volume_type {volume_type!r} is not one of {', '.join(VOLUME_TYPES)}")
    elif volume_type in ("io1", "io2") and not v.get("iops"):
        problems.append(f"{where}: a {volume_type} volume needs iops")
    if v.get("kms_key_id") and not v.get("encrypted"):
        problems.append(f"{where}: kms_key_id needs encrypted: true (EC2 refuses a key for an unencrypted volume)")
    if v.get("state", "available") not in ("available", "in-use"):
        problems.append(f"{where}: state {v['state']!r} cannot be seeded (available, or in-use when attached)")
    return problems


def _check_instance(
    i: dict[str, Any], volumes: dict[str, Any], zones: set[str], attached_by: dict[str, str], region: str
) -> list[str]:
    where = f"instance {i['id']}"
    root = i.get("root_device_name")
    devices = i.get("block_device_mappings")
    problems = []
    if not isinstance(root, str) or not root.startswith("/dev/"):
        problems.append(f"{where}: root_device_name must be a device name such as '/dev/xvda' (got {root!r})")
    if not isinstance(devices, dict):
        return [*problems, f"{where}: block_device_mappings must map device names to volume ids"]
    volume_zones = set()
    for device, volume_id in devices.items():
        if volume_id not in volumes:
            problems.append(f"{where}: {device} maps {volume_id!r}, which is not among the world's volumes")
        elif volume_id in attached_by:
            problems.append(f"{where}: volume {volume_id} is already attached to {attached_by[volume_id]}")
        else:
            attached_by[volume_id] = i["id"]
            volume_zones.add(volumes[volume_id].get("availability_zone", f"{region}a"))
    zone = i.get("availability_zone")
    if zone is not None and zone not in zones:
        problems.append(f"{where}: availability_zone {zone!r} is not one of {sorted(zones)}")
    if len(volume_zones | ({zone} if zone else set())) > 1:
        problems.append(
            f"{where}: its volumes and itself must share one availability zone (got {sorted(volume_zones)})"
        )
    return problems


def _check_snapshot(s: dict[str, Any]) -> list[str]:
    where = f"snapshot {s['id']}"
    problems = []
    if not isinstance(s.get("volume_id"), str) or not ID_PATTERNS["volume"].match(s["volume_id"]):
        problems.append(f"{where}: volume_id {s.get('volume_id')!r} is not a valid volume id")
    if s.get("state", "completed") != "completed":
        problems.append(f"{where}: state {s['state']!r} cannot be seeded (seeded snapshots are completed)")
    if s.get("kms_key_id") and s.get("encrypted") is False:
        problems.append(f"{where}: kms_key_id needs encrypted: true")
    if s.get("storage_tier", "standard") not in STORAGE_TIERS:
        problems.append(f"{where}: storage_tier {s['storage_tier']!r} is not one of {', '.join(STORAGE_TIERS)}")
    if "start_time" in s:
        try:
            if models.parse_time(s["start_time"]) > utcnow():
                problems.append(f"{where}: start_time {s['start_time']} is in the future")
        except ValueError as error:
            problems.append(f"{where}: start_time: {error}")
    if "volume_size" in s and (not isinstance(s["volume_size"], int) or s["volume_size"] < 1):
        problems.append(f"{where}: volume_size must be a whole number of GiB, at least 1 (got {s['volume_size']!r})")
    return problems


# --- reading back --------------------------------------------------------------------------------------------------
def export_world(backend: Any) -> World:
    """The account as a world `seed_world` accepts: every volume, instance not terminated, and snapshot (not AMIs')."""
    return {
        "volumes": [_exported_volume(backend, v) for v in backend.volumes.values()],
        "instances": [
            {
                "id": i.id,
                "root_device_name": i.root_device_name,
                "block_device_mappings": {device: m.volume_id for device, m in i.block_device_mapping.items()},
                "availability_zone": i.availability_zone,
                "instance_type": i.instance_type,
                "tags": tags_of(backend, i.id),
            }
            for i in backend.all_instances()
            if i.state != "terminated"
        ],
        "snapshots": [_exported_snapshot(backend, s) for s in _own_snapshots(backend)],
    }


def _exported_volume(backend: Any, v: Any) -> WorldVolume:
    volume: WorldVolume = {
        "id": v.id,
        "size": v.size,
        "availability_zone": v.zone.name,
        "volume_type": v.volume_type,
        "iops": v.iops,
        "throughput": v.throughput,
        "encrypted": bool(v.encrypted),
        "tags": tags_of(backend, v.id),
        "state": v.status,
    }
    if _own_key(backend, v):
        volume["kms_key_id"] = v.kms_key_id
    return volume


def _exported_snapshot(backend: Any, s: models.EmulatedSnapshot) -> WorldSnapshot:
    snapshot: WorldSnapshot = {
        "id": s.id,
        "volume_id": s.volume.id,
        "description": s.description or "",
        "tags": tags_of(backend, s.id),
        "start_time": models.format_time(s.start_time),
        "state": s.status,
        "storage_tier": s.storage_tier,
        "volume_size": s.volume_size,
        "encrypted": bool(s.encrypted),
    }
    if _own_key(backend, s):
        snapshot["kms_key_id"] = s.kms_key_id
    return snapshot


def _own_key(backend: Any, resource: Any) -> bool:
    # As seeding reads a world: no kms_key_id means the account's default EBS key (or no encryption).
    return bool(resource.encrypted) and resource.kms_key_id not in (None, backend.default_kms_key_id)


def snapshot_summaries(backend: Any) -> list[dict[str, Any]]:
    """Every snapshot the account holds (not AMIs'), as plain data (for counting orphans and duplicates)."""
    return [
        {
            "snapshot_id": s.id,
            "volume_id": s.volume.id,
            "state": s.status,
            "progress": s.progress,
            "storage_tier": s.storage_tier,
            "tags": tags_of(backend, s.id),
            "pending_seconds": s.pending_seconds,
        }
        for s in _own_snapshots(backend)
    ]


def tags_of(backend: Any, resource_id: str) -> dict[str, str]:
    """The resource's tags as the account holds them (not as a lagging Describe* would show them)."""
    return dict(backend.tags.get(resource_id, {}))


def _own_snapshots(backend: Any) -> list[models.EmulatedSnapshot]:
    return [s for s in backend.snapshots.values() if not s.from_ami]
