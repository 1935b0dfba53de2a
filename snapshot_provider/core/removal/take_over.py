"""Taking over the undo of a removal whose volume is gone already (an earlier create cut short, or the resource
this one replaces), and telling a replaced resource's delete that its undo was taken over."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from snapshot_provider.core import waiting
from snapshot_provider.core.removal import remove, source, stored, undo
from snapshot_provider.ec2 import find, undo_tags
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    aws_errors,
)
from snapshot_provider.inputs.declarations import AccountSelection

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import TagTypeDef


def take_over(
    ec2: EC2Client, account: AccountSelection, volume_id: str, snapshot_id: str, owner: str, urn: str | None
) -> dict[str, Any]:
    """The record of a removal whose volume is already gone, its hold now `owner`'s: an earlier create of this
    resource that was cut short after DeleteVolume, or the resource this one replaces (same URN), whose delete then
    finds the take-over done and restores nothing. Else a refusal: another resource's undo is never taken."""
    snapshot = source.find_snapshot(ec2, snapshot_id)
    tags = (snapshot or {}).get("Tags")
    record = stored.complete(undo_tags.record_of(tags)) if undo_tags.holder_of(tags) == volume_id else None
    if snapshot is None or record is None:
        raise SnapshotProviderError(f"volume {volume_id} does not exist in {account.region}: nothing to delete")
    holder = undo_tags.holding_resource(tags)
    if holder is None or holder != urn:
        raise SnapshotProviderError(
            f"refusing to remove volume {volume_id}: it was removed already by another VolumeRemoval "
            f"({holder or 'one that did not record its URN'}), whose `pulumi destroy` restores it from {snapshot_id} "
            f"(hold {undo_tags.HOLD_TAG}={volume_id} on it). Nothing was changed. Only that resource, or its "
            "replacement, can hold the undo: remove this VolumeRemoval from this program, or destroy that one first "
            "(which brings the volume back) and run this again."
        )
    restored = undo.find_restored(ec2, volume_id)
    if restored is not None:
        raise SnapshotProviderError(
            f"volume {volume_id} was removed and already restored as {restored}: nothing to delete. To remove the "
            f"restored volume, use volume_id={restored}."
        )
    remove.hold(ec2, snapshot, volume_id, record, owner, urn, release_on_failure=False)
    mark_taken_over(ec2, snapshot_id, owner)
    return record


def mark_taken_over(ec2: EC2Client, snapshot_id: str, owner: str) -> None:
    """The take-over's last step: only now may the replaced resource's delete stand down. If this fails (or its
    answer is lost), the mark is taken back where it can be: the old delete then restores, which is safe."""
    mark: TagTypeDef = {"Key": undo_tags.TAKEN_OVER_TAG, "Value": owner}
    try:
        with aws_errors("marking the undo taken over (ec2:CreateTags)", snapshot_id=snapshot_id):
            ec2.create_tags(Resources=[snapshot_id], Tags=[mark])
    except BaseException:
        with contextlib.suppress(Exception):
            ec2.delete_tags(Resources=[snapshot_id], Tags=[mark])
        raise


def taken_over_by(ec2: EC2Client, props: Mapping[str, Any]) -> str | None:
    """The owner of the hold on this removal's snapshot, when a replacement of this resource (same URN) finished
    taking the undo over (`_take_over`), which it marks last. None when the hold is this resource's, another
    resource's, or a take-over that was cut short (its mark never shows within EC2's consistency window)."""
    snapshot_id = props["snapshot_id"]

    def look() -> undo_tags.Tags | None:
        try:
            with aws_errors("reading the snapshot's hold (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
                return find.snapshot(ec2, snapshot_id).get("Tags") or []
        except find.NotFound:
            return []  # no snapshot, no hold: nothing taken over

    def successor(tags: undo_tags.Tags | None) -> str | None:
        owner = undo_tags.owner_of(tags) if undo_tags.holder_of(tags) == props["volume_id"] else None
        urn = stored.urn(props)
        ours = urn is not None and undo_tags.holding_resource(tags) == urn  # a replacement of this very resource
        return owner if owner and owner != props.get("hold_owner") and ours else None

    tags = look()
    owner = successor(tags)
    if owner is None or undo_tags.taken_over_by(tags) == owner:
        return owner
    tags = waiting.until(
        look,
        lambda t: successor(t) != owner or undo_tags.taken_over_by(t) == owner,
        waiting.consistency_window(),
        what=f"for {snapshot_id} to show whether its undo was taken over",
        every=1.0,
    )
    return owner if successor(tags) == owner and undo_tags.taken_over_by(tags) == owner else None
