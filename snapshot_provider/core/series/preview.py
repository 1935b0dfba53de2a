"""What the next `up` of a series would archive and delete, as `diff` (so `pulumi preview`) sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pulumi.dynamic import DiffResult

from snapshot_provider.core import pruning
from snapshot_provider.core.series import copies
from snapshot_provider.core.series.lines import name_of, pause_line, say
from snapshot_provider.core.series.prune import policy_of
from snapshot_provider.core.series.survey import NO_IMAGES, pruned_in, recorded_in, series_snapshots, survey
from snapshot_provider.core.series.take import source_of
from snapshot_provider.ec2 import clients, locks
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.inputs.series import SCHEMA, SOURCES, TAKES


def preview_lines(series_id: str, olds: Mapping[str, Any], news: Mapping[str, Any], diff: DiffResult) -> list[str]:
    """What the next `up` would do to the series' snapshots, as `diff` sees it. Raises when it cannot know."""
    if diff.replaces:
        ec2 = Connection.to_existing(olds, "update", clients.recorded_account(olds)).ec2
        count = len(series_snapshots(ec2, series_id, recorded_in(olds), list(pruned_in(olds))))
        return [
            f"replacing {name_of(news)} ({', '.join(diff.replaces)} changed) starts a new one; once its first snapshot "
            f"completed, the {count} snapshot(s) of this one are deleted, unless the resource has retain_on_delete"
        ]
    relevant = ["region", "keep_last", "max_age_days", "archive_after_days", *SOURCES]
    unknown = [name for name in relevant if is_unknown(news.get(name))]
    if unknown:
        raise _CannotKnow(f"{', '.join(unknown)} not known until other resources are created")
    inputs = SCHEMA.stored(news)
    ec2 = Connection.to_existing(news, "update", clients.recorded_account(olds)).ec2
    has = survey(ec2, series_id, olds)
    found = has.points()
    note = [NO_IMAGES] if has.images is None else []
    now = datetime.now(UTC)
    takes = TAKES.diff(olds, news).changes
    if takes:
        found.append(pruning.Point("next", now, "completed", snapshot_ids=("the new snapshot",)))
    plan, unread = _with_locks(ec2, pruning.plan(found, policy_of(inputs), now))
    note += unread
    lines = pruning.plan_lines(plan)
    source = source_of(inputs).source(inputs) if any(inputs.get(s) for s in SOURCES) else "the source"
    up = f"the next `up` of {name_of(news)}"
    head = f"{up} takes a new snapshot of {source}, then" if takes else f"{up} applies the policy and"
    if not lines:
        return [f"{head} archives and deletes nothing ({len(has.listing)} snapshot(s) kept)", *note]
    return [f"{head}:", *(f"  {line}" for line in lines), *note]


def _with_locks(ec2: Any, plan: pruning.Plan) -> tuple[pruning.Plan, list[str]]:
    """The plan with every point to delete that has a locked member kept instead, as the up keeps it (EC2 refuses to
    delete a locked snapshot); when the locks cannot be read, the plan as it is and a line that says so."""
    ids = [sid for point in plan.points("delete") for sid in point.snapshot_ids]
    if not ids:
        return plan, []
    try:
        found = locks.by_snapshot(ec2, ids)
    except SnapshotProviderError as error:
        reason = str(error).split(". ")[0]
        return plan, [
            f"could not read which of these are locked ({reason}): the up keeps a locked one, deletes the rest"
        ]
    locked = {sid: info for sid, info in found.items() if info.get("LockState") in locks.LOCKED_STATES}
    decisions = []
    for d in plan.decisions:
        held = [sid for sid in d.point.snapshot_ids if sid in locked] if d.action == "delete" else []
        if held:
            why = "; ".join(f"{sid} {locks.describe_lock(locked[sid])}" for sid in held)
            d = replace(d, action="keep", held_back="delete", reason=f"{why} (EC2 refuses to delete a locked snapshot)")
        decisions.append(d)
    return pruning.Plan(tuple(decisions)), []


class _CannotKnow(Exception):
    pass


def preview(series_id: str, olds: Mapping[str, Any], news: Mapping[str, Any], diff: DiffResult) -> None:
    """Log `preview_lines`; never fail a preview because of them. What a take does to the instance (frozen,
    stopped) comes first, from the inputs alone: said even without credentials, before any AWS call."""
    takes = bool(diff.replaces) or bool(TAKES.diff(olds, news).changes)  # a replacement takes its first point
    paused = pause_line(news) if takes else None
    if paused:
        say(news, f"the next `up` of {name_of(news)} {paused}")
    try:
        lines = preview_lines(series_id, olds, news, diff)
    except Exception as error:  # a preview must not fail for want of a forecast
        reason = str(error).split(". ")[0]
        lines = [f"cannot know yet what the next `up` of {name_of(news)} will archive and delete: {reason}"]
    if not diff.replaces:  # from the inputs and state alone: said even without credentials
        lines += [f"the next `up` of {name_of(news)} {line}" for line in copies.preview_lines(olds, news, takes)]
    for line in lines:
        say(news, line)
