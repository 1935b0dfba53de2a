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
from snapshot_provider.inputs import copies as copy_targets
from snapshot_provider.inputs import lock as lock_input
from snapshot_provider.inputs.declarations import default_region
from snapshot_provider.inputs.rules import role_account

# A copy target: where a SnapshotCopy of each snapshot goes (its keys and rules: inputs.copies).
CopyTarget = Mapping[str, Any]


class ProtectionRefused(ValueError):
    """A component's `lock` or `copies` is not one it can act on: refused before anything is registered."""


def refusals(lock: Any, copies: Sequence[CopyTarget], home_region: str | None) -> list[str]:
    """Why `lock` and `copies` cannot be used (empty when they can): the rules of the snapshot resources' `lock` and
    of a copy target (`inputs.copies`, as SnapshotSeries' `copies`). Pure. Values still unknown (outputs) are left to
    the resources' own checks at preview."""
    reasons = [] if isinstance(lock, pulumi.Output) else [f"lock: {r}" for r in lock_input.rule(lock)]
    targets = list(copies)
    named = [
        f"copies[{index}]: region and role_arn must be plain strings (they name the copy's resource)"
        for index, target in enumerate(targets)
        if isinstance(target, Mapping) and any(isinstance(target.get(k), pulumi.Output) for k in ("region", "role_arn"))
    ]
    if named:
        return reasons + named
    found = copy_targets.targets_rule(targets) or copy_targets.home_failures(targets, home_region, None)
    return reasons + [f"copies{reason}" for reason in found]


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
