"""Messages of a SnapshotSeries next to the resource in the CLI's output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from snapshot_provider.inputs.consistency import Plan
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.process.engine_log import engine_log


def urn_of(props: Mapping[str, Any]) -> str | None:
    urn = props.get(URN_INPUT)
    return urn if isinstance(urn, str) and not is_unknown(urn) else None


def say(props: Mapping[str, Any], line: str) -> None:
    """A line next to the resource in the CLI's output (through the engine, as the lifecycle's progress lines)."""
    engine_log().info(urn_of(props), line)


def name_of(props: Mapping[str, Any]) -> str:
    return (urn_of(props) or "SnapshotSeries").rsplit("::", 1)[-1]


def warn(props: Mapping[str, Any], line: str) -> None:
    pulumi.log.warn(f"{name_of(props)}: {line}")


def paused_instance(props: Mapping[str, Any]) -> str:
    """The instance a take freezes or stops, named as EbsSnapshot and InstanceSnapshots previews name it."""
    if props.get("instance_id"):
        return f"instance {props['instance_id']}"
    return f"the instance that volume {props.get('volume_id')} is attached to"


PAUSE_INPUTS = ("consistency", "on_failure", "ssm_document", "max_pause_seconds")


def pause_line(props: Mapping[str, Any]) -> str | None:
    """What a take does to the instance (frozen, STOPPED), from the inputs alone: no AWS call, so a preview says it
    also without credentials. None for `crash`."""
    unknown = [name for name in PAUSE_INPUTS if is_unknown(props.get(name))]
    if unknown:
        return (
            f"may pause or stop {paused_instance(props)}: {', '.join(unknown)} not known until other resources are "
            "created"
        )
    return Plan.of(props).preview(paused_instance(props))
