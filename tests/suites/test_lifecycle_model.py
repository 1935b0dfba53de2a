"""Model-based tests of the snapshot lifecycle: Hypothesis runs sequences of engine operations against the emulator,
and after every step checks that AWS and the engine's state agree.

The engine is played in process, the way Pulumi calls a dynamic provider: `check(old inputs, news)`, then
`diff(id, old outputs, checked news)`, then `create` / `update(id, old outputs, news)` / `delete(id, outputs)` /
`read(id, outputs)`; a replace creates the new resource and deletes the old one only once that create succeeded.
The model holds what the program declares (by URN: each name twice, at the top and under a component), what state
records (id, inputs, outputs), snapshots retained on purpose, creates that were interrupted, and snapshots deleted
outside Pulumi that no refresh has seen yet. Each rule is one engine run aimed at one resource (as
`pulumi up --target`), a `pulumi refresh`, or something done outside Pulumi:

- create; update_tags (in place); change_description and change_source (replace: another volume, or for a snapshot
  set other exclusions); forced_replace (`pulumi up --replace`, same inputs). Each replace in one of two orders:
  the old resource deleted right after the create, or (`deferred`) the engine crashed after the create, the old
  resource stays in state marked for deletion and the next engine run deletes it.
- crash_mid_wait: the create (or a replace's create) runs in a provider host process, SIGKILLed once the emulator
  has its CreateSnapshot(s); timeout_mid_wait: a 1 s timeout on a snapshot pending 1.5 s (SnapshotTimedOut). Both
  leave the snapshot, tagged with the resource and its attempt, and state as it was. Any later create of the
  resource adopts it when it can stand for the inputs, or else takes a new snapshot and keeps the leftover, reported
  (its tag cannot prove it is not another backend's stack's of the same name: see `snapshot_provider.core.lifecycle`);
  the model knows which. retry_interrupted runs the
  interrupted command again (tags may have changed); delete_leftover is the user deleting a leftover themselves. At
  most LIFECYCLE_MODEL_INTERRUPTIONS (2) crashes and timeouts per example: they are the slow steps.
- destroy (delete), destroy_retained (`retain_on_delete`: dropped from state, delete not called); delete_out_of_band
  (a snapshot, or one member of a set) then, later, refresh (read: a gone snapshot drops the resource; a set that
  lost a member keeps the rest and is replaced at its next update; an update before the refresh fails, saying so).

Invariants, after every step:
1. Every snapshot in the emulator is, in exactly one way, recorded by a resource in state (live, or a replaced one
   pending deletion), retained on purpose, or left by an interrupted create of a resource the program declares;
   and its resource tag names that resource.
2. No resource in state records a missing snapshot, except one deleted out of band that no refresh has seen yet.
3. AWS agrees with state: each recorded snapshot carries exactly the tags state records (the model copies no volume
   tags, so the managed keys are all the user tags), state's description, `attempt=recorded`, and is completed;
   state's tags are the program's; no two resources record the same snapshot.
4. A snapshot that existed before a step and is gone after it was deleted by the delete of the resource recording
   it, or by the model's user outside Pulumi: nothing else deletes anything (an interrupted create's leftover is
   adopted, or kept).

Profiles: `ci` (the default: derandomized, so every run tries the same sequences; no example database) and `long`
(more and longer sequences, random): `LIFECYCLE_MODEL_PROFILE=long ./test.sh tests/suites/test_lifecycle_model.py`.
The figures (examples, steps by rule, outcomes) are printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import boto3
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from lifecycle_harness import (
    CREATE_ACTIONS,
    RESOURCES,
    SOURCES,
    Inputs,
    ProviderHost,
    Res,
    Seen,
    World,
    aws_snapshots,
    environment_for,
    wait_until,
)

from emulator import Ec2Emulator
from snapshot_provider.core import waiting
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG
from snapshot_provider.ec2.errors import SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.inputs.rules import MANAGED_TAG_PREFIX
from suite_figures import LIFECYCLE_MODEL_FIGURES
from testbed import REGION

PENDING = 0.2  # seconds an ordinary snapshot stays pending
TIMEOUT_PENDING = 1.5  # against the shortest timeout the inputs allow (1 s)
MAX_INTERRUPTIONS = int(os.environ.get("LIFECYCLE_MODEL_INTERRUPTIONS", 2))  # crashes and timeouts per example
TIMEOUT = 60  # the timeout input of every other create: a hang fails the step, not the CI job

DESCRIPTIONS = (None, "daily", "before-upgrade")
TAGS = st.dictionaries(st.sampled_from(("team", "env")), st.sampled_from(("x", "y")), max_size=2).map(
    lambda tags: tuple(sorted(tags.items()))
)

# No example database (nothing written into the repository; a CI run depends on nothing but the code). Each step
# costs real waiting: shrink only the first failure found, and skip the explain phase's extra runs.
_COMMON = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
PROFILES = {
    "ci": settings(_COMMON, max_examples=12, stateful_step_count=20, derandomize=True),  # 25 took 113 s of CI
    "long": settings(_COMMON, max_examples=200, stateful_step_count=40, derandomize=False),
}
PROFILE = os.environ.get("LIFECYCLE_MODEL_PROFILE", "ci")

# The production schedule looks first after a second; the model's snapshots are pending for a fraction of that.
FAST_POLLING = waiting.PollPolicy(min_delay=0.05, max_delay=0.2, first_poll=0.05, calls_per_second=20)

FIGURES = LIFECYCLE_MODEL_FIGURES


@dataclass(frozen=True)
class Entry:
    """A resource in state: its id, checked inputs and outputs, and the model's inputs it was made with."""

    id: str
    inputs: dict[str, Any]
    outs: dict[str, Any]
    model: Inputs


@dataclass(frozen=True)
class Leftover:
    """The snapshots an interrupted create of a resource left, and the inputs that create had."""

    ids: frozenset[str]
    inputs: Inputs


def draw_one(data: st.DataObject, every: tuple[Any, ...], allowed: list[Any], label: str) -> Any:
    """One of `allowed`, drawn as a position in `every`: a choice keeps its meaning when shrinking removes an earlier
    step that changed what is allowed, so that removing it can succeed."""
    return data.draw(st.sampled_from(every).filter(lambda value: value in allowed), label=label)


class LifecycleModel(RuleBasedStateMachine):
    """The engine's state and the program, driven by the rules; the emulator, fresh for each example, is AWS."""

    def __init__(self, emulator: Ec2Emulator, host: ProviderHost, ec2: Any) -> None:
        super().__init__()
        FIGURES.examples += 1
        self.emulator, self.host = emulator, host
        self.ec2 = ec2  # the user's client, for what is done outside Pulumi
        emulator.reset()
        emulator.configure(pending_seconds=PENDING)
        self.world = World.seed(emulator)
        self.program: dict[str, Inputs] = {}  # label -> inputs the program declares
        self.state: dict[str, Entry] = {}  # label -> the resource in state
        self.doomed: list[tuple[Res, Entry]] = []  # replaced, marked for deletion by a crashed engine run
        self.retained: set[str] = set()
        self.leftovers: dict[str, Leftover] = {}
        self.out_of_band: set[str] = set()  # recorded snapshots deleted outside Pulumi, not yet refreshed
        self.deleted_on_purpose: set[str] = set()  # this step's
        self.before: dict[str, Seen] = {}
        self.interruptions = 0
        self.step: tuple[str, float] | None = None  # the rule running, and since when

    # --- choosing -----------------------------------------------------------------------------------------------
    def _pick(self, data: st.DataObject, labels: list[str]) -> Res:
        return RESOURCES[draw_one(data, tuple(RESOURCES), labels, "resource")]

    def _live(self) -> list[str]:
        return list(self.state)

    def _absent(self) -> list[str]:
        return [label for label in RESOURCES if label not in self.state]

    def _uninterrupted(self) -> list[str]:
        return [label for label in RESOURCES if label not in self.leftovers]

    def _may_interrupt(self) -> bool:
        # Interruptions are the slow rules (a second or two of waiting each, now or at the adoption): bounded per
        # example, so that the step budget goes to what follows them.
        return self.interruptions < MAX_INTERRUPTIONS and bool(self._uninterrupted())

    def _destroyable(self) -> list[str]:
        # A provider cannot see a create the engine no longer asks for: the model's user finishes or deletes an
        # interrupted create before removing the resource from the program.
        return [label for label in self.state if label not in self.leftovers]

    def _deletable_out_of_band(self) -> list[str]:
        return [label for label, e in self.state.items() if self._ids(RESOURCES[label], e) - self.out_of_band]

    # --- rules --------------------------------------------------------------------------------------------------
    @precondition(lambda self: self._absent())
    @rule(data=st.data(), description=st.sampled_from(DESCRIPTIONS), tags=TAGS)
    def create(self, data: st.DataObject, description: str | None, tags: tuple[tuple[str, str], ...]) -> None:
        self._begin("create")
        res = self._pick(data, self._absent())
        self._up(res, Inputs(data.draw(st.sampled_from(SOURCES[res.kind]), label="source"), description, tags))

    @precondition(lambda self: self._live())
    @rule(data=st.data(), tags=TAGS)
    def update_tags(self, data: st.DataObject, tags: tuple[tuple[str, str], ...]) -> None:
        self._begin("update_tags")
        res = self._pick(data, self._live())
        self._up(res, dataclasses.replace(self.state[res.label].model, tags=tags))

    @precondition(lambda self: self._live())
    @rule(data=st.data(), deferred=st.booleans())
    def change_description(self, data: st.DataObject, deferred: bool) -> None:
        self._begin("change_description")
        res = self._pick(data, self._live())
        base = self.state[res.label].model
        description = draw_one(data, DESCRIPTIONS, [d for d in DESCRIPTIONS if d != base.description], "description")
        self._up(res, dataclasses.replace(base, description=description), deferred=deferred)

    @precondition(lambda self: self._live())
    @rule(data=st.data(), deferred=st.booleans())
    def change_source(self, data: st.DataObject, deferred: bool) -> None:
        self._begin("change_source")
        res = self._pick(data, self._live())
        base = self.state[res.label].model
        source = draw_one(data, SOURCES[res.kind], [s for s in SOURCES[res.kind] if s != base.source], "source")
        self._up(res, dataclasses.replace(base, source=source), deferred=deferred)

    @precondition(lambda self: self._live())
    @rule(data=st.data(), deferred=st.booleans())
    def forced_replace(self, data: st.DataObject, deferred: bool) -> None:
        self._begin("forced_replace")
        res = self._pick(data, self._live())
        self._up(res, self.state[res.label].model, force_replace=True, deferred=deferred)

    @precondition(lambda self: self._may_interrupt())
    @rule(data=st.data(), description=st.sampled_from(DESCRIPTIONS), tags=TAGS)
    def crash_mid_wait(self, data: st.DataObject, description: str | None, tags: tuple[tuple[str, str], ...]) -> None:
        self._begin("crash_mid_wait")
        res = self._pick(data, self._uninterrupted())
        source = data.draw(st.sampled_from(SOURCES[res.kind]), label="source")
        self._up(res, Inputs(source, description, tags), force_replace=True, interruption="crash")

    @precondition(lambda self: self._may_interrupt())
    @rule(data=st.data(), description=st.sampled_from(DESCRIPTIONS), tags=TAGS)
    def timeout_mid_wait(self, data: st.DataObject, description: str | None, tags: tuple[tuple[str, str], ...]) -> None:
        self._begin("timeout_mid_wait")
        res = self._pick(data, self._uninterrupted())
        source = data.draw(st.sampled_from(SOURCES[res.kind]), label="source")
        self._up(res, Inputs(source, description, tags), force_replace=True, interruption="timeout")

    @precondition(lambda self: self.leftovers)
    @rule(data=st.data(), tags=TAGS)
    def retry_interrupted(self, data: st.DataObject, tags: tuple[tuple[str, str], ...]) -> None:
        """The user runs the interrupted command again (tags may have changed meanwhile): the leftover is adopted."""
        self._begin("retry_interrupted")
        res = self._pick(data, list(self.leftovers))
        inputs = dataclasses.replace(self.leftovers[res.label].inputs, tags=tags)
        self._up(res, inputs, force_replace=res.label in self.state)

    @precondition(lambda self: self._destroyable())
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        self._begin("destroy")
        res = self._pick(data, self._destroyable())
        del self.program[res.label]
        self._delete(res, self.state.pop(res.label))
        self._outcome("deleted")

    @precondition(lambda self: self._destroyable())
    @rule(data=st.data())
    def destroy_retained(self, data: st.DataObject) -> None:
        self._begin("destroy_retained")
        res = self._pick(data, self._destroyable())
        del self.program[res.label]
        entry = self.state.pop(res.label)
        self.retained |= self._ids(res, entry) - self.out_of_band
        self._outcome("retained")

    @precondition(lambda self: self._deletable_out_of_band())
    @rule(data=st.data())
    def delete_out_of_band(self, data: st.DataObject) -> None:
        self._begin("delete_out_of_band")
        res = self._pick(data, self._deletable_out_of_band())
        entry = self.state[res.label]
        if res.kind == "ebs":
            snapshot_id = entry.id
        else:  # one member of the set, named by its volume (snapshot ids differ from run to run)
            names = {self.world.volumes[name]: name for name in ("root", "d0", "d1")}
            members = {names[v]: sid for v, sid in entry.outs["snapshot_ids"].items() if sid not in self.out_of_band}
            snapshot_id = members[draw_one(data, ("root", "d0", "d1"), list(members), "member")]
        self.ec2.delete_snapshot(SnapshotId=snapshot_id)
        self.deleted_on_purpose.add(snapshot_id)
        self.out_of_band.add(snapshot_id)
        note(f"deleted {snapshot_id} of {res.label} outside Pulumi")
        self._outcome("deleted out of band")

    @precondition(lambda self: self.state)
    @rule()
    def refresh(self) -> None:
        self._begin("refresh")
        for label, entry in list(self.state.items()):
            res = RESOURCES[label]
            recorded = self._ids(res, entry)
            result = res.provider.read(entry.id, entry.outs)
            if not result.id:
                assert recorded <= self.out_of_band, f"read of {label} said {sorted(recorded)} are gone; they exist"
                del self.state[label]
                self._outcome("dropped by refresh")
                continue
            assert result.outs is not None
            read = Entry(result.id, entry.inputs, result.outs, entry.model)
            assert self._ids(res, read) == recorded - self.out_of_band, f"read of {label}: {result.outs}"
            assert read.outs["tags"] == entry.outs["tags"], f"read of {label} found tags drifted: {read.outs['tags']}"
            self.state[label] = read
        self.out_of_band.clear()

    @precondition(lambda self: self.leftovers)
    @rule(data=st.data())
    def delete_leftover(self, data: st.DataObject) -> None:
        self._begin("delete_leftover")
        res = self._pick(data, list(self.leftovers))
        for snapshot_id in sorted(self.leftovers.pop(res.label).ids):
            self.ec2.delete_snapshot(SnapshotId=snapshot_id)
            self.deleted_on_purpose.add(snapshot_id)
        self._outcome("leftover deleted by the user")

    # --- the engine ---------------------------------------------------------------------------------------------
    def _begin(self, rule_name: str) -> None:
        """A new engine run: first, what a crashed run left marked for deletion is deleted."""
        FIGURES.steps[rule_name] += 1
        self.step = (rule_name, time.monotonic())
        self.deleted_on_purpose = set()
        doomed, self.doomed = self.doomed, []
        for res, entry in doomed:
            self._delete(res, entry)
            note(f"deleted {entry.id}, the replaced {res.label} a crashed run left marked for deletion")

    def _up(
        self,
        res: Res,
        inputs: Inputs,
        *,
        force_replace: bool = False,
        deferred: bool = False,
        interruption: Literal["crash", "timeout"] | None = None,
    ) -> None:
        """`pulumi up --target` of one resource whose program now says `inputs`."""
        self.program[res.label] = inputs
        news = self.world.props(res, inputs, 1 if interruption == "timeout" else TIMEOUT)
        old = self.state.get(res.label)
        if old is None:
            created = self._create(res, inputs, self._check(res, {}, news), interruption)
            if created is not None:
                self.state[res.label] = created
            return
        checked = self._check(res, old.inputs, news)
        diff = res.provider.diff(old.id, old.outs, checked)
        replaces = (
            old.model.source != inputs.source
            or old.model.description != inputs.description
            or any(s.get("state") == "missing" for s in old.outs.get("snapshots") or [])
        )
        assert bool(diff.replaces) == replaces, f"diff of {res.label} to {inputs}: replaces {diff.replaces}"
        assert diff.changes == (replaces or old.model.tags != inputs.tags), f"diff of {res.label}: {diff.changes}"
        assert not diff.delete_before_replace
        if replaces or force_replace:
            new = self._create(res, inputs, checked, interruption)
            if new is None:
                return  # the old resource stays in state as it was
            self.state[res.label] = new
            if deferred:
                self.doomed.append((res, old))
                self._outcome("replaced, old deleted at the next run")
            else:
                self._delete(res, old)
                self._outcome("replaced")
        elif diff.changes:
            self._update(res, old, inputs, checked)
        else:
            self._outcome("no change")

    def _check(self, res: Res, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = res.provider.check(olds, news)
        assert not result.failures, f"check of {res.label} refused {news}: {result.failures}"
        assert result.inputs is not None
        return dict(result.inputs)

    def _create(
        self, res: Res, inputs: Inputs, checked: dict[str, Any], interruption: Literal["crash", "timeout"] | None
    ) -> Entry | None:
        """Create as the model expects it: a new snapshot, the adoption of what an interrupted create left, or a
        refusal that changes nothing in AWS. An interrupted create (only tried without a leftover) leaves one."""
        leftover = self.leftovers.get(res.label)
        adoptable = leftover is not None and (
            self.world.members(res, leftover.inputs.source) == self.world.members(res, inputs.source)
            and leftover.inputs.description == inputs.description
        )
        before = set(aws_snapshots(self.emulator))
        mark = len(self.emulator.calls())
        if interruption == "crash":
            self._crash(res, checked, mark)
            self._left(res, inputs, before, "crashed")
            return None
        self.emulator.configure(pending_seconds=TIMEOUT_PENDING if interruption == "timeout" else PENDING)
        try:
            result = res.provider.create(checked)
        except SnapshotTimedOut as timed_out:
            assert interruption == "timeout", f"create of {res.label} ({inputs}) timed out: {timed_out}"
            self._left(res, inputs, before, "timed out")
            assert all(sid in str(timed_out) for sid in self.leftovers[res.label].ids), str(timed_out)
            return None
        finally:
            self.emulator.configure(pending_seconds=PENDING)
        assert result.outs is not None
        entry = Entry(str(result.id), checked, dict(result.outs), inputs)
        ids = self._ids(res, entry)
        if leftover is not None and adoptable:
            assert ids == leftover.ids, f"create of {res.label} did not adopt {sorted(leftover.ids)}: {sorted(ids)}"
            del self.leftovers[res.label]
            self._outcome("created by adopting an interrupted create")
        elif leftover is not None:
            # It cannot stand for these inputs: a new snapshot, and the leftover kept (its resource tag, a hash of
            # the URN, cannot prove it is not another backend's stack's): the model's user deals with it later.
            assert not ids & before, f"create of {res.label} returned existing snapshots {sorted(ids & before)}"
            self._leftover_kept(res, leftover, mark)
            self._outcome("created, the interrupted create's leftover kept")
        else:
            assert not ids & before, f"create of {res.label} returned existing snapshots {sorted(ids & before)}"
            self._outcome("created")
        self._check_outputs(res, entry)
        note(f"{res.label} created: {sorted(ids)}")
        return entry

    def _leftover_kept(self, res: Res, leftover: Leftover, mark: int) -> None:
        deleted = {c.params.get("SnapshotId") for c in self.emulator.calls()[mark:] if c.action == "DeleteSnapshot"}
        assert not deleted & leftover.ids, (
            f"create of {res.label} deleted the leftover {sorted(deleted & leftover.ids)}"
        )

    def _crash(self, res: Res, checked: dict[str, Any], mark: int) -> None:
        """Kill the host once the emulator has its create call: the host looks at the snapshot first a second after
        starting it (the production schedule), so it is killed while it waits, whatever the pending time."""

        def reached_aws() -> bool:
            calls = self.emulator.calls()[mark:]
            return any(c.action == CREATE_ACTIONS[res.kind] and res.token in c.params.values() for c in calls)

        self.host.create_and_kill(res.provider, checked, reached_aws)

    def _left(self, res: Res, inputs: Inputs, before: set[str], how: str) -> None:
        """Record what an interrupted create left: a new snapshot of each member, tagged as this resource's and not
        recorded."""
        members = self.world.members(res, inputs.source)

        def left() -> dict[str, Seen]:
            now = aws_snapshots(self.emulator)
            return {sid: s for sid, s in now.items() if sid not in before and s.tags.get(RESOURCE_TAG) == res.token}

        wait_until(f"the snapshots of the {how} create of {res.label}", lambda: len(left()) == len(members), 10)
        found = left()
        assert {s.volume_id for s in found.values()} == members, f"{how} create of {res.label} left {found}"
        handed_over = [sid for sid, s in found.items() if s.tags.get(ATTEMPT_TAG) in (None, RECORDED)]
        assert not handed_over, f"{how} create of {res.label} was not interrupted: it handed over {handed_over}"
        self.leftovers[res.label] = Leftover(frozenset(found), inputs)
        self.interruptions += 1
        note(f"{how} create of {res.label} left {sorted(found)}")
        self._outcome(f"create {how}")

    def _update(self, res: Res, old: Entry, inputs: Inputs, checked: dict[str, Any]) -> None:
        gone = self._ids(res, old) & self.out_of_band
        try:
            result = res.provider.update(old.id, old.outs, checked)
        except SnapshotProviderError as failed:
            # No refresh has seen the deletion: the update fails, telling to refresh; state stays as it was.
            assert gone, f"update of {res.label} to {inputs} failed: {failed}"
            self._outcome("update failed: snapshot gone")
            return
        # A set that lost a member can have its remaining members' tags updated; a lone snapshot cannot.
        assert not gone or res.kind == "set", f"update of {res.label} succeeded; {sorted(gone)} are gone"
        assert result.outs is not None
        entry = Entry(old.id, checked, dict(result.outs), inputs)
        if not gone:
            self._check_outputs(res, entry)
        self.state[res.label] = entry
        self._outcome("updated in place")

    def _delete(self, res: Res, entry: Entry) -> None:
        res.provider.delete(entry.id, entry.outs)
        self.deleted_on_purpose |= self._ids(res, entry)

    def _outcome(self, what: str) -> None:
        FIGURES.outcomes[what] += 1

    def _ids(self, res: Res, entry: Entry) -> frozenset[str]:
        """The snapshots state records for the resource (what its delete deletes)."""
        return frozenset(res.provider.kind.snapshot_ids(entry.id, entry.outs))

    def _check_outputs(self, res: Res, entry: Entry) -> None:
        outs, inputs = entry.outs, entry.model
        assert outs["tags"] == inputs.tag_dict, f"{res.label} outputs tags {outs['tags']}, inputs {inputs}"
        assert outs.get("description") == inputs.description, f"{res.label} outputs {outs.get('description')!r}"
        members = self.world.members(res, inputs.source)
        if res.kind == "ebs":
            assert outs["state"] == "completed" and {outs["volume_id"]} == members, outs
        else:
            assert set(outs["snapshot_ids"]) == members, f"{res.label} outputs {outs['snapshot_ids']}"
            assert all(s["state"] == "completed" for s in outs["snapshots"]), outs["snapshots"]

    # --- invariants ---------------------------------------------------------------------------------------------
    @invariant()
    def state_and_aws_agree(self) -> None:
        now = aws_snapshots(self.emulator)
        entries = [(RESOURCES[label], e) for label, e in self.state.items()] + self.doomed
        recorded: dict[str, tuple[Res, Entry]] = {}
        for res, entry in entries:
            for sid in self._ids(res, entry):
                assert sid not in recorded, f"{sid} is recorded by both {recorded[sid][0].label} and {res.label}"
                recorded[sid] = (res, entry)
        self.out_of_band &= set(recorded)
        self._every_snapshot_accounted_for(now, recorded)
        self._no_recorded_snapshot_missing(now, recorded)
        self._aws_matches_state(now, entries)
        self._only_deliberate_deletes(now)
        self.before = now
        if self.step is not None:
            FIGURES.step_milliseconds[self.step[0]] += round(1000 * (time.monotonic() - self.step[1]))
            self.step = None

    def _every_snapshot_accounted_for(self, now: dict[str, Seen], recorded: dict[str, tuple[Res, Entry]]) -> None:
        left_by = {sid: label for label, left in self.leftovers.items() for sid in left.ids}
        for sid, seen in now.items():
            ways: list[tuple[str, Res | None]] = []
            if sid in recorded:
                ways.append((f"recorded by {recorded[sid][0].label}", recorded[sid][0]))
            if sid in self.retained:
                ways.append(("retained", None))
            if sid in left_by:
                ways.append((f"left by an interrupted create of {left_by[sid]}", RESOURCES[left_by[sid]]))
            assert len(ways) == 1, f"{sid} ({seen}) is {[w for w, _ in ways] or 'nothing: an orphan'}"
            [(way, owner)] = ways
            assert RESOURCE_TAG in seen.tags, f"{sid} has no resource tag: {seen}"
            if owner is not None:
                assert seen.tags[RESOURCE_TAG] == owner.token, f"{sid}, {way}, is tagged as another resource's"
            if sid in left_by:
                assert left_by[sid] in self.program, f"{sid}: the program no longer declares {left_by[sid]}"
        missing = (self.retained | set(left_by)) - set(now)
        assert not missing, f"retained or left snapshots {sorted(missing)} are gone"

    def _no_recorded_snapshot_missing(self, now: dict[str, Seen], recorded: dict[str, tuple[Res, Entry]]) -> None:
        missing = {sid: res.label for sid, (res, _) in recorded.items() if sid not in now}
        unexplained = {sid: label for sid, label in missing.items() if sid not in self.out_of_band}
        assert not unexplained, f"state records snapshots that are gone: {unexplained}"

    def _aws_matches_state(self, now: dict[str, Seen], entries: list[tuple[Res, Entry]]) -> None:
        for res, entry in entries:
            state_tags = entry.outs["tags"]
            assert state_tags == entry.model.tag_dict, f"{res.label}: state tags {state_tags}, program {entry.model}"
            for sid in self._ids(res, entry) & set(now):
                seen = now[sid]
                user_tags = {
                    k: v
                    for k, v in seen.tags.items()
                    if not k.startswith(MANAGED_TAG_PREFIX) and not k.lower().startswith("aws:")
                }
                assert user_tags == state_tags, f"{res.label}: {sid} has tags {user_tags}, state says {state_tags}"
                description = entry.outs.get("description") or ""
                assert seen.description == description, f"{res.label}: {sid} says {seen.description!r}"
                assert seen.tags.get(ATTEMPT_TAG) == RECORDED, f"{res.label}: {sid} is not marked recorded: {seen}"
                assert seen.state == "completed", f"{res.label}: {sid} is {seen.state}"
                assert seen.volume_id in self.world.members(res, entry.model.source), f"{res.label}: {seen}"

    def _only_deliberate_deletes(self, now: dict[str, Seen]) -> None:
        gone = set(self.before) - set(now)
        unexplained = gone - self.deleted_on_purpose
        assert not unexplained, (
            f"{sorted(unexplained)} were deleted in this step, and neither the delete of a resource recording them "
            "nor the user outside Pulumi deleted them"
        )


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pollers of this test look every 50 ms, through the provider's documented environment knobs (a poller is made
    per policy, so these get their own)."""
    knobs = {
        "SNAPSHOT_POLL_MIN_DELAY": FAST_POLLING.min_delay,
        "SNAPSHOT_POLL_MAX_DELAY": FAST_POLLING.max_delay,
        "SNAPSHOT_POLL_FIRST_LOOK": FAST_POLLING.first_poll,
        "SNAPSHOT_POLL_CALLS_PER_SECOND": FAST_POLLING.calls_per_second,
    }
    for name, value in knobs.items():
        monkeypatch.setenv(name, str(value))


def test_lifecycle_model(emulator: Ec2Emulator, fast_polling: None) -> None:
    host = ProviderHost(environment_for(emulator))
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    started = time.monotonic()
    try:
        run_state_machine_as_test(lambda: LifecycleModel(emulator, host, ec2), settings=PROFILES[PROFILE])
    finally:
        host.close()
        FIGURES.seconds += time.monotonic() - started
