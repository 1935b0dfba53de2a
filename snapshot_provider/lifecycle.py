"""The lifecycle every snapshot resource shares: create (or finish this resource's interrupted create), wait, hand
over; bring tags and tier to the inputs; read; delete. Each resource supplies a `Kind`: what differs.

Two tags tie a snapshot to the resource that took it:

- `pulumi-snapshot:resource`: a hash of the resource's URN (so the same name under another parent is another
  resource);
- `pulumi-snapshot:attempt`: the id of the create attempt while that create runs, then `recorded` once the create
  hands the completed snapshot to Pulumi, which records it in state.

What follows from them:

- A create first looks for this resource's snapshots that are not `recorded`. Only an interrupted create of this
  same resource leaves those (crash, timeout, lost response), so the create finishes them instead of taking new ones:
  it adopts them if they can be brought to the current inputs (tags are changed in place) or refuses, naming them,
  when they cannot (another volume, description or Outpost, or older than the timeout plus an hour). Ones that ended
  in `error` are deleted: this resource's create made them and they are of no use.
- A `recorded` snapshot is never adopted: state holds it (the resource being replaced, for instance), or
  `retain_on_delete` gave it to the user. So a replace always takes a new snapshot, and the engine deletes the old
  one only after the new one completed.
- Nothing is deleted on an error path except what this resource's create made and never handed over.
- `delete` needs only the ids and the account selection from state; it never applies today's input rules.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from snapshot_provider import aws, progress, snapshots
from snapshot_provider.args import AccountSelection
from snapshot_provider.errors import (
    SnapshotFailed,
    SnapshotInUse,
    SnapshotProviderError,
    SnapshotTimedOut,
    WaitEnded,
    error_code,
    is_credential_problem,
)
from snapshot_provider.program import URN_INPUT
from snapshot_provider.schema import Schema
from snapshot_provider.waiting import (
    LISTING_DELAY,
    SnapshotStatus,
    WaitCancelled,
    WaitInterrupted,
    WaitTimedOut,
)

RESOURCE_TAG = "pulumi-snapshot:resource"
ATTEMPT_TAG = "pulumi-snapshot:attempt"
RECORDED = "recorded"
# A leftover is adopted only if it started within the resource's timeout plus this margin: an older one would pass
# old data off as a new snapshot.
ADOPTION_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Member:
    """A volume a create snapshots, and where it is attached (None for a lone volume)."""

    volume_id: str
    device_name: str | None = None


class Kind(Protocol):
    """What differs between snapshot resources; everything else is this module's."""

    schema: Schema
    noun: str  # "snapshot", "snapshot set": for messages

    def source(self, inputs: Mapping[str, Any]) -> str:
        """What is snapshotted, for messages: 'volume vol-...', 'instance i-...'."""
        ...

    def members(self, ec2: Any, inputs: Mapping[str, Any]) -> list[Member]:
        """The volumes a create will snapshot (may call AWS; raises clear errors for inputs that cannot work)."""
        ...

    def copies_volume_tags(self, inputs: Mapping[str, Any]) -> bool:
        """Whether the inputs ask for each volume's tags on its snapshot."""
        ...

    def request_tags(self, ec2: Any, inputs: Mapping[str, Any], members: list[Member]) -> dict[str, str]:
        """The tags the starting request sets (EC2 may copy the volumes' own besides)."""
        ...

    def start(
        self, ec2: Any, inputs: Mapping[str, Any], members: list[Member], tags: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The one EC2 call that starts the snapshots, tagged `tags`. Called once per attempt, never retried blindly."""
        ...

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


@dataclass
class Taken:
    """The snapshots a create waits for, and when their CreateSnapshot(s) request was made (wall clock)."""

    snapshots: list[dict[str, Any]]
    started_at: float

    @property
    def ids(self) -> list[str]:
        return [s["SnapshotId"] for s in self.snapshots]


class SnapshotProvider(ResourceProvider):
    """A dynamic provider over a `Kind`. Stateless, so that its pickled form in state stays a reference."""

    kind: Kind

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return self.kind.schema.check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        aws.refuse_account_change(olds, news)
        return self.kind.schema.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return create(self.kind, props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read(self.kind, id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return update(self.kind, id_, olds, news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        delete(self.kind, id_, props)


def resource_token(urn: str) -> str:
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


# --- create -----------------------------------------------------------------------------------------------------
def create(kind: Kind, props: Mapping[str, Any]) -> CreateResult:
    inputs = kind.schema.parse(props)
    account = AccountSelection.from_props(inputs)
    account_id = aws.ensure_allowed_account(account)
    ec2 = aws.client(account)
    members = kind.members(ec2, inputs)
    urn = inputs.get(URN_INPUT)
    taken = (finish_interrupted(ec2, kind, inputs, members, urn) if urn else None) or take(
        account, kind, inputs, members, urn
    )
    statuses = wait(account, kind, inputs, taken, members, delete_on_failure=True)
    found = {sid: status.details for sid, status in statuses.items()}  # the poller's last look: no extra call
    hand_over(aws.client(account), inputs, found)  # the client now: the wait may have renewed the credentials
    outs = kind.outputs(inputs, members, found, account_id)
    outs["wait_time"] = snapshots.wait_seconds(max(s.observed_at for s in statuses.values()), taken.started_at)
    return CreateResult(kind.resource_id(inputs, taken.ids), outs)


def desired_tags(ec2: Any, kind: Kind, inputs: Mapping[str, Any], members: list[Member]) -> dict[str, dict[str, str]]:
    """Each volume's snapshot tags as the inputs ask: the volume's own when copied, then the input tags (they win)."""
    volume_ids = [m.volume_id for m in members]
    copied = snapshots.volume_tags(ec2, volume_ids, inputs["region"]) if kind.copies_volume_tags(inputs) else {}
    return {v: {**copied.get(v, {}), **inputs["tags"]} for v in volume_ids}


def take(
    account: AccountSelection,
    kind: Kind,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str | None,
) -> Taken:
    """Start new snapshots, tagged with this resource and a fresh attempt id; never two for one request."""
    attempt = secrets.token_hex(8)
    managed = {ATTEMPT_TAG: attempt} | ({RESOURCE_TAG: resource_token(urn)} if urn else {})
    ec2 = aws.client(account)
    tags = {**kind.request_tags(ec2, inputs, members), **managed}
    once = aws.client(account, single_attempt=True)
    answered_at: list[float] = []

    def start() -> list[dict[str, Any]]:
        # Timed from the request that went through, not from the first throttled one (wait_time, poll schedule).
        requested_at = time.time()
        started = kind.start(once, inputs, members, tags)
        answered_at.append(requested_at)
        return started

    started = snapshots.create_once(
        start,
        lambda: snapshots.find_tagged(ec2, ATTEMPT_TAG, attempt) or None,
        f"taking the {kind.noun} of {kind.source(inputs)}",
        region=account.region,
    )
    # Found after a lost answer instead: EC2's own start time is the best there is.
    started_at = answered_at[0] if answered_at else _start_time(started)
    return Taken(started, started_at)


def _start_time(found: list[dict[str, Any]]) -> float:
    return min(snapshots.aware(s["StartTime"]) for s in found).timestamp()


def finish_interrupted(
    ec2: Any,
    kind: Kind,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str,
    *,
    announce_recorded: bool = True,
) -> Taken | None:
    """Adopt what an interrupted create of this resource left, or refuse clearly; None when it left nothing.

    `announce_recorded=False` for a resource whose recorded snapshots are its own history (SnapshotSeries), where
    "left as they are" would not be true."""
    mine = snapshots.find_tagged(ec2, RESOURCE_TAG, resource_token(urn))
    recorded = [s["SnapshotId"] for s in mine if snapshots.tag_value(s, ATTEMPT_TAG) == RECORDED]
    if recorded and announce_recorded:
        pulumi.log.info(
            f"taking a new {kind.noun} of {kind.source(inputs)}; {', '.join(recorded)}, taken earlier for this "
            "resource, are recorded in state or kept by retain_on_delete, and are left as they are"
        )
    leftovers = _by_attempt([s for s in mine if snapshots.tag_value(s, ATTEMPT_TAG) != RECORDED])
    refusals = []
    for attempt, group in leftovers.items():
        if any(s["State"] == "error" for s in group):
            _delete_failed_leftover(ec2, kind, inputs, group)
            continue
        group = _without_duplicates(ec2, group)
        reason = mismatch(kind, inputs, members, group)
        if reason is None:
            return adopt(ec2, kind, inputs, members, group, attempt)
        refusals.append(_refusal(kind, inputs, group, reason))
    if refusals:
        raise SnapshotProviderError(
            " ".join(refusals) + " Nothing was changed: set the inputs back so that it matches, or delete it, "
            "then run `pulumi up` again. (It is not deleted for you: it may be all that is left of the volume.)"
        )
    return None


def _by_attempt(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Groups of snapshots made by one create attempt, newest attempt first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in found:  # newest first, so the newest attempt is the first key
        groups.setdefault(snapshots.tag_value(s, ATTEMPT_TAG) or "", []).append(s)
    return groups


def _without_duplicates(ec2: Any, group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One snapshot per volume: a retried request whose first answer was lost can have made two of the same attempt;
    the older ones are duplicates this create made, so they go."""
    kept: dict[str, dict[str, Any]] = {}
    for s in group:  # newest first
        if s["VolumeId"] in kept:
            snapshots.delete_snapshot(ec2, s["SnapshotId"])
        else:
            kept[s["VolumeId"]] = s
    return list(kept.values())


def mismatch(kind: Kind, inputs: Mapping[str, Any], members: list[Member], group: list[dict[str, Any]]) -> str | None:
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


def _refusal(kind: Kind, inputs: Mapping[str, Any], group: list[dict[str, Any]], reason: str) -> str:
    ids = ", ".join(s["SnapshotId"] for s in group)
    return (
        f"{kind.noun} {ids}, left by an interrupted create of this resource, cannot be adopted for "
        f"{kind.source(inputs)}: {reason}."
    )


def _delete_failed_leftover(ec2: Any, kind: Kind, inputs: Mapping[str, Any], group: list[dict[str, Any]]) -> None:
    for s in group:
        snapshots.delete_snapshot(ec2, s["SnapshotId"])
    pulumi.log.info(
        f"deleted {', '.join(s['SnapshotId'] for s in group)}: an earlier create of this resource left it in state "
        f"error; taking a new {kind.noun} of {kind.source(inputs)}"
    )


def adopt(
    ec2: Any,
    kind: Kind,
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
    return Taken(group, started_at)


def bring_tags(ec2: Any, snapshot: Mapping[str, Any], wanted: Mapping[str, str]) -> None:
    """Exactly `wanted` besides AWS's and the provider's own tags: an adopted leftover may carry tags of inputs that
    changed since."""
    current = snapshots.tags_of(snapshot.get("Tags"))
    snapshots.update_tags(ec2, [snapshot["SnapshotId"]], current, wanted)


def wait(
    account: AccountSelection,
    kind: Kind,
    inputs: Mapping[str, Any],
    taken: Taken,
    members: list[Member],
    *,
    delete_on_failure: bool,
) -> dict[str, SnapshotStatus]:
    """Until every snapshot is completed. One that fails or disappears fails the create; with `delete_on_failure`
    (snapshots this create made) the rest go too, since a set with a failed member is not crash-consistent."""
    monotonic_start = time.monotonic() - max(0.0, time.time() - taken.started_at)
    what = f"{kind.noun} {', '.join(taken.ids)} of {kind.source(inputs)}"
    warn_if_credentials_expire_first(account, inputs, what)
    reporter = progress.Reporter(inputs.get(URN_INPUT), what, monotonic_start)
    try:
        statuses = snapshots.wait_for(account, taken.ids, float(inputs["timeout"]), monotonic_start, reporter)
    except WaitTimedOut as timed_out:
        raise SnapshotTimedOut(_timeout_message(kind, inputs, taken, timed_out.statuses)) from None
    except WaitInterrupted as ended:
        raise WaitEnded(_interrupted_message(kind, inputs, taken, ended)) from None
    finally:
        reporter.finish()
    failed = [s for s in statuses.values() if s.state != "completed"]
    if failed:
        if delete_on_failure:
            ec2 = aws.client(account)
            for sid in taken.ids:
                snapshots.delete_snapshot(ec2, sid)
        raise SnapshotFailed(_failure_message(kind, inputs, taken, failed, members, delete_on_failure))
    return statuses


def _progress_of(taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    return ", ".join(f"{sid} {seen[sid].progress}%" if sid in seen else f"{sid} not yet listed" for sid in taken.ids)


def warn_if_credentials_expire_first(account: AccountSelection, inputs: Mapping[str, Any], what: str) -> None:
    """Say so before a wait that the credentials, which the provider cannot renew, will not outlast."""
    expires = aws.credentials_expire_at(account)
    deadline = datetime.now(UTC) + timedelta(seconds=float(inputs["timeout"]))
    if expires is None or expires >= deadline:
        return
    progress.engine_log().warning(
        inputs.get(URN_INPUT),
        f"the AWS credentials in use expire at {expires.isoformat(timespec='seconds')} (AWS_CREDENTIAL_EXPIRATION), "
        f"before the timeout of the wait for {what} ends, and session keys from the environment cannot be renewed. "
        "If it is still pending then, the wait ends and it is left, tagged as this resource's, for the next `pulumi "
        "up` with fresh credentials to adopt. For long waits, use longer sessions (role-duration-seconds, up to the "
        "role's maximum) or a profile or role_arn the provider can renew.",
    )


def _interrupted_message(kind: Kind, inputs: Mapping[str, Any], taken: Taken, ended: WaitInterrupted) -> str:
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
    return (
        f"{why} while the {kind.noun} of {kind.source(inputs)} was pending ({_progress_of(taken, ended.statuses)}). "
        f"It was left in place, tagged as this resource's: {then} (or delete it: aws ec2 delete-snapshot "
        f"--snapshot-id {taken.ids[0]})."
    )


def _timeout_message(kind: Kind, inputs: Mapping[str, Any], taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    progress = _progress_of(taken, seen)
    return (
        f"the {kind.noun} of {kind.source(inputs)} is still pending ({progress}) after the timeout of "
        f"{float(inputs['timeout']):g}s. It was left in place, tagged as this resource's: run `pulumi up` again to "
        "adopt it and keep waiting (raise timeout for big volumes), or delete it "
        f"(aws ec2 delete-snapshot --snapshot-id {taken.ids[0]})."
    )


def _failure_message(
    kind: Kind,
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
    """Archive if asked, then mark the snapshots `recorded`: from here on no create adopts them."""
    if inputs.get("storage_tier") == "archive":
        for sid, snapshot in found.items():
            if snapshot.get("StorageTier") != "archive":
                snapshots.archive(ec2, sid)
    snapshots.set_tags(ec2, list(found), {ATTEMPT_TAG: RECORDED})


# --- read, update, delete ---------------------------------------------------------------------------------------
def read(kind: Kind, id_: str, props: Mapping[str, Any]) -> ReadResult:
    """What exists now, asked of the account state records: another account's answer would make them look gone."""
    account = AccountSelection.from_props(props)
    if not account.region:
        raise SnapshotProviderError("reading the snapshots needs a region: set region or aws:region")
    account_id = aws.ensure_recorded_account(account, aws.recorded_account(props), "refresh")
    ec2 = aws.client(account)
    ids = kind.snapshot_ids(id_, props)
    found = snapshots.describe_by_id(ec2, ids, f"reading the {kind.noun}")
    missing = [sid for sid in ids if sid not in found]
    if missing:
        found |= snapshots.still_there(ec2, missing, listed_by(props))
    if not found:
        return ReadResult("", {})  # gone: refresh drops it from state
    outs = kind.outputs(props, kind.members_in_state(props), found, account_id)
    outs["wait_time"] = props.get("wait_time")
    return ReadResult(id_, outs)


def update(kind: Kind, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> UpdateResult:
    """Tags (only the keys the inputs manage) and standard to archive, in place; new access settings are recorded
    once STS says they act in the account state records."""
    inputs = kind.schema.parse(news)
    account = AccountSelection.from_props(inputs)
    account_id = aws.ensure_recorded_account(account, aws.recorded_account(olds), "update")
    ec2 = aws.client(account)
    ids = kind.snapshot_ids(id_, olds)
    snapshots.update_tags(ec2, ids, olds.get("tags") or {}, inputs["tags"])
    if inputs["storage_tier"] == "archive" and olds.get("storage_tier") != "archive":
        for sid in ids:
            snapshots.archive(ec2, sid)
    found = snapshots.describe_by_id(ec2, ids, f"reading the {kind.noun}")
    if not found:
        raise SnapshotProviderError(
            f"{kind.noun} {', '.join(ids)} no longer exists: run `pulumi refresh`, then `pulumi up`"
        )
    outs = kind.outputs(inputs, kind.members_in_state(olds), found, account_id)
    outs["wait_time"] = olds.get("wait_time")
    return UpdateResult(outs)


def delete(kind: Kind, id_: str, props: Mapping[str, Any]) -> None:
    """Only the ids and the account selection from state: stored inputs are never re-validated here, so a rule
    tightened later cannot make a stack impossible to destroy."""
    account = AccountSelection.from_props(props)
    aws.ensure_recorded_account(account, aws.recorded_account(props), "delete")
    ec2 = aws.client(account)
    blocked = []
    for sid in kind.snapshot_ids(id_, props):
        try:
            if not snapshots.delete_snapshot(ec2, sid) and snapshots.still_there(ec2, [sid], listed_by(props)):
                snapshots.delete_snapshot(ec2, sid)  # NotFound only because not listed yet: it exists after all
        except SnapshotInUse as in_use:
            blocked.append(str(in_use))
    if blocked:
        raise SnapshotInUse("; ".join(blocked))


def listed_by(props: Mapping[str, Any]) -> float:
    """By when (wall clock) EC2 lists the resource's snapshots if they exist: EC2's listing delay after the newest
    start time state records, or sooner, when the create saw them completed (`wait_time` after the start): a snapshot
    seen listed is past that delay. Nothing recorded: the whole delay from now."""
    starts = [props.get("start_time"), *(s.get("start_time") for s in props.get("snapshots") or [])]
    known = [datetime.fromisoformat(s).timestamp() for s in starts if isinstance(s, str)]
    if not known:
        return time.time() + LISTING_DELAY
    seen_after = props.get("wait_time")
    seen = max(known) + seen_after if isinstance(seen_after, (int, float)) else math.inf
    return min(max(known) + LISTING_DELAY, seen)


def managed_tags_now(managed: Mapping[str, str], aws_tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """The current values of the tags this resource manages (a missing or changed one is drift)."""
    current = snapshots.tags_of(list(aws_tags or []))  # type: ignore[arg-type]
    return {k: current[k] for k in managed if k in current}
