"""Carrying out the pruning planner's plan on the series' snapshots, and letting go of the recovered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from snapshot_provider.core import pruning
from snapshot_provider.core.lifecycle.shapes import SERIES_TAG
from snapshot_provider.core.series.lines import say, warn
from snapshot_provider.core.series.survey import OWN_TAGS, owned, today
from snapshot_provider.ec2 import find, locks, snapshots
from snapshot_provider.ec2.errors import AMI_ID, SnapshotInUse, SnapshotProviderError


def policy_of(inputs: Mapping[str, Any]) -> pruning.Policy:
    keep_last = inputs.get("keep_last")
    return pruning.Policy(
        keep_last=int(keep_last) if keep_last is not None else None,
        max_age_days=inputs.get("max_age_days"),
        archive_after_days=inputs.get("archive_after_days"),
    )


def let_go_of_recovered(
    ec2: Any, series_id: str, pruned: Mapping[str, str], inputs: Mapping[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """Let go of the pruned snapshots that are listed again (recovered from the Recycle Bin by their user): remove
    the provider's tags from them, so that no later run or destroy matches them however long after, and forget them,
    so that `pruned` only holds what may still come back. The rest of `pruned`, and the ids let go of."""
    remaining = dict(pruned)
    let_go = []
    for sid in [
        s["SnapshotId"] for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id) if s["SnapshotId"] in pruned
    ]:
        try:
            with find.missing_raised(sid):
                ec2.delete_tags(Resources=[sid], Tags=[{"Key": key} for key in OWN_TAGS])
        except find.NotFound:
            continue  # gone after all (EC2 may list a deleted one a while): still pruned
        except ClientError as error:  # not gone: remembered a year longer
            remaining[sid] = today()
            warn(inputs, f"could not remove the series' tags from {sid}, recovered from the Recycle Bin: {error}")
            continue
        del remaining[sid]
        let_go.append(sid)
        say(
            inputs,
            f"let go of {sid}: recovered from the Recycle Bin after the series deleted it, it is its user's "
            "now (the series' tags removed from it)",
        )
    return remaining, let_go


@dataclass
class Outcome:
    """What a run did to the series' older snapshots."""

    archived: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    in_use: dict[str, list[str]] = field(default_factory=dict)  # snapshot -> AMIs, kept
    failed: list[str] = field(default_factory=list)
    locked: dict[str, dict[str, Any]] = field(default_factory=dict)  # snapshot -> its lock, kept
    locks_unread: str | None = None  # why the locks could not be read (the deletes then went ahead as before)


def prune(ec2: Any, series_id: str, plan: pruning.Plan, listing: Sequence[Mapping[str, Any]]) -> Outcome:
    """Carry out the plan. A failure is reported and the rest goes on: the new snapshot is taken, and the next run
    plans again from what is there."""
    ours = {s["SnapshotId"]: s for s in listing if owned(s, series_id)}
    outcome = Outcome()
    for decision in plan.held_back:
        for sid in decision.point.snapshot_ids if decision.point.used_by else ():
            outcome.in_use[sid] = list(decision.point.used_by)
    for sid in _planned(plan, "archive", ours):
        if ours[sid].get("StorageTier") == "archive":
            continue
        try:
            snapshots.archive(ec2, sid)
            outcome.archived.append(sid)
        except SnapshotProviderError as error:
            outcome.failed.append(str(error))
    for sid in _unlocked(ec2, plan, _planned(plan, "delete", ours), outcome):
        try:
            snapshots.delete_snapshot(ec2, sid)
        except find.NotFound:
            pass  # gone already: deleted all the same
        except SnapshotInUse as in_use:
            outcome.in_use[sid] = list(dict.fromkeys(AMI_ID.findall(str(in_use)))) or ["an AMI"]
            continue
        except SnapshotProviderError as error:
            outcome.failed.append(str(error))
            continue
        outcome.deleted.append(sid)
    return outcome


def report(plan: pruning.Plan, outcome: Outcome) -> list[str]:
    """What a run did, one line per point it changed or kept for an AMI."""
    lines = []
    for d in plan.decisions:
        ids = d.point.snapshot_ids
        done = {"archive": outcome.archived, "delete": outcome.deleted}.get(d.action, [])
        locked = [sid for sid in ids if sid in outcome.locked]
        if d.action == "delete" and locked:
            lines.append(f"kept {', '.join(ids)} instead of deleting it: {_locks_of(ids, locked, outcome)}")
        elif d.action != "keep" and any(sid in done for sid in ids):
            lines.append(f"{d.action}d {', '.join(ids)}: {d.reason}")
        elif d.held_back is not None and d.point.held_for and not d.point.used_by:
            lines.append(
                f"kept {', '.join(ids)} instead of {d.held_back[:-1]}ing it: the removal of "
                f"{', '.join(d.point.held_for)} restores the volume from it on undo"
            )
        elif d.held_back is not None or any(sid in outcome.in_use for sid in ids):
            amis = sorted({ami for sid in ids for ami in outcome.in_use.get(sid, [])})
            lines.append(
                f"kept {', '.join(ids)}: used by {', '.join(amis)}, which EC2 refuses to {d.held_back or d.action}"
            )
    return lines


def _unlocked(ec2: Any, plan: pruning.Plan, ids: list[str], outcome: Outcome) -> list[str]:
    """The ids to delete less every point with a locked member (a set is kept or deleted whole): EC2 refuses to
    delete a locked snapshot, so the lock is read first (DescribeLockedSnapshots) and the point kept and said."""
    if not ids:
        return ids
    try:
        found = locks.by_snapshot(ec2, ids)
    except SnapshotProviderError as error:  # e.g. no ec2:DescribeLockedSnapshots: EC2 still refuses locked ones
        outcome.locks_unread = str(error)
        return ids
    outcome.locked = {sid: info for sid, info in found.items() if info.get("LockState") in locks.LOCKED_STATES}
    held = {
        sid
        for point in plan.points("delete")
        if outcome.locked.keys() & set(point.snapshot_ids)
        for sid in point.snapshot_ids
    }
    return [sid for sid in ids if sid not in held]


def _locks_of(ids: Sequence[str], locked: Sequence[str], outcome: Outcome) -> str:
    """`it is locked in governance mode until ...` (one snapshot) or each locked member of a set with its id."""
    whose = ["it" if len(ids) == 1 else sid for sid in locked]
    what = "; ".join(
        f"{who} {locks.describe_lock(outcome.locked[sid])}" for who, sid in zip(whose, locked, strict=True)
    )
    return f"{what} (EC2 refuses to delete a locked snapshot)"


def _planned(plan: pruning.Plan, action: pruning.Action, ours: Mapping[str, Any]) -> list[str]:
    ids = [sid for point in plan.points(action) for sid in point.snapshot_ids]
    strangers = [sid for sid in ids if sid not in ours]
    if strangers:  # the plan is built from `ours`: this would be a bug, and the snapshots may be someone else's
        raise SnapshotProviderError(
            f"refusing to {action} {', '.join(strangers)}: not tagged {SERIES_TAG} of this series and recorded"
        )
    return ids
