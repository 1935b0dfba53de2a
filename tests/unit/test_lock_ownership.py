"""Whose lock a snapshot holds, and what may be done to it (pure: no AWS): `ec2.locks.owned`, `same_lock`, `weakens`,
`set_once_completed`, `lifecycle.existing.recorded_locks`, the preview's lines (`lifecycle.provider.lock_change_lines`),
and a series' lock once its `expires_at` has passed (`inputs.lock.for_new_points`, `new_lock_ended`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapshot_provider.core.lifecycle.existing import recorded_locks
from snapshot_provider.core.lifecycle.provider import lock_change_lines
from snapshot_provider.ec2 import locks
from snapshot_provider.inputs import lock

START = datetime(2026, 1, 1, tzinfo=UTC)
ENDS = START + timedelta(days=30)
GOVERNANCE = {"mode": "governance", "duration_days": 30}
HELD = {"LockState": "governance", "LockExpiresOn": ENDS, "LockDurationStartTime": START, "LockDuration": 30}
RECORDED = {"lock_state": "governance", "lock_expires_at": "2026-01-31T00:00:00Z", "lock_owned": True}
LAPSED = "2020-01-31T00:00:00Z"


@pytest.mark.parametrize(
    ("recorded", "info", "owned"),
    [
        (RECORDED, HELD, True),
        ({**RECORDED, "lock_owned": False}, HELD, False),  # an import's own lock, kept
        (RECORDED, {**HELD, "LockExpiresOn": ENDS + timedelta(days=60)}, False),  # another user extended it
        (RECORDED, {**HELD, "LockState": "compliance-cooloff"}, False),  # another user made it compliance
        (RECORDED, {**HELD, "LockState": "expired"}, False),  # ended: nothing held
        (RECORDED, None, False),
        # Recorded in its cooling-off period, past it now: the same lock.
        ({**RECORDED, "lock_state": "compliance-cooloff"}, {**HELD, "LockState": "compliance"}, True),
    ],
)
def test_a_lock_is_this_resources_only_as_state_records_it(
    recorded: dict[str, Any], info: dict[str, Any] | None, owned: bool
) -> None:
    assert locks.owned(recorded, info) is owned


@pytest.mark.parametrize(
    ("info", "new", "weakened"),
    [
        (HELD, {"mode": "governance", "duration_days": 10}, True),
        (HELD, {"mode": "governance", "duration_days": 30}, False),
        (HELD, {"mode": "governance", "duration_days": 90}, False),
        (HELD, {"mode": "compliance", "duration_days": 90}, False),  # stronger and longer
        ({**HELD, "LockState": "compliance"}, {"mode": "governance", "duration_days": 900}, True),
        (HELD, {"mode": "governance", "expires_at": "2026-01-10T00:00:00Z"}, True),
        ({**HELD, "LockDurationStartTime": None}, GOVERNANCE, True),  # its start unknown: maybe earlier
    ],
)
def test_a_lock_is_weakened_when_it_would_end_earlier_or_give_up_compliance(
    info: dict[str, Any], new: dict[str, Any], weakened: bool
) -> None:
    assert (locks.weakens(info, new) is not None) is weakened


def test_state_written_before_lock_owned_counts_the_lock_as_the_resources_unless_imported() -> None:
    legacy = {"snapshot_id": "snap-1", "lock_state": "governance"}
    assert recorded_locks(legacy)["snap-1"]["lock_owned"] is True
    assert recorded_locks({**legacy, "imported": True})["snap-1"]["lock_owned"] is False
    members = {"snapshots": [{"snapshot_id": "snap-2", "lock_owned": False}, {"snapshot_id": "snap-3"}]}
    assert {sid: r["lock_owned"] for sid, r in recorded_locks(members).items()} == {"snap-2": False, "snap-3": True}


def test_the_preview_of_a_removal_names_the_recorded_lock_and_says_it_is_conditional() -> None:
    olds = {"snapshot_id": "snap-1", "lock": GOVERNANCE, **RECORDED}
    [line] = lock_change_lines(olds, {})
    assert "removing `lock` unlocks snap-1 only if each still holds the lock this resource set" in line
    assert "governance until 2026-01-31T00:00:00Z" in line
    assert lock_change_lines(olds, {"lock": {**GOVERNANCE, "duration_days": 90}}) == []  # extending


def test_the_preview_of_a_set_says_per_member_whose_lock_it_is() -> None:
    olds = {
        "lock": GOVERNANCE,
        "snapshots": [
            {"snapshot_id": "snap-a", **RECORDED},
            {"snapshot_id": "snap-b", **RECORDED, "lock_owned": False},
        ],
    }
    ours, theirs = lock_change_lines(olds, {"lock": {**GOVERNANCE, "duration_days": 5}})
    assert "shortens the lock of snap-a only if" in ours
    assert "snap-b holds a lock this resource did not set" in theirs and "refused" in theirs


def test_a_series_lock_that_has_ended_locks_no_new_point_and_says_so() -> None:
    ended = {"mode": "governance", "expires_at": LAPSED}
    assert lock.for_new_points(ended) == (None, f"lock ended on {LAPSED}: new points are not locked")
    assert lock.for_new_points(GOVERNANCE) == (GOVERNANCE, None)
    assert lock.for_new_points(None) == (None, None)


@pytest.mark.parametrize(
    ("old", "refused"),
    [
        (None, True),  # a new series' lock that already ended
        (GOVERNANCE, True),  # changed to a date that passed
        ({"mode": "governance", "expires_at": LAPSED}, False),  # unchanged: it did its job
    ],
)
def test_a_series_refuses_only_a_new_or_changed_expires_at_that_passed(old: Any, refused: bool) -> None:
    assert (lock.new_lock_ended(old, {"mode": "governance", "expires_at": LAPSED}) is not None) is refused


LOCKED_AT = {"LockState": "governance", "LockCreatedOn": START}


@pytest.mark.parametrize(
    ("info", "completed_at", "ours"),
    [
        ({**LOCKED_AT, "LockDurationStartTime": START}, None, True),  # locked once completed: the hand-over's way
        ({**LOCKED_AT, "LockDurationStartTime": START + timedelta(milliseconds=400)}, None, True),  # rounding
        ({**LOCKED_AT, "LockDurationStartTime": START + timedelta(minutes=5)}, None, False),  # set while pending
        (LOCKED_AT, START - timedelta(minutes=5), True),  # an expiry-date lock, no duration start: its completion
        (LOCKED_AT, START + timedelta(minutes=5), False),
        (LOCKED_AT, None, False),  # nothing to tell by: never taken for this resource's
    ],
)
def test_a_leftovers_lock_is_this_resources_only_if_set_once_the_snapshot_completed(
    info: dict[str, Any], completed_at: datetime | None, ours: bool
) -> None:
    assert locks.set_once_completed(info, completed_at) is ours
