"""What interrupted creates left: survey, adopt what can stand for this create, and after the hand-over delete only
what is provably this resource's (`tidy`, `discard`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi

from snapshot_provider.core import holds
from snapshot_provider.core.lifecycle.shapes import (
    ATTEMPT_TAG,
    RECORDED,
    RESOURCE_TAG,
    Leftover,
    Leftovers,
    Taken,
    resource_token,
    say,
)
from snapshot_provider.core.lifecycle.taking import _start_time, desired_tags
from snapshot_provider.core.sources import Member, Source
from snapshot_provider.core.waiting import (
    consistency_window,
)
from snapshot_provider.ec2 import cancel, find, snapshots, undo_tags
from snapshot_provider.ec2.errors import (
    SnapshotInUse,
    SnapshotProviderError,
)
from snapshot_provider.process.engine_log import engine_log

# A leftover is adopted only if it started within the resource's timeout plus this margin: an older one would pass
# old data off as a new snapshot.
ADOPTION_MARGIN = timedelta(hours=1)


def survey(
    ec2: Any,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str,
    others: Callable[[Mapping[str, Any]], bool],
    recorded: frozenset[str],
    announce_recorded: bool,
    ours: Callable[[Mapping[str, Any]], bool],
) -> Leftovers:
    """This resource's snapshots that are not recorded: the one to adopt, the ones to delete after the hand-over."""
    seen_at = time.monotonic()
    mine = [
        s
        for s in snapshots.find_tagged(ec2, RESOURCE_TAG, resource_token(urn))
        if s["SnapshotId"] not in recorded and not others(s)
    ]
    handed = [s["SnapshotId"] for s in mine if snapshots.tag_value(s, ATTEMPT_TAG) == RECORDED]
    if handed and announce_recorded:
        pulumi.log.info(
            f"taking a new {kind.noun} of {kind.source(inputs)}; {', '.join(handed)}, taken earlier for this "
            "resource, are recorded in state or kept by retain_on_delete, and are left as they are"
        )
    found = Leftovers(recorded=set(recorded), others=others, ours=ours)
    for attempt, group in _by_attempt([s for s in mine if snapshots.tag_value(s, ATTEMPT_TAG) != RECORDED]).items():
        if any(s["State"] == "error" for s in group):
            if all(ours(s) for s in group):
                _delete_failed_leftover(ec2, kind, inputs, group)
            else:
                keep_unproven(urn, group, "it ended in state error")
            continue
        group, extra = _one_per_volume(group)
        found.discard += [Leftover([s], attempt, "a second snapshot of the same request", seen_at) for s in extra]
        reason = mismatch(kind, inputs, members, group) if found.adopted is None else "another one was adopted"
        if reason is not None:
            found.discard.append(Leftover(group, attempt, reason, seen_at))
            continue
        current = still_left(ec2, Leftover(group, attempt, "", seen_at), urn)
        if len(current) < len(group):  # recorded moments ago after all (or gone): not a leftover
            found.recorded |= {s["SnapshotId"] for s in group}
            continue
        found.adopted = adopt(ec2, kind, inputs, members, current, attempt)
    return found


def _by_attempt(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Groups of snapshots made by one create attempt, newest attempt first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in found:  # newest first, so the newest attempt is the first key
        groups.setdefault(snapshots.tag_value(s, ATTEMPT_TAG) or "", []).append(s)
    return groups


def _one_per_volume(group: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest snapshot per volume, and the others (versions before per-request attempt ids could make two)."""
    kept: dict[str, dict[str, Any]] = {}
    extra = []
    for s in group:  # newest first
        if s["VolumeId"] in kept:
            extra.append(s)
        else:
            kept[s["VolumeId"]] = s
    return list(kept.values()), extra


def mismatch(kind: Source, inputs: Mapping[str, Any], members: list[Member], group: list[dict[str, Any]]) -> str | None:
    """Why a leftover cannot stand for this create's snapshots, or None when it can (pure)."""
    left = sorted(s["VolumeId"] for s in group)
    wanted = sorted(m.volume_id for m in members)
    if left != wanted:
        return f"it is of {', '.join(left)}, and this create snapshots {', '.join(wanted)}"
    descriptions = {s.get("Description") or "" for s in group}
    if descriptions != {inputs.get("description") or ""}:
        return (
            f"its description is {sorted(descriptions)[0]!r} and the input says {inputs.get('description') or ''!r} "
            "(EC2 cannot change a snapshot's description)"
        )
    outposts = {s.get("OutpostArn") for s in group}
    if outposts != {inputs.get("outpost_arn")}:
        return f"it is stored on {sorted(map(str, outposts))[0]}, and the input says {inputs.get('outpost_arn')}"
    started = min(snapshots.aware(s["StartTime"]) for s in group)
    limit = timedelta(seconds=float(inputs["timeout"])) + ADOPTION_MARGIN
    if datetime.now(UTC) - started > limit:
        return (
            f"it started at {started.isoformat()}, more than the timeout plus {ADOPTION_MARGIN} ago, so it would "
            "pass old data off as a new snapshot"
        )
    return None


def still_left(ec2: Any, leftover: Leftover, urn: str | None) -> list[dict[str, Any]]:
    """The leftover's snapshots that are still not recorded, as they are now. One seen `completed` is looked at
    again a full consistency window after it was seen (waiting for that if need be): a `recorded` tag written before
    the first look shows by then, so what still carries the attempt id was never handed over."""
    if leftover.settled:
        return leftover.snapshots
    window = consistency_window()
    wait_for = leftover.seen_at + window - time.monotonic()
    ids = ", ".join(s["SnapshotId"] for s in leftover.snapshots)
    if wait_for > 1:
        say(
            urn,
            f"looking at {ids} again in {wait_for:.0f}s: it is this resource's, completed and not recorded, and EC2 "
            f"shows a new tag only after a delay (up to {window:g}s), so it may have been handed over moments ago",
        )
    if wait_for > 0:  # a pause Ctrl-C ends: the window can be minutes
        cancel.pause(wait_for, f"to look at {ids} again")
    wanted = {s["SnapshotId"] for s in leftover.snapshots}
    return [s for s in snapshots.find_tagged(ec2, ATTEMPT_TAG, leftover.attempt) if s["SnapshotId"] in wanted]


def keep_unproven(urn: str | None, group: Sequence[Mapping[str, Any]], reason: str) -> None:
    """Say what was kept, why it is not deleted, and what the user can do: a leftover not provably this resource's."""
    ids = [s["SnapshotId"] for s in group]
    engine_log().warning(
        urn,
        f"kept {', '.join(ids)}, tagged as this resource's and never recorded ({reason}): the tag is a hash of the "
        "resource's URN, which a stack of the same project and stack name in another Pulumi backend shares in this "
        "account and region, so it may be that stack's, and this provider deletes only snapshots it can prove it "
        "made. If no such stack uses this account, it is left by an interrupted create of this resource: delete it "
        f"(aws ec2 delete-snapshot --snapshot-id {ids[0]}"
        + (f", and likewise {', '.join(ids[1:])}" if len(ids) > 1 else "")
        + ")",
    )


def _delete_failed_leftover(ec2: Any, kind: Source, inputs: Mapping[str, Any], group: list[dict[str, Any]]) -> None:
    for s in group:
        with contextlib.suppress(find.NotFound):  # gone already: deleted all the same
            snapshots.delete_snapshot(ec2, s["SnapshotId"])
    pulumi.log.info(
        f"deleted {', '.join(s['SnapshotId'] for s in group)}: an earlier create of this resource left it in state "
        f"error; taking a new {kind.noun} of {kind.source(inputs)}"
    )


def adopt(
    ec2: Any,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    group: list[dict[str, Any]],
    attempt: str,
) -> Taken:
    """Finish an interrupted create: its snapshots, with their tags brought to the current inputs."""
    desired = desired_tags(ec2, kind, inputs, members)
    for s in group:
        bring_tags(ec2, s, desired[s["VolumeId"]])
    started_at = _start_time(group)
    pulumi.log.info(
        f"finishing an interrupted create of this resource: adopting {', '.join(s['SnapshotId'] for s in group)} "
        f"({ATTEMPT_TAG}={attempt}) instead of taking a new {kind.noun}"
    )
    return Taken(group, started_at, {s["SnapshotId"]: desired[s["VolumeId"]] for s in group}, exact=True)


def bring_tags(ec2: Any, snapshot: Mapping[str, Any], wanted: Mapping[str, str]) -> None:
    """Exactly `wanted` besides AWS's and the provider's own tags: an adopted leftover may carry tags of inputs that
    changed since."""
    current = snapshots.tags_of(snapshot.get("Tags"))
    snapshots.update_tags(ec2, [snapshot["SnapshotId"]], current, wanted)


def tidy(ec2: Any, urn: str | None, taken: Taken, leftovers: Leftovers) -> None:
    """Delete what this create provably made and never handed over: duplicates of its own requests (their attempt
    ids are its own), and the leftovers it did not adopt that `leftovers.ours` proves to be this resource's. The
    other leftovers, including ones a first look could not list yet, are reported and kept. Reports, never raises."""
    keep = set(taken.ids) | leftovers.recorded
    doomed: list[tuple[dict[str, Any], str]] = []
    try:
        requests = taken.requests
        if requests and len(requests.may_have_made()) > 1:
            _wait_for_listing(requests.lost_at, urn)
            for attempt in requests.may_have_made():
                doomed += [
                    (s, "a duplicate made by a request of this create whose answer was lost")
                    for s in snapshots.find_tagged(ec2, ATTEMPT_TAG, attempt)
                    if s["SnapshotId"] not in keep
                ]
        left = list(leftovers.discard)
        if urn:
            left += _unseen_leftovers(ec2, urn, taken, leftovers, keep | {s["SnapshotId"] for s, _ in doomed})
        for leftover in left:
            unproven = [s for s in leftover.snapshots if not leftovers.ours(s) and s["SnapshotId"] not in keep]
            if unproven:
                keep_unproven(urn, unproven, leftover.reason)
                continue
            doomed += [(s, leftover.reason) for s in still_left(ec2, leftover, urn) if s["SnapshotId"] not in keep]
    except SnapshotProviderError as error:
        say(urn, f"could not look for what earlier creates of this resource left: {error}")
    for snapshot, reason in {s["SnapshotId"]: (s, r) for s, r in doomed}.values():
        discard(ec2, urn, snapshot, reason)


def _unseen_leftovers(ec2: Any, urn: str, taken: Taken, leftovers: Leftovers, keep: set[str]) -> list[Leftover]:
    """Leftovers a second look lists that the first did not (EC2 had not listed them yet): a crash moments before."""
    known = keep | {s["SnapshotId"] for left in leftovers.discard for s in left.snapshots}
    own = set(taken.requests.may_have_made()) if taken.requests else set()
    seen_at = time.monotonic()
    listed = [
        s
        for s in snapshots.find_tagged(ec2, RESOURCE_TAG, resource_token(urn))
        if s["SnapshotId"] not in known
        and snapshots.tag_value(s, ATTEMPT_TAG) not in (RECORDED, *own)
        and not leftovers.others(s)
    ]
    return [
        Leftover(group, attempt, "left by an interrupted create of this resource", seen_at)
        for attempt, group in _by_attempt(listed).items()
    ]


def _wait_for_listing(since: float, urn: str | None) -> None:
    """Until EC2 lists whatever a request made at `since` (monotonic) made."""
    wait_for = since + consistency_window() - time.monotonic()
    if wait_for > 1:
        say(urn, f"waiting {wait_for:.0f}s for EC2 to list what the requests whose answers were lost made")
    if wait_for > 0:  # a pause Ctrl-C ends: the window can be minutes
        cancel.pause(wait_for, "for EC2 to list what the requests whose answers were lost made")


def discard(ec2: Any, urn: str | None, snapshot: Mapping[str, Any], reason: str) -> None:
    """The one place a snapshot this resource made and never handed over is deleted (leftovers, duplicates): one an
    AMI uses, or one a VolumeRemoval holds for its undo (a user may have given it a leftover's id), is kept and
    reported."""
    sid = snapshot["SnapshotId"]
    try:
        holder = undo_tags.holder_of(snapshot.get("Tags")) or holds.held(ec2, [sid]).get(sid)
    except SnapshotProviderError as error:
        say(urn, f"kept {sid} for now ({reason}): could not check whether an undo holds it: {error}")
        return
    if holder:
        say(
            urn,
            f"kept {sid}, made by an earlier create of this resource and never recorded: the undo of the removed "
            f"volume {holder} restores from it",
        )
        return
    try:
        snapshots.delete_snapshot(ec2, sid)
    except find.NotFound:
        pass  # gone already: deleted all the same
    except SnapshotInUse as in_use:
        say(urn, f"kept {sid}, made by an earlier create of this resource and never recorded: {in_use}")
        return
    except SnapshotProviderError as error:
        say(
            urn,
            f"could not delete {sid}, made by an earlier create of this resource and never recorded ({reason}): "
            f"{error}. The next create of this resource tries again, or delete it yourself.",
        )
        return
    say(urn, f"deleted {sid}: {reason}; this resource made it and nothing recorded it")
