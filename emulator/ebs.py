"""What the emulator changes in moto's EBS model so that snapshots behave like AWS's.

moto completes a snapshot the moment it is created and ignores several request fields. Here a snapshot stays
`pending` for a configured time with rising `progress`, can end in `error` with a state message, can be moved to the
archive tier, and `CreateSnapshots` honours `ExcludeDataVolumeIds` and `CopyTagsFromSource` and reports `State`,
as the EC2 API reference describes.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import elastic_block_store
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix


@dataclass
class SnapshotBehaviour:
    """How long snapshots stay pending and which of them fail. Shared by every snapshot the emulator creates."""

    pending_seconds: float = 0.0
    pending_seconds_by_volume: dict[str, float] = field(default_factory=dict)
    fail_volume_ids: set[str] = field(default_factory=set)
    fail_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def pending_for(self, volume_id: str) -> float:
        return self.pending_seconds_by_volume.get(volume_id, self.pending_seconds)

    def should_fail(self, volume_id: str) -> bool:
        if volume_id in self.fail_volume_ids:
            return True
        with self._lock:
            return self.fail_rate > 0 and self._rng.random() < self.fail_rate


BEHAVIOUR = SnapshotBehaviour()

FAILED_STATE_MESSAGE = "Snapshot creation failed: the emulator was told to fail snapshots of {volume_id}"


class EmulatedSnapshot(elastic_block_store.Snapshot):
    """A snapshot whose state follows the clock: pending, then completed (or error)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        volume_id = self.volume.id
        self.created_at = time.monotonic()
        self.pending_seconds = BEHAVIOUR.pending_for(volume_id)
        self.fails = BEHAVIOUR.should_fail(volume_id)
        self.storage_tier = "standard"
        # AMI snapshots and copies are made complete by AWS's own processes; only new snapshots of volumes wait.
        if self.from_ami:
            self.pending_seconds = 0.0
            self.fails = False

    @property  # type: ignore[override]
    def status(self) -> str:
        if self._elapsed_fraction() < 1.0:
            return "pending"
        return "error" if self.fails else "completed"

    @status.setter
    def status(self, _value: str) -> None:
        # moto's constructor sets "completed"; the clock decides instead.
        pass

    @property
    def state(self) -> str:
        # CreateSnapshots' SnapshotInfo names the field `state` where DescribeSnapshots says `status`.
        return self.status

    @property  # type: ignore[override]
    def progress(self) -> str:
        if self.status == "error":
            return "0%"
        return f"{int(self._elapsed_fraction() * 100)}%"

    @property
    def status_message(self) -> str | None:
        if self.status == "error":
            return FAILED_STATE_MESSAGE.format(volume_id=self.volume.id)
        return None

    def completed_at(self) -> float:
        """Monotonic time at which this snapshot leaves `pending`."""
        return self.created_at + self.pending_seconds

    def _elapsed_fraction(self) -> float:
        if self.pending_seconds <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self.created_at) / self.pending_seconds)

    def get_tags(self) -> list[dict[str, str]]:
        # moto's own scans every tag in the account, compiling a pattern, for each snapshot a tag filter or a response
        # looks at: a DescribeSnapshots by tag cost O(snapshots x tags), and with 64 snapshots the emulator's CPU, not
        # the provider, set the pace of `pulumi up` (bench/bench_stack.py). Same result, one dict lookup.
        tags = self.ec2_backend.tags.get(self.id, {})
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [{"resource_id": self.id, "key": k, "value": v, "resource_type": resource_type} for k, v in tags.items()]

    def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "status":
            return self.status
        if filter_name == "storage-tier":
            return self.storage_tier
        return super().get_filter_value(filter_name, method_name)


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class IncorrectState(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("IncorrectState", message)


def _create_snapshots(self: ElasticBlockStore) -> ActionResult:
    """CreateSnapshots as the API reference describes it (moto ignores exclusions of data volumes and tag copying)."""
    spec = self._get_param("InstanceSpecification", {})
    description = self._get_param("Description", "")
    copy_tags_from = self._get_param("CopyTagsFromSource")
    snapshot_tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()

    backend = self.ec2_backend
    instance = backend.get_instance(spec["InstanceId"])
    mappings = instance.block_device_mapping
    root_device = instance.root_device_name
    attached = {m.volume_id for m in mappings.values()}
    excluded = set(spec.get("ExcludeDataVolumeIds") or [])
    for volume_id in sorted(excluded):
        if volume_id not in attached:
            raise InvalidParameterValue(
                f"The volume {volume_id} in ExcludeDataVolumeIds is not attached to instance {instance.id}"
            )
        if root_device in mappings and mappings[root_device].volume_id == volume_id:
            raise InvalidParameterValue(
                f"The root volume {volume_id} cannot be excluded with ExcludeDataVolumeIds; use ExcludeBootVolume"
            )
    exclude_boot = str(spec.get("ExcludeBootVolume", False)).lower() == "true"
    chosen = [
        (device, m.volume_id)
        for device, m in mappings.items()
        if not (exclude_boot and device == root_device) and m.volume_id not in excluded
    ]
    if not chosen:
        raise InvalidParameterValue(f"No volumes of instance {instance.id} are left to snapshot after exclusions")

    snapshots = []
    for _device, volume_id in chosen:
        snapshot = backend.create_snapshot(volume_id, description=description)
        if copy_tags_from == "volume":
            volume_tags = backend.describe_tags(filters={"resource-id": [volume_id]})
            snapshot.add_tags({t["key"]: t["value"] for t in volume_tags})
        snapshot.add_tags(snapshot_tags)
        snapshots.append(snapshot)
    return ActionResult({"Snapshots": snapshots})


def _modify_snapshot_tier(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    tier = self._get_param("StorageTier", "archive")
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)
    if snapshot.status != "completed":
        raise IncorrectState(f"Snapshot {snapshot_id} is {snapshot.status}; only completed snapshots can be archived")
    if tier != "archive":
        raise InvalidParameterValue(f"Unsupported StorageTier {tier!r}: only 'archive' can be requested")
    snapshot.storage_tier = "archive"
    return ActionResult({"SnapshotId": snapshot_id, "TieringStartTime": snapshot.start_time})


_installed = False


def install() -> None:
    """Patch moto's EBS model and responses in this process (idempotent)."""
    global _installed
    if _installed:
        return
    elastic_block_store.Snapshot = EmulatedSnapshot  # type: ignore[misc]
    ElasticBlockStore.create_snapshots = _create_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_tier = _modify_snapshot_tier  # type: ignore[attr-defined]
    _installed = True
