"""A resource that exists: read, update (tags, tier), delete, and the set deletion the series shares
(`delete_snapshots`, `with_locks`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pulumi.dynamic import ReadResult, UpdateResult

from snapshot_provider.core import holds, waiting
from snapshot_provider.core.lifecycle.shapes import Kind, managed_tags_now
from snapshot_provider.core.waiting import (
    consistency_window,
)
from snapshot_provider.ec2 import clients, find, locks, snapshots
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import (
    SnapshotInUse,
    SnapshotProviderError,
)
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.process.engine_log import engine_log

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def read(kind: Kind, id_: str, props: Mapping[str, Any]) -> ReadResult:
    """What exists now, asked of the account state records: another account's answer would make them look gone."""
    conn = Connection.to_read(props, clients.recorded_account(props), "the snapshots")
    ec2 = conn.ec2
    ids = kind.snapshot_ids(id_, props)
    found = snapshots.which_exist(ec2, ids, f"reading the {kind.noun}")
    missing = [sid for sid in ids if sid not in found]
    if missing:
        found |= still_there(ec2, missing, listed_by(props))
    found = settled_tags(ec2, found, props.get("tags") or {}, f"reading the {kind.noun}")
    if not found:
        return ReadResult("", {})  # gone: refresh drops it from state
    found = with_locks(ec2, props, found, recorded_locks(props))
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
    recorded = recorded_locks(olds)
    changed = locks.change(ec2, ids, olds.get("lock"), inputs.get("lock"), recorded)
    for line in changed.lines:
        engine_log().warning(inputs.get(URN_INPUT) or olds.get(URN_INPUT), line)
    snapshots.update_tags(ec2, ids, olds.get("tags") or {}, inputs["tags"])
    if inputs["storage_tier"] == "archive" and olds.get("storage_tier") != "archive":
        holds.refuse_if_held(ec2, ids, "archive")
        for sid in ids:
            snapshots.archive(ec2, sid)
    found = snapshots.which_exist(ec2, ids, f"reading the {kind.noun}")
    if not found:
        raise SnapshotProviderError(
            f"{kind.noun} {', '.join(ids)} no longer exists: run `pulumi refresh`, then `pulumi up`"
        )
    # EC2 shows the tags just written only after a delay: state records them as written.
    found = {sid: snapshots.as_updated(d, olds.get("tags") or {}, inputs["tags"]) for sid, d in found.items()}
    found = with_locks(ec2, {"lock": inputs.get("lock") or olds.get("lock")}, found, changed.owned or recorded)
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
    warn = None if declared else (lambda line: engine_log().warning(props.get(URN_INPUT), line))
    locks.refuse_delete_if_locked(conn.ec2, ids, declared=declared, unread=warn, urn=props.get(URN_INPUT))
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


def still_there(ec2: EC2Client, snapshot_ids: list[str], listed_by: float) -> dict[str, dict[str, Any]]:
    """Confirm gone: of snapshots missing from a listing (or NotFound), those EC2 lists after all before `listed_by`
    (wall clock: when EC2 lists them, if they exist; see `waiting.consistency_window`). Every other id is gone. Looks
    again every 2 s until then; after it, the first answer stands."""
    found: dict[str, dict[str, Any]] = {}
    if time.time() >= listed_by:
        return found

    def look() -> dict[str, dict[str, Any]]:
        missing = [sid for sid in snapshot_ids if sid not in found]
        found.update(snapshots.which_exist(ec2, missing, "looking again for snapshots not listed yet"))
        return found

    waiting.until(
        look,
        lambda seen: len(seen) == len(set(snapshot_ids)),
        listed_by - time.time(),
        what=f"for EC2 to list {', '.join(snapshot_ids)} (or to be sure they are gone)",
    )
    return found


def _delete_even_if_unlisted(ec2: Any, sid: str, listed_since: float) -> None:
    """Delete `sid`. A NotFound before `listed_since` (wall clock) is looked for again, as EC2 may not list it yet;
    one gone for sure counts as deleted."""
    try:
        snapshots.delete_snapshot(ec2, sid)
        return
    except find.NotFound:
        if not still_there(ec2, [sid], listed_since):
            return  # gone already: deleted all the same
    with contextlib.suppress(find.NotFound):  # gone meanwhile
        snapshots.delete_snapshot(ec2, sid)  # NotFound only because not listed yet: it exists after all


def with_locks(
    ec2: Any,
    props: Mapping[str, Any],
    found: dict[str, dict[str, Any]],
    owned: Mapping[str, Mapping[str, Any]] | Mapping[str, bool],
) -> dict[str, dict[str, Any]]:
    """`found` with each snapshot's lock (`Lock`, as DescribeLockedSnapshots gives it) and whether it is this
    resource's own (`LockOwned`: given, or judged from the lock state recorded) when the resource declares one: a
    resource without `lock` makes no lock calls (nor needs their permissions)."""
    if not props.get("lock"):
        return found
    held = locks.by_snapshot(ec2, list(found))

    def is_owned(sid: str) -> bool:
        given = owned.get(sid)
        return locks.owned(given, held.get(sid)) if isinstance(given, Mapping) else bool(given)

    return {sid: {**d, "Lock": held.get(sid), "LockOwned": is_owned(sid)} for sid, d in found.items()}


def recorded_locks(props: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each snapshot's lock as state records it (`lock_state`, `lock_expires_at`, `lock_owned`): a set's per member.
    State written before `lock_owned` existed: the lock is this resource's unless the snapshot was imported."""
    members = props.get("snapshots")
    entries = members if isinstance(members, list) else [props]
    legacy = not props.get("imported")
    return {
        str(e["snapshot_id"]): {**e, "lock_owned": e.get("lock_owned", legacy)}
        for e in entries
        if isinstance(e, Mapping) and e.get("snapshot_id")
    }


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
        seen.update(snapshots.which_exist(ec2, differ, doing))
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
