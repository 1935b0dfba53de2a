"""The removal's checks and its hold: only an `available` volume with a usable snapshot is deleted, and only once
the snapshot is held with the restore record on it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pulumi

from snapshot_provider.core import holds
from snapshot_provider.core.removal import source, stored
from snapshot_provider.ec2 import clients, snapshots, undo_tags
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
)
from snapshot_provider.inputs import rules

# The restored volume carries `restored-from` and the managed tag besides the original's tags.
ADDED_VOLUME_TAGS = 2

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def refuse_unless_safe(ec2: EC2Client, volume: Mapping[str, Any], snapshot_id: str) -> dict[str, Any]:
    """The undo source, once the volume and it are found fit for a removal that can be undone."""
    volume_id = volume["VolumeId"]
    if volume["State"] != "available":
        attached = ", ".join(a.get("InstanceId", "?") for a in volume.get("Attachments", [])) or "unknown"
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it is {volume['State']} (attached to {attached}); only "
            "unattached (available) volumes are cleaned up"
        )
    return source.require_undo_source(ec2, volume_id, snapshot_id, f"refusing to delete volume {volume_id}")


def restore_record(volume: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "availability_zone": volume["AvailabilityZone"],
        "size": volume["Size"],
        "volume_type": volume.get("VolumeType", "gp3"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "multi_attach_enabled": bool(volume.get("MultiAttachEnabled")),
        "volume_tags": snapshots.tags_of(volume.get("Tags")),
    }


def refuse_if_tags_do_not_fit(volume_id: str, record: Mapping[str, Any]) -> None:
    count = len(record["volume_tags"]) + ADDED_VOLUME_TAGS
    if count > rules.MAX_TAGS:
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it has {len(record['volume_tags'])} tags, and the restored volume "
            f"would carry {ADDED_VOLUME_TAGS} more (restored-from, {undo_tags.RESTORED_TAG}): {count}, over EC2's "
            f"{rules.MAX_TAGS}. Nothing was changed: remove {count - rules.MAX_TAGS} of its tags first."
        )


def hold(
    ec2: Any,
    snapshot: Mapping[str, Any],
    volume_id: str,
    record: Mapping[str, Any],
    owner: str,
    urn: str | None,
    *,
    release_on_failure: bool = True,
) -> None:
    """Hold the snapshot for `owner`, of the resource `urn`, with the record, visibly, before anything is deleted;
    refuse, changing nothing, if the tags cannot fit. `release_on_failure=False` where the volume is already gone:
    its hold must stay."""
    snapshot_id = snapshot["SnapshotId"]
    wanted = undo_tags.hold_tags(volume_id, {"at": round(time.time(), 3), **record, "urn": urn}, owner)
    problem = undo_tags.no_room(snapshot_id, snapshot.get("Tags"), wanted)
    if problem:
        raise SnapshotProviderError(
            f"refusing to hold {snapshot_id} for the undo of volume {volume_id}: {problem}. Nothing was changed."
        )
    holds.place(ec2, snapshot, wanted)
    try:
        holds.confirm(ec2, snapshot_id, wanted)
    except SnapshotProviderError:
        if release_on_failure:
            holds.release(ec2, snapshot_id, volume_id)
        raise


def hold_upgraded(
    ec2: EC2Client, account_id: str, olds: Mapping[str, Any], owner: str, urn: str | None, *, declared: bool
) -> None:
    """Hold the snapshot of a removal made before holds existed (its volume is gone already: no release on
    failure), with the record from state. A snapshot missing from the account the user declared (the one
    `allowed_account_ids` names) is said, not refused: there is nothing to hold, and `pulumi destroy` then says what
    can be done."""
    volume_id, snapshot_id = olds["volume_id"], olds["snapshot_id"]
    snapshot = source.find_snapshot(ec2, snapshot_id)
    if snapshot is None and declared:
        pulumi.log.warn(
            f"snapshot {snapshot_id}, from which `pulumi destroy` would restore the removed volume {volume_id}, does "
            f"not exist in account {account_id}: nothing to hold; `pulumi destroy` says what can be done"
        )
        return
    if snapshot is None or snapshot["VolumeId"] != volume_id:
        what = "is a snapshot of another volume" if snapshot else f"does not exist in account {account_id}"
        raise SnapshotProviderError(
            f"cannot hold snapshot {snapshot_id} for the undo of removed volume {volume_id} (state from before "
            f"removals held their snapshot): it {what}. Nothing was changed. If the volume was removed in another "
            f"account, run this with credentials for that account ({clients.CREDENTIALS_FOR}); `pulumi destroy` of "
            "this VolumeRemoval says what can be done otherwise."
        )
    hold(ec2, snapshot, volume_id, stored.record_from_state(olds) or {}, owner, urn, release_on_failure=False)
