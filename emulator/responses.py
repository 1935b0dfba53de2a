"""The wire side of the EC2 actions the emulator implements itself: read a request's parameters, call the model
(`emulator.models`), shape the result. Each function becomes a method of moto's response class (`emulator.patch`).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore

from emulator import models, tiers


def describe_snapshots(self: ElasticBlockStore) -> ActionResult:
    snapshots = models.describe_snapshots(
        self.ec2_backend,
        snapshot_ids=self._get_param("SnapshotIds", []),
        filters=self._filters_from_querystring(),
        owner_ids=self._get_param("OwnerIds", []),
    )
    return ActionResult({"Snapshots": snapshots})


def create_snapshots(self: ElasticBlockStore) -> ActionResult:
    spec = self._get_param("InstanceSpecification", {})
    description = self._get_param("Description", "")
    copy_tags_from = self._get_param("CopyTagsFromSource")
    snapshot_tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshots = models.create_snapshots(
        self.ec2_backend,
        spec["InstanceId"],
        description=description,
        exclude_boot=_true(spec.get("ExcludeBootVolume", False)),
        exclude_data_volume_ids=list(spec.get("ExcludeDataVolumeIds") or []),
        copy_volume_tags=copy_tags_from == "volume",
        tags=snapshot_tags,
    )
    return ActionResult({"Snapshots": snapshots})


def modify_snapshot_tier(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    tier = self._get_param("StorageTier", "archive")
    self.error_on_dryrun()
    snapshot = models.modify_snapshot_tier(self.ec2_backend, snapshot_id, tier)
    return ActionResult({"SnapshotId": snapshot.id, "TieringStartTime": snapshot.start_time})


def describe_snapshot_tier_status(self: ElasticBlockStore) -> ActionResult:
    self.error_on_dryrun()
    statuses = tiers.describe_statuses(self.ec2_backend, self._filters_from_querystring())
    return ActionResult({"SnapshotTierStatuses": statuses})


def restore_snapshot_tier(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    days = self._get_param("TemporaryRestoreDays")
    permanent = _true(self._get_param("PermanentRestore", False))
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)
    operation = tiers.restore(snapshot, int(days) if days is not None else None, permanent)
    return ActionResult(
        {
            "SnapshotId": snapshot.id,
            "RestoreStartTime": operation.started,
            "RestoreDuration": operation.restore_days * 24 if operation.restore_days else None,
            "IsPermanentRestore": permanent,
        }
    )


def register_image(self: AmisResponse) -> ActionResult:
    name = self._get_param("Name")
    description = self._get_param("Description", "")
    root_device_name = self._get_param("RootDeviceName")
    mappings = [_block_device_mapping(m) for m in self._get_param("BlockDeviceMappings", [])]
    self.error_on_dryrun()
    image = models.register_image(
        self.ec2_backend, name=name, description=description, root_device_name=root_device_name, mappings=mappings
    )
    return ActionResult({"ImageId": image.id})


def _block_device_mapping(raw: dict[str, Any]) -> dict[str, Any]:
    """A request's BlockDeviceMapping with typed values and without empty fields, in DescribeImages' shape."""
    mapping: dict[str, Any] = {"DeviceName": raw.get("DeviceName")}
    ebs = raw.get("Ebs")
    if ebs:
        typed: dict[str, Any] = {}
        for key, value in ebs.items():
            if key in ("VolumeSize", "Iops", "Throughput"):
                typed[key] = int(value)
            elif key in ("DeleteOnTermination", "Encrypted"):
                typed[key] = _true(value)
            else:
                typed[key] = value
        mapping["Ebs"] = typed
    if "VirtualName" in raw:
        mapping["VirtualName"] = raw["VirtualName"]
    return mapping


def _true(value: Any) -> bool:
    # Query-protocol booleans may arrive as "true"/"false".
    return str(value).lower() == "true"
