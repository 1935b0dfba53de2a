"""What a removal's state records: the restore record, the account, the hold's owner, the URN; and lines said next
to the resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapshot_provider.ec2 import clients
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.process.engine_log import engine_log

# What is needed to bring the volume back, recorded before it is deleted (in state, and on the snapshot).
RESTORE_KEYS = (
    "availability_zone",
    "size",
    "volume_type",
    "iops",
    "throughput",
    "encrypted",
    "kms_key_id",
    "multi_attach_enabled",
    "volume_tags",
)


def account_learned(props: Mapping[str, Any], account_id: str, restorable: bool) -> dict[str, Any]:
    """State from before `account_id` was recorded: the account where its undo snapshot is seen is the one."""
    return {"account_id": account_id} if restorable and not props.get("account_id") else {}


def say(props: Mapping[str, Any], line: str) -> None:
    """A line next to the resource (through the engine, as the lifecycle's progress lines)."""
    urn = props.get(URN_INPUT)
    engine_log().info(urn if isinstance(urn, str) and not rules.is_unknown(urn) else None, line)


def outputs(
    inputs: Mapping[str, Any], record: Mapping[str, Any], account_id: str, deleted_at: float | None, owner: str
) -> dict[str, Any]:
    kept = {k: record.get(k) for k in RESTORE_KEYS}
    kept["encrypted"], kept["multi_attach_enabled"] = bool(kept["encrypted"]), bool(kept["multi_attach_enabled"])
    kept["volume_tags"] = dict(kept["volume_tags"] or {})
    return {**inputs, **kept, "deleted_at": deleted_at, "account_id": account_id, "hold_owner": owner}


def urn(props: Mapping[str, Any]) -> str | None:
    urn = props.get(URN_INPUT)
    return urn if isinstance(urn, str) and not rules.is_unknown(urn) else None


def predates_holds(olds: Mapping[str, Any]) -> bool:
    """State made before removals held their snapshot (0.1.0): it records no `hold_owner`."""
    return bool(olds) and not olds.get("hold_owner")


def recorded_account(props: Mapping[str, Any]) -> str | None:
    """The account the volume was removed in, as state records it; for 0.1.0 state, which does not, the one account
    `allowed_account_ids` names, if it names one: the user's word for it."""
    allowed = props.get("allowed_account_ids") or []
    return clients.recorded_account(props) or (str(allowed[0]) if len(allowed) == 1 else None)


def record_from_state(props: Mapping[str, Any]) -> dict[str, Any] | None:
    return complete({k: props.get(k) for k in RESTORE_KEYS})


def complete(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record, if it says at least where, how big and of which type the volume was."""
    if record is None or not all(record.get(k) for k in ("availability_zone", "size", "volume_type")):
        return None
    return dict(record)
