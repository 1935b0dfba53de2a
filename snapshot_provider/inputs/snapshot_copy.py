"""The inputs of a SnapshotCopy: their declaration (docs, checks, diff) and the checks only a copy has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Required

import pulumi

from snapshot_provider.inputs import rules
from snapshot_provider.inputs.copies import completion_duration_minutes, kms_key, timeout_reason
from snapshot_provider.inputs.declarations import DEFAULT_TIMEOUT, URN_FIELD, AccountArgs, PermissionCheckArgs
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema


class SnapshotCopyArgs(AccountArgs, PermissionCheckArgs, total=False):
    """The inputs of a SnapshotCopy. `region` (and `role_arn`, `profile`) say where the copy is made."""

    source_snapshot_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "the snapshot to copy: `snap-` and 8 or 17 hex digits; one of this account copied to another account "
                "is shared with it for the copy (createVolumePermission; the share removed after); another owner's "
                "must be shared by its owner",
                rule=rules.snapshot_id,
                required=True,
                on_change="replace",
            ),
        ]
    ]
    source_region: Annotated[
        pulumi.Input[str],
        Field(
            "the source snapshot's region; unset: `region` (a copy in the same region)",
            rule=rules.region,
            on_change="replace",
        ),
    ]
    kms_key_id: Annotated[
        pulumi.Input[str],
        Field(
            "encrypt the copy with this key (in the destination region); implies `encrypted`",
            rule=kms_key,
            on_change="replace",
        ),
    ]
    encrypted: Annotated[
        pulumi.Input[bool],
        Field(
            "encrypt a copy of an unencrypted snapshot (an encrypted one's copy is always encrypted)",
            rule=rules.boolean,
            on_change="replace",
        ),
    ]
    completion_duration_minutes: Annotated[
        pulumi.Input[int],
        Field(
            "a time-based copy that completes within this many minutes (15 to 2880, in 15-minute steps)",
            rule=completion_duration_minutes,
            on_change="replace",
        ),
    ]
    description: Annotated[
        pulumi.Input[str], Field("the copy's description", rule=rules.description, on_change="replace")
    ]
    tags: Annotated[
        pulumi.Input[Mapping[str, pulumi.Input[str]]],
        Field("the copy's tags (the source's are not copied)", rule=rules.tags, default={}),
    ]
    timeout: Annotated[
        pulumi.Input[float],
        Field(
            "seconds to wait for the copy to complete, 1 s to 7 days",
            rule=rules.timeout,
            default=DEFAULT_TIMEOUT,
            on_change="none",
        ),
    ]


SCHEMA = Schema.of(SnapshotCopyArgs, URN_FIELD)


def failures(news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> list[Failure]:
    """Every rule the inputs break, without AWS: each input's own, and a timeout shorter than a time-based copy."""
    timeout = news.get("timeout", DEFAULT_TIMEOUT)
    short = timeout_reason(news.get("completion_duration_minutes"), timeout)
    return SCHEMA.failures(news, olds) + ([Failure("timeout", short)] if short else [])


def parse(props: Mapping[str, Any]) -> dict[str, Any]:
    found = failures(props)
    if found:
        raise InvalidInputs(found)
    return SCHEMA.stored(props)
