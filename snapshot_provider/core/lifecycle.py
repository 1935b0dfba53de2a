"""The lifecycle every snapshot resource shares: create (or finish this resource's interrupted create), wait, hand
over; bring tags and tier to the inputs; read; delete. Each resource supplies a `Kind`: what differs.

Two tags tie a snapshot to the resource that took it:

- `pulumi-snapshot:resource`: a hash of the resource's URN (so the same name under another parent is another
  resource);
- `pulumi-snapshot:attempt`: the id of the request that made it (each CreateSnapshot(s) request has its own) until
  the create hands the completed snapshot to Pulumi, which records it in state; then `recorded`.

A create:

- first looks for this resource's snapshots that are not `recorded`. Only an interrupted create of this same resource
  leaves those (crash, timeout, lost answer). One that can stand for this create (same volume, description and
  Outpost, started within the timeout plus an hour) is adopted: its tags are brought to the inputs and the wait
  resumes. The others (another volume or description, too old, a second one of the same kind, ended in `error`)
  cannot be adopted: a new snapshot is taken, and once it is handed over they are reported, and kept. The resource
  tag is a hash of the URN, and a stack of the same project and stack name in another backend (a developer's local
  state beside CI's) has the same URNs: what carries the tag may be that stack's, in flight, and this provider
  deletes only what it can prove it made (see `tidy`). A caller may prove more (`ours`: a series' takes carry its
  id, recorded in its state); those are deleted, except what an AMI uses or an undo's hold keeps (see `discard`).
  That other stack's in-flight snapshot can still be adopted, as one of this resource's own: a limitation the
  docs state (docs/troubleshooting.md: two stacks of the same project and stack name in one account and region).
- makes each request only when the volume's limits allow it (`volume_limits`): one request per volume per 15 s and
  no more pending snapshots than EC2 allows; a refusal for either is waited out within the timeout.
- never repeats a request blindly. After an answer is lost (5xx, dropped connection, read timeout) it looks for the
  request's snapshots, by its attempt id, with backoff over EC2's consistency window (`waiting.consistency_window`:
  EC2 lists a new snapshot, and shows new tags, only after a delay). Only when nothing shows in
  that window does it ask again. A per-volume refusal of that second request is evidence the first one went through:
  it keeps looking. When more than one request may have made snapshots, every snapshot of those requests that is not
  the one handed over is deleted once the window has passed (the sweep).

EC2's tag delay decides what may be deleted or adopted. A snapshot whose `recorded` tag was set seconds ago may
still list with its attempt id, looking like a leftover. So:

- a leftover that was `pending` when seen was never handed over (a create hands over only `completed` snapshots),
  and nothing else records snapshots of this resource meanwhile (the engine runs one operation per resource): it may
  be adopted or deleted at once;
- a `completed` one may have been handed over moments ago: it is adopted or deleted only if a second look, a full
  consistency window after the first, still finds it with its attempt id (a `recorded` tag written before the first
  look is visible by then). Until then it is neither;
- what this create itself took and handed over, and what the caller knows to be recorded (a series' state), is never
  taken for a leftover;
- a failure while deleting leftovers is reported, never raised: by then the new snapshot is handed over, and a create
  that failed now would leave it outside state.

A `recorded` snapshot is never adopted: state holds it (the resource being replaced, for instance), or
`retain_on_delete` gave it to the user. So a replace always takes a new snapshot, and the engine deletes the old one
only after the new one completed. `delete` needs only the ids and the account selection from state; it never applies
today's input rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pulumi
from botocore.exceptions import BotoCoreError, ClientError
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from snapshot_provider.core import holds, pacing, progress, waiting
from snapshot_provider.core.sources import Member, Source
from snapshot_provider.core.volume_limits import GATE, PER_VOLUME_CODES, RECHECK, TOO_MANY_PENDING, LimitWaitExpired
from snapshot_provider.core.waiting import (
    SnapshotStatus,
    WaitCancelled,
    WaitInterrupted,
    WaitTimedOut,
    consistency_window,
)
from snapshot_provider.ec2 import clients, find, locks, snapshots, undo_tags
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import (
    SnapshotFailed,
    SnapshotInUse,
    SnapshotProviderError,
    SnapshotTimedOut,
    WaitEnded,
    error_code,
    explain,
    is_credential_problem,
    is_throttling,
)
from snapshot_provider.inputs import lock, rules
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.inputs.schema import Schema

RESOURCE_TAG = "pulumi-snapshot:resource"
ATTEMPT_TAG = "pulumi-snapshot:attempt"
RECORDED = "recorded"
# A SnapshotSeries' id on each of its snapshots (see `series`); declared here, where every resource can see it.
SERIES_TAG = "pulumi-snapshot:series"
# A leftover is adopted only if it started within the resource's timeout plus this margin: an older one would pass
# old data off as a new snapshot.
ADOPTION_MARGIN = timedelta(hours=1)
# Requests throttled, never sent or answered ambiguously before a create gives up (botocore's own retries: 20).
MAX_REQUESTS = 20
# A volume or instance made moments ago (by pulumi-aws in the same stack) is refused with these until EC2 knows it
# ("Eventual consistency in the Amazon EC2 API": retry with backoff): asked again within the consistency window.
JUST_MADE_NOT_FOUND = frozenset({"InvalidVolume.NotFound", "InvalidInstanceID.NotFound"})


class StateShape(Protocol):
    """How a snapshot resource keeps its snapshots in state: its schema, its id, its outputs."""

    schema: Schema

    def members_in_state(self, props: Mapping[str, Any]) -> list[Member]: ...

    def snapshot_ids(self, id_: str, props: Mapping[str, Any]) -> list[str]: ...

    def resource_id(self, inputs: Mapping[str, Any], snapshot_ids: list[str]) -> str: ...

    def outputs(
        self,
        props: Mapping[str, Any],
        members: list[Member],
        found: Mapping[str, Mapping[str, Any]],
        account_id: str,
    ) -> dict[str, Any]:
        """State from the inputs and the snapshots as described now (create, update and read all end here)."""
        ...


class Kind(Source, StateShape, Protocol):
    """A snapshot resource: what it snapshots and how (`Source`), and how it keeps that in state (`StateShape`).
    Taking and waiting need only the source; create, read, update and delete need both."""


@dataclass
class Requests:
    """The CreateSnapshot(s) requests of one take, each with its own attempt id, so that what one request made can
    be told from what another made."""

    sent: dict[str, dict[str, str]] = field(default_factory=dict)  # attempt id -> the tags its request carried
    lost: list[str] = field(default_factory=list)  # requests whose answer was lost: they may have made snapshots
    lost_at: float = -1.0  # monotonic time the last answer was lost
    answered: str | None = None
    first_at: float = field(default_factory=time.monotonic)  # when this take began asking
    # The last refusal, when it said the source does not exist (yet): what a take that runs out of time reports, as
    # the volume's limits are then not what stopped it.
    not_found: ClientError | BotoCoreError | None = None

    def may_have_made(self) -> list[str]:
        return [*self.lost, *([self.answered] if self.answered else [])]


@dataclass
class Taken:
    """The snapshots a create waits for, when their request was made (wall clock), and what it knows it wrote."""

    snapshots: list[dict[str, Any]]
    started_at: float
    # Snapshot id -> tags this create set on it; with `exact`, they are all its tags but AWS's and the provider's.
    written: dict[str, dict[str, str]] = field(default_factory=dict)
    exact: bool = False
    requests: Requests | None = None
    gated: list[str] = field(default_factory=list)  # volumes counted as pending in the gate until the wait ends
    # The user's own snapshot, recorded through import_snapshot_id: a wait that ends leaves it as theirs. Those this
    # resource made or adopted (its own interrupted create's, a series' take) are left tagged as its own.
    imported: bool = False

    @property
    def ids(self) -> list[str]:
        return [s["SnapshotId"] for s in self.snapshots]


@dataclass
class Leftover:
    """Snapshots one interrupted request of this resource left, that this create does not adopt, and why."""

    snapshots: list[dict[str, Any]]
    attempt: str
    reason: str
    seen_at: float  # monotonic: when a look found it not recorded

    @property
    def settled(self) -> bool:
        """Seen pending: never handed over (see the module docstring), so no second look is needed."""
        return all(s["State"] == "pending" for s in self.snapshots)


@dataclass
class Leftovers:
    """What a create found of this resource's interrupted creates: one adopted, the others to go once the new
    snapshot is handed over; and the ones a second look found recorded after all."""

    adopted: Taken | None = None
    discard: list[Leftover] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)
    others: Callable[[Mapping[str, Any]], bool] = lambda _snapshot: False
    # Which leftovers are provably this resource's: only those are ever deleted (see the module docstring).
    ours: Callable[[Mapping[str, Any]], bool] = lambda _snapshot: False


class SnapshotProvider(ResourceProvider):
    """A dynamic provider over a `Kind`. Stateless, so that its pickled form in state stays a reference."""

    kind: Kind

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return self.kind.schema.check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        refuse_lock_shortening(olds, news)
        return self.kind.schema.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return create(self.kind, props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read(self.kind, id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return update(self.kind, id_, olds, news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        delete(self.kind, id_, props)


def refuse_lock_shortening(olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """At diff (preview), a lock change EC2 would refuse, judged with the lock's end as state recorded it: `check`
    has the old inputs only, which do not say when a `duration_days` lock ends."""
    if reason := lock.lock_change_in_state(olds, news):
        raise SnapshotProviderError(f"lock: {reason}")


def resource_token(urn: str) -> str:
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


def say(urn: str | None, line: str) -> None:
    """A line next to the resource in the CLI's output."""
    progress.engine_log().info(urn, line)


# --- create -----------------------------------------------------------------------------------------------------
def create(kind: Kind, props: Mapping[str, Any]) -> CreateResult:
    inputs = kind.schema.parse(props)
    conn = Connection.to_create(inputs)
    ec2 = conn.ec2
    members = kind.members(ec2, inputs)
    urn = inputs.get(URN_INPUT)
    deadline = time.monotonic() + float(inputs["timeout"])
    taken, leftovers = start_or_finish(conn.account, ec2, kind, inputs, members, urn, deadline)
    statuses = wait(conn.account, kind, inputs, taken, members, delete_on_failure=made_here(taken), deadline=deadline)
    found = as_written(taken, {sid: status.details for sid, status in statuses.items()})
    ec2 = conn.ec2  # the client now: the wait may have renewed the credentials
    hand_over(ec2, inputs, found)
    found = with_locks(ec2, inputs, found)
    tidy(ec2, urn, taken, leftovers)
    outs = kind.outputs(inputs, members, found, conn.account_id)
    outs["wait_time"] = snapshots.wait_seconds(max(s.observed_at for s in statuses.values()), taken.started_at)
    return CreateResult(kind.resource_id(inputs, taken.ids), outs)


def _nobody(_snapshot: Mapping[str, Any]) -> bool:
    return False


def made_here(taken: Taken) -> bool:
    """Whether this create's own requests made the snapshots (not adopted): only those may it delete when one fails."""
    return taken.requests is not None


def start_or_finish(
    account: AccountSelection,
    ec2: Any,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str | None,
    deadline: float,
    *,
    extra_tags: Mapping[str, str] | None = None,
    others: Callable[[Mapping[str, Any]], bool] | None = None,
    recorded: frozenset[str] = frozenset(),
    announce_recorded: bool = True,
    ours: Callable[[Mapping[str, Any]], bool] | None = None,
) -> tuple[Taken, Leftovers]:
    """Adopt what an interrupted create of this resource left, or take new snapshots; and what else it left.

    `extra_tags` go on new snapshots besides the resource's and the attempt's (a series' id). `others` says which of
    this resource's unrecorded snapshots belong to someone else all the same (another series of the same name), to be
    left alone. `recorded` are ids state records (never leftovers). `announce_recorded=False` for a resource whose
    recorded snapshots are its own history (SnapshotSeries), where "left as they are" would not be true. `ours` says
    which leftovers are provably this resource's (the only ones ever deleted)."""
    leftovers = (
        survey(ec2, kind, inputs, members, urn, others or _nobody, recorded, announce_recorded, ours or _nobody)
        if urn
        else Leftovers()
    )
    return leftovers.adopted or take(account, kind, inputs, members, urn, deadline, extra_tags), leftovers


def desired_tags(ec2: Any, kind: Source, inputs: Mapping[str, Any], members: list[Member]) -> dict[str, dict[str, str]]:
    """Each volume's snapshot tags as the inputs ask: the volume's own when copied, then the input tags (they win)."""
    volume_ids = [m.volume_id for m in members]
    copied = snapshots.volume_tags(ec2, volume_ids, inputs["region"]) if kind.copies_volume_tags(inputs) else {}
    desired = {v: {**copied.get(v, {}), **inputs["tags"]} for v in volume_ids}
    limit = rules.MAX_TAGS - rules.LIFECYCLE_TAG_COUNT
    for volume_id, tags in desired.items():
        if len(tags) > limit:  # the input tags alone were checked at preview; the volume's are known only now
            raise SnapshotProviderError(
                f"tags: the snapshot of {volume_id} would carry {len(tags)} tags with the volume's "
                f"{len(copied[volume_id])} copied, and EC2 allows {rules.MAX_TAGS} per snapshot, this provider using "
                f"{rules.LIFECYCLE_TAG_COUNT}: at most {limit}. Nothing was changed: pass fewer tags, or stop copying "
                "the volume's"
            )
    return desired


# --- taking new snapshots ---------------------------------------------------------------------------------------
def take(
    account: AccountSelection,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str | None,
    deadline: float,
    extra_tags: Mapping[str, str] | None = None,
) -> Taken:
    """Start new snapshots, tagged with this resource and each request's own attempt id; never two for one create
    (see the module docstring), and each request only when the volumes' limits allow it."""
    ec2 = clients.client(account)
    once = clients.client(account, single_attempt=True)
    tags = {**kind.request_tags(inputs, desired_tags(ec2, kind, inputs, members)), **(extra_tags or {})}
    tags |= {RESOURCE_TAG: resource_token(urn)} if urn else {}
    volumes = [m.volume_id for m in members]
    what = f"the {kind.noun} of {kind.source(inputs)}"
    requests = Requests()
    told: set[str] = set()

    def tell(key: str, line: str) -> None:
        if key not in told:
            told.add(key)
            say(urn, line)

    failures = 0
    while True:
        try:
            turn = GATE.turn(volumes, deadline, lambda line: tell("turn", line))
        except LimitWaitExpired:
            if requests.not_found is not None:
                raise SnapshotProviderError(_never_found(requests.not_found, what, inputs)) from requests.not_found
            raise SnapshotTimedOut(_not_requested(what, inputs)) from None
        if requests.lost:  # one more look before asking again: the turn may have come after a long wait
            found = look_for_lost(ec2, requests, members, time.monotonic())
            if found is not None:
                GATE.release(volumes)
                return found
        attempt = secrets.token_hex(8)
        requests.sent[attempt] = {**tags, ATTEMPT_TAG: attempt}
        requested_at = time.time()  # wait_time and the poll schedule count from the request that went through
        try:
            started = kind.start(once, inputs, members, requests.sent[attempt])
            requested_at = max(requested_at, pacing.last_sent_at() or 0.0)  # after its turn in the API's queue
        except waiting.LookCancelled:  # Ctrl-C while in EC2's API queue: this request was not sent
            GATE.release(volumes)
            raise
        except (ClientError, BotoCoreError) as error:
            code = error_code(error)
            if code in PER_VOLUME_CODES:
                GATE.refused(str(code), volumes)
            elif is_throttling(error) or snapshots.never_sent(error):
                GATE.give_back(turn)
            else:
                GATE.release(volumes)
            found = _after_refusal(ec2, error, attempt, requests, members, deadline, what, inputs, tell)
            if found is not None:
                return found
            failures += 0 if code in PER_VOLUME_CODES else 1
            if failures >= MAX_REQUESTS:
                raise SnapshotProviderError(
                    explain(error, f"taking {what}", region=inputs.get("region"))
                    + f" ({failures} requests failed; any snapshot they made is tagged as this resource's, and the "
                    "next `pulumi up` adopts or deletes it)"
                ) from error
            if not snapshots.is_ambiguous(error) and code not in PER_VOLUME_CODES:
                waiting.pause(min(10.0, 0.25 * 2**failures) * random.uniform(0.5, 1.0), f"to ask again for {what}")
            continue
        requests.answered = attempt
        written = {s["SnapshotId"]: requests.sent[attempt] for s in started}
        return Taken(started, requested_at, written, requests=requests, gated=volumes)


def _after_refusal(
    ec2: Any,
    error: ClientError | BotoCoreError,
    attempt: str,
    requests: Requests,
    members: list[Member],
    deadline: float,
    what: str,
    inputs: Mapping[str, Any],
    tell: Callable[[str, str], None],
) -> Taken | None:
    """What a failed request means: the snapshots an earlier request made (found), or None to ask again once the
    cause has passed. Raises for errors asking again cannot fix."""
    code = error_code(error)
    if snapshots.is_ambiguous(error):
        requests.lost.append(attempt)
        requests.lost_at = time.monotonic()
        tell(
            "lost",
            f"the answer to the request for {what} was lost ({str(error).split(':')[0]}); looking for what it made "
            f"before asking again (EC2 lists a new snapshot only after a delay: up to "
            f"{consistency_window():g}s, SNAPSHOT_CONSISTENCY_WINDOW)",
        )
        return look_for_lost(ec2, requests, members, deadline)
    if code in PER_VOLUME_CODES:
        if requests.lost:  # a refusal of this volume's next request: the lost one most likely went through
            requests.lost_at = time.monotonic()  # so look for it a while longer
            found = look_for_lost(ec2, requests, members, deadline)
            if found is not None:
                return found
        if code == TOO_MANY_PENDING:
            tell(
                "pending",
                f"waiting to request {what}: the volume has as many pending snapshots as EC2 allows "
                "(ConcurrentSnapshotLimitExceeded); the request goes once one of them completes, within timeout",
            )
            try:
                GATE.wait_for_room([m.volume_id for m in members], deadline, RECHECK)
            except LimitWaitExpired:
                raise SnapshotTimedOut(_not_requested(what, inputs)) from None
        return None  # the rate limit: the gate spaces the next request
    if is_throttling(error) or snapshots.never_sent(error):
        return None
    if code in JUST_MADE_NOT_FOUND and time.monotonic() < requests.first_at + consistency_window():
        requests.not_found = error
        tell(
            "not listed",
            f"EC2 does not know the source of {what} yet ({code}): one made moments ago (in this stack) is known "
            f"only after a delay; asking again for up to {consistency_window():g}s (SNAPSHOT_CONSISTENCY_WINDOW)",
        )
        return None
    raise SnapshotProviderError(explain(error, f"taking {what}", region=inputs.get("region"))) from error


def look_for_lost(ec2: Any, requests: Requests, members: list[Member], deadline: float) -> Taken | None:
    """The snapshots of a request whose answer was lost: looked for, with backoff, until the consistency window after
    the last lost answer has passed (or the deadline)."""
    volumes = {m.volume_id for m in members}

    def look() -> Taken | None:
        for attempt in requests.lost:
            made = {s["VolumeId"]: s for s in snapshots.find_tagged(ec2, ATTEMPT_TAG, attempt)}
            if volumes <= set(made):
                found = [made[v] for v in sorted(volumes)]
                written = {s["SnapshotId"]: requests.sent[attempt] for s in found}
                return Taken(found, _start_time(found), written, requests=requests)
        return None

    looked_for_until = min(deadline, requests.lost_at + consistency_window())
    return waiting.until(
        look,
        lambda found: found is not None,
        looked_for_until - time.monotonic(),
        what="for EC2 to list what a request whose answer was lost made",
        every=1.0,
        most=30.0,
    )


def _not_requested(what: str, inputs: Mapping[str, Any]) -> str:
    return (
        f"{what} was not requested: the volume's snapshot limits (pending snapshots, one request per 15 s) left no "
        f"room within the timeout of {float(inputs['timeout']):g}s. Nothing was taken: run `pulumi up` again once "
        "the volume's pending snapshots completed, or raise timeout"
    )


def _never_found(error: ClientError | BotoCoreError, what: str, inputs: Mapping[str, Any]) -> str:
    """A source EC2 said does not exist until the timeout ended the retries (the volume's limits only spaced them)."""
    return (
        explain(error, f"taking {what}", region=inputs.get("region"))
        + f" It was asked again until the timeout ({float(inputs['timeout']):g}s): EC2 may list a volume or instance "
        "created moments ago only after a delay; if it was just created, run `pulumi up` again (or raise timeout). "
        "Nothing was taken."
    )


def _start_time(found: list[dict[str, Any]]) -> float:
    return min(snapshots.aware(s["StartTime"]) for s in found).timestamp()


# --- what interrupted creates left --------------------------------------------------------------------------------
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
        waiting.pause(wait_for, f"to look at {ids} again")
    wanted = {s["SnapshotId"] for s in leftover.snapshots}
    return [s for s in snapshots.find_tagged(ec2, ATTEMPT_TAG, leftover.attempt) if s["SnapshotId"] in wanted]


def keep_unproven(urn: str | None, group: Sequence[Mapping[str, Any]], reason: str) -> None:
    """Say what was kept, why it is not deleted, and what the user can do: a leftover not provably this resource's."""
    ids = [s["SnapshotId"] for s in group]
    progress.engine_log().warning(
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


# --- after the hand-over: what this resource's creates left goes ---------------------------------------------------
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
        waiting.pause(wait_for, "for EC2 to list what the requests whose answers were lost made")


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


def as_written(taken: Taken, found: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The snapshots with the tags they carry once handed over: what this create wrote wins over what a look showed
    (EC2 shows tag changes after a delay, so a look right after a write may show the old ones)."""
    described = {}
    for sid, details in found.items():
        seen = {t["Key"]: t["Value"] for t in details.get("Tags") or []}
        if taken.exact:  # an adopted leftover: its user tags were brought to exactly these
            seen = {k: v for k, v in seen.items() if k not in snapshots.tags_of(details.get("Tags"))}
        tags = {**seen, **taken.written.get(sid, {}), ATTEMPT_TAG: RECORDED}
        described[sid] = {**details, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    return described


def wait(
    account: AccountSelection,
    kind: Source,
    inputs: Mapping[str, Any],
    taken: Taken,
    members: list[Member],
    *,
    delete_on_failure: bool,
    deadline: float | None = None,
) -> dict[str, SnapshotStatus]:
    """Until every snapshot is completed: `timeout` after their request, and not past the create's `deadline`
    (monotonic: time spent waiting for the volume's limits counts). One that fails or disappears fails the create;
    with `delete_on_failure` (snapshots this create made) the rest go too, since a set with a failed member is not
    crash-consistent."""
    monotonic_start = time.monotonic() - max(0.0, time.time() - taken.started_at)
    timeout = float(inputs["timeout"])
    if deadline is not None:
        timeout = max(0.0, min(timeout, deadline - monotonic_start))
    what = f"{kind.noun} {', '.join(taken.ids)} of {kind.source(inputs)}"
    warn_if_credentials_expire_first(account, inputs, what)
    reporter = progress.Reporter(inputs.get(URN_INPUT), what, monotonic_start)
    try:
        statuses = snapshots.wait_for(account, taken.ids, timeout, monotonic_start, reporter)
    except WaitTimedOut as timed_out:
        raise SnapshotTimedOut(_timeout_message(kind, inputs, taken, timed_out.statuses)) from None
    except WaitInterrupted as ended:
        raise WaitEnded(_interrupted_message(kind, inputs, taken, ended)) from None
    finally:
        reporter.finish()
        GATE.release(taken.gated)  # no longer this create's to count, whatever became of them
        taken.gated = []
    failed = [s for s in statuses.values() if s.state != "completed"]
    if failed:
        if delete_on_failure:
            ec2 = clients.client(account)
            for sid in taken.ids:
                with contextlib.suppress(find.NotFound):  # gone already: deleted all the same
                    snapshots.delete_snapshot(ec2, sid)
        raise SnapshotFailed(_failure_message(kind, inputs, taken, failed, members, delete_on_failure))
    return statuses


def _progress_of(taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    return ", ".join(f"{sid} {seen[sid].progress}%" if sid in seen else f"{sid} not yet listed" for sid in taken.ids)


def warn_if_credentials_expire_first(account: AccountSelection, inputs: Mapping[str, Any], what: str) -> None:
    """Say so before a wait that the credentials, which the provider cannot renew, will not outlast: once per
    provider process and expiry, since every later wait of the run shares those credentials (a stack of a thousand
    snapshots gets one warning, not a thousand)."""
    expires = clients.credentials_expire_at(account)
    deadline = datetime.now(UTC) + timedelta(seconds=float(inputs["timeout"]))
    if expires is None or expires >= deadline:
        return
    with _expiry_warned_lock:
        if expires in _expiry_warned:
            return
        _expiry_warned.add(expires)
    progress.engine_log().warning(
        inputs.get(URN_INPUT),
        f"the AWS credentials in use expire at {expires.isoformat(timespec='seconds')} (AWS_CREDENTIAL_EXPIRATION), "
        f"before the timeout of the wait for {what} ends (and of any other wait of this run with a timeout as long: "
        "said once), and session keys from the environment cannot be renewed. A snapshot still pending then is "
        "left, tagged as its resource's, for the next `pulumi up` with fresh credentials to adopt. For long waits, "
        "use longer sessions (role-duration-seconds, up to the role's maximum) or a profile or role_arn the provider "
        "can renew.",
    )


_expiry_warned: set[datetime] = set()
_expiry_warned_lock = threading.Lock()


def _interrupted_message(kind: Source, inputs: Mapping[str, Any], taken: Taken, ended: WaitInterrupted) -> str:
    """Why the wait ended and what becomes of the snapshots: this resource's (made or adopted) are adopted by the
    next `up`; an imported one is the user's, left as it is."""
    if isinstance(ended, WaitCancelled):
        why = "the update was cancelled (Ctrl-C)"
        then = "the next `pulumi up` adopts it and goes on waiting, instead of taking another"
    else:
        cause = ended.__cause__
        expired = cause is not None and is_credential_problem(cause)
        code = (error_code(cause) if cause else None) or ("expired" if expired else cause)
        why = f"the AWS credentials stopped working ({code}) and could not be renewed"
        then = (
            "refresh the credentials (for example `aws sso login`, or a new CI session) and run `pulumi up` again: "
            "it is adopted, not taken again, and waited for"
        )
    pending = (
        f"{why} while the {kind.noun} of {kind.source(inputs)} was pending ({_progress_of(taken, ended.statuses)})."
    )
    if taken.imported:
        return f"{pending} {_left_as_yours(taken)}"
    return (
        f"{pending} It was left in place, tagged as this resource's: {then} (or delete it: aws ec2 delete-snapshot "
        f"--snapshot-id {taken.ids[0]})."
    )


def _left_as_yours(taken: Taken) -> str:
    return (
        f"{', '.join(taken.ids)} is yours (import_snapshot_id): it was not recorded and is left as it is, nothing "
        "deleted; run `pulumi up` again to import it and wait for it."
    )


def _timeout_message(kind: Source, inputs: Mapping[str, Any], taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    pending = (
        f"the {kind.noun} of {kind.source(inputs)} is still pending ({_progress_of(taken, seen)}) after the timeout "
        f"of {float(inputs['timeout']):g}s."
    )
    if taken.imported:
        return f"{pending} {_left_as_yours(taken)} Raise timeout for big volumes."
    return (
        f"{pending} It was left in place, tagged as this resource's: run `pulumi up` again to adopt it and keep "
        f"waiting (raise timeout for big volumes), or delete it (aws ec2 delete-snapshot --snapshot-id "
        f"{taken.ids[0]})."
    )


def _failure_message(
    kind: Source,
    inputs: Mapping[str, Any],
    taken: Taken,
    failed: list[SnapshotStatus],
    members: list[Member],
    deleted: bool,
) -> str:
    volume_of = {s["SnapshotId"]: s["VolumeId"] for s in taken.snapshots}
    device_of = {m.volume_id: m.device_name for m in members}

    def describe(status: SnapshotStatus) -> str:
        volume = volume_of.get(status.snapshot_id, "?")
        where = f"volume {volume}" + (f" ({device_of[volume]})" if device_of.get(volume) else "")
        reason = "it was deleted outside Pulumi" if status.state == "missing" else status.state_message
        return (
            f"snapshot {status.snapshot_id} of {where} ended in state {status.state}: {reason or 'EC2 gave no reason'}"
        )

    what = "; ".join(describe(s) for s in failed)
    if not deleted:
        return f"{what}. It was left as it is."
    whole = f"the whole set ({len(taken.ids)} snapshots), since a set with a failed member is not crash-consistent"
    gone = whole if len(taken.ids) > 1 else "the failed snapshot (it cannot be used for anything)"
    return f"{what}. This create deleted {gone}; run `pulumi up` again to take a new {kind.noun}."


def hand_over(ec2: Any, inputs: Mapping[str, Any], found: Mapping[str, Mapping[str, Any]]) -> None:
    """Archive and lock if asked, then mark the snapshots `recorded`: from here on no create adopts them."""
    if inputs.get("storage_tier") == "archive":
        for sid, snapshot in found.items():
            if snapshot.get("StorageTier") != "archive":
                snapshots.archive(ec2, sid)
    locks.apply(ec2, list(found), inputs.get("lock"))
    snapshots.set_tags(ec2, list(found), {ATTEMPT_TAG: RECORDED})


# --- read, update, delete ---------------------------------------------------------------------------------------
def read(kind: Kind, id_: str, props: Mapping[str, Any]) -> ReadResult:
    """What exists now, asked of the account state records: another account's answer would make them look gone."""
    conn = Connection.to_read(props, clients.recorded_account(props), "the snapshots")
    ec2 = conn.ec2
    ids = kind.snapshot_ids(id_, props)
    found = snapshots.describe_by_id(ec2, ids, f"reading the {kind.noun}")
    missing = [sid for sid in ids if sid not in found]
    if missing:
        found |= snapshots.still_there(ec2, missing, listed_by(props))
    found = settled_tags(ec2, found, props.get("tags") or {}, f"reading the {kind.noun}")
    if not found:
        return ReadResult("", {})  # gone: refresh drops it from state
    found = with_locks(ec2, props, found)
    outs = kind.outputs(props, kind.members_in_state(props), found, conn.account_id)
    outs["wait_time"] = props.get("wait_time")
    return ReadResult(id_, outs)


def update(kind: Kind, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> UpdateResult:
    """Tags (only the keys the inputs manage) and standard to archive, in place; new access settings are recorded
    once STS says they act in the account state records."""
    inputs = kind.schema.parse(news)
    conn = Connection.to_existing(inputs, "update", clients.recorded_account(olds))
    ec2 = conn.ec2
    ids = kind.snapshot_ids(id_, olds)
    locks.change(ec2, ids, olds.get("lock"), inputs.get("lock"))
    snapshots.update_tags(ec2, ids, olds.get("tags") or {}, inputs["tags"])
    if inputs["storage_tier"] == "archive" and olds.get("storage_tier") != "archive":
        holds.refuse_if_held(ec2, ids, "archive")
        for sid in ids:
            snapshots.archive(ec2, sid)
    found = snapshots.describe_by_id(ec2, ids, f"reading the {kind.noun}")
    if not found:
        raise SnapshotProviderError(
            f"{kind.noun} {', '.join(ids)} no longer exists: run `pulumi refresh`, then `pulumi up`"
        )
    # EC2 shows the tags just written only after a delay: state records them as written.
    found = {sid: snapshots.as_updated(d, olds.get("tags") or {}, inputs["tags"]) for sid, d in found.items()}
    found = with_locks(ec2, {"lock": inputs.get("lock") or olds.get("lock")}, found)
    outs = kind.outputs(inputs, kind.members_in_state(olds), found, conn.account_id)
    outs["wait_time"] = olds.get("wait_time")
    return UpdateResult(outs)


def delete(kind: Kind, id_: str, props: Mapping[str, Any]) -> None:
    """Only the ids and the account selection from state: stored inputs are never re-validated here, so a rule
    tightened later cannot make a stack impossible to destroy."""
    conn = Connection.to_existing(props, "delete", clients.recorded_account(props))
    ids = kind.snapshot_ids(id_, props)
    # Before any deletion, whatever state declares (a lock may be set outside Pulumi): a set goes whole or not at all.
    # Without permission to read them, one that declares `lock` is refused; the others warn and go on as before.
    declared = bool(props.get("lock") or props.get("lock_state"))
    warn = None if declared else (lambda line: progress.engine_log().warning(props.get(URN_INPUT), line))
    locks.refuse_delete_if_locked(conn.ec2, ids, declared=declared, unread=warn)
    delete_snapshots(conn, ids, props.get(URN_INPUT), listed_by(props))


def delete_snapshots(
    conn: Connection, ids: Sequence[str], urn: str | None, listed_since: float, blocked_note: str = ""
) -> None:
    """A resource's delete: once no VolumeRemoval holds them, delete `ids`; one NotFound before `listed_since`
    (wall clock) is looked for again, as EC2 may not list it yet. One an AMI uses is kept, the others deleted, and
    the delete then fails saying which (`blocked_note` after it: what to do)."""
    ec2 = conn.ec2
    holds.wait_until_released(conn.account, ec2, list(ids), urn)
    blocked = []
    for sid in ids:
        try:
            _delete_even_if_unlisted(ec2, sid, listed_since)
        except SnapshotInUse as in_use:
            blocked.append(str(in_use))
    if blocked:
        raise SnapshotInUse("; ".join(blocked) + blocked_note)


def _delete_even_if_unlisted(ec2: Any, sid: str, listed_since: float) -> None:
    """Delete `sid`. A NotFound before `listed_since` (wall clock) is looked for again, as EC2 may not list it yet;
    one gone for sure counts as deleted."""
    try:
        snapshots.delete_snapshot(ec2, sid)
        return
    except find.NotFound:
        if not snapshots.still_there(ec2, [sid], listed_since):
            return  # gone already: deleted all the same
    with contextlib.suppress(find.NotFound):  # gone meanwhile
        snapshots.delete_snapshot(ec2, sid)  # NotFound only because not listed yet: it exists after all


def with_locks(ec2: Any, props: Mapping[str, Any], found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`found` with each snapshot's lock (`Lock`, as DescribeLockedSnapshots gives it) when the resource declares one:
    a resource without `lock` makes no lock calls (nor needs their permissions)."""
    if not props.get("lock"):
        return found
    held = locks.describe(ec2, list(found))
    return {sid: {**d, "Lock": held.get(sid)} for sid, d in found.items()}


def settled_tags(
    ec2: Any, found: dict[str, dict[str, Any]], tags: Mapping[str, str], doing: str
) -> dict[str, dict[str, Any]]:
    """`found` (the snapshots a read described), looked at again with backoff, for up to the consistency window,
    while the tags this resource manages are not as state records them: EC2 shows the tags an `up` wrote moments ago
    only after a delay, and a refresh must not take that for drift. Drift that outlasts the window is real."""
    seen = dict(found)

    def look() -> dict[str, dict[str, Any]] | None:
        differ = [sid for sid, s in seen.items() if managed_tags_now(tags, s.get("Tags")) != tags]
        if not differ:
            return seen
        seen.update(snapshots.describe_by_id(ec2, differ, doing))
        return None

    if any(managed_tags_now(tags, s.get("Tags")) != tags for s in found.values()):
        waiting.until(
            look,
            lambda settled: settled is not None,
            consistency_window(),
            what="for EC2 to show the tags written to the snapshots",
            every=1.0,
            most=30.0,
        )
    return seen


def listed_by(props: Mapping[str, Any]) -> float:
    """By when (wall clock) EC2 lists the resource's snapshots if they exist: EC2's listing delay after the newest
    start time state records, or sooner, when the create saw them completed (`wait_time` after the start): a snapshot
    seen listed is past that delay. Nothing recorded: the whole delay from now."""
    starts = [props.get("start_time"), *(s.get("start_time") for s in props.get("snapshots") or [])]
    known = [datetime.fromisoformat(s).timestamp() for s in starts if isinstance(s, str)]
    if not known:
        return time.time() + consistency_window()
    seen_after = props.get("wait_time")
    seen = max(known) + seen_after if isinstance(seen_after, (int, float)) else math.inf
    return min(max(known) + consistency_window(), seen)


def managed_tags_now(managed: Mapping[str, str], aws_tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """The current values of the tags this resource manages (a missing or changed one is drift)."""
    current = snapshots.tags_of(list(aws_tags or []))
    return {k: current[k] for k in managed if k in current}
