"""EBS snapshot lock for the snapshot resources: the `lock` input's rule and allowed changes (pure), and the few EC2
calls that apply, change, remove and read a lock.

EC2's rules (EC2 API reference, LockSnapshot and UnlockSnapshot; EBS user guide, "Amazon EBS snapshot lock
concepts"): `governance` locks can be removed, shortened or turned into `compliance` at any time; a `compliance` lock
only inside its cooling-off period (`cool_off_hours`, 1 to 72); after that it can only be extended, never removed, and
the snapshot cannot be deleted until the lock ends. The lock lasts `duration_days` (1 to 36500, counted from when
the snapshot completed) or until `expires_at`, not both.

What the inputs alone show EC2 would refuse is refused at preview (`lock_change`); what depends on time (is a
compliance lock still in its cooling-off period?) is checked against DescribeLockedSnapshots before any call. AWS
publishes no error code for a refused unlock or delete of a locked snapshot, so the provider never relies on one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider import waiting
from snapshot_provider.errors import SnapshotProviderError, explain

MODES = ("governance", "compliance")
KEYS = ("mode", "duration_days", "expires_at", "cool_off_hours")
DURATION_DAYS = (1, 36500)
COOL_OFF_HOURS = (1, 72)
LOCKED_STATES = ("governance", "compliance-cooloff", "compliance")


class SnapshotLocked(SnapshotProviderError):
    """A snapshot's lock stops what was asked (delete, unlock, shorten): the message names the lock and its end."""


# --- the input ---------------------------------------------------------------------------------------------------
def rule(value: Any) -> list[str]:
    """Why a `lock` input is not one EC2 would accept (empty when it is)."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["must be an object such as {mode: governance, duration_days: 30}"]
    reasons = [f"unknown key {k!r} (expected {', '.join(KEYS)})" for k in value if k not in KEYS]
    mode = value.get("mode")
    if mode not in MODES:
        reasons.append(f"mode must be 'governance' or 'compliance' (got {mode!r})")
    days, until = value.get("duration_days"), value.get("expires_at")
    if (days is None) == (until is None):
        reasons.append("give exactly one of duration_days or expires_at (EC2's LockDuration or ExpirationDate)")
    if days is not None and not _whole_in(days, DURATION_DAYS):
        reasons.append(f"duration_days must be a whole number of days, {DURATION_DAYS[0]} to {DURATION_DAYS[1]}")
    if until is not None:
        moment = _moment(until)
        if moment is None:
            reasons.append(f"expires_at must be an ISO 8601 time such as 2030-01-31T00:00:00Z (got {until!r})")
        elif moment <= datetime.now(UTC):
            reasons.append(f"expires_at {until} is in the past: a lock must end in the future")
    hours = value.get("cool_off_hours")
    if hours is not None:
        if mode != "compliance":
            reasons.append("cool_off_hours is for compliance mode only (a governance lock has no cooling-off period)")
        elif not _whole_in(hours, COOL_OFF_HOURS):
            reasons.append(
                f"cool_off_hours must be a whole number of hours, {COOL_OFF_HOURS[0]} to {COOL_OFF_HOURS[1]}"
            )
    return reasons


def lock_change(old: Any, new: Any) -> str | None:
    """Why EC2 would refuse changing the lock from `old` to `new`, where the inputs alone show it; else None.

    A compliance lock without a cooling-off period is compliance from the start: it can only be extended. One with a
    cooling-off period may still be in it; that is checked against EC2 when the change is made (`change`).
    """
    if not old or old == new or old.get("mode") != "compliance" or old.get("cool_off_hours"):
        return None
    what = "a compliance lock without cool_off_hours cannot be {}: EC2 only lets it be extended until it ends"
    if not new:
        return what.format("removed") + "; keep the lock (the snapshot is deleted only once it ends)"
    if new.get("mode") != "compliance":
        return what.format("turned into governance")
    if new.get("cool_off_hours"):
        return what.format("given a cooling-off period")
    if _shorter(old, new):
        return what.format("shortened")
    return None


def _shorter(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    if old.get("duration_days") is not None and new.get("duration_days") is not None:
        return bool(new["duration_days"] < old["duration_days"])
    old_until, new_until = _moment(old.get("expires_at")), _moment(new.get("expires_at"))
    return old_until is not None and new_until is not None and new_until < old_until


def _whole_in(value: Any, bounds: tuple[int, int]) -> bool:
    # Numbers reach the provider through the engine as floats: 30.0 is 30 days.
    whole = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    return whole and bounds[0] <= value <= bounds[1]


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- EC2 ---------------------------------------------------------------------------------------------------------
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


def describe(ec2: Any, snapshot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Snapshot id -> its lock as DescribeLockedSnapshots gives it (ids without a lock are left out)."""
    found: dict[str, dict[str, Any]] = {}
    try:
        for start in range(0, len(snapshot_ids), waiting.MAX_IDS_PER_CALL):
            batch = list(snapshot_ids[start : start + waiting.MAX_IDS_PER_CALL])
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
    current = describe(ec2, snapshot_ids)
    for snapshot_id in snapshot_ids:
        info = current.get(snapshot_id)
        if info is not None and info.get("LockState") == "compliance":
            reason = _refused_in_compliance(info, new)
            if reason:
                raise SnapshotLocked(
                    f"cannot change the lock of snapshot {snapshot_id}: {describe_lock(info)}; {reason}"
                )
    for snapshot_id in snapshot_ids:
        active = current.get(snapshot_id, {}).get("LockState") in LOCKED_STATES
        if new:
            _call(ec2.lock_snapshot, "changing the snapshot's lock", snapshot_id, **lock_request(new))
        elif active:
            _call(ec2.unlock_snapshot, "unlocking the snapshot", snapshot_id)


def _refused_in_compliance(info: Mapping[str, Any], new: Mapping[str, Any] | None) -> str | None:
    if not new:
        return "it can no longer be removed (its cooling-off period has ended); keep `lock` until it ends"
    if new.get("mode") != "compliance":
        return "it can no longer become governance (its cooling-off period has ended)"
    ends = info.get("LockExpiresOn")
    until = _moment(new.get("expires_at")) if new.get("expires_at") else None
    if until is not None and isinstance(ends, datetime) and until < ends:
        return "it can only be extended, not shortened"
    if (
        new.get("duration_days") is not None
        and info.get("LockDuration")
        and new["duration_days"] < info["LockDuration"]
    ):
        return "it can only be extended, not shortened"
    return None


def refuse_delete_if_locked(ec2: Any, snapshot_ids: Sequence[str]) -> None:
    """Fail, before anything is deleted, if any of the snapshots is locked: naming each lock and when it ends."""
    locked = {sid: info for sid, info in describe(ec2, snapshot_ids).items() if info.get("LockState") in LOCKED_STATES}
    if not locked:
        return
    what = "; ".join(f"snapshot {sid} {describe_lock(info)}" for sid, info in sorted(locked.items()))
    raise SnapshotLocked(
        f"cannot delete: {what}. Nothing was deleted. A governance lock (or a compliance lock in its cooling-off "
        "period) is removed by taking `lock` out and running `pulumi up` first; otherwise wait until the lock ends, or "
        "keep the snapshot out of Pulumi with the retain_on_delete resource option (`pulumi state delete` drops it "
        "from this stack)."
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
