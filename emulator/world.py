"""Seeding the emulator's account and reading it back: volumes, instances and snapshots, with their tags."""

from __future__ import annotations

from typing import Any

from emulator import models

SEED_IMAGE_ID = "ami-12c6146b"


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


def seed_instance(backend: Any, data_volumes: int = 2, size: int = 8) -> dict[str, Any]:
    """Launch an instance with a root volume and `data_volumes` attached data volumes, each tagged."""
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


# --- reading back --------------------------------------------------------------------------------------------------
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
    return {t["key"]: t["value"] for t in backend.describe_tags(filters={"resource-id": [resource_id]})}


def _own_snapshots(backend: Any) -> list[models.EmulatedSnapshot]:
    return [s for s in backend.snapshots.values() if not s.from_ami]
