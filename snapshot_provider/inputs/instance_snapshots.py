"""The inputs of an InstanceSnapshots set: their declaration (docs, checks, diff)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Required

import pulumi

from snapshot_provider.inputs import consistency, rules
from snapshot_provider.inputs.declarations import URN_FIELD, SnapshotArgs
from snapshot_provider.inputs.schema import Field, Schema


class InstanceSnapshotsArgs(SnapshotArgs, consistency.ConsistencyArgs, total=False):
    """The inputs of an InstanceSnapshots set (docs/resources/instance-snapshots.md is generated from them)."""

    instance_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "the instance whose attached volumes are snapshotted together",
                rule=rules.instance_id,
                required=True,
                on_change="replace",
            ),
        ]
    ]
    exclude_boot_volume: Annotated[
        pulumi.Input[bool],
        Field("leave the root volume out", rule=rules.boolean, default=False, on_change="replace"),
    ]
    exclude_data_volume_ids: Annotated[
        pulumi.Input[Sequence[pulumi.Input[str]]],
        Field("attached data volumes to leave out", rule=rules.volume_ids, default=[], on_change="replace"),
    ]
    copy_tags_from_source: Annotated[
        pulumi.Input[Literal["volume"]],
        Field(
            "`volume`: copy each volume's tags onto its snapshot (input tags win)",
            rule=rules.copy_tags_from_source,
            on_change="replace",
        ),
    ]
    leave_stopped: Annotated[
        pulumi.Input[bool],
        Field(
            "with consistency `stopped`: leave the instance stopped after the request instead of starting it again "
            "(an instance being decommissioned: SafeDecommission sets it)",
            rule=rules.boolean,
            default=False,
            on_change="none",
        ),
    ]


SCHEMA = Schema.of(InstanceSnapshotsArgs, URN_FIELD)
