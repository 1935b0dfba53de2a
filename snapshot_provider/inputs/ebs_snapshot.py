"""The inputs of an EbsSnapshot: their declaration (docs, checks, diff)."""

from __future__ import annotations

from typing import Annotated, Required

import pulumi

from snapshot_provider.inputs import consistency, rules
from snapshot_provider.inputs.declarations import URN_FIELD, SnapshotArgs
from snapshot_provider.inputs.schema import Field, Schema, both_set_and_different


class EbsSnapshotArgs(SnapshotArgs, consistency.ConsistencyArgs, total=False):
    """The inputs of an EbsSnapshot (see docs/resources/ebs-snapshot.md, generated from these declarations)."""

    volume_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "the volume to snapshot: `vol-` and 8 or 17 hex digits",
                rule=rules.volume_id,
                required=True,
                on_change="replace",
            ),
        ]
    ]
    copy_volume_tags: Annotated[
        pulumi.Input[bool],
        Field(
            "copy the volume's tags onto the snapshot at creation (input tags win)",
            rule=rules.boolean,
            default=False,
            on_change="none",
        ),
    ]
    import_snapshot_id: Annotated[
        pulumi.Input[str],
        Field(
            "record this existing snapshot of `volume_id` instead of taking one; this provider never deletes it; "
            "another id replaces (see import below)",
            rule=rules.snapshot_id,
            on_change="none",
            replaces_when=both_set_and_different,  # another snapshot to record; removing it takes nothing
        ),
    ]


SCHEMA = Schema.of(EbsSnapshotArgs, URN_FIELD)
