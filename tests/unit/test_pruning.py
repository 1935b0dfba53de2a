"""The retention planner: points + policy + now -> keep / archive / delete, one table row per rule and boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapshot_provider.core.pruning import (
    Plan,
    Point,
    Policy,
    Snapshot,
    age_days,
    plan,
    plan_lines,
    points,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def point(
    key: str, days: float, state: Any = "completed", tier: Any = "standard", used_by: tuple[str, ...] = ()
) -> Point:
    return Point(key, NOW - timedelta(days=days), state, tier, used_by, (f"snap-{key}",))


def actions(result: Plan) -> dict[str, str]:
    return {d.point.key: d.action for d in result.decisions}


# Each row: the points (key, age in days[, state, tier, used_by]), the policy, and the action for each point.
CASES: list[tuple[str, list[Point], Policy, dict[str, str]]] = [
    ("empty series", [], Policy(keep_last=3, max_age_days=7, archive_after_days=1), {}),
    ("no limits keep everything", [point("a", 0), point("b", 400)], Policy(), {"a": "keep", "b": "keep"}),
    (
        "keep_last deletes beyond the count",
        [point("a", 0), point("b", 1), point("c", 2), point("d", 3)],
        Policy(keep_last=3),
        {"a": "keep", "b": "keep", "c": "keep", "d": "delete"},
    ),
    (
        "keep_last exactly met deletes nothing",
        [point("a", 0), point("b", 1), point("c", 2)],
        Policy(keep_last=3),
        {"a": "keep", "b": "keep", "c": "keep"},
    ),
    (
        "keep_last=1 keeps only the newest",
        [point("a", 0), point("b", 1)],
        Policy(keep_last=1),
        {"a": "keep", "b": "delete"},
    ),
    (
        "max_age: exactly the limit has reached it",
        [point("a", 0), point("b", 7), point("c", 7 - 1e-6)],
        Policy(max_age_days=7),
        {"a": "keep", "b": "delete", "c": "keep"},
    ),
    (
        "archive_after: exactly the limit is archived, just under is not",
        [point("a", 0), point("b", 2), point("c", 2 - 1e-6)],
        Policy(archive_after_days=2),
        {"a": "keep", "b": "archive", "c": "keep"},
    ),
    (
        "already archived is not archived again",
        [point("a", 0), point("b", 5, tier="archive")],
        Policy(archive_after_days=2),
        {"a": "keep", "b": "keep"},
    ),
    (
        "deletion wins over archiving",
        [point("a", 0), point("b", 1), point("c", 3)],
        Policy(keep_last=2, archive_after_days=2),
        {"a": "keep", "b": "keep", "c": "delete"},
    ),
    (
        "either limit deletes",
        [point("a", 0), point("b", 1), point("c", 10)],
        Policy(keep_last=5, max_age_days=7),
        {"a": "keep", "b": "keep", "c": "delete"},
    ),
    (
        "the newest completed is never deleted, even past max_age",
        [point("a", 30), point("b", 40)],
        Policy(keep_last=1, max_age_days=7),
        {"a": "keep", "b": "delete"},
    ),
    (
        "the newest completed stays in standard, even past archive_after",
        [point("a", 30)],
        Policy(archive_after_days=1),
        {"a": "keep"},
    ),
    (
        "pending is kept and not counted",
        [point("p", 0, state="pending"), point("a", 1), point("b", 2)],
        Policy(keep_last=1),
        {"p": "keep", "a": "keep", "b": "delete"},
    ),
    (
        "an old pending point is still only kept",
        [point("p", 50, state="pending"), point("a", 0)],
        Policy(keep_last=1, max_age_days=7, archive_after_days=1),
        {"p": "keep", "a": "keep"},
    ),
    (
        "error is deleted and not counted",
        [point("e", 0, state="error"), point("a", 1), point("b", 2)],
        Policy(keep_last=2),
        {"e": "delete", "a": "keep", "b": "keep"},
    ),
    (
        "all in error: all deleted, nothing is the newest completed",
        [point("e1", 0, state="error"), point("e2", 1, state="error")],
        Policy(keep_last=3),
        {"e1": "delete", "e2": "delete"},
    ),
    (
        "AMI-used point beyond keep_last is kept",
        [point("a", 0), point("b", 1), point("c", 2, used_by=("ami-1",))],
        Policy(keep_last=2),
        {"a": "keep", "b": "keep", "c": "keep"},
    ),
    (
        "AMI-used point is not archived either",
        [point("a", 0), point("b", 5, used_by=("ami-1",))],
        Policy(archive_after_days=2),
        {"a": "keep", "b": "keep"},
    ),
    (
        "an AMI-used point still counts in keep_last",
        [point("a", 0), point("b", 1, used_by=("ami-1",)), point("c", 2)],
        Policy(keep_last=2),
        {"a": "keep", "b": "keep", "c": "delete"},
    ),
    (
        "future start time (clock skew) counts as age 0",
        [point("a", -1), point("b", -0.5)],
        Policy(max_age_days=0.1, archive_after_days=0.01),
        {"a": "keep", "b": "keep"},
    ),
]


@pytest.mark.parametrize("case,found,policy,expected", CASES, ids=[c[0] for c in CASES])
def test_plan_applies_the_policy(case: str, found: list[Point], policy: Policy, expected: dict[str, str]) -> None:
    assert actions(plan(found, policy, NOW)) == expected, case


def test_ties_in_start_time_are_ordered_by_key_every_time() -> None:
    same = [point("b", 1), point("a", 1), point("c", 1), point("z", 0)]
    for order in (same, list(reversed(same))):
        result = plan(order, Policy(keep_last=2), NOW)
        # newest first: z (age 0), then the tie at age 1 by key, descending: c, b, a
        assert [d.point.key for d in result.decisions] == ["z", "c", "b", "a"]
        assert actions(result) == {"z": "keep", "c": "keep", "b": "delete", "a": "delete"}


def test_decisions_come_newest_first_and_say_why() -> None:
    result = plan([point("c", 3), point("a", 0), point("b", 2)], Policy(keep_last=2, archive_after_days=2), NOW)
    assert [d.point.key for d in result.decisions] == ["a", "b", "c"]
    reasons = {d.point.key: d.reason for d in result.decisions}
    assert "newest completed" in reasons["a"]
    assert "archive_after_days=2" in reasons["b"]
    assert "3rd newest, beyond keep_last=2" in reasons["c"]


def test_held_back_says_which_action_the_ami_prevented() -> None:
    result = plan([point("a", 0), point("b", 1, used_by=("ami-9", "ami-1"))], Policy(keep_last=1), NOW)
    [held] = result.held_back
    assert held.point.key == "b" and held.action == "keep" and held.held_back == "delete"
    assert "ami-9" in held.reason and "delete" in held.reason
    assert plan_lines(result) == [f"keep snap-b: {held.reason}"]


def test_deleting_an_archived_point_early_says_the_minimum_is_billed() -> None:
    result = plan(
        [point("a", 0), point("b", 1), point("c", 3, tier="archive")], Policy(keep_last=2, archive_after_days=2), NOW
    )
    [deleted] = [d for d in result.decisions if d.action == "delete"]
    assert "archived about 1 day, so AWS bills the remaining 89 of its 90" in deleted.reason


def test_plan_changes_is_false_when_everything_is_kept() -> None:
    assert plan([point("a", 0)], Policy(keep_last=1), NOW).changes is False
    assert plan([point("a", 0), point("b", 1)], Policy(keep_last=1), NOW).changes is True


def test_age_is_in_days_and_never_negative() -> None:
    assert age_days(point("a", 1.5), NOW) == pytest.approx(1.5)
    assert age_days(point("a", -2), NOW) == 0


# --- grouping snapshots into points -------------------------------------------------------------------------------
def snap(
    sid: str, key: str, minutes: int, state: Any = "completed", tier: Any = "standard", used_by: tuple[str, ...] = ()
) -> Snapshot:
    return Snapshot(sid, key, NOW - timedelta(minutes=minutes), state, tier, used_by)


def test_points_group_a_set_and_take_its_worst_state_and_earliest_start() -> None:
    [newer, older] = points(
        [
            snap("snap-2", "p1", 10),
            snap("snap-1", "p1", 11, state="pending", used_by=("ami-b",)),
            snap("snap-3", "p0", 60, state="completed", used_by=("ami-a",)),
            snap("snap-4", "p0", 60, state="error"),
        ]
    )
    assert (newer.key, newer.state, newer.snapshot_ids, newer.used_by) == (
        "p1",
        "pending",
        ("snap-1", "snap-2"),
        ("ami-b",),
    )
    assert newer.started == NOW - timedelta(minutes=11)
    assert (older.key, older.state) == ("p0", "error")


def test_a_set_is_archived_only_when_every_member_is() -> None:
    [partly] = points([snap("snap-1", "p", 0, tier="archive"), snap("snap-2", "p", 0)])
    [whole] = points([snap("snap-1", "p", 0, tier="archive"), snap("snap-2", "p", 0, tier="archive")])
    assert (partly.tier, whole.tier) == ("standard", "archive")


def test_a_set_is_kept_or_deleted_whole() -> None:
    found = points([snap("snap-1", "new", 0), snap("snap-2", "old", 60 * 24), snap("snap-3", "old", 60 * 24)])
    result = plan(found, Policy(keep_last=1), NOW)
    [deleted] = result.points("delete")
    assert deleted.snapshot_ids == ("snap-2", "snap-3")


def test_a_set_an_undo_holds_a_member_of_is_kept_whole_with_what_the_policy_asked() -> None:
    held = Snapshot("snap-3", "old", NOW - timedelta(days=3), "completed", held_for="vol-1")
    found = points([snap("snap-1", "new", 0), snap("snap-2", "old", 60 * 24 * 3), held])
    result = plan(found, Policy(keep_last=1, archive_after_days=1), NOW)
    [kept] = result.held_back
    assert (kept.point.snapshot_ids, kept.action, kept.held_back) == (("snap-2", "snap-3"), "keep", "delete")
    assert "held by the removal of vol-1" in kept.reason and not result.points("delete")
    assert plan_lines(result) == [f"keep snap-2, snap-3: {kept.reason}"]
