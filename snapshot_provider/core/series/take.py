"""Taking a series' new point through the shared lifecycle, or finding the one a failed run took."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from snapshot_provider.core.lifecycle import completion, create
from snapshot_provider.core.lifecycle.leftovers import tidy
from snapshot_provider.core.lifecycle.shapes import SERIES_TAG
from snapshot_provider.core.series.lines import say, warn
from snapshot_provider.core.series.survey import POINT_TAG, owned, recorded_in
from snapshot_provider.core.sources import INSTANCE_SET_SOURCE, VOLUME_SOURCE, Source
from snapshot_provider.ec2 import snapshots
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.inputs import lock
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.series import TAKES


def source_of(inputs: Mapping[str, Any]) -> Source:
    """What a series' inputs snapshot: a volume, or an instance's set."""
    return VOLUME_SOURCE if inputs.get("volume_id") else INSTANCE_SET_SOURCE


def take_point(
    conn: Connection,
    series_id: str,
    inputs: Mapping[str, Any],
    recorded: frozenset[str],
) -> tuple[float, dict[str, dict[str, Any]]]:
    """A new snapshot (or set) through the lifecycle, handed over as the series': its wait_time, and the snapshots
    as written (EC2 may show their tags only after a delay)."""
    kind = source_of(inputs)
    ec2 = conn.ec2
    members = kind.members(ec2, inputs)
    urn = inputs[URN_INPUT]
    deadline = time.monotonic() + float(inputs["timeout"])
    point = f"point-{secrets.token_hex(8)}-{take_key(inputs)}"
    taken, leftovers = create.start_or_finish(
        conn.account,
        ec2,
        kind,
        inputs,
        members,
        urn,
        deadline,
        extra_tags={SERIES_TAG: series_id, POINT_TAG: point},
        others=another_series(ec2, series_id),
        recorded=recorded,
        announce_recorded=False,
        ours=lambda s: snapshots.tag_value(s, SERIES_TAG) == series_id,  # its id is random and in its state
    )
    statuses = completion.wait(
        conn.account, kind, inputs, taken, members, delete_on_failure=create.made_here(taken), deadline=deadline
    )
    found = completion.as_written(taken, {sid: status.details for sid, status in statuses.items()})
    ec2 = conn.ec2  # the client now: the wait may have renewed the credentials
    if any(snapshots.tag_value(d, SERIES_TAG) != series_id or not _point(d) for d in found.values()):
        # Adopted: from a version that tagged takes only at hand-over, or from a create of this series that failed
        # (its id was never recorded). One point for the whole set.
        ours = {SERIES_TAG: series_id, POINT_TAG: point}
        snapshots.set_tags(ec2, list(found), ours)
        found = {sid: _with_tags(d, ours) for sid, d in found.items()}
    new_lock, ended = lock.for_new_points(inputs.get("lock"))
    if ended:
        say(inputs, f"{ended} ({', '.join(found)} taken without one)")
    locked = completion.hand_over(ec2, {**inputs, "lock": new_lock}, found, adopted=not create.made_here(taken))
    for line in locked.lines:
        warn(inputs, line)
    tidy(ec2, urn, taken, leftovers)
    return snapshots.wait_seconds(max(s.observed_at for s in statuses.values()), taken.started_at), found


def take_key(inputs: Mapping[str, Any]) -> str:
    """A digest of the inputs whose change takes a snapshot (trigger, source): the point tag ends with it, so that a
    later run can tell which inputs a take was for."""
    takes = {name: inputs.get(name) for name in sorted(TAKES.fields)}
    return hashlib.sha256(json.dumps(takes, sort_keys=True, default=str).encode()).hexdigest()[:12]


def taken_already(
    ec2: Any, series_id: str, inputs: Mapping[str, Any], previous: Mapping[str, Any], pruned: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The take a run for these same inputs handed over, though the run failed after it (state was left as it was):
    handed over as this series' and tagged for these inputs, yet not in state nor pruned. Every run that succeeds
    records all the series' handed-over snapshots, so such a take comes from a failed run since the last success."""
    if not previous:  # a create: its series id is new, nothing can carry it yet
        return {}
    known = recorded_in(previous)
    suffix = f"-{take_key(inputs)}"
    return {
        s["SnapshotId"]: s
        for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id)
        if owned(s, series_id)
        and (_point(s) or "").endswith(suffix)
        and s["SnapshotId"] not in known
        and s["SnapshotId"] not in pruned
    }


def another_series(ec2: Any, series_id: str) -> Callable[[Mapping[str, Any]], bool]:
    """Whether an unrecorded snapshot of this series' URN belongs to another series that exists: tagged with another
    series' id that has recorded snapshots (a series replaced, or kept by retain_on_delete; its delete, or its user,
    decides). An id without any recorded snapshot is a create of this resource that failed before its first take was
    handed over: nothing else will ever claim what it left."""
    exists: dict[str, bool] = {}

    def others(snapshot: Mapping[str, Any]) -> bool:
        other = snapshots.tag_value(snapshot, SERIES_TAG)
        if other in (None, series_id):
            return False
        if other not in exists:
            exists[other] = any(owned(s, other) for s in snapshots.find_tagged(ec2, SERIES_TAG, other))
        return exists[other]

    return others


def _point(details: Mapping[str, Any]) -> str | None:
    return snapshots.tag_value(details, POINT_TAG)


def _with_tags(details: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    merged = {t["Key"]: t["Value"] for t in details.get("Tags") or []} | dict(tags)
    return {**details, "Tags": [{"Key": k, "Value": v} for k, v in merged.items()]}
