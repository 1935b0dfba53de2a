"""EBS snapshot lock in EC2: apply, change, remove and read the locks of a resource's snapshots, and refuse a delete
while one is locked (the `lock` input's rules are `inputs.lock`).

AWS publishes no error code for a refused UnlockSnapshot or a DeleteSnapshot of a locked snapshot, so nothing here
relies on one: the current lock is read with DescribeLockedSnapshots before any call that it could refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2 import snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError, explain
from snapshot_provider.inputs.lock import moment as _moment
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES

LOCKED_STATES = ("governance", "compliance-cooloff", "compliance")
# The lock this resource's last lock change asked for (`request_digest`), written just before its LockSnapshot: a lock
# as `new` asks is then known to be that change's, not someone else's extension that the program caught up with.
REQUEST_TAG = "pulumi-snapshot:lock-request"


class SnapshotLocked(SnapshotProviderError):
    """A snapshot's lock stops what was asked (delete, unlock, shorten): the message names the lock and its end."""


def lock_request(lock: Mapping[str, Any]) -> dict[str, Any]:
    """LockSnapshot's parameters for a `lock` input."""
    request: dict[str, Any] = {"LockMode": lock["mode"]}
    if lock.get("duration_days") is not None:
        request["LockDuration"] = int(lock["duration_days"])
    else:
        request["ExpirationDate"] = _moment(lock["expires_at"])
    if lock.get("cool_off_hours"):
        request["CoolOffPeriod"] = int(lock["cool_off_hours"])
    return request


def request_digest(lock: Mapping[str, Any]) -> str:
    """A short digest of the lock a `lock` input asks for (mode, duration or expiry, cooling-off), for REQUEST_TAG."""
    shaping = repr(sorted((k, str(v)) for k, v in lock_request(lock).items()))
    return hashlib.sha256(shaping.encode()).hexdigest()[:16]


def by_snapshot(ec2: Any, snapshot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Snapshot id -> its lock as DescribeLockedSnapshots gives it (ids without a lock are left out)."""
    found: dict[str, dict[str, Any]] = {}
    try:
        for start in range(0, len(snapshot_ids), MAX_FILTER_VALUES):
            batch = list(snapshot_ids[start : start + MAX_FILTER_VALUES])
            answer = ec2.describe_locked_snapshots(SnapshotIds=batch)
            found.update({s["SnapshotId"]: s for s in answer.get("Snapshots", [])})
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(explain(error, "reading the snapshot locks")) from error
    return found


@dataclass
class Changed:
    """What a lock change did: per snapshot, whether the lock it holds now is this resource's own (`lock_owned`), and
    the lines to say (a lock left as it is, because this resource did not set it)."""

    owned: dict[str, bool] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def change(
    ec2: Any,
    snapshot_ids: Sequence[str],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    recorded: Mapping[str, Mapping[str, Any]],
) -> Changed:
    """Make the snapshots' locks what `new` says, where the lock is this resource's: `recorded` is each snapshot's
    lock as state records it (`lock_state`, `lock_expires_at`, `lock_owned`). A lock this resource did not set, or
    that someone changed since, is never shortened, weakened or removed: a removal leaves it (and says so), a change
    that would weaken it is refused; one that extends it is made. Refused before any call. No change: nothing is
    read (`owned` empty)."""
    if old == new:
        return Changed()
    current = by_snapshot(ec2, snapshot_ids)
    asked = _requested(ec2, snapshot_ids, current, recorded, new)
    mine = {sid: owned(recorded.get(sid) or {}, current.get(sid), old, new, asked.get(sid)) for sid in snapshot_ids}
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        if not holds(info):
            continue
        assert info is not None
        if not mine[snapshot_id]:
            reason = weakens(info, new) if new else None
            if reason:
                raise SnapshotLocked(
                    f"cannot change the lock of snapshot {snapshot_id}: it {describe_lock(info)}, a lock this resource "
                    f"did not set (set outside Pulumi, kept at import, or changed by someone since); {reason}. This "
                    "provider never shortens or weakens a lock it did not set: whoever set it can change it (aws ec2 "
                    "lock-snapshot / unlock-snapshot), or set `lock` to end no earlier. Nothing was changed"
                )
        elif info.get("LockState") == "compliance":
            reason = _refused_in_compliance(info, new)
            if reason:
                raise SnapshotLocked(
                    f"cannot change the lock of snapshot {snapshot_id}: {describe_lock(info)}; {reason}"
                )
    done: list[str] = []
    result = Changed()
    for snapshot_id in snapshot_ids:
        # A lock someone else set stays theirs when extended; none (or an ended one) replaced is this resource's.
        result.owned[snapshot_id] = bool(new) and (mine[snapshot_id] or not holds(current.get(snapshot_id)))
    if new:
        _mark_request(ec2, [sid for sid, ours in result.owned.items() if ours], new)
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        try:
            if new:
                if not at_target(info, new):  # one already changed by a change that failed part way is skipped
                    request = lock_request(new) if mine[snapshot_id] else extension_request(info, new)
                    _call(ec2.lock_snapshot, "changing the snapshot's lock", snapshot_id, **request)
            elif holds(info) and mine[snapshot_id]:
                _call(ec2.unlock_snapshot, "unlocking the snapshot", snapshot_id)
            elif holds(info):
                assert info is not None
                result.lines.append(left_alone(snapshot_id, info))
        except SnapshotProviderError as error:
            raise SnapshotProviderError(_part_way(error, done, snapshot_ids)) from error
        done.append(snapshot_id)
    return result


def _requested(
    ec2: Any,
    snapshot_ids: Sequence[str],
    current: Mapping[str, Mapping[str, Any]],
    recorded: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Any] | None,
) -> dict[str, str | None]:
    """REQUEST_TAG of the snapshots whose ownership turns on it (this resource's recorded lock, now held as `new`
    asks): read only then, so that a lock change otherwise makes no DescribeSnapshots call."""
    if not new:
        return {}
    ask = [
        sid
        for sid in snapshot_ids
        if (recorded.get(sid) or {}).get("lock_owned")
        and at_target(current.get(sid), new)
        and not same_lock(recorded.get(sid) or {}, current.get(sid))
    ]
    if not ask:
        return {}
    found = snapshots.which_exist(ec2, ask, "reading the lock this resource last asked for (ec2:DescribeSnapshots)")
    return {sid: snapshots.tag_value(found.get(sid) or {}, REQUEST_TAG) for sid in ask}


def _mark_request(ec2: Any, snapshot_ids: Sequence[str], new: Mapping[str, Any]) -> None:
    """REQUEST_TAG on the snapshots this resource is about to lock as `new` asks, before its LockSnapshot."""
    if snapshot_ids:
        snapshots.set_tags(ec2, list(snapshot_ids), {REQUEST_TAG: request_digest(new)})


def left_alone(snapshot_id: str, info: Mapping[str, Any]) -> str:
    """The line for a lock a removal of `lock` left: whose it is and who can remove it."""
    return (
        f"left the lock of snapshot {snapshot_id} as it is: it {describe_lock(info)}, a lock this resource did not set "
        "(set outside Pulumi, kept at import, or changed by someone since); this provider removes only its own lock. "
        f"Whoever set it can remove it (aws ec2 unlock-snapshot --snapshot-id {snapshot_id}), or wait until it ends"
    )


def adopt(
    ec2: Any,
    snapshot_ids: Sequence[str],
    new: Mapping[str, Any] | None,
    whose: str,
    *,
    ours_if_as_asked: bool = False,
    found: Mapping[str, Mapping[str, Any]] | None = None,
) -> Changed:
    """Lock snapshots this resource has not locked yet (imported, or just taken): `new` applied where a snapshot
    holds no lock (this resource's own then); a lock one already holds is someone else's (`whose`: how it got
    there): extended to `new` when `new` ends later, kept as it is when `new` would shorten or weaken it, said
    either way, and never this resource's (`lock_owned` false), so never removed by it. `ours_if_as_asked`: the
    snapshots are this resource's leftovers, whose hand-over may have locked them before its run was cut short, so
    a lock exactly as `new` asks, set once the snapshot had completed (`set_once_completed`; `found`: the
    snapshots' DescribeSnapshots entries), is this resource's own."""
    result = Changed(owned={sid: False for sid in snapshot_ids})
    if not new:
        return result
    current = by_snapshot(ec2, snapshot_ids)
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        completed_at = (found or {}).get(snapshot_id, {}).get("CompletionTime")
        if holds(info) and ours_if_as_asked and at_target(info, new) and set_once_completed(info, completed_at):
            result.owned[snapshot_id] = True
            continue
        if holds(info):
            assert info is not None
            reason = weakens(info, new)
            if reason:
                result.lines.append(
                    f"kept the lock snapshot {snapshot_id} already holds: it {describe_lock(info)} ({whose}); the "
                    f"declared `lock` {reason}, and this provider never shortens or weakens a lock it did not set. "
                    "Outputs lock_state and lock_expires_at say what it holds"
                )
                continue
            result.lines.append(
                f"extended the lock snapshot {snapshot_id} already held (it {describe_lock(info)}: {whose}) to the "
                "declared `lock`: it stays a lock this resource did not set, so removing `lock` leaves it"
            )
        if not at_target(info, new):
            _call(ec2.lock_snapshot, "locking the snapshot", snapshot_id, **extension_request(info, new))
        result.owned[snapshot_id] = not holds(info)  # extended, a lock that was someone else's stays theirs
    return result


def set_once_completed(info: Mapping[str, Any] | None, completed_at: Any = None) -> bool:
    """Whether a lock was set once its snapshot had completed, as this provider's hand-over sets its own; a lock set
    while the snapshot was pending (an organisation's automation) is someone else's. EC2 starts a pending snapshot's
    lock duration only once it completes (EC2 API reference, LockedSnapshotsInfo: LockDurationStartTime), so such a
    lock was created before its duration started. A lock with no duration start (an expiry date) is compared with
    the snapshot's CompletionTime; with neither, it is not taken for this resource's. A second is allowed for
    rounding."""
    created = (info or {}).get("LockCreatedOn")
    started = (info or {}).get("LockDurationStartTime") or completed_at
    if not (isinstance(created, datetime) and isinstance(started, datetime)):
        return False
    return created >= started - timedelta(seconds=1)


def extension_request(info: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """LockSnapshot's parameters to extend a lock someone else set to `new`: one past its cooling-off period (EC2:
    `compliance`) takes no CoolOffPeriod (EC2 refuses the request), and `new`'s cooling-off would not apply anyway."""
    request = lock_request(new)
    if info is not None and info.get("LockState") == "compliance":
        request.pop("CoolOffPeriod", None)
    return request


def holds(info: Mapping[str, Any] | None) -> bool:
    """Whether a DescribeLockedSnapshots entry is a lock in force (not ended)."""
    return info is not None and info.get("LockState") in LOCKED_STATES


def owned(
    recorded: Mapping[str, Any],
    info: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    asked: str | None = None,
) -> bool:
    """Whether the lock a snapshot holds is this resource's own: state says this resource set it (`lock_owned`), and
    the snapshot still holds it as recorded (its mode and end), or, in a change from `old` to `new`, holds exactly
    the lock `new` asks for, which this resource last asked for (`asked`: the snapshot's REQUEST_TAG): its change
    that went through while a later step of its run failed (state still records the old lock). A lock changed
    otherwise since (someone else's extension, even one the program later asks for too) is someone else's."""
    if not (recorded.get("lock_owned") and holds(info)):
        return False
    assert info is not None
    if same_lock(recorded, info):
        return True
    return new is not None and asked == request_digest(new) and _changed_to(recorded, info, old, new)


def _changed_to(
    recorded: Mapping[str, Any], info: Mapping[str, Any], old: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> bool:
    """Whether the snapshot holds `new`, reached from the recorded lock by a change: a change keeps a duration lock's
    start (EC2 API reference, LockedSnapshotsInfo: LockDurationStartTime), so a recorded `old` duration lock must
    still start when it did (recorded end less its duration); one unlocked and locked again starts anew."""
    if not at_target(info, new):
        return False
    started, recorded_end = info.get("LockDurationStartTime"), _moment(recorded.get("lock_expires_at"))
    if not old or old.get("duration_days") is None or not isinstance(started, datetime) or recorded_end is None:
        return True
    recorded_start = recorded_end - timedelta(days=float(old["duration_days"]))
    return abs((recorded_start - started).total_seconds()) <= 1  # state records the end to the second


def same_lock(recorded: Mapping[str, Any], info: Mapping[str, Any] | None) -> bool:
    """Whether a snapshot holds the lock state records: the same mode (a compliance lock's cooling-off period may
    have ended since) and the same end."""
    if info is None:
        return False
    same_mode = _mode(recorded.get("lock_state")) == _mode(info.get("LockState"))
    return same_mode and recorded.get("lock_expires_at") == iso(info.get("LockExpiresOn"))


def _mode(state: Any) -> str | None:
    return "compliance" if isinstance(state, str) and state.startswith("compliance") else state


def weakens(info: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why `new` would weaken the lock a snapshot holds (`info`): governance over compliance, or an earlier end;
    None when it keeps or extends it."""
    if _mode(info.get("LockState")) == "compliance" and new.get("mode") != "compliance":
        return "would turn it into governance"
    ends, new_ends = info.get("LockExpiresOn"), _new_end(info, new)
    if new_ends is None:
        return "might end it earlier (EC2 did not say when its duration started)"
    if isinstance(ends, datetime) and new_ends < ends:
        return f"would end it earlier ({iso(new_ends)})"
    return None


def at_target(info: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether a snapshot's lock (DescribeLockedSnapshots) is already `new`: the next `up` after a change that failed
    part way skips it (a compliance lock past its cooling-off refuses a request that names CoolOffPeriod)."""
    if not info or info.get("LockState") not in _states_of(new):
        return False
    if info["LockState"] == "compliance-cooloff" and info.get("CoolOffPeriod") != int(new["cool_off_hours"]):
        return False
    if new.get("duration_days") is not None:
        return bool(info.get("LockDuration") == int(new["duration_days"]))
    return bool(info.get("LockExpiresOn") == _moment(new.get("expires_at")))


def _states_of(new: Mapping[str, Any]) -> tuple[str, ...]:
    """The lock states a snapshot locked as `new` can be in (one with a cooling-off period may be past it)."""
    if new.get("mode") == "governance":
        return ("governance",)
    return ("compliance-cooloff", "compliance") if new.get("cool_off_hours") else ("compliance",)


def _part_way(error: SnapshotProviderError, done: Sequence[str], snapshot_ids: Sequence[str]) -> str:
    """A lock change that failed on one member: which members now have the new lock and which the old one, so that
    nobody takes state's (old) lock for what EC2 holds. The next `up` reads the locks again and finishes it."""
    if len(snapshot_ids) == 1:
        return str(error)
    left = [sid for sid in snapshot_ids if sid not in done]
    changed = ", ".join(done) if done else "none"
    return (
        f"{error}. The lock change stopped part way: changed already: {changed}; not changed: {', '.join(left)}. "
        "State still records the old lock: run `pulumi up` again to finish the change (members already changed "
        "are skipped)"
    )


def _refused_in_compliance(info: Mapping[str, Any], new: Mapping[str, Any] | None) -> str | None:
    if not new:
        return "it can no longer be removed (its cooling-off period has ended); keep `lock` until it ends"
    if new.get("mode") != "compliance":
        return "it can no longer become governance (its cooling-off period has ended)"
    ends, new_ends = info.get("LockExpiresOn"), _new_end(info, new)
    if isinstance(ends, datetime) and new_ends is not None and new_ends < ends:
        return f"it can only be extended, not shortened (the new lock would end {iso(new_ends)})"
    return None


def _new_end(info: Mapping[str, Any], new: Mapping[str, Any]) -> datetime | None:
    """When `new` would end on this snapshot: its expiry, or its duration from the lock's start, which a change keeps
    (EC2 API reference, LockedSnapshotsInfo: LockDurationStartTime)."""
    if new.get("expires_at"):
        return _moment(new["expires_at"])
    started = info.get("LockDurationStartTime")
    if new.get("duration_days") is None or not isinstance(started, datetime):
        return None
    return started + timedelta(days=float(new["duration_days"]))


def refuse_delete_if_locked(
    ec2: Any,
    snapshot_ids: Sequence[str],
    *,
    declared: bool = True,
    unread: Callable[[str], None] | None = None,
    urn: str | None = None,
) -> None:
    """Fail, before anything is deleted, if any of the snapshots is locked: naming each lock and when it ends.

    The locks are read whatever the resource declares: a snapshot can be locked outside Pulumi (an admin, a backup
    policy), and a set met mid-delete would be left half deleted. `declared`: the resource's inputs have `lock` (the
    message says how to remove it); `urn`: the resource's, for the exact `pulumi state delete` command. Locks that
    cannot be read (no ec2:DescribeLockedSnapshots) refuse the delete, unless `unread` is given: it is told why, and
    the delete goes on as before (EC2 still refuses a locked one)."""
    try:
        found = by_snapshot(ec2, snapshot_ids)
    except SnapshotProviderError as error:
        if unread is None:
            raise
        unread(
            f"could not read the snapshots' locks ({error}); deleting without knowing whether one is locked outside "
            "Pulumi: EC2 refuses to delete a locked one, and the others may be deleted by then. Allow "
            "ec2:DescribeLockedSnapshots to have a locked snapshot stop the delete before anything is deleted."
        )
        return
    locked = {sid: info for sid, info in found.items() if info.get("LockState") in LOCKED_STATES}
    if not locked:
        return
    what = "; ".join(f"snapshot {sid} {describe_lock(info)}" for sid, info in sorted(locked.items()))
    removal = (
        "is removed by taking `lock` out and running `pulumi up` first, if this resource set it (one set or changed "
        "by someone else is left: whoever set it can remove it, aws ec2 unlock-snapshot)"
        if declared
        else "was set outside this resource (its inputs have no `lock`): whoever set it can remove it "
        f"(`{'`, `'.join(f'aws ec2 unlock-snapshot --snapshot-id {sid}' for sid in sorted(locked))}`)"
    )
    # A Python program's dynamic provider is not given the URN at delete: `pulumi stack --show-urns` lists it.
    forget = f"pulumi state delete '{urn}'" if urn else "pulumi state delete <URN from pulumi stack --show-urns>"
    raise SnapshotLocked(
        f"cannot delete: {what}. Nothing was deleted. A governance lock (or a compliance lock in its cooling-off "
        f"period) {removal}; otherwise wait until the lock ends, or keep the snapshot out of Pulumi with the "
        f"retain_on_delete resource option (`{forget}` drops it from this stack, leaving the snapshot in EC2)."
    )


def describe_lock(info: Mapping[str, Any]) -> str:
    """`is locked in governance mode until 2030-01-31T00:00:00Z` from a DescribeLockedSnapshots entry."""
    state = info.get("LockState")
    mode = {"governance": "governance mode", "compliance": "compliance mode"}.get(
        str(state), "compliance mode (still in its cooling-off period)"
    )
    return f"is locked in {mode} until {iso(info.get('LockExpiresOn'))}"


def outputs(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """`lock_state` and `lock_expires_at` for a snapshot's lock (None for both when it has none)."""
    if not info:
        return {"lock_state": None, "lock_expires_at": None}
    return {"lock_state": info.get("LockState"), "lock_expires_at": iso(info.get("LockExpiresOn"))}


def iso(moment: Any) -> str | None:
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _call(action: Any, doing: str, snapshot_id: str, **request: Any) -> None:
    try:
        action(SnapshotId=snapshot_id, **request)
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(explain(error, doing, snapshot_id=snapshot_id)) from error
