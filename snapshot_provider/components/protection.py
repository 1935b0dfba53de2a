"""What keeps a component's snapshots alive past the deletion they guard: the `lock` they are given and the copies
made of them in another region and/or account (`copies`), shared by SafeDecommission and ReversibleVolumeCleanup.

The lock is the snapshot resources' own `lock` input (its rule: `inputs.lock`); a copy target names where a
SnapshotCopy goes (its keys are SnapshotCopy's inputs of the same names, which check their values at preview). The
components remove the volume or stop the instance only once these resources are created, so only once each snapshot
completed and was locked and each copy completed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from snapshot_provider import SnapshotCopy
from snapshot_provider.inputs import lock as lock_input
from snapshot_provider.inputs.declarations import default_region
from snapshot_provider.inputs.rules import role_account

# A copy target: where a SnapshotCopy of each snapshot goes (the same keys as SnapshotCopy's inputs).
CopyTarget = Mapping[str, Any]
TARGET_KEYS = ("region", "role_arn", "kms_key_id", "completion_duration_minutes")


class ProtectionRefused(ValueError):
    """A component's `lock` or `copies` is not one it can act on: refused before anything is registered."""


def refusals(lock: Any, copies: Sequence[CopyTarget], home_region: str | None) -> list[str]:
    """Why `lock` and `copies` cannot be used (empty when they can). Pure. Values still unknown (outputs) are left to
    the resources' own checks at preview."""
    reasons = [] if isinstance(lock, pulumi.Output) else [f"lock: {r}" for r in lock_input.rule(lock)]
    seen: set[tuple[str | None, str | None]] = set()
    for index, target in enumerate(copies):
        found = _target_reasons(target, home_region)
        if not found:
            where = (target.get("region") or home_region, role_account(target.get("role_arn")))
            if where in seen:
                found = [f"names {label(target)} again: one copy per target; remove one"]
            seen.add(where)
        reasons += [f"copies[{index}]: {reason}" for reason in found]
    return reasons


def _target_reasons(target: Any, home_region: str | None) -> list[str]:
    if not isinstance(target, Mapping):
        return ["must be a mapping such as {'region': 'eu-west-1'}"]
    reasons = [f"unknown key {k!r} (expected {', '.join(TARGET_KEYS)})" for k in target if k not in TARGET_KEYS]
    region, role_arn = target.get("region"), target.get("role_arn")
    if any(isinstance(value, pulumi.Output) for value in (region, role_arn)):
        reasons.append("region and role_arn must be plain strings (they name the copy's resource)")
    elif not region and not role_arn:
        reasons.append("give region (another region) and/or role_arn (a role in another account): where it goes")
    elif (region or home_region) == home_region and not role_arn:
        reasons.append(
            f"copies into the snapshot's own region ({home_region}) and account, where it dies with them; set "
            "another region, or role_arn in another account"
        )
    return reasons


def refuse_bad_inputs(name: str, lock: Any, copies: Sequence[CopyTarget]) -> None:
    """Raise ProtectionRefused naming the component and every bad input: a preview fails and registers nothing."""
    reasons = refusals(lock, copies, default_region({}))
    if reasons:
        raise ProtectionRefused(f"{name}: " + "; ".join(reasons))


def label(target: CopyTarget) -> str:
    """The part of a copy's resource name that says where it goes: `eu-west-1`, `210987654321`, or both."""
    account = role_account(target.get("role_arn")) if target.get("role_arn") else None
    return "-".join(part for part in (account, target.get("region")) if part)


def copy_snapshot(
    name: str,
    snapshot_id: pulumi.Input[str],
    target: CopyTarget,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> SnapshotCopy:
    """A SnapshotCopy of `snapshot_id` (taken in the stack's region) where `target` says, tagged like its source."""
    inputs = {k: v for k, v in target.items() if v is not None}
    home_region = default_region({})
    if home_region:  # else the snapshot itself is refused at preview: no region
        inputs["source_region"] = home_region
    return SnapshotCopy(
        f"{name}-copy-{label(target)}", source_snapshot_id=snapshot_id, tags=dict(tags), opts=opts, **inputs
    )
