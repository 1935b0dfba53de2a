"""SnapshotSeries: a rolling series of snapshots of one volume (or one instance's set), pruned by a retention policy.

A new `trigger` value (a nightly job runs `pulumi up` with today's date) takes a new snapshot through the shared
lifecycle (take, wait until completed, hand over; an interrupted take is finished by the next run), then the
retention planner (`retention`) decides what to keep, archive and delete, and `prune` carries it out. A trigger change
is an update in place: the series keeps its state and its earlier snapshots.

Besides the lifecycle's two tags, the series' snapshots carry:

- `pulumi-snapshot:series`: the series' id (its Pulumi id, new for every series created, so that a replacement, or a
  series created again after `retain_on_delete`, never takes an older series' snapshots for its own);
- `pulumi-snapshot:point`: which take made it (the members of an instance's set share one), and for which inputs
  (`take_key`: the trigger and source).

Both are set by the request that takes the snapshot (TagSpecifications), so that even a take that never finished
(timed out, killed) carries the series' id. What follows:

- A series lists, archives and deletes only snapshots tagged with its own id and `recorded` (`owned`), or that its
  state records (EC2 shows a `recorded` tag written moments ago only after a delay); never the newest completed one;
  never one an AMI uses (kept, and reported in `in_use`).
- A take that did not finish is the lifecycle's leftover: the next take adopts it if it can stand for the new one,
  or takes a new snapshot and, once that is handed over, deletes it. A leftover tagged with another series' id (a
  series replaced, or kept by `retain_on_delete`) is that series', and left alone.
- `delete` (destroy, or the old side of a replace) deletes the snapshots tagged with the series' id, handed over or
  not, and those its state records (EC2 may not show their tags yet), and nothing else; the `retain_on_delete`
  resource option keeps them all.
- A snapshot the series deleted and its user recovered from the Recycle Bin (same id, same tags) is theirs: the
  series remembers what it deleted for the Recycle Bin's longest retention (`pruned`) and leaves those alone; once
  it sees one listed again, it lets go of it for good (`let_go_of_recovered`: removes the provider's tags from it, so
  that no later run or destroy matches it, and forgets it).
- A run that fails after its take was handed over (a tag change EC2 refuses, an AMI lookup) leaves state as it was,
  trigger included. The next run for the same inputs finds that take by its point tag (`taken_already`) and uses it
  rather than taking a second snapshot for one trigger, which retention would count as a point of its own.
- Pruning runs when the series is created or updated (a new trigger, a new policy), never on an `up` that changes
  nothing. `diff` (so `pulumi preview`) says what the next `up` would archive and delete, or that it cannot know yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeGuard, Unpack, overload

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider.core import holds, lifecycle, progress, pruning
from snapshot_provider.core.lifecycle import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, SERIES_TAG, Kind
from snapshot_provider.dynamic.program import ProviderResource
from snapshot_provider.ebs_snapshot import VOLUME
from snapshot_provider.ec2 import clients, snapshots
from snapshot_provider.ec2.errors import AMI_ID, SnapshotInUse, SnapshotProviderError, aws_errors, is_not_found
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import DEFAULT_TIMEOUT, URN_FIELD, URN_INPUT, AccountArgs, AccountSelection
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema
from snapshot_provider.instance_snapshots import INSTANCE_SET

log = logging.getLogger(__name__)

POINT_TAG = "pulumi-snapshot:point"
# The lifecycle's resource and attempt tags, and these two.
MANAGED_TAG_COUNT = 4
# Values per DescribeImages filter and resources per CreateTags, well under EC2's limits.
BATCH = 200
# The Recycle Bin keeps a deleted snapshot at most a year (a retention rule's period is 1 to 365 days: Recycle Bin
# user guide, "Retention rules"): a snapshot the series deleted longer ago can no longer come back.
RECYCLE_BIN_MAX_DAYS = 365
# What marks a snapshot as the series' (the lifecycle's tags, and the series' own): removed from one it lets go of.
OWN_TAGS = (SERIES_TAG, POINT_TAG, RESOURCE_TAG, ATTEMPT_TAG)


def series_tags(value: Any) -> list[str]:
    return rules.tags(value, managed=MANAGED_TAG_COUNT)


class SnapshotSeriesArgs(AccountArgs, total=False):
    """The inputs of a SnapshotSeries (see docs/retention.md, generated from these declarations).

    Not `SnapshotArgs`: a series has `trigger` and a retention policy where a snapshot has `triggers` and
    `storage_tier`, and its description applies to the next snapshot rather than replacing the resource."""

    volume_id: Annotated[
        pulumi.Input[str],
        Field(
            "the volume the series snapshots (or `instance_id`); a change takes a snapshot of the new volume and "
            "keeps the series' history",
            rule=rules.volume_id,
            on_change="snapshot",
        ),
    ]
    instance_id: Annotated[
        pulumi.Input[str],
        Field(
            "the instance whose volumes are snapshotted together each time (or `volume_id`)",
            rule=rules.instance_id,
            on_change="snapshot",
        ),
    ]
    exclude_boot_volume: Annotated[
        pulumi.Input[bool],
        Field(
            "instance series: leave the root volume out",
            rule=rules.boolean,
            on_change="snapshot",
            requires="instance_id",
        ),
    ]
    exclude_data_volume_ids: Annotated[
        pulumi.Input[Sequence[pulumi.Input[str]]],
        Field(
            "instance series: attached data volumes to leave out",
            rule=rules.volume_ids,
            on_change="snapshot",
            requires="instance_id",
        ),
    ]
    trigger: Annotated[
        pulumi.Input[str | float | bool],
        Field(
            "a new value takes a new snapshot, then prunes (a nightly job passes today's date); unset: one "
            "snapshot, when the series is created",
            rule=rules.trigger,
            on_change="snapshot",
        ),
    ]
    keep_last: Annotated[
        pulumi.Input[int],
        Field(
            "keep at most this many completed snapshots (sets), newest first; older ones are deleted",
            rule=rules.keep_last,
        ),
    ]
    max_age_days: Annotated[
        pulumi.Input[float],
        Field("delete snapshots once they are this many days old", rule=rules.days(0, inclusive=False)),
    ]
    archive_after_days: Annotated[
        pulumi.Input[float],
        Field(
            "move snapshots to the archive tier once they are this many days old (less than `max_age_days`; see "
            "the cost notes: archived snapshots are billed for at least 90 days)",
            rule=rules.days(0, inclusive=True),
        ),
    ]
    description: Annotated[
        pulumi.Input[str],
        Field("on each new snapshot; at most 255 characters", rule=rules.description, on_change="none"),
    ]
    tags: Annotated[
        pulumi.Input[Mapping[str, pulumi.Input[str]]],
        Field(
            "on every snapshot of the series: set at creation; a change updates the kept ones in place (only the "
            "keys given here); at most 46, no `aws:` or `pulumi-snapshot:` keys",
            rule=series_tags,
            default={},
        ),
    ]
    timeout: Annotated[
        pulumi.Input[float],
        Field(
            "seconds to wait for each new snapshot to complete, 1 s to 7 days",
            rule=rules.timeout,
            default=DEFAULT_TIMEOUT,
            on_change="none",
        ),
    ]


SCHEMA = Schema.of(SnapshotSeriesArgs, URN_FIELD)
# The inputs whose change takes a new snapshot.
TAKES = Schema({name: f for name, f in SCHEMA.fields.items() if f.on_change == "snapshot"}, SCHEMA.types)
SOURCES = ("volume_id", "instance_id")


# --- inputs -------------------------------------------------------------------------------------------------------
def source_failures(news: Mapping[str, Any]) -> list[Failure]:
    given = [name for name in SOURCES if news.get(name) is not None]
    if len(given) == 1:
        return []
    if not given:
        return [
            Failure("volume_id", "is required: set volume_id (a volume's series) or instance_id (an instance's sets)")
        ]
    return [
        Failure("instance_id", "and volume_id are both set: a series is of one volume or of one instance; keep one")
    ]


def policy_failures(news: Mapping[str, Any]) -> list[Failure]:
    archive, max_age = news.get("archive_after_days"), news.get("max_age_days")
    if _number(archive) and _number(max_age) and archive >= max_age:
        return [
            Failure(
                "archive_after_days",
                f"is {archive:g}, not less than max_age_days={max_age:g}: snapshots would be deleted before they are "
                "archived; lower it, or unset it",
            )
        ]
    return []


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def failures(news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> list[Failure]:
    return SCHEMA.failures(news, olds) + source_failures(news) + policy_failures(news)


def parse(props: Mapping[str, Any]) -> dict[str, Any]:
    found = failures(props)
    if found:
        raise InvalidInputs(found)
    return SCHEMA.stored(props)


def policy_of(inputs: Mapping[str, Any]) -> pruning.Policy:
    keep_last = inputs.get("keep_last")
    return pruning.Policy(
        keep_last=int(keep_last) if keep_last is not None else None,
        max_age_days=inputs.get("max_age_days"),
        archive_after_days=inputs.get("archive_after_days"),
    )


def kind_of(inputs: Mapping[str, Any]) -> Kind:
    return VOLUME if inputs.get("volume_id") else INSTANCE_SET


def urn_of(props: Mapping[str, Any]) -> str | None:
    urn = props.get(URN_INPUT)
    return urn if isinstance(urn, str) and not is_unknown(urn) else None


def say(props: Mapping[str, Any], line: str) -> None:
    """A line next to the resource in the CLI's output (through the engine, as the lifecycle's progress lines)."""
    progress.engine_log().info(urn_of(props), line)


def name_of(props: Mapping[str, Any]) -> str:
    return (urn_of(props) or "SnapshotSeries").rsplit("::", 1)[-1]


def warn(props: Mapping[str, Any], line: str) -> None:
    pulumi.log.warn(f"{name_of(props)}: {line}")


NO_IMAGES = (
    "could not list the AMIs that use the series' snapshots (ec2:DescribeImages); a delete EC2 refuses because an "
    "AMI uses the snapshot is reported instead"
)


# --- finding the series' snapshots -------------------------------------------------------------------------------
def owned(snapshot: Mapping[str, Any], series_id: str) -> bool:
    """The rule for everything the series archives or deletes: tagged with its id, and handed over."""
    return (
        snapshots.tag_value(snapshot, SERIES_TAG) == series_id
        and snapshots.tag_value(snapshot, ATTEMPT_TAG) == RECORDED
    )


def series_snapshots(
    ec2: Any,
    series_id: str,
    recorded: Mapping[str, Mapping[str, Any]] | None = None,
    deleted: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The series' snapshots, newest first. `recorded`: what the series knows it handed over (snapshot id -> its
    details as written, or its entry in state), in case EC2 does not show their `recorded` tag yet; `deleted`: what
    it deleted, which EC2 may still list for a while, or the Recycle Bin give back (see `pruned_in`)."""
    known = dict(recorded or {})
    listed = {
        s["SnapshotId"]: _as_known(s, known.get(s["SnapshotId"]))
        for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id)
        if (owned(s, series_id) or s["SnapshotId"] in known) and s["SnapshotId"] not in deleted
    }
    # Handed over moments ago: EC2 may not list it by its tags yet (tags set at creation show after a delay too).
    unlisted = [sid for sid in known if sid not in listed]
    fresh = {sid: dict(known[sid]) for sid in unlisted if "StartTime" in known[sid]}  # described by this run
    looked_up = [sid for sid in unlisted if sid not in fresh]
    if looked_up:
        with aws_errors("reading the series' snapshots (ec2:DescribeSnapshots)", snapshot_ids=",".join(looked_up)):
            fresh |= {
                s["SnapshotId"]: _as_known(s, known[s["SnapshotId"]]) for s in snapshots.describe_many(ec2, looked_up)
            }
    listed |= fresh
    return sorted(listed.values(), key=lambda s: snapshots.aware(s["StartTime"]), reverse=True)


def _as_known(snapshot: dict[str, Any], known: Mapping[str, Any] | None) -> dict[str, Any]:
    """A listed snapshot with the tags the series wrote and EC2 may not show yet (its point, `recorded`)."""
    if not known:
        return snapshot
    tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags") or []}
    point = snapshots.tag_value(known, POINT_TAG) if "Tags" in known else known.get("point")
    tags |= {ATTEMPT_TAG: RECORDED} | ({POINT_TAG: point} if point else {})
    return {**snapshot, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def pruned_in(previous: Mapping[str, Any]) -> dict[str, str]:
    """The snapshots the series deleted (id -> the day), while the Recycle Bin could give them back. One that exists
    again was recovered by its user (RestoreSnapshotFromRecycleBin gives back the same id, with the series' tags):
    theirs now, never pruned or deleted again. The last run's `deleted` counts too (state older than this record)."""
    oldest = (datetime.now(UTC).date() - timedelta(days=RECYCLE_BIN_MAX_DAYS)).isoformat()
    kept = {sid: day for sid, day in (previous.get("pruned") or {}).items() if str(day) >= oldest}
    return dict.fromkeys(previous.get("deleted") or [], _today()) | kept


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
            ec2.delete_tags(Resources=[sid], Tags=[{"Key": key} for key in OWN_TAGS])
        except ClientError as error:
            if not is_not_found(error):  # not gone (EC2 may list a deleted one a while): remembered a year longer
                remaining[sid] = _today()
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


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def recorded_in(previous: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The snapshots the series' state records, by id (their entries: the point they belong to)."""
    return {e["snapshot_id"]: dict(e) for e in previous.get("snapshots") or [] if e.get("snapshot_id")}


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def archive_requested(previous: Mapping[str, Any]) -> set[str]:
    """Snapshots state says were archived: AWS reports `standard` for hours while archiving, so the request counts."""
    return {e["snapshot_id"] for e in previous.get("snapshots") or [] if e.get("tier") == "archive"}


def planner_snapshots(
    listing: Sequence[Mapping[str, Any]], archived: set[str], images: Mapping[str, list[str]] | None
) -> list[pruning.Snapshot]:
    return [
        pruning.Snapshot(
            snapshot_id=s["SnapshotId"],
            point=snapshots.tag_value(s, POINT_TAG) or s["SnapshotId"],
            started=snapshots.aware(s["StartTime"]),
            state=s["State"] if s["State"] in ("pending", "completed", "error") else "pending",
            tier="archive" if _tier(s, archived) == "archive" else "standard",
            used_by=tuple((images or {}).get(s["SnapshotId"], [])),
            held_for=holds.holder_of(s.get("Tags")),
        )
        for s in listing
    ]


def _tier(snapshot: Mapping[str, Any], archived: set[str]) -> str:
    return "archive" if snapshot.get("StorageTier") == "archive" or snapshot["SnapshotId"] in archived else "standard"


# --- taking and pruning --------------------------------------------------------------------------------------------
def take_point(
    account: AccountSelection, ec2: Any, series_id: str, inputs: Mapping[str, Any], recorded: frozenset[str]
) -> tuple[float, dict[str, dict[str, Any]]]:
    """A new snapshot (or set) through the lifecycle, handed over as the series': its wait_time, and the snapshots
    as written (EC2 may show their tags only after a delay)."""
    kind = kind_of(inputs)
    members = kind.members(ec2, inputs)
    urn = inputs[URN_INPUT]
    deadline = time.monotonic() + float(inputs["timeout"])
    point = f"point-{secrets.token_hex(8)}-{take_key(inputs)}"
    taken, leftovers = lifecycle.start_or_finish(
        account,
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
    statuses = lifecycle.wait(
        account, kind, inputs, taken, members, delete_on_failure=lifecycle.made_here(taken), deadline=deadline
    )
    found = lifecycle.as_written(taken, {sid: status.details for sid, status in statuses.items()})
    ec2 = clients.client(account)  # the client now: the wait may have renewed the credentials
    if any(snapshots.tag_value(d, SERIES_TAG) != series_id or not _point(d) for d in found.values()):
        # Adopted: from a version that tagged takes only at hand-over, or from a create of this series that failed
        # (its id was never recorded). One point for the whole set.
        ours = {SERIES_TAG: series_id, POINT_TAG: point}
        snapshots.set_tags(ec2, list(found), ours)
        found = {sid: _with_tags(d, ours) for sid, d in found.items()}
    lifecycle.hand_over(ec2, inputs, found)
    lifecycle.tidy(ec2, urn, taken, leftovers)
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


@dataclass
class Outcome:
    """What a run did to the series' older snapshots."""

    archived: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    in_use: dict[str, list[str]] = field(default_factory=dict)  # snapshot -> AMIs, kept
    failed: list[str] = field(default_factory=list)


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
    for sid in _planned(plan, "delete", ours):
        try:
            snapshots.delete_snapshot(ec2, sid)
            outcome.deleted.append(sid)
        except SnapshotInUse as in_use:
            outcome.in_use[sid] = list(dict.fromkeys(AMI_ID.findall(str(in_use)))) or ["an AMI"]
        except SnapshotProviderError as error:
            outcome.failed.append(str(error))
    return outcome


def report(plan: pruning.Plan, outcome: Outcome) -> list[str]:
    """What a run did, one line per point it changed or kept for an AMI."""
    lines = []
    for d in plan.decisions:
        ids = d.point.snapshot_ids
        done = {"archive": outcome.archived, "delete": outcome.deleted}.get(d.action, [])
        if d.action != "keep" and any(sid in done for sid in ids):
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


def _planned(plan: pruning.Plan, action: pruning.Action, ours: Mapping[str, Any]) -> list[str]:
    ids = [sid for point in plan.points(action) for sid in point.snapshot_ids]
    strangers = [sid for sid in ids if sid not in ours]
    if strangers:  # the plan is built from `ours`: this would be a bug, and the snapshots may be someone else's
        raise SnapshotProviderError(
            f"refusing to {action} {', '.join(strangers)}: not tagged {SERIES_TAG} of this series and recorded"
        )
    return ids


def run(
    account: AccountSelection,
    account_id: str,
    series_id: str,
    inputs: Mapping[str, Any],
    *,
    take_new: bool,
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """Take a new snapshot if asked, then prune by the policy; the outputs."""
    ec2 = clients.client(account)
    wait_time = previous.get("wait_time")
    recorded: dict[str, dict[str, Any]] = recorded_in(previous)
    pruned = pruned_in(previous)
    earlier = taken_already(ec2, series_id, inputs, previous, pruned) if take_new else {}
    if earlier:
        say(inputs, f"uses {', '.join(earlier)}, taken for this trigger by a run that failed after its take")
        wait_time, recorded = None, recorded | earlier  # that run's wait was not recorded
    elif take_new:
        wait_time, taken = take_point(account, ec2, series_id, inputs, frozenset(recorded))
        recorded |= taken
        ec2 = clients.client(account)  # the wait may have renewed the credentials
    pruned, let_go = let_go_of_recovered(ec2, series_id, pruned, inputs)
    # Those let go of still show the series' tags for a while (EC2's tag delay): left out of this run by id.
    listing = series_snapshots(ec2, series_id, recorded, [*pruned, *let_go])
    if previous and not _same_tags(previous.get("tags"), inputs["tags"]):
        for batch in _batches([s["SnapshotId"] for s in listing]):
            snapshots.update_tags(ec2, batch, previous.get("tags") or {}, inputs["tags"])
    requested = archive_requested(previous)
    images = snapshots.images_using(ec2, [s["SnapshotId"] for s in listing])
    if images is None:
        say(inputs, NO_IMAGES)
    found = pruning.points(planner_snapshots(listing, requested, images))
    plan = pruning.plan(found, policy_of(inputs), datetime.now(UTC))
    outcome = prune(ec2, series_id, plan, listing)
    for line in report(plan, outcome):
        say(inputs, line)
    for failure in outcome.failed:
        warn(inputs, f"{failure} (the next run tries again)")
    gone = set(outcome.deleted)
    kept = [s for s in listing if s["SnapshotId"] not in gone]
    outs = outputs(inputs, series_id, kept, requested | set(outcome.archived), images, account_id)
    outs.update(
        wait_time=wait_time,
        archived=outcome.archived,
        deleted=outcome.deleted,
        pruned=pruned | dict.fromkeys(outcome.deleted, _today()),
        in_use=[{"snapshot_id": sid, "image_ids": amis} for sid, amis in sorted(outcome.in_use.items())],
        failed=outcome.failed,
    )
    return outs


def _same_tags(old: Any, new: Mapping[str, Any]) -> bool:
    return dict(old or {}) == dict(new)


# --- outputs -------------------------------------------------------------------------------------------------------
def outputs(
    props: Mapping[str, Any],
    series_id: str,
    listing: Sequence[Mapping[str, Any]],
    archived: set[str],
    images: Mapping[str, list[str]] | None,
    account_id: str,
) -> dict[str, Any]:
    """State from the inputs and the series' snapshots as they are now (create, update and read all end here)."""
    entries = [_entry(s, archived, images) for s in listing]
    newest = _newest_completed(listing)
    sizes: dict[str, float] = {"standard": 0, "archive": 0}
    full: dict[str, float | None] = {"standard": 0.0, "archive": 0.0}
    for e in entries:
        sizes[e["tier"]] += e["size_gib"] or 0
        full_tier = full[e["tier"]]
        full[e["tier"]] = None if full_tier is None or e["full_size_gib"] is None else full_tier + e["full_size_gib"]
    outs = {k: v for k, v in props.items() if k in SCHEMA.fields}
    outs.update(
        snapshot_id=newest[0]["SnapshotId"] if newest and props.get("volume_id") else None,
        snapshot_ids={s["VolumeId"]: s["SnapshotId"] for s in newest},
        snapshots=entries,
        size_gib=sizes,
        full_size_gib={tier: None if v is None else round(v, 3) for tier, v in full.items()},
        series_tag={"key": SERIES_TAG, "value": series_id},
        account_id=account_id,
        region=props.get("region"),
    )
    return outs


def _entry(s: Mapping[str, Any], archived: set[str], images: Mapping[str, list[str]] | None) -> dict[str, Any]:
    full_bytes = s.get("FullSnapshotSizeInBytes")
    return {
        "snapshot_id": s["SnapshotId"],
        "volume_id": s.get("VolumeId"),
        "point": snapshots.tag_value(s, POINT_TAG),
        "start_time": snapshots.iso(s.get("StartTime")),
        "state": s.get("State"),
        "tier": _tier(s, archived),
        "size_gib": s.get("VolumeSize"),
        # What the archive tier bills (all blocks written when it was taken); None when EC2 does not report it.
        "full_size_gib": round(full_bytes / 2**30, 3) if isinstance(full_bytes, int) else None,
        "used_by": None if images is None else images.get(s["SnapshotId"], []),
    }


def _newest_completed(listing: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The members of the newest completed point."""
    completed = [p for p in pruning.points(planner_snapshots(listing, set(), {})) if p.state == "completed"]
    if not completed:
        return []
    members = set(completed[0].snapshot_ids)
    return [s for s in listing if s["SnapshotId"] in members]


# --- preview -------------------------------------------------------------------------------------------------------
def preview_lines(series_id: str, olds: Mapping[str, Any], news: Mapping[str, Any], diff: DiffResult) -> list[str]:
    """What the next `up` would do to the series' snapshots, as `diff` sees it. Raises when it cannot know."""
    account = AccountSelection.from_props(news if not diff.replaces else olds)
    if diff.replaces:
        ec2 = clients.client(account)
        clients.ensure_recorded_account(account, clients.recorded_account(olds), "update")
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
    ec2 = clients.client(account)
    clients.ensure_recorded_account(account, clients.recorded_account(olds), "update")
    listing = series_snapshots(ec2, series_id, recorded_in(olds), list(pruned_in(olds)))
    images = snapshots.images_using(ec2, [s["SnapshotId"] for s in listing])
    found = pruning.points(planner_snapshots(listing, archive_requested(olds), images))
    note = [NO_IMAGES] if images is None else []
    now = datetime.now(UTC)
    takes = TAKES.diff(olds, news).changes
    if takes:
        found.append(pruning.Point("next", now, "completed", snapshot_ids=("the new snapshot",)))
    lines = pruning.describe(pruning.plan(found, policy_of(inputs), now))
    source = kind_of(inputs).source(inputs) if any(inputs.get(s) for s in SOURCES) else "the source"
    up = f"the next `up` of {name_of(news)}"
    head = f"{up} takes a new snapshot of {source}, then" if takes else f"{up} applies the policy and"
    if not lines:
        return [f"{head} archives and deletes nothing ({len(listing)} snapshot(s) kept)", *note]
    return [f"{head}:", *(f"  {line}" for line in lines), *note]


class _CannotKnow(Exception):
    pass


def preview(series_id: str, olds: Mapping[str, Any], news: Mapping[str, Any], diff: DiffResult) -> None:
    """Log `preview_lines`; never fail a preview because of them."""
    try:
        lines = preview_lines(series_id, olds, news, diff)
    except Exception as error:  # a preview must not fail for want of a forecast
        reason = str(error).split(". ")[0]
        lines = [f"cannot know yet what the next `up` of {name_of(news)} will archive and delete: {reason}"]
    for line in lines:
        say(news, line)


# --- provider and resource -----------------------------------------------------------------------------------------
class SnapshotSeriesProvider(ResourceProvider):
    """Dynamic provider for SnapshotSeries. Its module path and name are in every stack's state: keep them."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = failures(news, olds)
        return CheckResult(SCHEMA.stored(news), [CheckFailure(f.property, f.reason) for f in found])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        result = SCHEMA.diff(olds, news)
        if result.changes:
            preview(id_, olds, news, result)
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = parse(props)
        if not inputs.get(URN_INPUT):
            raise SnapshotProviderError("a SnapshotSeries needs its URN (resource_urn), which the program sets")
        account = AccountSelection.from_props(inputs)
        account_id = clients.ensure_allowed_account(account)
        series_id = f"series-{secrets.token_hex(8)}"
        return CreateResult(series_id, run(account, account_id, series_id, inputs, take_new=True, previous={}))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = parse(news)
        account = AccountSelection.from_props(inputs)
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(olds), "update")
        take_new = bool(TAKES.diff(olds, news).changes)
        return UpdateResult(run(account, account_id, id_, inputs, take_new=take_new, previous=olds))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        account = AccountSelection.from_props(props)
        if not account.region:
            raise SnapshotProviderError("reading the series needs a region: set region or aws:region")
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(props), "refresh")
        ec2 = clients.client(account)
        listing = series_snapshots(ec2, id_, recorded_in(props), list(pruned_in(props)))
        outs = outputs(
            props,
            id_,
            listing,
            archive_requested(props),
            snapshots.images_using(ec2, [s["SnapshotId"] for s in listing]),
            account_id,
        )
        # What the last run did stays as it was: refresh only looks.
        for name in ("wait_time", "archived", "deleted", "pruned", "in_use", "failed"):
            outs[name] = props.get(name)
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Every snapshot tagged with this series' id, and every one its state records; only the ids and the account
        selection from state are used."""
        account = AccountSelection.from_props(props)
        clients.ensure_recorded_account(account, clients.recorded_account(props), "delete")
        ec2 = clients.client(account)
        found = to_delete(ec2, id_, props)
        holds.wait_until_released(account, ec2, found, urn_of(props))
        blocked = []
        for sid in found:
            try:
                snapshots.delete_snapshot(ec2, sid)
            except SnapshotInUse as in_use:
                blocked.append(str(in_use))
        if blocked:
            raise SnapshotInUse(
                "; ".join(blocked) + " The series' other snapshots were deleted; run `pulumi destroy` again once the "
                "AMIs are deregistered."
            )


def to_delete(ec2: Any, series_id: str, props: Mapping[str, Any]) -> list[str]:
    """What a series' delete deletes: its snapshots by tag (handed over or not), and those its state records, which
    EC2's tag filters may not show yet (tags set moments ago, by the request or at the hand-over, show after a
    delay: EC2 API reference, "Eventual consistency"); never one it pruned that its user recovered since."""
    tagged = [s["SnapshotId"] for s in snapshots.find_tagged(ec2, SERIES_TAG, series_id)]
    recovered = pruned_in(props)
    return [sid for sid in dict.fromkeys([*tagged, *recorded_in(props)]) if sid not in recovered]


class SnapshotSeries(ProviderResource, module="ebs-snapshots", name="SnapshotSeries"):
    """A rolling series of snapshots of one volume (or one instance's set), kept by a retention policy.

    Outputs `snapshot_id` and `wait_time` of the newest snapshot, `snapshots` (the kept ones: id, start time, tier,
    size), what the last run `archived` and `deleted`, what the series deleted within the Recycle Bin's year
    (`pruned`: id -> day; one recovered from the Recycle Bin is let go of: its series tags removed, forgotten),
    snapshots kept because AMIs use them (`in_use`), and the series' size per tier (`size_gib`, `full_size_gib`).
    """

    schema = SCHEMA
    provider = SnapshotSeriesProvider

    snapshot_id: pulumi.Output[str | None]
    snapshot_ids: pulumi.Output[dict[str, str]]
    wait_time: pulumi.Output[float]
    snapshots: pulumi.Output[list[dict[str, Any]]]
    archived: pulumi.Output[list[str]]
    deleted: pulumi.Output[list[str]]
    pruned: pulumi.Output[dict[str, str]]
    in_use: pulumi.Output[list[dict[str, Any]]]
    failed: pulumi.Output[list[str]]
    size_gib: pulumi.Output[dict[str, float]]
    full_size_gib: pulumi.Output[dict[str, float | None]]
    series_tag: pulumi.Output[dict[str, str]]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]

    @overload
    def __init__(
        self, resource_name: str, args: SnapshotSeriesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[SnapshotSeriesArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: SnapshotSeriesArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
