"""CopySnapshot as AWS documents it, across the emulator's regions and accounts (moto's copies only within one account,
completes at once, keeps the source's volume and ignores encryption rules and CompletionDurationMinutes).

Sources, named again where each rule is enforced:
- EC2 API reference, CopySnapshot (and botocore's model of it): the copy is made in the region the request is sent to,
  from `SourceRegion`/`SourceSnapshotId`; `Encrypted` encrypts a copy of an unencrypted snapshot, "Copies of encrypted
  snapshots are encrypted"; "If KmsKeyId is specified, the encrypted state must be true"; CompletionDurationMinutes
  "in 15 minute increments" (model: at most 2880); "Snapshots copies have an arbitrary source volume ID". It has no
  ClientToken: every call makes a new copy (see `copy_snapshot`).
- EBS user guide, "Copy an Amazon EBS snapshot": a snapshot shared with you (createVolumePermission) can be copied
  into your account; user-defined tags are not copied from the source.
- EBS user guide, "Encryption and snapshot copying": a copy of your own encrypted snapshot in its region keeps its
  KMS key unless another is named; otherwise (another region, or a snapshot shared with you) your default EBS key.
- EBS user guide, "Time-based copies": a copy with CompletionDurationMinutes completes within that duration.
- EC2 API reference, ModifySnapshotAttribute (and EBS user guide, "Share an Amazon EBS snapshot"): "Snapshots
  encrypted with your default KMS key cannot be shared with other accounts" (see `refuse_default_key_share`).
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import InvalidParameterDependency
from moto.ec2.utils import random_snapshot_id

from emulator import models
from emulator.exceptions import (
    IncorrectState,
    InvalidParameterValue,
    InvalidSnapshotNotFound,
    MissingParameter,
    OperationNotPermitted,
)

COPY_VOLUME_ID = "vol-ffffffff"  # what DescribeSnapshots shows as a copy's VolumeId on AWS: "arbitrary"
COMPLETION_MINUTES = (15, 2880, 15)  # lowest, highest, step


def copy_snapshot(
    backend: Any,
    *,
    source_region: str | None,
    source_snapshot_id: str | None,
    description: str | None,
    encrypted: bool,
    kms_key_id: str | None,
    completion_duration_minutes: int | None,
    tags: dict[str, str],
) -> models.EmulatedSnapshot:
    """CopySnapshot into `backend` (the account and region the request was sent to).

    No idempotence: CopySnapshot takes no ClientToken (botocore's model has none), so a retried call makes a second
    copy. A caller that may lose the answer tags the copy at creation (TagSpecifications) and looks it up by that tag.
    """
    if not source_region:
        raise MissingParameter("The request must contain the parameter SourceRegion")
    if not source_snapshot_id:
        raise MissingParameter("The request must contain the parameter SourceSnapshotId")
    if kms_key_id and not encrypted:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    _check_completion_minutes(completion_duration_minutes)
    models.check_tags(tags)
    source_backend, source = _source(backend.account_id, source_region, source_snapshot_id)
    if source.status != "completed":
        raise IncorrectState(
            f"Snapshot {source_snapshot_id} is {source.status}; only completed snapshots can be copied"
        )
    if isinstance(source, models.EmulatedSnapshot) and not source.usable():
        # EBS user guide, archive considerations: an archived snapshot must be restored before it can be used.
        raise IncorrectState(f"Snapshot {source_snapshot_id} is in the archive tier: restore it before copying it")
    copy_encrypted = bool(source.encrypted) or encrypted or bool(getattr(backend, "ebs_encryption_by_default", False))
    key = None
    if copy_encrypted:
        same_place = source_backend is backend
        key = kms_key_id or (source.kms_key_id if same_place and source.encrypted else None)
        key = key or models.default_kms_key(backend)
    copy = models.EmulatedSnapshot(
        backend,
        snapshot_id=random_snapshot_id(),
        volume=_placeholder_volume(backend, source.volume_size),
        description=description if description is not None else f"[Copied {source.id} from {source_region}]",
        encrypted=copy_encrypted,
        kms_key_id=key,
    )
    copy.fixed_volume_size = source.volume_size
    copy.completion_duration_minutes = completion_duration_minutes
    copy.transfer_type = "time-based" if completion_duration_minutes else "standard"
    copy.pending_seconds = models.BEHAVIOUR.copy_time(completion_duration_minutes)
    copy.fails = models.BEHAVIOUR.fail_copies
    backend.snapshots[copy.id] = copy
    copy.add_tags(tags)
    return copy


def _check_completion_minutes(minutes: int | None) -> None:
    lowest, highest, step = COMPLETION_MINUTES
    if minutes is not None and not (lowest <= minutes <= highest and minutes % step == 0):
        raise InvalidParameterValue(
            f"CompletionDurationMinutes must be {lowest} to {highest} minutes in {step}-minute increments "
            f"(got {minutes})"
        )


def _source(account_id: str, region: str, snapshot_id: str) -> tuple[Any, Any]:
    """The backend holding the source snapshot and the snapshot, if `account_id` may copy it; else NotFound."""
    from moto.ec2.models import ec2_backends

    for owner, regions in list(ec2_backends.items()):
        if region not in regions:
            continue
        source_backend = regions[region]
        snapshot = source_backend.snapshots.get(snapshot_id)
        if snapshot is None:
            continue
        if owner == account_id or _shared_with(snapshot, account_id):
            return source_backend, snapshot
    # EC2 answers a snapshot that is not yours and not shared with you as one that does not exist.
    raise InvalidSnapshotNotFound(snapshot_id)


def refuse_default_key_share(backend: Any, snapshot_id: str, user_ids: list[str]) -> None:
    """Refuse sharing (ModifySnapshotAttribute, createVolumePermission `add`) a snapshot encrypted with the account's
    default EBS key with another account: EC2 API reference, ModifySnapshotAttribute, "Snapshots encrypted with your
    default KMS key cannot be shared with other accounts"."""
    snapshot = backend.get_snapshot(snapshot_id)
    others = [user for user in user_ids if user != backend.account_id]
    if others and snapshot.encrypted and (not snapshot.kms_key_id or aws_managed(backend, snapshot.kms_key_id)):
        raise OperationNotPermitted("Encrypted snapshots with EBS default key cannot be shared")


def aws_managed(backend: Any, key_id: str) -> bool:
    """Whether `key_id` is an AWS managed key (aws/ebs) of the backend's account and region."""
    from moto.kms.models import kms_backends

    kms = kms_backends[backend.account_id][backend.region_name]
    try:
        return bool(kms.describe_key(key_id).key_manager == "AWS")
    except Exception:  # not a key of this account and region (moto raises NotFoundException)
        return False


def mark_default_key_aws_managed(backend: Any, key_arn: str) -> None:
    """The account's default EBS key (alias aws/ebs) is an AWS managed key: DescribeKey says KeyManager AWS (KMS
    developer guide, "AWS managed keys"); moto makes it as a customer's."""
    from moto.kms.models import kms_backends

    kms_backends[backend.account_id][backend.region_name].describe_key(key_arn).key_manager = "AWS"


def _shared_with(snapshot: Any, account_id: str) -> bool:
    # EBS user guide, "Share an Amazon EBS snapshot": createVolumePermission for the account, or public (group all).
    return account_id in snapshot.create_volume_permission_userids or "all" in snapshot.create_volume_permission_groups


def _placeholder_volume(backend: Any, size: int) -> Any:
    # A copy has no volume of the destination account: a volume object it keeps, outside the account's volumes (as a
    # world's snapshot of a deleted volume does).
    volume = backend.create_volume(size=size, zone_name=f"{backend.region_name}a")
    del backend.volumes[volume.id]
    volume.id = COPY_VOLUME_ID
    return volume
