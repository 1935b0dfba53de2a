"""Model-based test of snapshot locks and copies (issue 21): Hypothesis runs sequences of engine operations on locked
snapshots and on `SnapshotCopy` resources against the emulator in its strict EC2 mode, and after every step checks
what AWS holds against what the user is promised.

The engine is played in process, as in test_lifecycle_model.py: `check`, `diff`, then `create`, `update` or `delete`;
a replace creates the new resource first and deletes the old one after, and an old resource whose delete is refused
(its snapshot is locked) stays in state marked for deletion, tried again by every later engine run. The program can
declare an `EbsSnapshot` (`s`) and an `InstanceSnapshots` (`set`, three members), each with or without a `lock`
(governance or compliance, with or without a cooling-off period, a duration or an expiry date), and two copies of the
user's own snapshots: `copy-region` (to another region) and `copy-account` (to another account, through `role_arn`).

Two machines run it: `locks` (the snapshot resources, other users, the clock) and `copies` (the copies: they wait for
real, so they get fewer steps). Rules: create a snapshot resource; change its lock (extend, shorten, remove, change
mode; a change the preview refuses is given up, one EC2 refuses at `up` leaves state as it was); replace it (a new
description); destroy it; lock or unlock one of its snapshots from outside Pulumi (another user); let hours or days
pass (the emulator's clock: cooling-off periods and locks end); create, change (tags in place; source, description
or encryption: a replace) and destroy a copy; a copy whose CopySnapshot answer is lost; a copy EC2 fails; a copy cut
short by its timeout (completing later, or failed by EC2 later), then the retry, with the same inputs or others, and
its unshare denied or not (a run killed mid-copy leaves the share as a cut-short one does: nothing removes it).

Invariants, after every step:
1. A snapshot that was locked before a step is not gone after it (nobody deletes a locked snapshot).
2. Every snapshot state records exists (a resource in state, or a replaced one marked for deletion), in its account
   and region; and every snapshot in the places the model looks is, in exactly one way, the user's, recorded, or the
   leftover of a copy cut short: no orphan, no duplicated copy (also after a lost answer).
3. Nothing is deleted that is not this provider's: a snapshot that disappears in a step was recorded by a resource
   whose delete ran in that step (or its replacement's).
4. A destroy refused because of a lock deleted nothing (a set whole or not at all) and says which lock, until when; a
   refused lock change changed no lock in EC2 (mode and end as before); a successful one leaves each snapshot's lock
   as the inputs say.
5. The user's own shares stay; a share of ours (U3, which no one shared, copied to the other account) is always
   recorded on the source (a holder tag), and is left only while a copy of ours may still need it (a cut-short
   create's copy, pending until the next run adopts it) or while its removal was denied (the next run removes it).

The red-team findings once kept out of the generated paths are fixed and generated (tests in their modules, see
tests/suites/test_redteam_lock_frozen.py): RT-LF3 (a left copy is adopted only if made for the inputs as they are now:
the next `up` may change source, description or encryption), RT-LF4 (a set member locked outside Pulumi stops the
destroy first, whatever state declares), RT-LF5 (a compliance lock shortened by switching between `duration_days` and
`expires_at`: refused at preview, compared with the end state records), RT-LF6 (a copy EC2 failed, while the create
waits or after it was cut short: deleted, never adopted). Found by this model, fixed, tests at the end of this file:
MODEL-LC1 (a copy replaced within EC2's tag delay adopted the old copy), MODEL-LC2 (an unchanged encrypted copy was
replaced by every `up`).

Preconditions and strategies read only the machine's own model (what is in state, the clock steps taken), never the
emulator: Hypothesis replays choice sequences and needs the same draws from the same choices. A rule aimed at one
snapshot picks it by resource and member (a set's members in device order, not by EC2's random ids) and does nothing
when EC2 holds it otherwise than the rule needs (another user locks only an unlocked snapshot).

Profiles (`LIFECYCLE_MODEL_PROFILE`, as the other models): `ci` (the default: derandomized, no example database) and
`long` (more and longer sequences, random):
`LIFECYCLE_MODEL_PROFILE=long ./test.sh tests/suites/test_lock_copy_model.py` (`LIFECYCLE_MODEL_EXAMPLES=n` for another
number of examples, `LIFECYCLE_MODEL_SHRINK=0` for a failure as found). The figures are printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from lifecycle_harness import (
    HOME_ACCOUNT,
    OTHER_ACCOUNT,
    ROLES,
    Accounts,
    Inputs,
    Res,
    World,
    losing_one_answer,
    model_pace,
    new_provider_process,
    strict_world,
    urn,
)

from emulator import Ec2Emulator
from emulator import locks as emulated
from snapshot_provider import SnapshotCopyProvider
from snapshot_provider.core.copy_shares import HOLDER_PREFIX
from snapshot_provider.core.copying import SOURCE_TAG
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG, resource_token
from snapshot_provider.ec2.errors import SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.ec2.locks import SnapshotLocked
from snapshot_provider.inputs.lock import moment
from suite_figures import MODEL_FIGURES, ModelFigures
from testbed import REGION

__all__ = ["model_pace"]  # a fixture

PENDING = 0.2  # seconds a snapshot (and a copy) stays pending
TIMEOUT = 60  # a hang fails the step, not the CI job
OTHER_REGION = "eu-west-1"
HOUR, DAY = 3600.0, 86400.0
MAX_CLOCK_STEPS = 3  # cheap steps: bounded, so that the step budget goes to the others
MAX_DAYS_PASSED = 9  # the clock moves at most this far in an example: every `expires_at` below stays in the future

# Expiry dates are real dates (the preview checks them against the real clock; EC2 against its own, moved forward).
_NOW = datetime.now(UTC)
SOON = (_NOW + timedelta(days=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
NEAR = (_NOW + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
FAR = (_NOW + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
LOCKS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"mode": "governance", "duration_days": 1},
    {"mode": "governance", "duration_days": 30},
    {"mode": "governance", "expires_at": SOON},
    {"mode": "compliance", "duration_days": 1},
    {"mode": "compliance", "duration_days": 30},
    {"mode": "compliance", "duration_days": 30, "cool_off_hours": 1},
    {"mode": "compliance", "expires_at": FAR, "cool_off_hours": 1},
    {"mode": "compliance", "expires_at": NEAR},
    {"mode": "compliance", "expires_at": SOON},
)
DESCRIPTIONS = (None, "daily", "before-upgrade")
TAGS = st.dictionaries(st.sampled_from(("team", "env")), st.sampled_from(("x", "y")), max_size=1).map(
    lambda tags: tuple(sorted(tags.items()))
)

SNAPSHOT_RESOURCES = {
    r.label: r for r in (Res("s", "ebs", urn("EbsSnapshot", "s")), Res("set", "set", urn("InstanceSnapshots", "set")))
}
SOURCE = {"s": "A", "set": "all"}  # what each snapshots: volume A; the instance's three volumes


@dataclass(frozen=True)
class Destination:
    """Where a copy resource makes its copy: the account and region, and the inputs that say so."""

    account: str
    region: str
    role_arn: str | None

    def props(self) -> dict[str, Any]:
        return {"region": self.region, **({"role_arn": self.role_arn} if self.role_arn else {})}


COPY_RESOURCES = {
    "copy-region": Destination(HOME_ACCOUNT, OTHER_REGION, None),
    "copy-account": Destination(OTHER_ACCOUNT, REGION, ROLES["other"]),
}
PLACES = ((HOME_ACCOUNT, REGION), (HOME_ACCOUNT, OTHER_REGION), (OTHER_ACCOUNT, REGION))

_COMMON = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
# Per machine: a copy step waits for real (copies pending, a lost answer looked for, a timeout), a lock step hardly.
PROFILES = {
    "ci": {
        "locks": settings(_COMMON, max_examples=4, stateful_step_count=12, derandomize=True),
        "copies": settings(_COMMON, max_examples=3, stateful_step_count=10, derandomize=True),
    },
    "long": {
        "locks": settings(_COMMON, max_examples=40, stateful_step_count=40, derandomize=False),
        "copies": settings(_COMMON, max_examples=15, stateful_step_count=30, derandomize=False),
    },
}
PROFILE = os.environ.get("LIFECYCLE_MODEL_PROFILE", "ci")
EXAMPLES = os.environ.get("LIFECYCLE_MODEL_EXAMPLES")
SETTINGS = {
    family: settings(chosen, max_examples=int(EXAMPLES)) if EXAMPLES else chosen
    for family, chosen in PROFILES[PROFILE].items()
}
if os.environ.get("LIFECYCLE_MODEL_SHRINK") == "0":  # the first failing sequence as found (checking a break quickly)
    SETTINGS = {
        family: settings(chosen, phases=(Phase.explicit, Phase.generate)) for family, chosen in SETTINGS.items()
    }


@dataclass(frozen=True)
class Entry:
    """A snapshot resource in state: its id, checked inputs and outputs."""

    id: str
    inputs: dict[str, Any]
    outs: dict[str, Any]


@dataclass(frozen=True)
class CopyInputs:
    """What the program declares for a copy."""

    source: str  # U1, U2 (shared with the other account by the user) or U3 (shared by no one)
    description: str | None
    encrypted: bool
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CopyEntry:
    id: str
    inputs: dict[str, Any]
    outs: dict[str, Any]
    model: CopyInputs


@dataclass(frozen=True)
class Leftover:
    """A copy left by a cut-short create: its id, the inputs it was made for, and whether EC2 fails it later."""

    id: str
    inputs: CopyInputs
    fails: bool


@dataclass(frozen=True)
class Snap:
    """A snapshot as the emulator holds it, with its lock (mode, end, cooling-off end) if it has one."""

    tags: dict[str, str]
    state: str
    lock: tuple[str, float, float | None] | None
    locked: bool  # an active (not expired) lock


def held(emulator: Ec2Emulator) -> dict[str, Snap]:
    """Every snapshot in the places the model looks, read from the emulator's model (no API call)."""
    found = {}
    for account, region in PLACES:
        backend = emulator.ec2_backend(region, account)
        for s in list(backend.snapshots.values()):
            if s.from_ami:
                continue
            tags = {t["key"]: t["value"] for t in backend.describe_tags(filters={"resource-id": [s.id]})}
            lock = emulated.lock_of(s)
            shape = None if lock is None else (lock.mode, lock.expires_on(s), lock.cool_off_ends())
            found[s.id] = Snap(tags, s.status, shape, emulated.active_lock(s) is not None)
    return found


def expires(lock: dict[str, Any], anchor: float) -> float:
    """When a lock input ends (a duration counts from the snapshot's completion, `anchor`)."""
    if lock.get("duration_days") is not None:
        return anchor + lock["duration_days"] * DAY
    found = moment(lock["expires_at"])
    assert found is not None
    return found.timestamp()


class LockCopyModel(RuleBasedStateMachine):
    """The program, the engine's state and what other users do, driven by the rules; the emulator is AWS. Two
    machines: `locks` (the snapshot resources, other users, the clock) and `copies` (the copies)."""

    family = "locks"
    figures = ModelFigures()

    def __init__(self, emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        super().__init__()
        self.figures.examples += 1
        self.emulator = emulator
        strict_world(emulator, pending_seconds=PENDING)
        self.accounts = Accounts(emulator, monkeypatch, tmp)
        self.world = World.seed(emulator)
        self.user_ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)  # the other user's
        self.user = self._user_snapshots()  # U1, U2 -> id: the user's, shared with the other account; U3 not shared
        self.unshare_failed = False  # a copy-account copy of U3 ended, and removing its share was denied
        self.state: dict[str, Entry] = {}
        self.doomed: list[tuple[Res, Entry]] = []  # replaced, their delete refused by a lock: tried again each run
        self.copies: dict[str, CopyEntry] = {}
        self.copy_leftovers: dict[str, Leftover] = {}  # label -> the copy its cut-short create left
        self.deleted_on_purpose: set[str] = set()
        self.days_passed = 0.0
        self.clock_steps = 0
        self.interrupted = False
        self.before: dict[str, Snap] = held(emulator)
        self.step: tuple[str, float] | None = None

    def _user_snapshots(self) -> dict[str, str]:
        ec2 = self.user_ec2
        made = {}
        for name, volume in (("U1", "B"), ("U2", "d1"), ("U3", "d0")):
            sid = str(ec2.create_snapshot(VolumeId=self.world.volumes[volume])["SnapshotId"])
            self.emulator.age_snapshot(sid, seconds_ago=3600)  # completed
            self.emulator.settle()  # listed
            made[name] = sid
            if name == "U3":
                continue  # copy-account shares it for its copy, and records that (copy_shares)
            ec2.modify_snapshot_attribute(
                SnapshotId=sid, Attribute="createVolumePermission", OperationType="add", UserIds=[OTHER_ACCOUNT]
            )
        return made

    # --- snapshot resources with a lock ---------------------------------------------------------------------------
    @precondition(lambda self: self.family == "locks" and (len(self.state) < len(SNAPSHOT_RESOURCES)))
    @rule(data=st.data(), lock=st.sampled_from(LOCKS), description=st.sampled_from(DESCRIPTIONS))
    def create(self, data: st.DataObject, lock: dict[str, Any] | None, description: str | None) -> None:
        self._begin("create")
        label = data.draw(st.sampled_from(sorted(set(SNAPSHOT_RESOURCES) - set(self.state))), label="resource")
        res = SNAPSHOT_RESOURCES[label]
        checked = self._check(res, {}, self._props(res, description, lock))
        assert checked is not None, f"the preview refused a new {label} with lock {lock}"
        result = res.provider.create(checked)
        entry = Entry(str(result.id), checked, dict(result.outs or {}))
        self.state[label] = entry
        self._lock_is_as_declared(res, entry)
        note(f"{label} created: {sorted(self._ids(res, entry))} lock {lock}")
        self._outcome("created" + (f" with a {lock['mode']} lock" if lock else ""))

    @precondition(lambda self: self.family == "locks" and (self.state))
    @rule(data=st.data(), lock=st.sampled_from(LOCKS))
    def change_lock(self, data: st.DataObject, lock: dict[str, Any] | None) -> None:
        self._begin("change_lock")
        label = data.draw(st.sampled_from(sorted(self.state)), label="resource")
        res, old = SNAPSHOT_RESOURCES[label], self.state[label]
        old_lock = old.inputs.get("lock")
        if lock == old_lock:
            self._outcome("lock unchanged")
            return
        checked = self._check(res, old.inputs, self._props(res, old.inputs.get("description"), lock))
        diff = None
        if checked is not None:
            try:
                diff = res.provider.diff(old.id, old.outs, checked)
            except SnapshotProviderError as error:  # the preview's diff, judging with the end state records
                # shortened, or removed/changed where a compliance duration lock's end is only known from state
                assert str(error).startswith("lock: "), f"diff of {label}: {error}"
        expected = _preview_refuses(old_lock, lock, _recorded_end(old.outs))
        assert (diff is None) == expected, (
            f"preview of {label}'s lock {old_lock} -> {lock} (recorded end {_recorded_end(old.outs)}): refused "
            f"{diff is None}, expected {expected}"
        )
        if checked is None or diff is None:
            self._outcome("lock change refused at preview")
            return  # the user gives the change up
        assert diff.changes and not diff.replaces, f"diff of {label}'s lock {old_lock} -> {lock}: {diff}"
        ids = self._ids(res, old)
        now = held(self.emulator)
        refused = any(self._ec2_refuses(now[sid], sid, lock) for sid in ids)
        try:
            result = res.provider.update(old.id, old.outs, checked)
        except SnapshotProviderError as error:
            after = held(self.emulator)
            changed = {sid: (now[sid].lock, after[sid].lock) for sid in ids if now[sid].lock != after[sid].lock}
            assert not changed, f"a refused lock change of {label} ({error}) changed locks in EC2: {changed}"
            assert refused, f"lock change of {label} {old_lock} -> {lock} was refused: {error}"
            self._outcome("lock change refused at up")
            return
        assert not refused, f"lock change of {label} {old_lock} -> {lock} went through; EC2 should have refused it"
        entry = Entry(old.id, checked, dict(result.outs or {}))
        self.state[label] = entry
        self._lock_is_as_declared(res, entry)
        self._outcome("lock changed")

    @precondition(lambda self: self.family == "locks" and (self.state))
    @rule(data=st.data(), description=st.sampled_from(DESCRIPTIONS))
    def replace(self, data: st.DataObject, description: str | None) -> None:
        """A new description: a replace, the new snapshot(s) first; the old delete refused while locked."""
        self._begin("replace")
        label = data.draw(st.sampled_from(sorted(self.state)), label="resource")
        res, old = SNAPSHOT_RESOURCES[label], self.state[label]
        if description == old.inputs.get("description"):
            self._outcome("no change")
            return
        checked = self._check(res, old.inputs, self._props(res, description, old.inputs.get("lock")))
        assert checked is not None
        assert res.provider.diff(old.id, old.outs, checked).replaces, f"a new description of {label} must replace it"
        result = res.provider.create(checked)
        entry = Entry(str(result.id), checked, dict(result.outs or {}))
        self.state[label] = entry
        self._lock_is_as_declared(res, entry)
        if self._delete(res, old):
            self._outcome("replaced")
        else:
            self.doomed.append((res, old))
            self._outcome("replaced, the old delete refused by its lock")

    @precondition(lambda self: self.family == "locks" and (self.state))
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        self._begin("destroy")
        label = data.draw(st.sampled_from(sorted(self.state)), label="resource")
        if self._delete(SNAPSHOT_RESOURCES[label], self.state[label]):
            del self.state[label]
            self._outcome("destroyed")
        else:
            self._outcome("destroy refused by a lock")

    @precondition(lambda self: self.family == "locks" and (self.state))
    @rule(data=st.data(), member=st.integers(0, 2), days=st.sampled_from((1, 30)))
    def lock_outside_pulumi(self, data: st.DataObject, member: int, days: int) -> None:
        """Another user (an admin, a backup policy) locks one snapshot of a resource, in governance mode, if it is
        not locked (whatever the resource declares: a set without `lock` too)."""
        self._begin("lock_outside_pulumi")
        # Mostly a resource without `lock` (RT-LF4's case; the others' snapshots are locked until their locks end).
        unlocked = sorted(label for label, entry in self.state.items() if not entry.inputs.get("lock"))
        label = data.draw(st.sampled_from(unlocked or sorted(self.state)), label="resource")
        sid = self._member(SNAPSHOT_RESOURCES[label], self.state[label], member)
        if self.before[sid].locked:
            self._outcome("already locked: not locked outside Pulumi")
            return
        self._ec2().lock_snapshot(SnapshotId=sid, LockMode="governance", LockDuration=days)
        self._outcome("locked outside Pulumi")

    @precondition(lambda self: self.family == "locks" and (self.state or self.doomed))
    @rule(data=st.data(), member=st.integers(0, 2))
    def unlock_outside_pulumi(self, data: st.DataObject, member: int) -> None:
        """Another user unlocks one snapshot, of a resource or of a replaced one marked for deletion, if EC2 allows
        it (governance, or compliance in its cooling-off period)."""
        self._begin("unlock_outside_pulumi")
        targets = [(SNAPSHOT_RESOURCES[label], self.state[label]) for label in sorted(self.state)] + self.doomed
        res, entry = targets[data.draw(st.integers(0, len(targets) - 1), label="resource")]
        sid = self._member(res, entry, member)
        if not self.before[sid].locked or self._in_compliance(sid):
            self._outcome("not unlocked: unlocked, or in compliance mode")
            return
        self._ec2().unlock_snapshot(SnapshotId=sid)
        self._outcome("unlocked outside Pulumi")

    @precondition(
        lambda self: (
            self.family == "locks" and (self.days_passed + 3 <= MAX_DAYS_PASSED and self.clock_steps < MAX_CLOCK_STEPS)
        )
    )
    @rule(hours=st.sampled_from((2, 72)))
    def time_passes(self, hours: int) -> None:
        """Past a one-hour cooling-off period, or three days: past one-day locks and every cooling-off period."""
        self._begin("time_passes")
        self.emulator.advance_clock(hours * HOUR)
        new_provider_process()  # hours later: another engine run, its sessions made anew
        self.days_passed += hours / 24
        self.clock_steps += 1
        self._outcome(f"{hours} h passed")

    # --- copies -----------------------------------------------------------------------------------------------------
    @precondition(lambda self: self.family == "copies")
    @rule(
        data=st.data(),
        source=st.sampled_from(("U1", "U2", "U3")),
        description=st.sampled_from(DESCRIPTIONS),
        encrypted=st.booleans(),
        tags=TAGS,
        trouble=st.sampled_from(("none", "lost answer", "fails", "cut short", "cut short, fails later")),
    )
    def copy(
        self,
        data: st.DataObject,
        source: str,
        description: str | None,
        encrypted: bool,
        tags: tuple[tuple[str, str], ...],
        trouble: str,
    ) -> None:
        """Create a copy, or change one: tags in place; source, description or encryption by a replace (new first);
        after a cut-short create, the next `up` with the inputs changed or not. `trouble` (a create's): CopySnapshot's
        answer lost, the copy failed by EC2, or the create cut short by its timeout (once per example), the copy then
        completing or failed by EC2 later."""
        self._begin("copy")
        label = data.draw(st.sampled_from(sorted(COPY_RESOURCES)), label="copy")
        if (trouble.startswith("cut short") and self.interrupted) or label in self.copy_leftovers:
            trouble = "none"
        self._copy(label, CopyInputs(source, description, encrypted, tags), trouble)

    @precondition(lambda self: self.family == "copies" and (self.copy_leftovers))
    @rule(
        data=st.data(),
        tags=TAGS,
        change=st.sampled_from(("nothing", "description", "encryption")),
        unshare_denied=st.booleans(),
    )
    def retry_cut_short_copy(
        self, data: st.DataObject, tags: tuple[tuple[str, str], ...], change: str, unshare_denied: bool
    ) -> None:
        """The user runs the cut-short `up` again: as it was (tags may have changed), or with the same source and
        another description or encryption (the left copy is then not theirs to adopt: RT-LF3). `copy` changes any.
        `unshare_denied`: removing the source's share once the copy ended fails (ec2:ModifySnapshotAttribute denied,
        as with credentials that expired): the share stays recorded, for the next run of the copy or its destroy."""
        self._begin("retry_cut_short_copy")
        label = data.draw(st.sampled_from(sorted(self.copy_leftovers)), label="copy")
        inputs = dataclasses.replace(self.copy_leftovers[label].inputs, tags=tags)
        if change == "description":
            inputs = dataclasses.replace(inputs, description="after-cut" if inputs.description is None else None)
        elif change == "encryption":
            inputs = dataclasses.replace(inputs, encrypted=not inputs.encrypted)
        self._copy(label, inputs, "unshare denied" if unshare_denied else "none")

    @precondition(lambda self: self.family == "copies" and (self.copies))
    @rule(data=st.data())
    def destroy_copy(self, data: st.DataObject) -> None:
        self._begin("destroy_copy")
        label = data.draw(st.sampled_from(sorted(self.copies)), label="copy")
        entry = self.copies.pop(label)
        SnapshotCopyProvider().delete(entry.id, entry.outs)
        self._holding_ended(label, entry.model.source)
        self.deleted_on_purpose.add(entry.id)
        # MODEL-LC1 again: a create of this copy within EC2's delays would adopt the deleted copy (still listed, its
        # `recorded` tag not yet shown) and fail tagging it. The next run comes after the delays.
        self.emulator.settle()
        self._outcome("copy destroyed")

    # --- the engine -------------------------------------------------------------------------------------------------
    def _begin(self, rule_name: str) -> None:
        """A new engine run: first the replaced resources marked for deletion. (Its provider process is new after time
        passed, `time_passes`; between the other steps the provider's clients are kept: making them anew for each step
        took most of the model's time.)"""
        self.figures.steps[rule_name] += 1
        self.step = (rule_name, time.monotonic())
        self.deleted_on_purpose = set()
        doomed, self.doomed = self.doomed, []
        for res, entry in doomed:
            if not self._delete(res, entry):
                self.doomed.append((res, entry))

    def _props(self, res: Res, description: str | None, lock: dict[str, Any] | None) -> dict[str, Any]:
        props = self.world.props(res, Inputs(SOURCE[res.label], description, ()), TIMEOUT)
        return {**props, "lock": lock} if lock else props

    def _check(self, res: Res, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any] | None:
        result = res.provider.check(olds, news)
        if result.failures:
            assert all(f.property == "lock" for f in result.failures), result.failures
            return None
        return dict(result.inputs or {})

    def _ids(self, res: Res, entry: Entry) -> frozenset[str]:
        return frozenset(res.provider.kind.snapshot_ids(entry.id, entry.outs))

    def _delete(self, res: Res, entry: Entry) -> bool:
        """The resource's delete: refused, deleting nothing, exactly while one of its snapshots is locked."""
        ids = self._ids(res, entry)
        now = held(self.emulator)
        locked = sorted(sid for sid in ids if now[sid].locked)
        try:
            res.provider.delete(entry.id, entry.outs)
        except SnapshotProviderError as error:
            after = held(self.emulator)
            gone = sorted(ids - set(after))
            assert not gone, f"the delete of {res.label} failed ({error}) after deleting {gone}: not whole-or-nothing"
            assert locked, f"the delete of {res.label} failed though none of its snapshots is locked: {error}"
            assert all(sid in str(error) for sid in locked), f"the refused delete of {res.label} names no lock: {error}"
            # The locks are read first, whatever state declares (RT-LF4).
            assert isinstance(error, SnapshotLocked) and "until" in str(error), f"{res.label}: {error!r}"
            return False
        assert not locked, f"the delete of {res.label} succeeded; {locked} are locked"
        self.deleted_on_purpose |= ids
        return True

    def _ec2_refuses(self, snap: Snap, sid: str, lock: dict[str, Any] | None) -> bool:
        """Whether EC2 refuses making `sid`'s lock `lock` now (LockSnapshot, UnlockSnapshot; `emulator.locks`)."""
        if not snap.locked or snap.lock is None:
            return False
        mode, ends, cool_off_ends = snap.lock
        in_compliance = mode == "compliance" and (cool_off_ends is None or self._now() >= cool_off_ends)
        if not in_compliance:
            return False
        if not lock or lock["mode"] != "compliance" or lock.get("cool_off_hours"):
            return True
        anchor = self._duration_anchor(sid)
        return expires(lock, anchor) < ends

    def _duration_anchor(self, sid: str) -> float:
        backend = self.emulator.ec2_backend(REGION)
        lock = emulated.lock_of(backend.snapshots[sid])
        assert lock is not None
        return lock.duration_anchor

    def _now(self) -> float:
        from emulator import strict

        return strict.CLOCK.wall()

    def _lock_is_as_declared(self, res: Res, entry: Entry) -> None:
        """After a create or a lock change: each snapshot's lock in EC2 and in the outputs is the declared one."""
        lock = entry.inputs.get("lock")
        now = held(self.emulator)
        outputs = [entry.outs] if res.kind == "ebs" else sorted(entry.outs["snapshots"], key=lambda o: o["snapshot_id"])
        for sid, output in zip(sorted(self._ids(res, entry)), outputs, strict=True):
            snap = now[sid]
            if not lock:
                assert not snap.locked, f"{res.label}: {sid} is locked ({snap.lock}); its inputs declare no lock"
                continue
            assert snap.lock is not None and snap.lock[0] == lock["mode"], f"{sid}: {snap.lock}, declared {lock}"
            assert snap.lock[1] == expires(lock, self._duration_anchor(sid)), f"{sid}: {snap.lock}, declared {lock}"
            if snap.lock[1] <= self._now():  # shortened to a duration already over: the lock ended
                assert not snap.locked and output.get("lock_state") == "expired", f"{sid}: {snap}, outputs {output}"
                continue
            assert snap.locked, f"{sid}: {snap.lock} is not active; declared {lock}"
            expected_state = lock["mode"] + ("-cooloff" if lock.get("cool_off_hours") and self._cooling(sid) else "")
            assert output.get("lock_state") == expected_state, f"{res.label} outputs {output}, declared {lock}"

    def _cooling(self, sid: str) -> bool:
        lock = emulated.lock_of(self.emulator.ec2_backend(REGION).snapshots[sid])
        ends = lock.cool_off_ends() if lock is not None else None
        return ends is not None and self._now() < ends

    def _member(self, res: Res, entry: Entry, member: int) -> str:
        """The resource's `member`th snapshot (modulo its size), in an order EC2's random ids do not decide: a set's
        members by device, so that the same draws pick the same snapshot every time Hypothesis replays them."""
        if res.kind == "ebs":
            return entry.id
        members = sorted(entry.outs["snapshots"], key=lambda m: str(m["device_name"]))
        return str(members[member % len(members)]["snapshot_id"])

    def _in_compliance(self, sid: str) -> bool:
        snap = self.before[sid]
        assert snap.lock is not None
        return snap.lock[0] == "compliance" and (snap.lock[2] is None or self._now() >= snap.lock[2])

    def _ec2(self) -> Any:
        return self.user_ec2

    def _copy(self, label: str, inputs: CopyInputs, trouble: str) -> None:
        provider, dest = SnapshotCopyProvider(), COPY_RESOURCES[label]
        props: dict[str, Any] = {
            **dest.props(),
            "source_snapshot_id": self.user[inputs.source],
            "source_region": REGION,
            "encrypted": inputs.encrypted,
            "tags": dict(inputs.tags),
            "timeout": 1 if trouble.startswith("cut short") else TIMEOUT,
            "resource_urn": urn("SnapshotCopy", label),
            **({"description": inputs.description} if inputs.description else {}),
        }
        result = provider.check(self.copies[label].inputs if label in self.copies else {}, props)
        assert not result.failures, result.failures
        checked = dict(result.inputs or {})
        old = self.copies.get(label)
        if old is not None:
            diff = provider.diff(old.id, old.outs, checked)
            replaces = dataclasses.replace(old.model, tags=inputs.tags) != inputs
            assert bool(diff.replaces) == replaces, f"diff of {label} {old.model} -> {inputs}: {diff.replaces}"
            if not replaces:  # `trouble` is a create's
                updated = provider.update(old.id, old.outs, checked)
                self.copies[label] = CopyEntry(old.id, checked, dict(updated.outs or {}), inputs)
                self._holding_ended(label, inputs.source)
                self._outcome("copy updated in place" if old.model != inputs else "copy unchanged")
                return
        left = self.copy_leftovers.get(label)
        if left is not None:  # it completed meanwhile, or EC2 failed it
            self.emulator.age_snapshot(left.id, seconds_ago=2 * HOUR, account_id=dest.account, region=dest.region)
        copies_before = len(self.emulator.mutating_calls("CopySnapshot"))
        if trouble.startswith("cut short"):
            self.emulator.configure(copy_seconds=2 * HOUR)
        self.emulator.configure(fail_copies=trouble in ("fails", "cut short, fails later"))
        if trouble == "unshare denied":
            self.emulator.configure(denied_actions=["ModifySnapshotAttribute"])
        lost = losing_one_answer(self.emulator, "CopySnapshot", 1) if trouble == "lost answer" else None
        try:
            with lost if lost is not None else contextlib.nullcontext():
                created = provider.create(checked)
        except SnapshotTimedOut:
            assert trouble.startswith("cut short"), f"{label}: a copy timed out ({trouble})"
            [left_id] = [
                sid
                for sid, snap in held(self.emulator).items()
                if snap.tags.get(RESOURCE_TAG) == resource_token(urn("SnapshotCopy", label)) and snap.state == "pending"
            ]
            self.copy_leftovers[label] = Leftover(left_id, inputs, fails=trouble == "cut short, fails later")
            self.interrupted = True
            self._outcome("copy cut short")
            return
        except SnapshotProviderError as error:
            assert trouble == "fails", f"{label}: {error}"
            assert "pulumi up" in str(error), f"the failed copy of {label} does not say what to do: {error}"
            self._holding_ended(label, inputs.source)
            # The failed copy was deleted at once (the invariant finds it otherwise); state keeps what it had.
            self._outcome("copy failed" + (", the old one kept" if old else ""))
            return
        finally:
            self.emulator.configure(copy_seconds=None, fail_copies=False, denied_actions=[])
        assert not trouble.startswith("cut short"), "a copy pending for two hours completed within a second"
        assert trouble != "fails", f"{label}: a copy EC2 failed was recorded: {created.outs}"
        same_request = left is not None and left.inputs == dataclasses.replace(inputs, tags=left.inputs.tags)
        adopts = left is not None and same_request and not left.fails
        asked = len(self.emulator.mutating_calls("CopySnapshot")) - copies_before
        assert asked == (0 if adopts else 1), f"{label}: {asked} CopySnapshot calls for one copy (left: {left})"
        left_how = ""
        if left is not None:
            if adopts:
                assert created.id == left.id, f"{label} did not adopt the copy {left.id} left by a cut-short create"
                left_how = " by adopting the cut-short copy"
                del self.copy_leftovers[label]
            elif left.inputs.source == inputs.source:  # its own, never usable: deleted
                assert created.id != left.id, f"{label} adopted the copy {left} made for other inputs: {inputs}"
                assert left.id not in held(self.emulator), f"{label}'s unusable left copy {left} was not deleted"
                self.deleted_on_purpose.add(left.id)
                left_how = ", the cut-short copy deleted" + (" (failed)" if left.fails else " (other inputs)")
                del self.copy_leftovers[label]
            else:  # another source's: left for that source's create
                assert created.id != left.id, f"{label} adopted the copy {left} made from another source: {inputs}"
                left_how = ", the cut-short copy of another source kept"
        outs = dict(created.outs or {})
        assert (outs["account_id"], outs["region"], outs["state"]) == (dest.account, dest.region, "completed"), outs
        self.copies[label] = CopyEntry(str(created.id), checked, outs, inputs)
        if old is not None:  # a replace: the new copy first, then the old one's delete
            provider.delete(old.id, old.outs)
            self.deleted_on_purpose.add(old.id)
            self._holding_ended(label, old.model.source)
        self._holding_ended(label, inputs.source)
        if trouble == "unshare denied" and label == "copy-account" and inputs.source == "U3":
            self.unshare_failed = True
        self._outcome(
            ("copy replaced" if old else "copy created")
            + {"none": "", "lost answer": " through a lost answer", "unshare denied": ", its unshare denied"}[trouble]
            + left_how
        )

    def _holding_ended(self, label: str, source: str) -> None:
        """A step of copy-account about U3 that ended (the copy completed, failed, or was deleted) ends its holding."""
        if label == "copy-account" and source == "U3":
            self.unshare_failed = False

    def _outcome(self, what: str) -> None:
        self.figures.outcomes[what] += 1

    # --- invariants -------------------------------------------------------------------------------------------------
    @invariant()
    def aws_keeps_the_promises(self) -> None:
        now = held(self.emulator)
        gone = set(self.before) - set(now)
        locked_gone = sorted(sid for sid in gone if self.before[sid].locked)
        assert not locked_gone, f"locked snapshots {locked_gone} were deleted"
        unexplained = sorted(gone - self.deleted_on_purpose)
        assert not unexplained, f"{unexplained} were deleted, and no delete of a resource recording them ran"
        self._every_snapshot_accounted_for(now)
        self._no_share_of_ours_without_a_pending_copy(now)
        self.before = now
        if self.step is not None:
            self.figures.step_milliseconds[self.step[0]] += round(1000 * (time.monotonic() - self.step[1]))
            self.step = None

    def _every_snapshot_accounted_for(self, now: dict[str, Snap]) -> None:
        ways: dict[str, list[str]] = {sid: [] for sid in now}
        for name, sid in self.user.items():
            ways.setdefault(sid, []).append(f"the user's {name}")
        entries = [(SNAPSHOT_RESOURCES[label], e) for label, e in self.state.items()] + self.doomed
        for res, entry in entries:
            for sid in self._ids(res, entry):
                ways.setdefault(sid, []).append(f"recorded by {res.label}")
        for label, copy in self.copies.items():
            ways.setdefault(copy.id, []).append(f"recorded by {label}")
        for label, left in self.copy_leftovers.items():
            ways.setdefault(left.id, []).append(f"left by a cut-short create of {label}")
        for sid, how in ways.items():
            assert sid in now, f"{sid}, {how}, is gone"
            assert len(how) == 1, f"{sid} ({now[sid]}) is {how or 'nothing: an orphan or a duplicate'}"
        for label, copy in self.copies.items():
            dest = COPY_RESOURCES[label]
            backend = self.emulator.ec2_backend(dest.region, dest.account)
            assert copy.id in backend.snapshots, f"{label}'s copy {copy.id} is not in {dest}"
            assert now[copy.id].tags.get(SOURCE_TAG) == self.user[copy.model.source], now[copy.id]

    def _no_share_of_ours_without_a_pending_copy(self, now: dict[str, Snap]) -> None:
        """5. The user's shares (U1, U2) stay as they were; a share of ours (U3 with the other account) is always
        recorded on U3 (a holder tag), and is there only while a copy of ours may still need it (a cut-short create's
        copy pending, until the next run adopts it) or its removal was denied (recorded: the next run removes it)."""
        source = self.emulator.ec2_backend(REGION, HOME_ACCOUNT).snapshots
        for name in ("U1", "U2"):
            assert OTHER_ACCOUNT in source[self.user[name]].create_volume_permission_userids, f"the user's {name}"
            assert not _holders(now[self.user[name]]), f"the user's share of {name} taken for ours: {now}"
        u3 = self.user["U3"]
        shared = OTHER_ACCOUNT in source[u3].create_volume_permission_userids
        assert shared == bool(_holders(now[u3])), f"U3 shared: {shared}, its holders: {_holders(now[u3])}"
        left = self.copy_leftovers.get("copy-account")
        needed = (left is not None and left.inputs.source == "U3") or self.unshare_failed
        assert shared == needed, f"U3 shared: {shared}, yet needed: {needed} (left: {left})"


def _holders(snap: Snap) -> set[str]:
    return {key for key in snap.tags if key.startswith(HOLDER_PREFIX)}


def _recorded_end(outs: dict[str, Any]) -> float | None:
    """When the lock ends as state records it (`lock_expires_at`; a set's latest member)."""
    recorded = [outs.get("lock_expires_at")] + [m.get("lock_expires_at") for m in outs.get("snapshots") or []]
    ends = [found.timestamp() for value in recorded if value and (found := moment(value)) is not None]
    return max(ends, default=None)


def _preview_refuses(old: dict[str, Any] | None, new: dict[str, Any] | None, recorded_end: float | None) -> bool:
    """What the inputs and state show EC2 would refuse (docs/lock-and-copy.md): a compliance lock without a
    cooling-off period is compliance from the start, and can only be extended; "shortened" compares the ends of the
    two locks whichever form each takes, the old one's end as state records it."""
    if not old or old["mode"] != "compliance" or old.get("cool_off_hours"):
        return False
    if not new or new["mode"] != "compliance" or new.get("cool_off_hours"):
        return True
    both_days = old.get("duration_days") is not None and new.get("duration_days") is not None
    both_dates = old.get("expires_at") is not None and new.get("expires_at") is not None
    if both_days:
        return bool(new["duration_days"] < old["duration_days"])
    if both_dates:
        return expires(new, 0) < expires(old, 0)
    if recorded_end is None:
        return False  # a duration from a start state does not hold: EC2's end is checked at `up`
    if new.get("expires_at") is not None:
        return expires(new, 0) < recorded_end
    # From `expires_at` to days: the lock started by now (the preview's clock, the real one), so it ends by then.
    return bool(time.time() + new["duration_days"] * DAY < recorded_end)


@pytest.mark.parametrize("family", ["locks", "copies"])
def test_lock_copy_model(
    family: str, emulator: Ec2Emulator, model_pace: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    figures = MODEL_FIGURES.setdefault(f"lock and copy model: {family}", ModelFigures())
    machine = type(f"LockCopyModel_{family}", (LockCopyModel,), {"family": family, "figures": figures})
    # moto loads its catalogue of public AMIs into each new account and region (0.7 s each, three per example); the
    # model uses none of them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    started = time.monotonic()
    try:
        run_state_machine_as_test(lambda: machine(emulator, monkeypatch, tmp_path), settings=SETTINGS[family])
    finally:
        figures.seconds += time.monotonic() - started


def test_a_copy_replaced_right_after_its_create_is_a_new_copy(
    emulator: Ec2Emulator, model_pace: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    strict_world(emulator, pending_seconds=PENDING)  # EC2's tag delay, scaled down
    [volume] = emulator.seed_volumes(1)
    source = str(boto3.client("ec2", region_name=REGION).create_snapshot(VolumeId=volume)["SnapshotId"])
    emulator.age_snapshot(source, seconds_ago=HOUR)
    emulator.settle()
    provider = SnapshotCopyProvider()
    props = {"region": OTHER_REGION, "source_snapshot_id": source, "source_region": REGION, "tags": {}, "timeout": 60}
    props["resource_urn"] = urn("SnapshotCopy", "c")
    first = provider.create(dict(provider.check({}, props).inputs or {}))
    second = provider.create(dict(provider.check({}, {**props, "description": "again"}).inputs or {}))
    assert first.id != second.id, f"the replace adopted the copy {first.id} its old resource records"
    held = boto3.client("ec2", region_name=OTHER_REGION).describe_snapshots(SnapshotIds=[str(first.id)])["Snapshots"]
    assert held, f"the replace deleted the copy {first.id} its old resource records"


def test_an_unchanged_encrypted_copy_is_not_replaced(emulator: Ec2Emulator, volume_id: str) -> None:
    source = str(boto3.client("ec2", region_name=REGION).create_snapshot(VolumeId=volume_id)["SnapshotId"])
    provider = SnapshotCopyProvider()
    props = {"region": OTHER_REGION, "source_snapshot_id": source, "source_region": REGION, "encrypted": True}
    props |= {"timeout": 60, "resource_urn": urn("SnapshotCopy", "c")}
    checked = dict(provider.check({}, props).inputs or {})
    created = provider.create(checked)
    again = dict(provider.check(checked, props).inputs or {})
    assert not provider.diff(str(created.id), dict(created.outs or {}), again).replaces
