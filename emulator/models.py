"""The emulator's EBS and AMI state: what it keeps differently from moto so that snapshots behave like AWS's.

moto completes a snapshot the moment it is created, ignores DescribeSnapshots' OwnerIds, several CreateSnapshots
fields and the block device mappings of RegisterImage. Here a snapshot stays `pending` for a configured time with
rising `progress`, can end in `error` with a state message, can be moved to the archive tier and aged (StartTime set in
the past); DescribeSnapshots lists only the owners asked for; `CreateSnapshots` honours `ExcludeDataVolumeIds` and
`CopyTagsFromSource` as the EC2 API reference describes; an AMI registered from snapshots keeps them in use until it is
deregistered. Every snapshot the emulator creates is remembered (even once deleted), so tests and benchmarks can ask
how many were pending at once.

No request parsing here (`emulator.responses`) and no patching of moto (`emulator.patch`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.exceptions import InvalidSnapshotIdError
from moto.ec2.models import amis, elastic_block_store
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

from emulator import tiers
from emulator.exceptions import IncorrectState, InvalidParameterValue, InvalidSnapshotInUse, InvalidSnapshotNotFound

FAILED_STATE_MESSAGE = "Snapshot creation failed: the emulator was told to fail snapshots of {volume_id}"


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


class CreatedSnapshots:
    """Every snapshot the emulator created for a request, kept after DeleteSnapshot, for concurrency readouts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: list[EmulatedSnapshot] = []

    def add(self, snapshot: EmulatedSnapshot) -> None:
        with self._lock:
            self._snapshots.append(snapshot)

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()

    def pending_intervals(self) -> dict[str, tuple[float, float]]:
        """Snapshot id -> (created_at, completed_at) on the `time.monotonic()` clock, in creation order.

        Aging a snapshot moves its interval back with it.
        """
        with self._lock:
            return {s.id: (s.created_at, s.completed_at()) for s in self._snapshots}


BEHAVIOUR = SnapshotBehaviour()
CREATED = CreatedSnapshots()


def reset() -> None:
    """Forget the snapshot behaviour settings and the record of created snapshots (moto's state is reset apart)."""
    global BEHAVIOUR
    BEHAVIOUR = SnapshotBehaviour()
    CREATED.clear()


def peak_pending(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one moment. Intervals are half-open: one ending as another starts is not overlap."""
    spans = list(intervals)
    # At equal times the end (-1) sorts before the start (+1).
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


class EmulatedSnapshot(elastic_block_store.Snapshot):
    """A snapshot whose state follows the clock: pending, then completed (or error).

    `settled=True` makes one that exists complete from the start and is not counted as created by the emulator
    (a snapshot seeded as part of a world).
    """

    def __init__(self, *args: Any, settled: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created_at = time.monotonic()
        self.storage_tier = "standard"
        # AWS fixes a snapshot's size when it is taken; resizing the volume later does not change it.
        self.fixed_volume_size: int = self.volume.size
        # AMI snapshots are made complete by AWS's own processes; only new snapshots of volumes wait.
        if settled or self.from_ami:
            self.pending_seconds = 0.0
            self.fails = False
        else:
            self.pending_seconds = BEHAVIOUR.pending_for(self.volume.id)
            self.fails = BEHAVIOUR.should_fail(self.volume.id)
            CREATED.add(self)

    @property
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

    @property
    def progress(self) -> str:
        if self.status == "error":
            return "0%"
        return f"{int(self._elapsed_fraction() * 100)}%"

    @property
    def status_message(self) -> str | None:
        if self.status == "error":
            return FAILED_STATE_MESSAGE.format(volume_id=self.volume.id)
        return None

    @property
    def volume_size(self) -> int:
        return self.fixed_volume_size

    def completed_at(self) -> float:
        """Monotonic time at which this snapshot leaves `pending`."""
        return self.created_at + self.pending_seconds

    def age_to(self, start_time: datetime) -> None:
        """Set StartTime to `start_time` (naive UTC, in the past); that much time has then passed for `pending` too."""
        seconds_ago = (utcnow() - start_time).total_seconds()
        if seconds_ago < 0:
            raise ValueError(f"start_time {format_time(start_time)} is in the future: snapshots can only be aged")
        self.start_time = start_time
        # Never younger on the pending clock: a completed snapshot stays completed and progress never drops.
        self.created_at = min(self.created_at, time.monotonic() - seconds_ago)

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
        if filter_name == "volume-size":
            return self.volume_size
        return super().get_filter_value(filter_name, method_name)


class EmulatedAmi(amis.Ami):
    """An AMI that keeps the block device mappings it was registered with (moto keeps only a snapshot of its own)."""

    registered_mappings: list[dict[str, Any]] | None = None

    @property
    def block_device_mappings(self) -> list[dict[str, Any]]:
        if self.registered_mappings is None:
            return super().block_device_mappings
        return self.registered_mappings

    def snapshot_ids(self) -> list[str]:
        return [m["Ebs"]["SnapshotId"] for m in self.block_device_mappings if m.get("Ebs", {}).get("SnapshotId")]

    def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "block-device-mapping.snapshot-id":
            return self.snapshot_ids()
        if filter_name == "block-device-mapping.device-name":
            return [m["DeviceName"] for m in self.block_device_mappings]
        return super().get_filter_value(filter_name, method_name)


# --- what the backend does differently -----------------------------------------------------------------------------
def get_snapshot(backend: Any, snapshot_id: str) -> EmulatedSnapshot:
    """The snapshot, for the emulator's own control calls (a ValueError naming it when there is none)."""
    snapshot = backend.snapshots.get(snapshot_id)
    if not isinstance(snapshot, EmulatedSnapshot):
        raise ValueError(f"no snapshot {snapshot_id!r} in the emulator")
    return snapshot


def age_snapshot(
    backend: Any, snapshot_id: str, start_time: datetime | None = None, seconds_ago: float | None = None
) -> datetime:
    """Move a snapshot's StartTime back (to `start_time`, or `seconds_ago` seconds ago); returns it (aware, UTC)."""
    if (start_time is None) == (seconds_ago is None):
        raise ValueError("age_snapshot needs exactly one of start_time (a datetime) or seconds_ago (a number)")
    snapshot = get_snapshot(backend, snapshot_id)
    if seconds_ago is not None:
        start = utcnow() - timedelta(seconds=seconds_ago)
    else:
        assert start_time is not None
        start = naive_utc(start_time)
    snapshot.age_to(start)
    return start.replace(tzinfo=UTC)


def describe_snapshots(
    backend: Any, snapshot_ids: list[str], filters: dict[str, Any], owner_ids: list[str]
) -> list[EmulatedSnapshot]:
    """DescribeSnapshots honouring OwnerIds (moto ignores it, answering with every AMI's snapshot too).

    An owner is an account id or `self`; an alias such as `amazon` matches no snapshot here.
    """
    snapshots: list[EmulatedSnapshot] = backend.describe_snapshots(snapshot_ids=snapshot_ids, filters=filters)
    if not owner_ids:
        return snapshots
    owners = {backend.account_id if owner == "self" else owner for owner in owner_ids}
    return [s for s in snapshots if s.owner_id in owners]


def create_snapshots(
    backend: Any,
    instance_id: str,
    *,
    description: str,
    exclude_boot: bool,
    exclude_data_volume_ids: list[str],
    copy_volume_tags: bool,
    tags: dict[str, str],
) -> list[EmulatedSnapshot]:
    """CreateSnapshots as the API reference describes it (moto ignores exclusions of data volumes and tag copying)."""
    instance = backend.get_instance(instance_id)
    mappings = instance.block_device_mapping
    root_device = instance.root_device_name
    attached = {m.volume_id for m in mappings.values()}
    excluded = set(exclude_data_volume_ids)
    for volume_id in sorted(excluded):
        if volume_id not in attached:
            raise InvalidParameterValue(
                f"The volume {volume_id} in ExcludeDataVolumeIds is not attached to instance {instance.id}"
            )
        if root_device in mappings and mappings[root_device].volume_id == volume_id:
            raise InvalidParameterValue(
                f"The root volume {volume_id} cannot be excluded with ExcludeDataVolumeIds; use ExcludeBootVolume"
            )
    chosen = [
        m.volume_id
        for device, m in mappings.items()
        if not (exclude_boot and device == root_device) and m.volume_id not in excluded
    ]
    if not chosen:
        raise InvalidParameterValue(f"No volumes of instance {instance.id} are left to snapshot after exclusions")

    snapshots = []
    for volume_id in chosen:
        snapshot = backend.create_snapshot(volume_id, description=description)
        if copy_volume_tags:
            volume_tags = backend.describe_tags(filters={"resource-id": [volume_id]})
            snapshot.add_tags({t["key"]: t["value"] for t in volume_tags})
        snapshot.add_tags(tags)
        snapshots.append(snapshot)
    return snapshots


def modify_snapshot_tier(backend: Any, snapshot_id: str, tier: str) -> EmulatedSnapshot:
    snapshot: EmulatedSnapshot = backend.get_snapshot(snapshot_id)
    if snapshot.status != "completed":
        raise IncorrectState(f"Snapshot {snapshot_id} is {snapshot.status}; only completed snapshots can be archived")
    if tier != "archive":
        raise InvalidParameterValue(f"Unsupported StorageTier {tier!r}: only 'archive' can be requested")
    tiers.start_archival(snapshot)
    return snapshot


def register_image(
    backend: Any, *, name: str, description: str, root_device_name: str | None, mappings: list[dict[str, Any]]
) -> EmulatedAmi:
    """RegisterImage keeping its block device mappings; the snapshots they name are in use until DeregisterImage."""
    snapshots = {}
    for mapping in mappings:
        snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
        if snapshot_id:
            if snapshot_id not in backend.snapshots:
                raise InvalidSnapshotNotFound(snapshot_id)
            snapshots[snapshot_id] = backend.snapshots[snapshot_id]
    image: EmulatedAmi = backend.register_image(name, description)
    if root_device_name:
        image.root_device_name = root_device_name
    if mappings:
        # moto made a snapshot for the image; an image registered from snapshots has none of its own.
        backend.snapshots.pop(image.ebs_snapshot.id, None)
        image.root_device_type = "ebs"
        image.registered_mappings = [_with_defaults(m, snapshots) for m in mappings]
    return image


def _with_defaults(mapping: dict[str, Any], snapshots: dict[str, EmulatedSnapshot]) -> dict[str, Any]:
    ebs = dict(mapping.get("Ebs") or {})
    snapshot = snapshots.get(ebs.get("SnapshotId", ""))
    if snapshot is not None:
        ebs.setdefault("VolumeSize", snapshot.volume_size)
    ebs.setdefault("DeleteOnTermination", True)
    ebs.setdefault("VolumeType", "gp2")
    return {**mapping, "Ebs": ebs}


def images_using(backend: Any, snapshot_id: str) -> list[str]:
    """Ids of the AMIs whose block device mappings name the snapshot."""
    users = [
        image.id
        for image in backend.amis.values()
        if isinstance(image, EmulatedAmi) and snapshot_id in image.snapshot_ids()
    ]
    snapshot = backend.snapshots.get(snapshot_id)
    # moto marks the snapshot it makes for CreateImage with `from_ami` (tests may set it too).
    if snapshot is not None and snapshot.from_ami in backend.amis and snapshot.from_ami not in users:
        users.append(snapshot.from_ami)
    return users


def delete_snapshot(backend: Any, snapshot_id: str) -> EmulatedSnapshot:
    """DeleteSnapshot, refused with InvalidSnapshot.InUse while an AMI uses the snapshot (as AWS does)."""
    if snapshot_id not in backend.snapshots:
        raise InvalidSnapshotIdError()
    users = images_using(backend, snapshot_id)
    if users:
        raise InvalidSnapshotInUse(snapshot_id, users[0])
    snapshot: EmulatedSnapshot = backend.snapshots.pop(snapshot_id)
    return snapshot


# --- time -----------------------------------------------------------------------------------------------------------
def naive_utc(moment: datetime) -> datetime:
    """moto keeps times as naive UTC datetimes; an aware one is converted, a naive one is taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as EC2 writes StartTime."""
    return naive_utc(moment).isoformat(timespec="milliseconds") + "Z"


def parse_time(value: str | datetime) -> datetime:
    """A datetime, or an ISO 8601 string (a trailing Z, an offset, or none for UTC), as naive UTC."""
    if isinstance(value, datetime):
        return naive_utc(value)
    try:
        return naive_utc(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not an ISO 8601 time (expected e.g. 2024-05-01T12:00:00Z)") from None
