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
from datetime import UTC, datetime
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


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); None when it is not one."""
    return _moment(value)
