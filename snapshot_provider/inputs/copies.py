"""Where a copy of a snapshot goes (a copy target: region and/or account, key, time-based copy), declared once for
SnapshotCopy's inputs and the `copies` input of SnapshotSeries. Pure: no AWS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapshot_provider.inputs import rules

COMPLETION_MINUTES = (15, 2880, 15)  # CopySnapshot CompletionDurationMinutes: 15-minute steps, at most 2880
TARGET_KEYS = ("region", "role_arn", "kms_key_id", "completion_duration_minutes")
COMPLETION_MARGIN_MINUTES = 15  # beyond a time-based copy's own bound: the poll's interval, a late answer


def completion_duration_minutes(value: Any) -> str | None:
    lowest, highest, step = COMPLETION_MINUTES
    whole = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    if whole and lowest <= value <= highest and value % step == 0:
        return None
    return f"must be {lowest} to {highest} minutes in {step}-minute steps (EC2's time-based copy), got {value!r}"


def kms_key(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return "must be a KMS key id, alias, or ARN in the destination region"


def timeout_reason(minutes: Any, timeout: Any) -> str | None:
    """Why `timeout` (seconds) gives up on a time-based copy that EC2 may take `minutes` to complete (None if it does
    not): EC2 completes it within CompletionDurationMinutes (EC2 API reference, CopySnapshot), so a shorter timeout
    fails an `up` while EC2 is on schedule, and every later `up` until the copy completes."""
    if minutes is None or timeout is None or rules.is_unknown(minutes) or rules.is_unknown(timeout):
        return None
    if completion_duration_minutes(minutes) or not _number(timeout):
        return None  # their own rules say what is wrong
    needed = (float(minutes) + COMPLETION_MARGIN_MINUTES) * 60
    if float(timeout) >= needed:
        return None
    return (
        f"is {float(timeout):g} s, shorter than completion_duration_minutes={minutes:g} (EC2 may take that long) plus "
        f"a {COMPLETION_MARGIN_MINUTES}-minute margin: set timeout to at least {needed:g} s, or ask for a shorter "
        "completion_duration_minutes"
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The rule of each key of a copy target: the same rules as SnapshotCopy's inputs of those names.
TARGET_RULES = {
    "region": rules.region,
    "role_arn": rules.role_arn,
    "kms_key_id": kms_key,
    "completion_duration_minutes": completion_duration_minutes,
}


def target_key(target: Mapping[str, Any], home_region: str | None) -> tuple[str, str | None]:
    """Where a target puts its copy: (region, role_arn), the series' region when it names none."""
    return (str(target.get("region") or home_region or ""), target.get("role_arn") or None)


def describe(target: Mapping[str, Any], home_region: str | None = None) -> str:
    """`eu-west-1`, or `eu-west-1 as arn:aws:iam::...:role/backup` (another account)."""
    region, role = target_key(target, home_region)
    return f"{region} as {role}" if role else region


def known(value: Any) -> bool:
    """Whether a `copies` value is known whole (a preview may not know a target, or a key of one, yet)."""
    return isinstance(value, (list, tuple)) and all(
        isinstance(t, Mapping) and not any(rules.is_unknown(v) for v in t.values()) for t in value
    )


def targets_rule(value: Any) -> list[str]:
    """Why a `copies` input is not a list of copy targets (empty when it is)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return ["must be a list of copy targets such as [{region: eu-west-1}]"]
    reasons = []
    for index, target in enumerate(value):
        reasons += [f"[{index}]: {reason}" for reason in _target_reasons(target)]
    return reasons


def _target_reasons(target: Any) -> list[str]:
    if not isinstance(target, Mapping):
        return ["must be an object such as {region: eu-west-1, role_arn: arn:aws:iam::210987654321:role/backup}"]
    reasons = [f"unknown key {k!r} (expected {', '.join(TARGET_KEYS)})" for k in target if k not in TARGET_KEYS]
    if not target.get("region") and not target.get("role_arn"):
        reasons.append("give region (another region) and/or role_arn (a role in another account): where the copy goes")
    for name, rule in TARGET_RULES.items():
        value = target.get(name)
        if value is not None and not rules.is_unknown(value) and (reason := rule(value)):
            reasons.append(f"{name} {reason}")
    return reasons


def home_failures(value: Any, home_region: Any, home_role: Any) -> list[str]:
    """Targets that would copy into the source's own region and account (no copy at all), and targets given twice."""
    if not known(value):
        return []
    reasons = []
    seen: set[tuple[str, str | None]] = set()
    for index, target in enumerate(value):
        key = target_key(target, home_region)
        if key[0] == home_region and key[1] in (None, home_role):
            reasons.append(
                f"[{index}]: copies into the source's own region ({home_region}) and account, where it dies with "
                "them; set another region, or role_arn in another account"
            )
        if key in seen:
            reasons.append(f"[{index}]: names {describe(target, home_region)} again: one copy per target; remove one")
        seen.add(key)
    return reasons
