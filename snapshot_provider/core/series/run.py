"""A series' create or update: take a new point if asked, then prune by the policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from snapshot_provider.core import pruning
from snapshot_provider.core.series.copies import keep_copies
from snapshot_provider.core.series.lines import say, warn
from snapshot_provider.core.series.outputs import outputs
from snapshot_provider.core.series.prune import let_go_of_recovered, policy_of, prune, report
from snapshot_provider.core.series.survey import NO_IMAGES, batches, pruned_in, recorded_in, survey, today
from snapshot_provider.core.series.take import take_point, taken_already
from snapshot_provider.ec2 import locks, snapshots
from snapshot_provider.ec2.connection import Connection


def run(
    conn: Connection,
    series_id: str,
    inputs: Mapping[str, Any],
    *,
    take_new: bool,
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """Take a new snapshot (or set) if asked, then prune by the policy; the outputs."""
    ec2 = conn.ec2
    wait_time = previous.get("wait_time")
    recorded: dict[str, dict[str, Any]] = recorded_in(previous)
    pruned = pruned_in(previous)
    earlier = taken_already(ec2, series_id, inputs, previous, pruned) if take_new else {}
    if earlier:
        say(inputs, f"uses {', '.join(earlier)}, taken for this trigger by a run that failed after its take")
        wait_time, recorded = None, recorded | earlier  # that run's wait was not recorded
    elif take_new:
        wait_time, taken = take_point(conn, series_id, inputs, frozenset(recorded))
        recorded |= taken
        ec2 = conn.ec2  # the wait may have renewed the credentials
    pruned, let_go = let_go_of_recovered(ec2, series_id, pruned, inputs)
    # Those let go of still show the series' tags for a while (EC2's tag delay): left out of this run by id.
    now = survey(ec2, series_id, previous, recorded, [*pruned, *let_go])
    listing = now.listing
    if previous and not _same_tags(previous.get("tags"), inputs["tags"]):
        for batch in batches([s["SnapshotId"] for s in listing]):
            snapshots.update_tags(ec2, batch, previous.get("tags") or {}, inputs["tags"])
    if now.images is None:
        say(inputs, NO_IMAGES)
    plan = pruning.plan(now.points(), policy_of(inputs), datetime.now(UTC))
    outcome = prune(ec2, series_id, plan, listing)
    for line in report(plan, outcome):
        say(inputs, line)
    if outcome.locks_unread:
        warn(inputs, f"{outcome.locks_unread}: pruning went ahead without knowing which snapshots are locked")
    for failure in outcome.failed:
        warn(inputs, f"{failure} (the next run tries again)")
    gone = set(outcome.deleted)
    kept = [s for s in listing if s["SnapshotId"] not in gone]
    copied = keep_copies(series_id, inputs, previous, kept, gone | set(pruned))
    for failure in copied.failed:
        warn(inputs, f"{failure} (the next `up` tries again)")
    outs = outputs(inputs, series_id, kept, now.archived | set(outcome.archived), now.images, conn.account_id)
    outs.update(
        wait_time=wait_time,
        archived=outcome.archived,
        deleted=outcome.deleted,
        pruned=pruned | dict.fromkeys(outcome.deleted, today()),
        in_use=[{"snapshot_id": sid, "image_ids": amis} for sid, amis in sorted(outcome.in_use.items())],
        failed=outcome.failed,
        locked=[{"snapshot_id": sid, **locks.outputs(info)} for sid, info in sorted(outcome.locked.items())],
        copied=copied.entries,
    )
    return outs


def _same_tags(old: Any, new: Mapping[str, Any]) -> bool:
    return dict(old or {}) == dict(new)
