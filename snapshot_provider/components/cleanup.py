"""Reversible cleanup of an unattached volume of uncertain ownership: snapshot (locked and copied elsewhere if asked),
wait, delete; `destroy` restores it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from snapshot_provider import EbsSnapshot, EbsSnapshotArgs, VolumeRemoval

from .protection import CopyTarget, copy_snapshot, refuse_bad_inputs
from .tagging import SnapshotPolicy, keep_first_dated_tags, tags_for


@dataclass
class ReversibleVolumeCleanupArgs:
    """`confirm_delete_volume` must repeat `volume_id`: the explicit opt-in. Without it, only the snapshot is taken.

    `lock`: EbsSnapshot's `lock` (e.g. `{"mode": "governance", "duration_days": 90}`), applied once the snapshot
    completed. `copies`: copy targets, each `region` and/or `role_arn` (a role in another account, which the
    snapshot must be shared with), optionally `kms_key_id` and `completion_duration_minutes`: one SnapshotCopy each.
    `keep_snapshot_on_undo`: `destroy` restores the volume and leaves the snapshot and its copies (needed to destroy
    while a lock holds the snapshot; without it the destroy fails naming the lock, after the volume is restored)."""

    volume_id: str
    policy: SnapshotPolicy
    confirm_delete_volume: str | None = None
    keep_snapshot_on_undo: bool = False
    lock: pulumi.Input[Mapping[str, Any]] | None = None
    copies: Sequence[CopyTarget] = ()


class ReversibleVolumeCleanup(pulumi.ComponentResource):
    """Snapshot a volume, then delete it; `destroy` brings it back from the snapshot.

    Order, the safety point: the volume is deleted only after the snapshot completed and was locked (`lock`: done by
    EbsSnapshot's create before it returns) and after every copy in `copies` completed (SnapshotCopy's create): the
    VolumeRemoval depends on all of them. Bad `lock` or `copies` are refused before anything is registered."""

    snapshot_id: pulumi.Output[str]
    wait_time: pulumi.Output[float]
    deleted_volume: pulumi.Output[dict[str, Any]] | None

    def __init__(
        self, name: str, args: ReversibleVolumeCleanupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        refuse_bad_inputs(name, args.lock, args.copies)
        super().__init__("ebs-snapshots:components:ReversibleVolumeCleanup", name, None, opts)
        tags = tags_for(args.policy, args.volume_id)
        kept = pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_snapshot_on_undo), keep_first_dated_tags()
        )
        inputs: EbsSnapshotArgs = {"volume_id": args.volume_id, "copy_volume_tags": True, "tags": tags}
        if args.lock is not None:  # only when given: a stack from before `lock` sees no change
            inputs["lock"] = args.lock
        self.snapshot = snapshot = EbsSnapshot(f"{name}-snapshot", inputs, opts=kept)
        # From the snapshot's resource id (its snapshot id, known once it completed and was locked), like the removal.
        self.copies = [copy_snapshot(name, snapshot.id, target, tags, kept) for target in args.copies]
        self.snapshot_id = snapshot.snapshot_id
        self.wait_time = snapshot.wait_time
        self.deleted_volume = None
        self.removal: VolumeRemoval | None = None
        if args.confirm_delete_volume is None:
            pulumi.log.info(
                f"{name}: snapshot only; set confirm_delete_volume={args.volume_id} to delete the volume", resource=self
            )
        else:
            if pulumi.runtime.is_dry_run():
                pulumi.log.warn(
                    f"{name}: will DELETE EBS volume {args.volume_id} once snapshot of it is completed"
                    f"{', locked' if args.lock else ''}{' and copied' if args.copies else ''}; "
                    "`pulumi destroy` restores it from that snapshot",
                    resource=self,
                )
            self.removal = removal = VolumeRemoval(
                f"{name}-delete-volume",
                volume_id=args.volume_id,
                # The snapshot's id is known only once EbsSnapshot's create returned, that is, once it completed.
                # Its resource id rather than its snapshot_id output: a preview of an in-place update (tags) knows
                # the id but not the outputs, which would show this removal changing when nothing will.
                snapshot_id=snapshot.id,
                confirm_delete_volume=args.confirm_delete_volume,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[snapshot, *self.copies]),
            )
            self.deleted_volume = pulumi.Output.all(
                removal.availability_zone, removal.size, removal.volume_type, removal.volume_tags
            ).apply(
                lambda v: {
                    "volume_id": args.volume_id,
                    "availability_zone": v[0],
                    "size": v[1],
                    "volume_type": v[2],
                    "tags": v[3],
                }
            )
        self.register_outputs(
            {"snapshot_id": self.snapshot_id, "wait_time": self.wait_time, "deleted_volume": self.deleted_volume}
        )
