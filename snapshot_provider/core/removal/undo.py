"""The undo: the volume restored from its snapshot, exactly once however often it runs (a client token, and a tag
looked for first), waited for until `available`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from snapshot_provider.core import holds, waiting
from snapshot_provider.core.removal import source, stored
from snapshot_provider.ec2 import cancel, clients, snapshots, undo_tags, volumes
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    WaitEnded,
    aws_errors,
)
from snapshot_provider.ec2.volumes import GONE
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.process.engine_log import duration

RESTORE_WAIT_SECONDS = 600.0
TIER_RESTORE_DAYS = 7
SAY_EVERY = 60.0

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def undo_source(
    ec2: EC2Client, account: AccountSelection, account_id: str, props: Mapping[str, Any], *, account_known: bool
) -> dict[str, Any]:
    """The snapshot to restore from, usable now; else an error that says what happened and what to do."""
    volume_id, snapshot_id = props["volume_id"], props["snapshot_id"]
    snapshot = source.find_snapshot(ec2, snapshot_id)
    if snapshot is None and not account_known:
        raise SnapshotProviderError(_not_in_this_account(account, account_id, volume_id, snapshot_id))
    if snapshot is None:
        was = f" (it was {props['size']:g} GiB {props.get('volume_type')} in {props.get('availability_zone')})"
        raise SnapshotProviderError(
            f"cannot restore volume {volume_id}: its snapshot {snapshot_id} no longer exists in account {account_id}, "
            f"{account.region}: it was deleted outside this removal, although it carried the hold "
            f"{undo_tags.HOLD_TAG}={volume_id}. Nothing was changed. If a Recycle Bin retention rule covers snapshots, "
            f"recover it (aws rbin list-resources --resource-type EBS_SNAPSHOT; aws ec2 "
            f"restore-snapshot-from-recycle-bin --snapshot-id {snapshot_id}) and run `pulumi destroy` again. If it "
            f"cannot be recovered, the volume's data is lost{was if props.get('size') else ''}: `pulumi state delete "
            f"{props.get(URN_INPUT) or '<this resource URN>'}` lets the stack be destroyed."
        )
    if snapshot.get("StorageTier") == "archive":
        status = source.tier_status(ec2, snapshot_id)
        if not _restored_for_now(status):
            _restore_tier(ec2, volume_id, snapshot_id, status)
    return snapshot


def _not_in_this_account(account: AccountSelection, account_id: str, volume_id: str, snapshot_id: str) -> str:
    """State from 0.1.0 does not say which account the volume was removed in: a snapshot missing here may be fine in
    another account, so nothing is concluded from its absence."""
    return (
        f"cannot restore volume {volume_id}: its snapshot {snapshot_id} is not in account {account_id}, "
        f"{account.region}, where {clients.credentials_in_use(account)} act, and this resource's state (made before "
        "removals recorded their account) does not say which account the volume was removed in. Nothing was "
        f"changed. Run `pulumi destroy` again with credentials for that account ({clients.CREDENTIALS_FOR}). If it is "
        f'account {account_id} after all, say so: set allowed_account_ids=["{account_id}"] on this VolumeRemoval '
        "and run `pulumi up`, then `pulumi destroy` again, which then says what can be done about the snapshot."
    )


def _restored_for_now(status: Mapping[str, Any]) -> bool:
    """An archived snapshot whose restore finished and has not expired: a volume can be made from it."""
    if status.get("LastTieringOperationStatus") not in ("temporary-restore-completed", "permanent-restore-completed"):
        return False
    expiry = status.get("RestoreExpiryTime")
    return expiry is None or snapshots.aware(expiry) > datetime.now(UTC)


def _restore_tier(ec2: EC2Client, volume_id: str, snapshot_id: str, status: Mapping[str, Any]) -> None:
    """The undo source was archived by hand: start a temporary restore (unless one runs) and say when to come back."""
    running = str(status.get("LastTieringOperationStatus") or "").endswith("restore-in-progress")
    if running:
        started = f"a restore from the archive tier has been running since {status.get('LastTieringStartTime')}"
    else:
        with aws_errors(
            "restoring the snapshot from the archive tier (ec2:RestoreSnapshotTier)", snapshot_id=snapshot_id
        ):
            ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=TIER_RESTORE_DAYS)
        started = (
            f"this destroy started a temporary restore of it for {TIER_RESTORE_DAYS} days (ec2:RestoreSnapshotTier)"
        )
    raise SnapshotProviderError(
        f"cannot restore volume {volume_id} yet: its snapshot {snapshot_id} is in the archive tier, and no volume can "
        f"be made from it until it is back in the standard tier, which takes 24 to 72 hours; {started}. Nothing else "
        f"was changed. Run `pulumi destroy` again once `aws ec2 describe-snapshot-tier-status --filters "
        f"Name=snapshot-id,Values={snapshot_id}` says temporary-restore-completed (within {TIER_RESTORE_DAYS} days "
        "of that, before it is archived again)."
    )


def find_restored(ec2: EC2Client, volume_id: str) -> str | None:
    """The volume an earlier undo of this removal made (tagged with it), if any."""
    with aws_errors("looking for a volume restored earlier (ec2:DescribeVolumes)", volume_id=volume_id):
        volumes = ec2.describe_volumes(Filters=[{"Name": f"tag:{undo_tags.RESTORED_TAG}", "Values": [volume_id]}])
    usable = [v for v in volumes.get("Volumes", []) if v["State"] not in (*GONE, "error")]
    failed = [v["VolumeId"] for v in volumes.get("Volumes", []) if v["State"] == "error"]
    if not usable and failed:
        raise SnapshotProviderError(
            f"the volume restored for {volume_id} ({', '.join(failed)}) ended in state error: EC2 could not create "
            f"it. Delete it (aws ec2 delete-volume --volume-id {failed[0]}), then run `pulumi destroy` again."
        )
    return str(usable[0]["VolumeId"]) if usable else None


def client_token(volume_id: str, snapshot_id: str, after: str | None = None) -> str:
    """The same for every attempt of one removal's undo (at most 64 ASCII characters); `after` a restored volume
    deleted since, another one, the same every time."""
    key = f"{volume_id}/{snapshot_id}" + (f"/after/{after}" if after else "")
    return "undo-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def restore_request(
    volume_id: str, snapshot_id: str, record: Mapping[str, Any], after: str | None = None
) -> dict[str, Any]:
    """CreateVolume's parameters for the restored volume (pure)."""
    tags = {**(record.get("volume_tags") or {}), "restored-from": volume_id, undo_tags.RESTORED_TAG: volume_id}
    request: dict[str, Any] = {
        "SnapshotId": snapshot_id,
        "AvailabilityZone": record["availability_zone"],
        "Size": int(record["size"]),  # numbers come back from Pulumi state as floats
        "VolumeType": record["volume_type"],
        "ClientToken": client_token(volume_id, snapshot_id, after),
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
        ],
    }
    request.update(holds.restore_performance(record))
    if record.get("encrypted"):
        # EC2 refuses KmsKeyId without Encrypted (InvalidParameterDependency).
        request["Encrypted"] = True
        if record.get("kms_key_id"):
            request["KmsKeyId"] = record["kms_key_id"]
    if record.get("multi_attach_enabled"):
        request["MultiAttachEnabled"] = True
    return request


def create_restored(
    account: AccountSelection, volume_id: str, snapshot_id: str, record: Mapping[str, Any], after: str | None = None
) -> str:
    """CreateVolume with the removal's client token: a retry after a lost answer returns the same volume, and one
    that finds it by its tag first makes none."""
    request = restore_request(volume_id, snapshot_id, record, after)
    once = clients.client(account, single_attempt=True)
    ec2 = clients.client(account)
    return volumes.call_once(
        lambda: str(once.create_volume(**request)["VolumeId"]),
        lambda: find_restored(ec2, volume_id),
        "restoring the volume from its snapshot (ec2:CreateVolume)",
        snapshot_id=snapshot_id,
        region=account.region,
    )


def wait_available(ec2: EC2Client, restored: str, props: Mapping[str, Any]) -> None:
    """Until the restored volume is `available`; missing from listings for a while at first is normal."""
    volume_id = props["volume_id"]
    stored.say(props, f"restoring volume {volume_id} as {restored}: waiting until it is available")
    said = [0.0]

    def look() -> str | None:
        volume = volumes.look_up(ec2, restored)
        return None if volume is None else str(volume["State"])

    def settled(state: str | None, elapsed: float) -> bool:
        return state in ("available", "in-use", "error", "deleting", "deleted") or (
            state is None and elapsed >= waiting.consistency_window()
        )

    started = time.monotonic()

    def tell(state: str | None, elapsed: float) -> None:
        if elapsed - said[0] >= SAY_EVERY:
            said[0] = elapsed
            stored.say(props, f"restored volume {restored} is {state or 'not listed yet'} after {duration(elapsed)}")

    again = "Run `pulumi destroy` again: the restored volume is found by its tag and waited for, not made again."
    try:
        state = waiting.until(
            look,
            lambda s: settled(s, time.monotonic() - started),
            RESTORE_WAIT_SECONDS,
            what=f"for restored volume {restored} to be available",
            on_look=tell,
            started=started,
        )
    except cancel.LookCancelled as cancelled:
        raise WaitEnded(f"{cancelled}; the snapshot stays held for the undo. {again}") from None
    if state in ("available", "in-use"):
        return
    if state is None or state in GONE:
        raise RestoredVolumeGone(restored)
    if state == "creating":
        raise SnapshotProviderError(
            f"restored volume {restored} of {volume_id} is still creating after "
            f"{duration(RESTORE_WAIT_SECONDS)}. {again}"
        )
    raise SnapshotProviderError(
        f"restored volume {restored} of {volume_id} is {state}: EC2 could not create it. Delete it if it is still "
        f"there (aws ec2 delete-volume --volume-id {restored}), then run `pulumi destroy` again."
    )


class RestoredVolumeGone(SnapshotProviderError):
    def __init__(self, restored: str) -> None:
        super().__init__(
            f"restored volume {restored} is gone (deleted, or never listed by EC2 within "
            f"{duration(waiting.consistency_window())}). Run `pulumi destroy` again: a volume it finds by its "
            "tag is waited for, not made again."
        )
