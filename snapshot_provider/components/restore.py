"""Restore path: volumes re-created from snapshot ids, so a decommission is reversible from the same stack."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass
class RestoreVolumesArgs:
    """Re-create `volume_ids` (the originals) from `snapshot_ids` (original volume id -> snapshot id)."""

    snapshot_ids: pulumi.Input[Mapping[str, str]]
    volume_ids: Sequence[str]
    availability_zone: pulumi.Input[str]
    volume_type: str = "gp3"
    tags: Mapping[str, str] = field(default_factory=dict)


class RestoreVolumes(pulumi.ComponentResource):
    """One `aws.ebs.Volume` per original volume, from its snapshot, tagged `restored-from`; `volume_ids` maps each
    original to its restored volume.

    A restored volume is created from the snapshot once and then lives its own life: it gets attached and written
    to. So a new snapshot id for it (the set replaced, a new take) is ignored (`ignore_changes`): EC2 cannot change a
    volume's snapshot, and replacing the volume would throw away everything written since it was restored. To
    restore from newer snapshots, add another RestoreVolumes beside this one: new volumes, the ones in use kept.
    """

    volume_ids: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: RestoreVolumesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ebs-snapshots:components:RestoreVolumes", name, None, opts)
        snapshot_ids = pulumi.Output.from_input(args.snapshot_ids)
        restored: dict[str, pulumi.Output[str]] = {}
        self.volumes: dict[str, aws.ebs.Volume] = {}
        for original in args.volume_ids:
            volume = aws.ebs.Volume(
                f"{name}-{original}",
                snapshot_id=snapshot_ids.apply(functools.partial(_snapshot_of, volume_id=original)),
                availability_zone=args.availability_zone,
                type=args.volume_type,
                tags={**args.tags, "restored-from": original},
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["snapshot_id"]),
            )
            self.volumes[original] = volume
            restored[original] = volume.id
        self.volume_ids = pulumi.Output.all(**restored).apply(dict)
        self.register_outputs({"volume_ids": self.volume_ids})


def _snapshot_of(snapshot_ids: Mapping[str, str], volume_id: str) -> str:
    if volume_id not in snapshot_ids:
        raise ValueError(f"no snapshot of {volume_id} to restore from (snapshots: {', '.join(snapshot_ids)})")
    return snapshot_ids[volume_id]
