"""The inputs of a VolumeRemoval: their declaration (docs, checks, diff) and the checks only a removal has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Required

import pulumi

from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import URN_FIELD, AccountArgs
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema


class VolumeRemovalArgs(AccountArgs, total=False):
    """The inputs of a VolumeRemoval."""

    volume_id: Required[
        Annotated[
            pulumi.Input[str],
            Field("the unattached volume to delete", rule=rules.volume_id, required=True, on_change="replace"),
        ]
    ]
    snapshot_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "a completed snapshot of that volume, in the standard tier: the undo restores from it; a new one is "
                "checked and takes over the hold in place",
                rule=rules.snapshot_id,
                required=True,
            ),
        ]
    ]
    confirm_delete_volume: Required[
        Annotated[
            pulumi.Input[str],
            Field("must repeat `volume_id`: deleting a volume is an explicit opt-in", required=True, on_change="state"),
        ]
    ]


SCHEMA = Schema.of(VolumeRemovalArgs, URN_FIELD)


def failures(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """The schema's rules, the confirmation, and changes no replace could carry out (the volume is gone)."""
    problems = SCHEMA.failures(news, olds)
    volume_id, confirm = news.get("volume_id"), news.get("confirm_delete_volume")
    if not rules.is_unknown(volume_id) and not rules.is_unknown(confirm) and confirm != volume_id:
        problems.append(
            Failure(
                "confirm_delete_volume",
                f"must be exactly the volume id ({volume_id!r}) to allow deleting it, got {confirm!r}: "
                "deleting a volume is an explicit opt-in",
            )
        )
    if olds:
        problems += _moves(olds, news)
    return problems


def _moves(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """A removed volume cannot follow a change of region: a replacement would look for it there. (Nor of account:
    new access settings are checked at diff and update to act in the account state records, as for every
    resource.)"""
    problems = []
    if olds.get("region") != news.get("region") and not rules.is_unknown(news.get("region")):
        problems.append(Failure("region", _MOVE.format(what="region", old=olds.get("region"))))
    return problems


_MOVE = (
    "the volume was removed in {what} {old}, and a removed volume cannot follow a change of {what}: "
    "`pulumi destroy` this resource (which restores the volume) before pointing it elsewhere"
)


def parse(olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
    problems = failures(olds, news)
    if problems:
        raise InvalidInputs(problems)
    return SCHEMA.stored(news)
