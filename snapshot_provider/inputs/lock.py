"""The `lock` input of the snapshot resources: its rule and the changes EC2 would refuse (pure: no AWS).

EC2's rules (EC2 API reference, LockSnapshot and UnlockSnapshot; EBS user guide, "Amazon EBS snapshot lock
concepts"): `governance` locks can be removed, shortened or turned into `compliance` at any time; a `compliance` lock
only inside its cooling-off period (`cool_off_hours`, 1 to 72); after that it can only be extended, never removed, and
the snapshot cannot be deleted until the lock ends. The lock lasts `duration_days` (1 to 36500, counted from when
the snapshot completed) or until `expires_at`, not both. What the inputs alone show EC2 would refuse is refused at
preview (`lock_change`); what depends on time is checked against EC2 when the change is made (`ec2.locks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

MODES = ("governance", "compliance")
KEYS = ("mode", "duration_days", "expires_at", "cool_off_hours")
DURATION_DAYS = (1, 36500)
COOL_OFF_HOURS = (1, 72)


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
        elif moment > datetime.now(UTC) + timedelta(days=DURATION_DAYS[1]):
            # EC2 API reference, LockSnapshot: LockDuration 1 to 36500 days; an ExpirationDate is the same lock.
            reasons.append(
                f"expires_at {until} is more than {DURATION_DAYS[1]} days ahead: EC2 locks a snapshot for at most "
                f"{DURATION_DAYS[1]} days (LockSnapshot)"
            )
    hours = value.get("cool_off_hours")
    if hours is not None:
        if mode != "compliance":
            reasons.append("cool_off_hours is for compliance mode only (a governance lock has no cooling-off period)")
        elif not _whole_in(hours, COOL_OFF_HOURS):
            reasons.append(
                f"cool_off_hours must be a whole number of hours, {COOL_OFF_HOURS[0]} to {COOL_OFF_HOURS[1]}"
            )
    return reasons


def new_lock_ended(old: Any, new: Any) -> str | None:
    """A series' lock change, judged at preview: a new or changed `expires_at` must be ahead (a lock that ended
    already is a mistake); an unchanged one that has passed is not (`for_new_points`: new points are then taken
    without it). A series changes no lock of a point it has taken, so nothing else is refused."""
    if new and (not old or old.get("expires_at") != new.get("expires_at")):
        return ended(new)
    return None


def for_new_points(value: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    """The lock a series puts on a point it takes now, and a line when the declared lock has ended (its `expires_at`
    passed: EC2 refuses an ExpirationDate in the past, and the lock asked for has done its job)."""
    if not isinstance(value, Mapping) or ended(value) is None:
        return (value if isinstance(value, Mapping) else None), None
    return None, f"lock ended on {value['expires_at']}: new points are not locked"


def lock_change(old: Any, new: Any, old_ends: datetime | None = None) -> str | None:
    """Why EC2 would refuse changing the lock from `old` to `new` (`old` None: a new lock), where the inputs alone
    show it; else None.

    An `expires_at` must be in the future only when it is new or changed: once an unchanged lock's date has passed,
    the lock has ended (EC2: LockState `expired`) and the program stays valid. A lock that has ended holds nothing:
    any change, removal included, is allowed (it is not locked, LockedSnapshotsInfo). A compliance lock without a
    cooling-off period is compliance from the start: it can only be extended. One with a cooling-off period may still
    be in it; that is checked against EC2 when the change is made (`change`).
    `old_ends` is when the current lock ends as state recorded it (`lock_expires_at`): with it, a switch between
    `duration_days` and `expires_at` is compared end to end (`diff` has it; `check`, given inputs only, does not).
    """
    if new and (not old or old.get("expires_at") != new.get("expires_at")) and (reason := ended(new)):
        return reason
    if not old or old == new or old.get("mode") != "compliance" or old.get("cool_off_hours"):
        return None
    if _has_ended(old, old_ends):
        return None
    what = "a compliance lock without cool_off_hours cannot be {}: EC2 only lets it be extended until it ends"
    if not new:
        return what.format("removed") + "; keep the lock (the snapshot is deleted only once it ends)"
    if new.get("mode") != "compliance":
        return what.format("turned into governance")
    if new.get("cool_off_hours"):
        return what.format("given a cooling-off period")
    if _shorter(old, new, old_ends):
        return what.format("shortened") + _ends_note(old_ends)
    return None


def weaker(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new` surely or possibly ends before `old`, or gives up compliance for governance (from the inputs)."""
    if old.get("mode") == "compliance" and new.get("mode") != "compliance":
        return True
    if old.get("duration_days") is not None and new.get("duration_days") is not None:
        return bool(new["duration_days"] < old["duration_days"])
    old_until, new_until = _moment(old.get("expires_at")), _moment(new.get("expires_at"))
    if old_until is not None and new_until is not None:
        return new_until < old_until
    return True  # a duration against a date: which ends first depends on when the lock started


def ended(value: Any) -> str | None:
    """Why a lock to be applied now cannot be: its `expires_at` has passed (EC2 refuses an ExpirationDate in the
    past); None otherwise. For a new or changed lock only: an unchanged one that ended is a lock that did its job."""
    if not isinstance(value, Mapping):
        return None
    until = value.get("expires_at")
    moment = _moment(until)
    if moment is not None and moment <= datetime.now(UTC):
        return f"expires_at {until} is in the past: a lock must end in the future"
    return None


def _has_ended(old: Mapping[str, Any], old_ends: datetime | None) -> bool:
    """Whether the old lock has surely ended: its end as state recorded it, or its `expires_at`, has passed."""
    end = old_ends or _moment(old.get("expires_at"))
    return end is not None and end <= datetime.now(UTC)


def lock_change_at_check(old: Any, new: Any) -> str | None:
    """`lock_change` for `check`, which has the old inputs only: they do not say when a compliance `duration_days`
    lock ends, so whether it has ended (and may be taken out, turned into governance or given a cooling-off period)
    is judged by `diff`, from the end state recorded (`lock_change_in_state`), still at preview."""
    judged_by_diff = (
        isinstance(old, Mapping)
        and old.get("duration_days") is not None
        and (not new or new.get("mode") != "compliance" or bool(new.get("cool_off_hours")))
    )
    if judged_by_diff and not (new and ended(new)):
        return None
    return lock_change(old, new)


def lock_change_in_state(state: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
    """`lock_change` for a diff: the old lock and its recorded end from state (outputs: a snapshot's
    `lock_expires_at`, or the latest of a set's members, as a change that shortens any member is refused)."""
    recorded = [state.get("lock_expires_at")] + [m.get("lock_expires_at") for m in state.get("snapshots") or []]
    ends = [moment for value in recorded if (moment := _moment(value)) is not None]
    return lock_change(state.get("lock"), news.get("lock"), max(ends, default=None))


def _ends_note(old_ends: datetime | None) -> str:
    if old_ends is None:
        return ""
    return f" (it ends {old_ends.astimezone(UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')})"


def _shorter(old: Mapping[str, Any], new: Mapping[str, Any], old_ends: datetime | None) -> bool:
    """Whether the new lock surely ends before the old one. LockDuration counts from the lock's start, kept through
    every change (EC2 API reference, LockedSnapshotsInfo: LockDurationStartTime); ExpirationDate is a moment."""
    old_days, new_days = old.get("duration_days"), new.get("duration_days")
    if old_days is not None and new_days is not None:
        return bool(new_days < old_days)
    old_until, new_until = _moment(old.get("expires_at")), _moment(new.get("expires_at"))
    old_end = old_ends or old_until
    if old_end is None:
        return False  # a duration from a start the inputs do not give: checked against EC2 at `up`
    if new_until is not None:
        return new_until < old_end
    if new_days is None:
        return False
    # From expires_at to duration_days: the lock started no later than now, so it ends by now + duration_days at most.
    return datetime.now(UTC) + timedelta(days=float(new_days)) < old_end


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


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); None when it is not one."""
    return _moment(value)
