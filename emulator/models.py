"""The emulator's EBS and AMI state: what it keeps differently from moto so that snapshots behave like AWS's.

moto completes a snapshot the moment it is created, ignores DescribeSnapshots' OwnerIds, several CreateSnapshots
fields and the block device mappings of RegisterImage. Here a snapshot stays `pending` for a configured time with
rising `progress`, can end in `error` with a state message, can be moved to the archive tier and aged (StartTime set in
the past); DescribeSnapshots lists only the owners asked for; `CreateSnapshots` honours `ExcludeDataVolumeIds` and
`CopyTagsFromSource` as the EC2 API reference describes; an AMI registered from snapshots keeps them in use until it is
deregistered. Every snapshot the emulator creates is remembered (even once deleted), so tests and benchmarks can ask
how many were pending at once.

In every mode: a snapshot of an encrypted volume carries the volume's KMS key, and a volume made from an encrypted
snapshot carries the snapshot's key unless the request names another (EBS user guide, "Amazon EBS encryption");
CreateVolume honours ClientToken (EC2 developer guide, "Ensuring idempotency"); RestoreSnapshotTier restores archived
snapshots; DescribeSnapshots and DescribeVolumes page with MaxResults / NextToken and look snapshots up through
`emulator.index` instead of scanning. The strict mode's rules (`emulator.strict`) are enforced here too: pending
snapshots per volume, one CreateSnapshot per volume per interval, no volume from an archived snapshot until restored,
the pagination parameter rules, and what eventual consistency hides from Describe* (`emulator.consistency`).

No request parsing here (`emulator.responses`) and no patching of moto (`emulator.patch`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.exceptions import InvalidParameterDependency
from moto.ec2.models import amis, elastic_block_store
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, generic_filter, get_prefix

from emulator import index, locks, strict, tiers
from emulator.consistency import VISIBILITY, not_found
from emulator.exceptions import (
    ConcurrentSnapshotLimitExceeded,
    IdempotentParameterMismatch,
    IncorrectState,
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidSnapshotInUse,
    InvalidSnapshotNotFound,
    InvalidVolumeNotFound,
    MissingParameter,
    SnapshotCreationPerVolumeRateExceeded,
)

FAILED_STATE_MESSAGE = "Snapshot creation failed: the emulator was told to fail snapshots of {volume_id}"


@dataclass
class SnapshotBehaviour:
    """How long snapshots stay pending and which of them fail. Shared by every snapshot the emulator creates."""

    pending_seconds: float = 0.0
    pending_seconds_by_volume: dict[str, float] = field(default_factory=dict)
    fail_volume_ids: set[str] = field(default_factory=set)
    fail_rate: float = 0.0
    seed: int = 0
    copy_seconds: float | None = None
    """How long a CopySnapshot copy stays pending (None: `pending_seconds`); a time-based copy's
    CompletionDurationMinutes caps it (EBS user guide, "Time-based copies": it completes within that duration)."""
    fail_copies: bool = False
    """Every CopySnapshot copy ends in `error` once pending (EC2 API reference, Snapshot: State `error`; a copy can
    fail after CopySnapshot answered, e.g. for a KMS key it may not use)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def draw(self, bounds: tuple[float, float]) -> float:
        """A duration drawn uniformly in [lo, hi] from the seeded sequence."""
        lo, hi = bounds
        if hi <= lo:
            return lo
        with self._lock:
            return self._rng.uniform(lo, hi)

    def pending_for(self, volume_id: str) -> float:
        return self.pending_seconds_by_volume.get(volume_id, self.pending_seconds)

    def copy_time(self, completion_duration_minutes: int | None) -> float:
        seconds = self.pending_seconds if self.copy_seconds is None else self.copy_seconds
        if completion_duration_minutes:
            return min(seconds, completion_duration_minutes * 60.0)
        return seconds

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

    def lifetimes(self) -> dict[str, tuple[str, float, float]]:
        """Snapshot id -> (volume id, created_at, completed_at), as `pending_intervals` (for `guest.timeline`)."""
        with self._lock:
            return {s.id: (s.volume.id, s.created_at, s.completed_at()) for s in self._snapshots}


class VolumeLimits:
    """When each volume last had a snapshot created (for `snapshot_interval_per_volume`), on `strict.CLOCK`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_created: dict[str, float] = {}

    def check_and_mark(self, backend: Any, volume_ids: list[str]) -> None:
        """Refuse a snapshot of any of these volumes that the strict limits forbid; else mark them as just snapshotted.

        All volumes are checked before any is marked: CreateSnapshots is refused whole, as EC2 refuses it.
        """
        settings = strict.SETTINGS
        now = strict.CLOCK.monotonic()
        with self._lock:
            for volume_id in volume_ids:
                last = self._last_created.get(volume_id)
                if last is not None and now - last < settings.snapshot_interval_per_volume:
                    raise SnapshotCreationPerVolumeRateExceeded()
                volume = backend.volumes.get(volume_id)
                limit = settings.pending_snapshots_per_volume.get(volume.volume_type) if volume else None
                if limit is not None and pending_snapshots_of(backend, volume_id) >= limit:
                    raise ConcurrentSnapshotLimitExceeded(volume_id, limit)
            for volume_id in volume_ids:
                self._last_created[volume_id] = now

    def clear(self) -> None:
        with self._lock:
            self._last_created.clear()


class ClientTokens:
    """CreateVolume's client tokens: (account, region, token) -> (the request's parameters, the volume it made)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str], tuple[dict[str, Any], Any]] = {}

    def get(self, backend: Any, token: str) -> tuple[dict[str, Any], Any] | None:
        with self._lock:
            return self._seen.get((backend.account_id, backend.region_name, token))

    def put(self, backend: Any, token: str, request: dict[str, Any], volume: Any) -> None:
        with self._lock:
            self._seen[(backend.account_id, backend.region_name, token)] = (request, volume)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


BEHAVIOUR = SnapshotBehaviour()
CREATED = CreatedSnapshots()
LIMITS = VolumeLimits()
CLIENT_TOKENS = ClientTokens()
# Creation order of snapshots and volumes: how moto lists them (its dicts' insertion order), kept by indexed lookups.
SEQUENCE = itertools.count()


def reset() -> None:
    """Forget the snapshot behaviour settings, the record of created snapshots, the per-volume marks and client
    tokens, and every consistency delay (moto's state is reset apart)."""
    global BEHAVIOUR
    BEHAVIOUR = SnapshotBehaviour()
    CREATED.clear()
    LIMITS.clear()
    CLIENT_TOKENS.clear()
    VISIBILITY.clear()


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
    (a snapshot seeded as part of a world). A copy (`emulator.copies`) carries its time-based copy fields; a lock
    (`emulator.locks`) is kept on the snapshot it locks.
    """

    completion_duration_minutes: int | None = None
    transfer_type: str | None = None
    lock: Any = None

    def __init__(self, *args: Any, settled: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sequence = next(SEQUENCE)
        self.created_at = time.monotonic()
        self._storage_tier = "standard"
        self.restore: Restore | None = None
        # AWS fixes a snapshot's size when it is taken; resizing the volume later does not change it.
        self.fixed_volume_size: int = self.volume.size
        if self.encrypted and not self.kms_key_id:
            # EBS encryption guide: a snapshot of an encrypted volume is encrypted with the volume's key.
            self.kms_key_id = self.volume.kms_key_id or default_kms_key(self.ec2_backend)
        index.of(self.ec2_backend).snapshot_added(self.volume.id, self.id)
        VISIBILITY.created(self.id)
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

    @property
    def restore_expiry_time(self) -> datetime | None:
        """When a temporary restore ends (DescribeSnapshots' RestoreExpiryTime); None otherwise."""
        if self.restore is None or self.restore.permanent or not self.restore.finished():
            return None
        return self.restore.expires_at()

    @property
    def storage_tier(self) -> str:
        self._settle_restore()
        return self._storage_tier

    @storage_tier.setter
    def storage_tier(self, tier: str) -> None:
        self._storage_tier = tier

    def usable(self) -> bool:
        """Whether a volume can be made from it: in the standard tier, or temporarily restored and not expired."""
        if self.storage_tier != "archive":
            return True
        return self.restore is not None and self.restore.finished() and not self.restore.expired()

    def _settle_restore(self) -> None:
        # A permanent restore moves the snapshot to the standard tier once finished; a temporary one ends by expiring.
        restore = self.restore
        if restore is not None and restore.finished() and (restore.permanent or restore.expired()):
            if restore.permanent:
                self._storage_tier = "standard"
            self.restore = None

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

    def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "status":
            return self.status
        if filter_name == "storage-tier":
            return self.storage_tier
        if filter_name == "volume-size":
            return self.volume_size
        return super().get_filter_value(filter_name, method_name)


@dataclass
class Restore:
    """A RestoreSnapshotTier in progress or done, on `strict.CLOCK` (wall seconds)."""

    started_at: float
    seconds: float
    permanent: bool
    days: int

    def finished(self) -> bool:
        return strict.CLOCK.wall() >= self.started_at + self.seconds

    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.started_at + self.seconds + self.days * 86400, UTC).replace(tzinfo=None)

    def expired(self) -> bool:
        return not self.permanent and strict.CLOCK.wall() >= self.started_at + self.seconds + self.days * 86400


class EmulatedVolume(elastic_block_store.Volume):
    """A volume that keeps its creation order and can linger, `deleting`, in listings after DeleteVolume."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sequence = next(SEQUENCE)
        self.deleting = False
        VISIBILITY.created(self.id)

    @property
    def status(self) -> str:
        if self.deleting:
            return "deleting"
        return "in-use" if self.attachment else "available"


class EmulatedAmi(amis.Ami):
    """An AMI that keeps the block device mappings it was registered with (moto keeps only a snapshot of its own)."""

    registered_mappings: list[dict[str, Any]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        VISIBILITY.created(self.id)

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


def resource_tags(resource: Any) -> list[dict[str, str]]:
    """Any EC2 resource's tags as moto's `TaggedEC2Resource.get_tags` gives them, as Describe* sees them now.

    moto's own scans every tag in the account, compiling a pattern, for each resource a tag filter or a response looks
    at: a DescribeSnapshots by tag cost O(snapshots x tags), and with 64 snapshots the emulator's CPU, not the
    provider, set the pace of `pulumi up` (bench/bench_stack.py). Same result, one dict lookup.
    """
    if not resource.id:
        return []
    tags = VISIBILITY.visible_tags(resource.id, resource.ec2_backend.tags.get(resource.id, {}))
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource.id), "")
    return [{"resource_id": resource.id, "key": k, "value": v, "resource_type": resource_type} for k, v in tags.items()]


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
    backend: Any,
    snapshot_ids: list[str],
    filters: dict[str, Any],
    owner_ids: list[str],
    max_results: int | None = None,
    next_token: str | None = None,
) -> tuple[list[EmulatedSnapshot], str | None]:
    """DescribeSnapshots: by id (one missing id fails the whole call), filters (looked up through `emulator.index`,
    then checked as moto checks them), OwnerIds (moto ignores it, answering with every AMI's snapshot too), pages.

    Returns one page and the token of the next (None at the end). An owner is an account id or `self`; an alias
    such as `amazon` matches no snapshot here. What eventual consistency hides is left out (by id: NotFound).
    """
    check_page_request(max_results, bool(snapshot_ids), "SnapshotIds", PAGE_BOUNDS["DescribeSnapshots"])
    ghosts = VISIBILITY.ghosts(backend, "snapshot")
    narrowed: set[str] | None = None
    if snapshot_ids:
        snapshots = [_snapshot_by_id(backend, ghosts, snapshot_id) for snapshot_id in snapshot_ids]
    else:
        narrowed = index.narrowed_ids(backend, filters, VISIBILITY.pending_tag_holders) if filters else None
        if narrowed is None:
            candidates = [*backend.snapshots.values(), *ghosts.values()]
        else:
            candidates = [s for i in narrowed if (s := backend.snapshots.get(i) or ghosts.get(i)) is not None]
        snapshots = [s for s in candidates if not VISIBILITY.hidden(s.id)]
    if snapshot_ids or narrowed is not None or ghosts:
        snapshots.sort(key=_sequence)  # the account's own order (moto's dict is already in it)
    if filters:
        snapshots = generic_filter(filters, snapshots)
    if owner_ids:
        owners = {backend.account_id if owner == "self" else owner for owner in owner_ids}
        snapshots = [s for s in snapshots if s.owner_id in owners]
    return page(snapshots, max_results, next_token)


def _snapshot_by_id(backend: Any, ghosts: dict[str, Any], snapshot_id: str) -> Any:
    snapshot = backend.snapshots.get(snapshot_id) or ghosts.get(snapshot_id)
    if snapshot is None or VISIBILITY.hidden(snapshot_id):
        raise InvalidSnapshotNotFound(snapshot_id)
    return snapshot


def describe_volumes(
    backend: Any,
    volume_ids: list[str],
    filters: dict[str, Any],
    max_results: int | None = None,
    next_token: str | None = None,
) -> tuple[list[Any], str | None]:
    """DescribeVolumes as moto answers it, less what eventual consistency hides, plus deleted volumes still listed
    (`deleting`), in pages."""
    check_page_request(max_results, bool(volume_ids), "VolumeIds", PAGE_BOUNDS["DescribeVolumes"])
    ghosts = VISIBILITY.ghosts(backend, "volume")
    if volume_ids:
        volumes = []
        for volume_id in volume_ids:
            volume = backend.volumes.get(volume_id) or ghosts.get(volume_id)
            if volume is None or VISIBILITY.hidden(volume_id):
                raise InvalidVolumeNotFound(volume_id)
            volumes.append(volume)
    else:
        volumes = [v for v in [*backend.volumes.values(), *ghosts.values()] if not VISIBILITY.hidden(v.id)]
    volumes = sorted(volumes, key=_sequence)
    if filters:
        volumes = generic_filter(filters, volumes)
    return page(volumes, max_results, next_token)


def visible_images(
    backend: Any, images: list[Any], ami_ids: list[str], filters: dict[str, Any], owners: list[str]
) -> list[Any]:
    """DescribeImages' answer (moto's) less what eventual consistency hides, plus deregistered images still listed."""
    for ami_id in ami_ids:
        if VISIBILITY.hidden(ami_id):
            raise not_found(ami_id)
    shown = [i for i in images if not VISIBILITY.hidden(i.id)]
    ghosts = list(VISIBILITY.ghosts(backend, "image").values())
    if ami_ids:
        ghosts = [g for g in ghosts if g.id in ami_ids]
    else:
        if owners:
            wanted = {backend.account_id if o == "self" else o for o in owners}
            ghosts = [g for g in ghosts if g.owner_id in wanted or g.owner_alias in wanted]
        if filters:
            ghosts = generic_filter(filters, ghosts)
    return shown + ghosts


# DescribeSnapshots: "This value can be between 5 and 1,000; if this value is larger than 1,000, only 1,000 results are
# returned ... You cannot specify this parameter and the snapshot IDs parameter in the same request" (API reference,
# DescribeSnapshots MaxResults). DescribeVolumes: 5 to 500 (API reference, DescribeVolumes MaxResults).
PAGE_BOUNDS = {"DescribeSnapshots": (5, 1000), "DescribeVolumes": (5, 500)}


def check_page_request(max_results: int | None, ids_given: bool, ids_name: str, bounds: tuple[int, int]) -> None:
    """The pagination rules EC2 enforces (strict `parameter_rules` only: moto accepts anything)."""
    if max_results is None or not strict.SETTINGS.parameter_rules:
        return
    if ids_given:
        raise InvalidParameterCombination(f"The parameter {ids_name} cannot be used with the parameter MaxResults")
    if max_results < bounds[0]:
        raise InvalidParameterValue(
            f"Value ( {max_results} ) for parameter maxResults is invalid. Expecting a value greater than {bounds[0]}."
        )


def page(items: list[Any], max_results: int | None, next_token: str | None) -> tuple[list[Any], str | None]:
    """One page of `items` (in creation order) after `next_token`, and the next page's token (None at the end).

    The token names the last item returned, so items created or deleted between pages neither repeat nor shift.
    """
    if next_token:
        after = _token_sequence(next_token)
        items = [i for i in items if _sequence(i) > after]
    if max_results is None:
        return items, None
    size = max(1, min(max_results, PAGE_BOUNDS["DescribeSnapshots"][1]))
    chunk = items[:size]
    more = len(items) > size
    return chunk, _token(_sequence(chunk[-1])) if more else None


def _sequence(resource: Any) -> int:
    return int(getattr(resource, "sequence", -1))


def _token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"emulator:{sequence}".encode()).decode()


def _token_sequence(token: str) -> int:
    try:
        prefix, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "emulator":
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidNextToken(token)


# EC2 user guide, "Tag your Amazon EC2 resources", tag restrictions: keys up to 128 characters, values up to 256, and
# the `aws:` prefix reserved for AWS's own tags.
MAX_TAG_KEY, MAX_TAG_VALUE, RESERVED_TAG_PREFIX = 128, 256, "aws:"


def check_tags(tags: dict[str, str]) -> None:
    """The tag restrictions EC2 enforces on a request's tags (strict `parameter_rules` only: moto accepts them)."""
    if not strict.SETTINGS.parameter_rules:
        return
    for key, value in tags.items():
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise InvalidParameterValue(
                f"Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal"
                " use"
            )
        if not key or len(key) > MAX_TAG_KEY:
            raise InvalidParameterValue(f"Tag key {key!r} must be 1 to {MAX_TAG_KEY} characters long")
        if len(value or "") > MAX_TAG_VALUE:
            raise InvalidParameterValue(f"Tag value for key {key!r} must be at most {MAX_TAG_VALUE} characters long")


def pending_snapshots_of(backend: Any, volume_id: str) -> int:
    """How many snapshots of this volume are `pending` now (through the volume index, not a scan)."""
    return sum(
        1
        for snapshot_id in index.of(backend).snapshots_of(volume_id)
        if (s := backend.snapshots.get(snapshot_id)) is not None and s.status == "pending"
    )


def create_snapshot(backend: Any, volume_id: str, description: str, tags: dict[str, str]) -> EmulatedSnapshot:
    """CreateSnapshot, refused as EC2 refuses it over the strict per-volume limits."""
    backend.get_volume(volume_id)  # InvalidVolume.NotFound first, as EC2 answers
    check_tags(tags)
    LIMITS.check_and_mark(backend, [volume_id])
    snapshot: EmulatedSnapshot = backend.create_snapshot(volume_id, description)
    snapshot.add_tags(tags)
    return snapshot


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
    check_tags(tags)
    # The per-volume limits apply to each member volume; one over them refuses the whole call.
    LIMITS.check_and_mark(backend, chosen)

    snapshots = []
    for volume_id in chosen:
        snapshot = backend.create_snapshot(volume_id, description=description)
        if copy_volume_tags:
            snapshot.add_tags(dict(backend.tags.get(volume_id, {})))
        snapshot.add_tags(tags)
        snapshots.append(snapshot)
    return snapshots


def modify_snapshot_tier(backend: Any, snapshot_id: str, tier: str) -> EmulatedSnapshot:
    snapshot: EmulatedSnapshot = backend.get_snapshot(snapshot_id)
    if snapshot.status != "completed":
        raise IncorrectState(f"Snapshot {snapshot_id} is {snapshot.status}; only completed snapshots can be archived")
    if tier != "archive":
        raise InvalidParameterValue(f"Unsupported StorageTier {tier!r}: only 'archive' can be requested")
    snapshot.restore = None
    tiers.start_archival(snapshot)  # archived at once, or after `archive_seconds`
    return snapshot


def restore_snapshot_tier(
    backend: Any, snapshot_id: str, temporary_days: int | None, permanent: bool
) -> tuple[EmulatedSnapshot, Restore]:
    """RestoreSnapshotTier (EC2 API reference): temporarily for `temporary_days`, or permanently. Takes
    `restore_seconds` (EBS user guide: 24 to 72 hours; lenient mode: at once). A temporary restore in progress or done
    can be changed by calling again, as the API reference allows."""
    snapshot: EmulatedSnapshot = backend.get_snapshot(snapshot_id)
    snapshot.usable()  # settles a finished restore
    if temporary_days is not None and permanent:
        raise InvalidParameterCombination("Specify either TemporaryRestoreDays or PermanentRestore, not both")
    if temporary_days is None and not permanent:
        raise MissingParameter("TemporaryRestoreDays is required for a temporary restore (or set PermanentRestore)")
    if temporary_days is not None and temporary_days < 1:
        raise InvalidParameterValue(f"TemporaryRestoreDays must be at least 1 (got {temporary_days})")
    if snapshot.storage_tier != "archive":
        raise IncorrectState(f"Snapshot {snapshot_id} is not in the archive tier; only archived snapshots are restored")
    previous = snapshot.restore
    if previous is not None and previous.permanent:
        raise IncorrectState(f"Snapshot {snapshot_id} is already being restored permanently")
    if previous is not None:
        # Modifying a temporary restore keeps its progress; only its period or type changes.
        restore = Restore(previous.started_at, previous.seconds, permanent, temporary_days or 0)
    else:
        seconds = BEHAVIOUR.draw(strict.SETTINGS.restore_seconds)
        restore = Restore(strict.CLOCK.wall(), seconds, permanent, temporary_days or 0)
    snapshot.restore = restore
    return snapshot, restore


@dataclass(frozen=True)
class VolumeRequest:
    """A CreateVolume request's parameters, as they decide the volume (ClientToken compares them)."""

    size: int | None
    zone: str
    snapshot_id: str | None = None
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    multi_attach_enabled: bool | None = None
    tags: tuple[tuple[str, str], ...] = ()


def create_volume(backend: Any, request: VolumeRequest, client_token: str | None) -> Any:
    """CreateVolume as EC2 does it: ClientToken idempotency, no volume from an archived snapshot not yet restored
    (strict), and a volume from an encrypted snapshot encrypted with the snapshot's key unless another is named."""
    if client_token and strict.SETTINGS.client_token_idempotency:
        seen = CLIENT_TOKENS.get(backend, client_token)
        if seen is not None:
            if seen[0] != request.__dict__:
                raise IdempotentParameterMismatch(client_token)
            return seen[1]
    if request.kms_key_id and not request.encrypted:
        # The botocore model's CreateVolume KmsKeyId: "If KmsKeyId is specified, the encrypted state must be true."
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    check_tags(dict(request.tags))
    encrypted, kms_key_id = request.encrypted, request.kms_key_id
    if request.snapshot_id:
        snapshot = backend.get_snapshot(request.snapshot_id)
        smallest = snapshot.volume_size
        if request.size is not None and request.size < smallest and strict.SETTINGS.parameter_rules:
            # botocore model, CreateVolume `Size`: "a volume size that is equal to or larger than the snapshot size".
            raise InvalidParameterValue(
                f"Volume of size {request.size} is smaller than snapshot '{snapshot.id}', expect size >= {smallest}"
            )
        archived = isinstance(snapshot, EmulatedSnapshot) and not snapshot.usable()
        if archived and strict.SETTINGS.archive_restore_required:
            raise IncorrectState(
                f"Snapshot {snapshot.id} is in the archive tier: restore it with RestoreSnapshotTier and wait for the "
                "restore to finish before creating a volume from it"
            )
        if snapshot.encrypted:
            encrypted = True
            kms_key_id = kms_key_id or snapshot.kms_key_id
    volume = backend.create_volume(
        size=request.size,
        zone_name=request.zone,
        snapshot_id=request.snapshot_id,
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        volume_type=request.volume_type,
        iops=request.iops,
        throughput=request.throughput,
        multi_attach_enabled=request.multi_attach_enabled,
    )
    volume.add_tags(dict(request.tags))
    if client_token:
        CLIENT_TOKENS.put(backend, client_token, request.__dict__, volume)
    return volume


def delete_volume(backend: Any, volume_id: str) -> Any:
    """DeleteVolume (moto's), the volume lingering in listings as `deleting` for `deleted_listing_delay`."""
    volume: Any = MOTO_DELETE_VOLUME(backend, volume_id)
    if VISIBILITY.deleted(backend, "volume", volume):
        volume.deleting = True
    return volume


def deregister_image(backend: Any, image_id: str) -> None:
    """DeregisterImage (moto's), the image lingering in listings for `deleted_listing_delay`."""
    image = backend.amis.get(image_id)
    MOTO_DEREGISTER_IMAGE(backend, image_id)
    if image is not None:
        VISIBILITY.deleted(backend, "image", image)


def default_kms_key(backend: Any) -> str:
    """The account-region's default EBS key (moto makes `alias/aws/ebs` on first use, as AWS does)."""
    return str(backend.default_kms_key_id or backend._create_default_encryption_key())


MOTO_DELETE_VOLUME = elastic_block_store.EBSBackend.delete_volume
MOTO_DEREGISTER_IMAGE = amis.AmiBackend.deregister_image


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
    """DeleteSnapshot, refused while the snapshot is locked (`emulator.locks`) and with InvalidSnapshot.InUse while an
    AMI uses the snapshot (as AWS does); the snapshot lingers in listings for `deleted_listing_delay`."""
    if snapshot_id not in backend.snapshots:
        raise InvalidSnapshotNotFound(snapshot_id)
    locks.check_deletable(backend.snapshots[snapshot_id])
    users = images_using(backend, snapshot_id)
    if users:
        raise InvalidSnapshotInUse(snapshot_id, users[0])
    snapshot: EmulatedSnapshot = backend.snapshots.pop(snapshot_id)
    VISIBILITY.deleted(backend, "snapshot", snapshot)
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
