"""A series' copies of its points in other regions and accounts (`copies`), kept with the same retention.

Each copy is made by `core.copying.create_copy` (the copy SnapshotCopy makes: tagged at creation with the series'
resource token, so a lost CopySnapshot answer or an interrupted run is adopted, never copied twice), and carries the
series' id (`COPY_SERIES_TAG`), the point, and the snapshot it copies, so that the series finds its copies in each
target. It is not tagged `pulumi-snapshot:series`: a copy is never one of the series' points.

- Every kept `completed` point gets a copy in every declared target; a failed copy is listed in `copied` (state
  `failed`, and why) and the next `up` retries it (`missing`); a copy that ended in `error` is the series' own and of
  no use: deleted before the retry.
- A copy is deleted only once the series deleted its point (pruned); a locked copy is kept and said.
- A target taken out of `copies` gets no new copies, and the shares its pending copies held on their points end
  (`copying.end_holding`); its copies stay recorded in `copied`, deleted with their points and by destroy. Destroy
  deletes the copies tagged with the series' id, or recorded in `copied`, and nothing else.
- Another account's copy needs the point shared with it (createVolumePermission): the copy operation shares it for
  the copy, recorded by a holder tag with the series' token and the target's region, and removes that share after
  (`copying.shared_for_copy`). A copy left pending at the timeout that completed by the next `up` ends that share
  then (a declared target's or one taken out), as the timeout's message says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from snapshot_provider.core import copy_shares, copying
from snapshot_provider.core.lifecycle.shapes import resource_token
from snapshot_provider.core.series.lines import say, warn
from snapshot_provider.core.series.survey import POINT_TAG
from snapshot_provider.ec2 import clients, find, locks, snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError, aws_errors
from snapshot_provider.inputs import copies as targets
from snapshot_provider.inputs.declarations import ACCOUNT_FIELDS, URN_INPUT, AccountSelection
from snapshot_provider.inputs.rules import is_unknown

COPY_SERIES_TAG = "pulumi-snapshot:copy-of-series"

Place = tuple[str, str | None]  # (region, role_arn): where a target's copies are


def declared(props: Mapping[str, Any]) -> dict[Place, Mapping[str, Any]]:
    """The declared targets by where they put their copies."""
    return {targets.target_key(t, props.get("region")): t for t in props.get("copies") or []}


def recorded(previous: Mapping[str, Any]) -> dict[Place, dict[str, dict[str, Any]]]:
    """The copies state records (`copied`), by place then copy id; entries without a copy (a failed copy) left out."""
    found: dict[Place, dict[str, dict[str, Any]]] = {}
    for entry in previous.get("copied") or []:
        place = (str(entry.get("region")), entry.get("role_arn"))
        if entry.get("snapshot_id"):
            found.setdefault(place, {})[entry["snapshot_id"]] = dict(entry)
    return found


def account_of(place: Place, props: Mapping[str, Any]) -> AccountSelection:
    """The series' account selection, in the target's region, and as the target's role for another account (with
    the series' base credentials; the series' allowed_account_ids name the source account)."""
    values = {name: props.get(name) for name in ACCOUNT_FIELDS}
    region, role = place
    values["region"] = region
    if role and role != props.get("role_arn"):
        values.update(role_arn=role, external_id=None, allowed_account_ids=None)
    return AccountSelection.from_props(values)


def missing(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(snapshot id, target) of the kept completed points without a completed copy, as state records them: what the
    next `up` copies even though no input changed."""
    done = {
        (e.get("source_snapshot_id"), (str(e.get("region")), e.get("role_arn")))
        for e in props.get("copied") or []
        if e.get("state") == "completed"
    }
    completed = [e["snapshot_id"] for e in props.get("snapshots") or [] if e.get("state") == "completed"]
    return [
        (sid, targets.describe(target, props.get("region")))
        for place, target in declared(props).items()
        for sid in completed
        if (sid, place) not in done
    ]


def preview_lines(olds: Mapping[str, Any], news: Mapping[str, Any], takes: bool) -> list[str]:
    """What the next `up` copies where, from the inputs and state alone (no AWS call, no credentials)."""
    given = news.get("copies")
    if not given:
        return []
    if not targets.known(given) or is_unknown(news.get("region")):
        return ["copies each point once the targets are known (they depend on resources not created yet)"]
    wanted = [targets.describe(t, news.get("region")) for t in given]
    lines = [f"copies the new snapshot to {', '.join(wanted)} once it completed"] if takes else []
    old_places = set(declared(olds)) if olds.get("copies") else set()
    new_targets = [t for place, t in declared(news).items() if place not in old_places]
    kept = sum(1 for e in olds.get("snapshots") or [] if e.get("state") == "completed")
    if olds and new_targets and kept:
        where = ", ".join(targets.describe(t, news.get("region")) for t in new_targets)
        lines.append(f"copies the {kept} kept snapshot(s) to {where} (a new target)")
    added = {targets.describe(t, news.get("region")) for t in new_targets}
    retried = [(sid, where) for sid, where in missing({**olds, "copies": news.get("copies")}) if where not in added]
    if retried:
        lines.append("copies again what an earlier run could not: " + ", ".join(f"{s} to {w}" for s, w in retried))
    lines.append("deletes the copies of each snapshot it deletes (a locked copy is kept)")
    return lines


@dataclass
class Copies:
    """What a run did to the series' copies: the `copied` output, and what it deleted, kept locked, or failed."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    locked: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def keep_copies(
    series_id: str,
    inputs: Mapping[str, Any],
    previous: Mapping[str, Any],
    kept: Sequence[Mapping[str, Any]],
    gone: set[str],
) -> Copies:
    """Delete the copies of the points the series deleted (`gone`), then copy each kept completed point that has no
    completed copy in a declared target. A failure is listed and the rest goes on; the next `up` tries again."""
    outcome = Copies()
    wanted = declared(inputs)
    known = recorded(previous)
    for place in dict.fromkeys([*wanted, *known]):
        account = account_of(place, inputs)
        try:
            ec2 = clients.client(account)
            ours = _ours(ec2, series_id, known.get(place, {}))
            ours = _delete_copies_of(ec2, inputs, ours, gone, outcome)
            _end_completed_holdings(account, inputs, ours, kept)
            if place in wanted:
                ours |= _copy_missing(account, series_id, inputs, wanted[place], kept, ours, outcome)
            else:
                _end_holdings(account, inputs, ours)
        except SnapshotProviderError as error:  # the target unreachable: what state recorded stays recorded
            outcome.failed.append(f"copies in {_where(place)}: {error}")
            outcome.entries += [
                e for e in previous.get("copied") or [] if (e.get("region"), e.get("role_arn")) == place
            ]
            continue
        outcome.entries += [_entry(place, copy, outcome.locked.get(cid)) for cid, copy in ours.items()]
    return outcome


def _end_completed_holdings(
    account: AccountSelection,
    inputs: Mapping[str, Any],
    ours: Mapping[str, Mapping[str, Any]],
    kept: Sequence[Mapping[str, Any]],
) -> None:
    """End the shares held for copies here that completed between runs (left pending at a timeout, whose message
    says the next `up` ends the share): `_copy_missing` skips a point with a completed copy, so no release ran for
    it. Only points whose tags, as the survey listed them, still carry this series' holder key for this place are
    looked at again (no call for the rest); a copy of the point still pending here keeps its holding."""
    if not account.get("role_arn"):
        return
    completed = {copy["source"] for copy in ours.values() if copy["State"] == "completed" and copy["source"]}
    points = [s for s in kept if s["SnapshotId"] in completed]
    if not points:
        return
    destination_id, token = clients.caller_account_id(account), request_token(inputs)
    keys = {
        copy_shares.holder_key(destination_id, account.region, token),
        copy_shares.earlier_holder_key(destination_id, token),
    }
    for point in points:
        if keys & copy_shares.holders(point, destination_id):
            request = {**dict(account.values), "source_snapshot_id": point["SnapshotId"], URN_INPUT: inputs[URN_INPUT]}
            source = AccountSelection.from_props(inputs)  # the series' own account and region, as `_copy_missing`'s
            copying.end_holding(request, destination_id, token, unless_pending=True, source=source)


def _end_holdings(account: AccountSelection, inputs: Mapping[str, Any], ours: Mapping[str, Mapping[str, Any]]) -> None:
    """A target taken out: end the shares its copies still pending (or failed since) held on their points, or the
    points stay shared with that account until pruned (a completed copy's: `_end_completed_holdings`)."""
    unsettled = {copy["source"] for copy in ours.values() if copy["State"] != "completed" and copy["source"]}
    if not unsettled or not account.get("role_arn"):
        return
    destination_id = clients.caller_account_id(account)
    for sid in sorted(unsettled):
        request = {**dict(account.values), "source_snapshot_id": sid, URN_INPUT: inputs[URN_INPUT]}
        source = AccountSelection.from_props(inputs)  # the series' own account and region, as `_copy_missing`'s
        copying.end_holding(request, destination_id, request_token(inputs), unless_pending=False, source=source)


def _where(place: Place) -> str:
    region, role = place
    return targets.describe({"region": region, "role_arn": role})


def _ours(ec2: Any, series_id: str, known: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The series' copies in one place: listed by its tag, and recorded in state (EC2 shows new tags after a delay)."""
    with aws_errors("listing the series' copies (ec2:DescribeSnapshots)"):
        listed = {s["SnapshotId"]: _copy(s) for s in snapshots.find_tagged(ec2, COPY_SERIES_TAG, series_id)}
        unlisted = [cid for cid in known if cid not in listed]
        existing = snapshots.existing(ec2, unlisted) if unlisted else {}
    for cid in unlisted:
        if cid in existing:
            entry = known[cid]
            listed[cid] = {
                **_copy(existing[cid]),
                "source": entry.get("source_snapshot_id"),
                "point": entry.get("point"),
            }
    return listed


def _copy(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "SnapshotId": snapshot["SnapshotId"],
        "State": snapshot.get("State"),
        "source": snapshots.tag_value(snapshot, copying.SOURCE_TAG),
        "point": snapshots.tag_value(snapshot, POINT_TAG),
    }


def _delete_copies_of(
    ec2: Any, inputs: Mapping[str, Any], ours: dict[str, dict[str, Any]], gone: set[str], outcome: Copies
) -> dict[str, dict[str, Any]]:
    """Delete the copies whose point the series deleted; a locked one is kept and said. The copies left."""
    doomed = [cid for cid, copy in ours.items() if copy["source"] in gone]
    if not doomed:
        return ours
    try:
        found = locks.by_snapshot(ec2, doomed)
    except SnapshotProviderError as error:  # e.g. no ec2:DescribeLockedSnapshots: EC2 still refuses locked ones
        warn(inputs, f"{error}: deleting copies without knowing which are locked")
        found = {}
    for cid in doomed:
        lock = found.get(cid)
        if lock and lock.get("LockState") in locks.LOCKED_STATES:
            outcome.locked[cid] = lock
            say(inputs, f"kept copy {cid} of deleted {ours[cid]['source']}: it {locks.describe_lock(lock)}")
            continue
        try:
            snapshots.delete_snapshot(ec2, cid)
        except find.NotFound:
            pass  # gone already: deleted all the same
        except SnapshotProviderError as error:
            outcome.failed.append(str(error))
            continue
        outcome.deleted.append(cid)
        say(inputs, f"deleted copy {cid} with {ours[cid]['source']}")
    return {cid: copy for cid, copy in ours.items() if cid not in outcome.deleted}


def _copy_missing(
    account: AccountSelection,
    series_id: str,
    inputs: Mapping[str, Any],
    target: Mapping[str, Any],
    kept: Sequence[Mapping[str, Any]],
    ours: dict[str, dict[str, Any]],
    outcome: Copies,
) -> dict[str, dict[str, Any]]:
    """Copy each kept completed point without a completed copy here (adopting one an earlier run left pending)."""
    made: dict[str, dict[str, Any]] = {}
    for snapshot in kept:
        sid = snapshot["SnapshotId"]
        mine = {cid: c for cid, c in ours.items() if c["source"] == sid}
        if snapshot.get("State") != "completed" or any(c["State"] == "completed" for c in mine.values()):
            continue
        for cid in [cid for cid, c in mine.items() if c["State"] == "error"]:  # ours, and of no use
            with suppress(find.NotFound):
                snapshots.delete_snapshot(clients.client(account), cid)
            ours.pop(cid)
        point = snapshots.tag_value(snapshot, POINT_TAG) or sid
        request = _copy_inputs(account, series_id, inputs, target, sid, point)
        try:
            source = AccountSelection.from_props(inputs)  # the series' own account and region
            copy_id, _found, _account_id, _waited = copying.create_copy(request, source)
        except SnapshotProviderError as error:
            outcome.failed.append(f"copy of {sid} to {targets.describe(target, inputs['region'])}: {error}")
            with aws_errors("looking for the copy a failed CopySnapshot left (ec2:DescribeSnapshots)"):
                left = copying.unrecorded_copy(clients.client(account), request_token(inputs), request)
            copy_id = left["SnapshotId"] if left else ""
            made[copy_id or f"failed:{sid}"] = {
                "SnapshotId": copy_id or None,
                "State": "failed",
                "source": sid,
                "point": point,
                "message": str(error),
            }
            continue
        made[copy_id] = {"SnapshotId": copy_id, "State": "completed", "source": sid, "point": point}
    return made


def request_token(inputs: Mapping[str, Any]) -> str:
    return resource_token(str(inputs.get(URN_INPUT)))


def _copy_inputs(
    account: AccountSelection,
    series_id: str,
    inputs: Mapping[str, Any],
    target: Mapping[str, Any],
    sid: str,
    point: str,
) -> dict[str, Any]:
    """The inputs `create_copy` takes (SnapshotCopy's) for one point's copy to one target."""
    return {
        **dict(account.values),
        "source_snapshot_id": sid,
        "source_region": inputs["region"],
        "kms_key_id": target.get("kms_key_id"),
        "completion_duration_minutes": target.get("completion_duration_minutes"),
        "description": f"copy of {sid}, {point} of series {series_id}",
        "tags": {**(inputs.get("tags") or {}), COPY_SERIES_TAG: series_id, POINT_TAG: point},
        "timeout": inputs["timeout"],
        URN_INPUT: inputs[URN_INPUT],
    }


def _entry(place: Place, copy: Mapping[str, Any], lock: Mapping[str, Any] | None) -> dict[str, Any]:
    region, role = place
    entry = {
        "point": copy.get("point"),
        "source_snapshot_id": copy.get("source"),
        "region": region,
        "role_arn": role,
        "snapshot_id": copy.get("SnapshotId"),
        "state": copy.get("State"),
    }
    if copy.get("message"):
        entry["message"] = copy["message"]
    if lock:
        entry.update(locks.outputs(lock))
    return entry


def to_delete(series_id: str, props: Mapping[str, Any]) -> list[tuple[AccountSelection, list[str]]]:
    """What destroy deletes in each place: the copies tagged with the series' id, and those state records."""
    found = []
    known = recorded(props)
    for place in dict.fromkeys([*declared(props), *known]):
        account = account_of(place, props)
        ids = list(_ours(clients.client(account), series_id, known.get(place, {})))
        if ids:
            found.append((account, ids))
    return found
