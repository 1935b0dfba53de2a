"""The retention planner: which of a series' snapshots to keep, archive or delete. Pure: no AWS, no clock.

The unit is a *point*: what one take of the series made (one snapshot of a volume, or the crash-consistent set
CreateSnapshots made of an instance). A set is kept, archived or deleted whole.

The rules, in the order they apply:

1. A `pending` point is kept as it is: not counted, not archived, not deleted.
2. A point in `error` is deleted: the series made it and it restores nothing.
3. Completed points are ranked newest first (by start time, then by key, so that ties fall the same way every time).
   The newest completed point is kept, in the standard tier, whatever the policy says: the series always has one
   point that restores at once.
4. Any other completed point is deleted when it is beyond `keep_last` or has reached `max_age_days` (both limits
   apply; either one deletes),
5. else archived when it has reached `archive_after_days` and is not archived yet,
6. else kept.
7. A point an AMI uses is neither deleted nor archived (EC2 refuses both while the AMI is registered): it is kept,
   and the plan says which action the AMI held back.
8. So is a point a VolumeRemoval's undo restores from (a member carries its hold, see `holds`): the removed volume
   comes back from it, and no volume can be made from an archived snapshot for days. Holds are planned here, not
   skipped later, so that a preview says what the `up` will do.

"Reached" includes equality: a point exactly 2 days old has reached `archive_after_days=2`. Ages count from the
point's start time; a start time after `now` (clock skew) counts as age 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Action = Literal["keep", "archive", "delete"]
State = Literal["pending", "completed", "error"]
Tier = Literal["standard", "archive"]

# AWS bills an archived snapshot for at least this long, even if it is deleted sooner.
ARCHIVE_MINIMUM = timedelta(days=90)


@dataclass(frozen=True)
class Snapshot:
    """One of the series' snapshots, as the planner needs it."""

    snapshot_id: str
    point: str  # which take made it: the members of an instance set share one
    started: datetime
    state: State
    tier: Tier = "standard"
    used_by: tuple[str, ...] = ()  # AMIs whose block device mappings name it
    held_for: str | None = None  # the removed volume whose undo restores from it


@dataclass(frozen=True)
class Point:
    """What one take made: a volume's snapshot, or an instance's set."""

    key: str
    started: datetime
    state: State
    tier: Tier = "standard"
    used_by: tuple[str, ...] = ()
    snapshot_ids: tuple[str, ...] = ()
    held_for: tuple[str, ...] = ()  # removed volumes whose undo restores from a member


@dataclass(frozen=True)
class Policy:
    """How long the series keeps its points. None: that limit does not apply."""

    keep_last: int | None = None
    max_age_days: float | None = None
    archive_after_days: float | None = None


@dataclass(frozen=True)
class Decision:
    point: Point
    action: Action
    reason: str
    # What the policy asked for when an AMI or an undo's hold held it back (the action is then "keep").
    held_back: Action | None = None


@dataclass(frozen=True)
class Plan:
    """One decision per point, newest first."""

    decisions: tuple[Decision, ...]

    def points(self, action: Action) -> list[Point]:
        return [d.point for d in self.decisions if d.action == action]

    @property
    def held_back(self) -> list[Decision]:
        return [d for d in self.decisions if d.held_back is not None]

    @property
    def changes(self) -> bool:
        return any(d.action != "keep" for d in self.decisions)


def points(snapshots: Iterable[Snapshot]) -> list[Point]:
    """Group snapshots by the take that made them. A set is `error` if any member is, `pending` if any member still
    is, archived only when every member is."""
    groups: dict[str, list[Snapshot]] = {}
    for s in snapshots:
        groups.setdefault(s.point, []).append(s)
    result = []
    for key, members in groups.items():
        states = {m.state for m in members}
        state: State = "error" if "error" in states else "pending" if "pending" in states else "completed"
        result.append(
            Point(
                key=key,
                started=min(m.started for m in members),
                state=state,
                tier="archive" if all(m.tier == "archive" for m in members) else "standard",
                used_by=tuple(sorted({ami for m in members for ami in m.used_by})),
                snapshot_ids=tuple(sorted(m.snapshot_id for m in members)),
                held_for=tuple(sorted({m.held_for for m in members if m.held_for})),
            )
        )
    return newest_first(result)


def newest_first(found: Iterable[Point]) -> list[Point]:
    return sorted(found, key=lambda p: (p.started, p.key), reverse=True)


def age_days(point: Point, now: datetime) -> float:
    return max(timedelta(0), now - point.started) / timedelta(days=1)


def plan(found: Sequence[Point], policy: Policy, now: datetime) -> Plan:
    """What the policy does to these points at `now` (see the module docstring for the rules)."""
    decisions = []
    rank = 0
    for point in newest_first(found):
        if point.state == "pending":
            decisions.append(Decision(point, "keep", "still pending"))
            continue
        if point.state == "error":
            decisions.append(_unless_needed(Decision(point, "delete", "ended in error: it restores nothing")))
            continue
        rank += 1
        decisions.append(_unless_needed(_completed(point, rank, policy, now)))
    return Plan(tuple(decisions))


def _completed(point: Point, rank: int, policy: Policy, now: datetime) -> Decision:
    if rank == 1:
        return Decision(point, "keep", "the newest completed snapshot: always kept, in the standard tier")
    age = age_days(point, now)
    if policy.keep_last is not None and rank > policy.keep_last:
        return Decision(
            point,
            "delete",
            f"{_ordinal(rank)} newest, beyond keep_last={policy.keep_last}" + _early(point, age, policy),
        )
    if policy.max_age_days is not None and age >= policy.max_age_days:
        return Decision(
            point,
            "delete",
            f"{age:.1f} days old, reached max_age_days={policy.max_age_days:g}" + _early(point, age, policy),
        )
    if policy.archive_after_days is not None and age >= policy.archive_after_days:
        if point.tier == "archive":
            return Decision(point, "keep", "archived")
        return Decision(
            point, "archive", f"{age:.1f} days old, reached archive_after_days={policy.archive_after_days:g}"
        )
    return Decision(point, "keep", f"{_ordinal(rank)} newest, {age:.1f} days old")


def _unless_needed(decision: Decision) -> Decision:
    """Keep a point an AMI uses or an undo restores from (rules 7 and 8), saying what the policy asked for."""
    point = decision.point
    if decision.action == "keep" or not (point.used_by or point.held_for):
        return decision
    if point.used_by:
        why = f"used by {', '.join(point.used_by)}: EC2 refuses to {decision.action} it while the AMI is registered"
    else:
        why = f"held by the removal of {', '.join(point.held_for)}, whose undo restores the volume from it"
    return Decision(point, "keep", f"{why} ({decision.reason})", held_back=decision.action)


def _early(point: Point, age: float, policy: Policy) -> str:
    """A note when deleting an archived point bills the rest of the archive tier's 90-day minimum."""
    if point.tier != "archive" or policy.archive_after_days is None:
        return ""
    archived_for = timedelta(days=max(0.0, age - policy.archive_after_days))
    if archived_for >= ARCHIVE_MINIMUM:
        return ""
    days = round(archived_for / timedelta(days=1))
    left = round((ARCHIVE_MINIMUM - archived_for) / timedelta(days=1))
    return f"; archived about {days} day{'' if days == 1 else 's'}, so AWS bills the remaining {left} of its 90"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plan_lines(plan: Plan) -> list[str]:
    """One line per point the plan changes or holds back, for previews and logs."""
    lines = []
    for d in plan.decisions:
        ids = ", ".join(d.point.snapshot_ids) or d.point.key
        if d.action != "keep":
            lines.append(f"{d.action} {ids}: {d.reason}")
        elif d.held_back is not None:
            lines.append(f"keep {ids}: {d.reason}")
    return lines
