"""EBS snapshot lock in EC2: apply, change, remove and read the locks of a resource's snapshots, and refuse a delete
while one is locked (the `lock` input's rules are `inputs.lock`).

AWS publishes no error code for a refused UnlockSnapshot or a DeleteSnapshot of a locked snapshot, so nothing here
relies on one: the current lock is read with DescribeLockedSnapshots before any call that it could refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2.errors import SnapshotProviderError, explain
from snapshot_provider.inputs.lock import moment as _moment
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES

LOCKED_STATES = ("governance", "compliance-cooloff", "compliance")


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


def apply(ec2: Any, snapshot_ids: Sequence[str], lock: Mapping[str, Any] | None) -> None:
    """Lock each snapshot as `lock` says (LockSnapshot is a lock or a change of it; the same request twice is one)."""
    if not lock:
        return
    for snapshot_id in snapshot_ids:
        _call(ec2.lock_snapshot, "locking the snapshot", snapshot_id, **lock_request(lock))


def change(ec2: Any, snapshot_ids: Sequence[str], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
    """Make the snapshots' locks what `new` says: refused, before any call, where a lock's current state forbids it."""
    if old == new:
        return
    current = by_snapshot(ec2, snapshot_ids)
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        if info is not None and info.get("LockState") == "compliance":
            reason = _refused_in_compliance(info, new)
            if reason:
                raise SnapshotLocked(
                    f"cannot change the lock of snapshot {snapshot_id}: {describe_lock(info)}; {reason}"
                )
    done: list[str] = []
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        try:
            if new and not at_target(info, new):
                _call(ec2.lock_snapshot, "changing the snapshot's lock", snapshot_id, **lock_request(new))
            elif not new and info is not None and info.get("LockState") in LOCKED_STATES:
                _call(ec2.unlock_snapshot, "unlocking the snapshot", snapshot_id)
        except SnapshotProviderError as error:
            raise SnapshotProviderError(_part_way(error, done, snapshot_ids)) from error
        done.append(snapshot_id)


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
        "is removed by taking `lock` out and running `pulumi up` first"
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
