"""Model-based tests of everything that deletes: Hypothesis writes programs and runs the engine over them against the
emulator in its strict EC2 mode, and after every step checks what AWS holds against what the user is promised.

The engine is played in process (`model_engine`): a whole program's `up`, `destroy` and `refresh`, each a new provider
process (`new_provider_process`), with a replace's create before its delete, deletes in parallel where the resources
do not depend on each other, and a replaced resource whose delete failed deleted first by the next run. The program
declares, per volume (an encrypted gp3 one with its KMS key, and a plain gp2 one):

- `snap-<volume>`: an `EbsSnapshot` that takes a snapshot (description, tags, copying the volume's tags or not);
- `imp-<volume>`: an `EbsSnapshot` that records one of the user's snapshots (`import_snapshot_id`);
- `series-<volume>`: a `SnapshotSeries` (trigger, `keep_last`, `max_age_days`, `archive_after_days`, tags);
- `rm-<volume>`: a `VolumeRemoval` restoring from one of those (their output: a dependency, as
  `ReversibleVolumeCleanup` declares it; or its id as a plain value: none) or from a user's snapshot;

each with access settings (`Access`: a role in the stack's account or another's, a profile acting in one or the other,
EC2's and STS's endpoints as inputs). Two machines run it: `removals` (snapshots, imports, removals) and `series`
(series, removals of their snapshots). Each rule is one thing a user does: change the program and run `up` (create,
change, replace, `--replace`, remove a resource, with `retain_on_delete`), `pulumi destroy`, `pulumi refresh`, refresh
or destroy with another account's credentials, take, archive or delete a snapshot outside Pulumi, let days pass, or an
`up` cut short: the provider host killed (a crash) or cancelled (Ctrl-C) mid-call, a take timing out, the answer to one
mutating call lost (`LostAnswer`, armed for the next run: CreateSnapshot, CreateTags, DeleteTags, DeleteSnapshot,
DeleteVolume, CreateVolume, ModifySnapshotTier, RestoreSnapshotTier).

Invariants, after every step (AWS as the emulator holds it, not as its lagging Describe* answers show it):
1. No snapshot this provider did not create is deleted: the user's (and so every imported one) outlive everything
   but the user's own delete.
2. A removed volume has a snapshot that outlives its undo: while a removal is in state (or its create was cut short
   after DeleteVolume), the volume is gone and its snapshot exists, held (`pulumi-snapshot:undo-for`) with the record.
3. One undo restores exactly one volume: never two volumes tagged as restored for one removal; once the undo is done,
   one, with the original's size, type, IOPS, throughput, zone, encryption, KMS key and tags.
4. State never drops a snapshot that still exists in its account (a refresh, with any credentials, under EC2's
   listing delays): a resource leaves state only through its delete, or a refresh of snapshots really gone.
5. A stack never gets stuck: every failure says what to do (`REMEDIES`, the things an error may tell a user to do),
   and at the end of each example the next `up` with the program as it is, then `destroy`, converge by doing only
   that; afterwards AWS holds the user's snapshots, what was retained and the leftovers kept for the user, every
   volume is back, nothing is held.
6. No orphaned or duplicated snapshot: each is the user's, recorded by a resource in state (or one marked for
   deletion), retained, left by an interrupted create of a resource the program declares, which its next `up`
   deals with, or such a leftover that create could not adopt, kept for the user (its resource tag, a hash of the URN,
   cannot prove it is not another backend's stack's: RT-1); a resource's successful create leaves none of its own
   behind. Nothing is ever made in another account.
Each run's outcome is also predicted (which steps fail, and how), and each change checked (a removal deletes its
volume and holds its snapshot, an update moves the hold, a series keeps what its policy says, an access setting in the
same account changes nothing in AWS).

What the model found in the product becomes a regression test of the module (MODEL-1: a series destroyed right after
its take left that snapshot, emulator/test_series.py); while a finding is open, the model does not generate its path,
with a comment naming it.

`RestoreVolumes` (the component that restores volumes with pulumi-aws) cannot run here: pulumi-aws's provider is not
available, so it is tested under Pulumi's mocks only (tests/unit/test_restore.py), and it is not part of this model.

Profiles: `ci` (the default: derandomized, so every run tries the same sequences; no example database) and `long`
(more and longer sequences, random): `LIFECYCLE_MODEL_PROFILE=long ./test.sh tests/suites/test_stack_model.py`
(`LIFECYCLE_MODEL_EXAMPLES=n` for another number of examples, `LIFECYCLE_MODEL_SHRINK=0` for a failure as found). The
figures (machines, steps by rule, outcomes) are printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from lifecycle_harness import (
    ACCESS_BACK,
    ACCESS_CHOICES,
    ANOTHER_IMPORT,
    FRESH_CREDENTIALS,
    HOME_ACCOUNT,
    OTHER_ACCOUNT,
    RECORDED_ACCOUNT,
    REFRESH,
    RESTORE_PERMANENTLY,
    RUN_AGAIN,
    UNDO_FIRST,
    WAIT_FOR_TIER,
    Access,
    Accounts,
    LostAnswer,
    ProviderHost,
    environment_for,
    losing_one_answer,
    model_pace,
    new_provider_process,
    remedy_for,
    strict_world,
    urn,
    wait_until,
)
from model_engine import Declared, Engine, Entry, Op, Run, Step

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, SnapshotSeriesProvider, VolumeRemovalProvider
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, SERIES_TAG, resource_token
from snapshot_provider.ec2.errors import AccountMismatch, SnapshotTimedOut
from snapshot_provider.ec2.undo_tags import HOLD_TAG, RESTORED_TAG, record_of
from suite_figures import MODEL_FIGURES, ModelFigures
from testbed import REGION

__all__ = ["model_pace"]  # a fixture

PENDING = 0.2  # seconds an ordinary snapshot stays pending
TIMEOUT = 60  # the timeout input: a hang fails the step, not the CI job
SHORT_TIMEOUT = 1  # against snapshots pending `SLOW_PENDING`: a take that times out
SLOW_PENDING = 1.5
KEY_ARN = f"arn:aws:kms:{REGION}:{HOME_ACCOUNT}:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
RESTORE_TIME = 72 * 3600.0  # the longest an archive restore takes (EBS user guide: 24 to 72 hours)
MAX_INTERRUPTIONS = int(os.environ.get("LIFECYCLE_MODEL_INTERRUPTIONS", 2))  # crashes, cancels, timeouts per example

PROVIDERS = {"snap": EbsSnapshotProvider(), "imp": EbsSnapshotProvider(), "rm": VolumeRemovalProvider()}
PROVIDERS["series"] = SnapshotSeriesProvider()
TYPES = {"snap": "EbsSnapshot", "imp": "EbsSnapshot", "rm": "VolumeRemoval", "series": "SnapshotSeries"}
Kind = Literal["snap", "imp", "rm", "series"]

DESCRIPTIONS = (None, "daily", "before-upgrade")
TAGS = st.dictionaries(st.sampled_from(("team", "env")), st.sampled_from(("x", "y")), max_size=2).map(
    lambda tags: tuple(sorted(tags.items()))
)
LOSABLE = (
    "CreateSnapshot",
    "CreateTags",
    "DeleteTags",
    "DeleteSnapshot",
    "DeleteVolume",
    "CreateVolume",
    "ModifySnapshotTier",
    "RestoreSnapshotTier",
)


@dataclass(frozen=True)
class VolumeSpec:
    """A volume of the world, as a removal must bring it back."""

    size: int
    zone: str
    volume_type: str
    tags: tuple[tuple[str, str], ...]
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None


VOLUMES = {
    "enc": VolumeSpec(20, f"{REGION}b", "gp3", (("Name", "db-data"), ("team", "storage")), 4000, 250, True, KEY_ARN),
    "plain": VolumeSpec(8, f"{REGION}a", "gp2", (("Name", "logs"),)),
}


# --- what the program declares ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """Where a removal's snapshot_id comes from: another resource's output (a dependency), or a plain value."""

    snapshot_id: str | None = None  # a plain value
    output_of: str | None = None  # a label: its id (EbsSnapshot) or its newest snapshot (SnapshotSeries)

    def __str__(self) -> str:
        return f"output of {self.output_of}" if self.output_of else f"value {self.snapshot_id}"


@dataclass(frozen=True)
class Decl:
    """One resource of the program, as the model's user wrote it."""

    kind: Kind
    vol: str
    volume_id: str
    access: Access = field(default_factory=Access)
    description: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    copy_volume_tags: bool = False
    import_snapshot_id: str | None = None
    source: Source = Source()
    trigger: int = 0
    keep_last: int | None = None
    max_age_days: float | None = None
    archive_after_days: float | None = None
    timeout: float = TIMEOUT
    retain_on_delete: bool = False

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (self.source.output_of,) if self.source.output_of else ()


def label_of(kind: Kind, vol: str) -> str:
    return f"{kind}-{vol}"


def kind_of(label: str) -> Kind:
    return label.split("-", 1)[0]  # type: ignore[return-value]


@dataclass
class Removal:
    """A volume this stack removed: as it was, and the snapshot its undo restores from."""

    vol: str
    volume_id: str
    spec: VolumeSpec
    snapshot_id: str
    recorded: bool  # False: the create was cut short after DeleteVolume (the next `up` finishes it)


@dataclass
class Seen:
    """A snapshot as the account holds it."""

    snapshot_id: str
    volume_id: str
    state: str
    tier: str
    start: datetime
    tags: dict[str, str]


# Every step draws the same whatever the state (integers of a fixed range, drawn with the rule): what AWS holds after
# a crash or a lost answer varies with timing, and Hypothesis refuses a test whose draws change shape between two runs
# of the same choices (`FlakyStrategyDefinition`).
CHOICE = st.integers(0, 15)


class Picks:
    """Choices drawn for a step before it runs (so that every step draws the same, whatever the state), used in
    order by `draw_one` and `draw_any`."""

    def __init__(self, choices: tuple[int, ...]) -> None:
        self._choices = list(choices)

    def next(self) -> int:
        return self._choices.pop(0)

    def __repr__(self) -> str:
        return f"Picks{tuple(self._choices)}"


PICKS = st.tuples(CHOICE, CHOICE).map(Picks)


def draw_one(data: Picks, every: tuple[Any, ...], allowed: list[Any], label: str) -> Any:
    """One of `allowed`, chosen as a position in `every` (a choice keeps its meaning while shrinking): the first
    allowed one from there on."""
    start = data.next() % len(every)
    found = next(v for v in (*every[start:], *every[:start]) if v in allowed)
    note(f"{label}: {found}")
    return found


def draw_any(data: Picks, options: list[Any], label: str) -> Any:
    """One of `options` (a non-empty list)."""
    found = options[data.next() % len(options)]
    note(f"{label}: {found}")
    return found


def only_when(condition: Callable[[Any], bool]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A rule that does nothing unless `condition` holds. Not a precondition: Hypothesis draws a step's rule among
    those whose preconditions hold, so a precondition on what earlier runs did (which varies with timing after a crash
    or a lost answer) makes the same choices pick different rules from one run to the next (`FlakyStrategyDefinition`).
    Only the machine's family is a precondition."""

    def decorate(rule_function: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(rule_function)
        def step(self: Any, *args: Any, **kwargs: Any) -> None:
            if condition(self):
                rule_function(self, *args, **kwargs)
            else:
                self.figures.outcomes["nothing to do"] += 1

        return step

    return decorate


class Crashed(Exception):
    """The provider host was killed mid-call: the engine run ended there."""


# --- the machine ---------------------------------------------------------------------------------------------------
Family = Literal["removals", "series"]


class StackModel(RuleBasedStateMachine):
    """A stack's program, the engine's state and the user's own snapshots, driven by the rules; the emulator, fresh for
    each example, is AWS."""

    family: Family = "removals"
    figures: ModelFigures = ModelFigures()

    def __init__(self, emulator: Ec2Emulator, host: ProviderHost, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        super().__init__()
        self.figures.examples += 1
        self.emulator, self.host = emulator, host
        strict_world(emulator, pending_seconds=PENDING)
        self.accounts = Accounts(emulator, monkeypatch, tmp)
        self.engine = Engine(emulator)
        self.volume_id = {vol: self._seed(spec) for vol, spec in VOLUMES.items()}
        self.spec_of = {self.volume_id[vol]: spec for vol, spec in VOLUMES.items()}
        self.program: dict[str, Decl] = {}
        self.user_snapshots: dict[str, str] = {}  # made outside Pulumi -> its volume's id
        self.user_deleted: set[str] = set()
        self.user_archived: set[str] = set()  # archived by the user: an undo source that must be restored first
        self.retained: set[str] = set()  # snapshots kept by retain_on_delete (a series': all it had)
        self.retained_series: set[str] = set()
        self.removals: dict[str, Removal] = {}  # vol -> its removal, while the volume is removed
        self.undone: dict[str, tuple[VolumeSpec, str]] = {}  # removed volume id -> (spec, restored volume id)
        self.interrupted: set[str] = set()  # labels whose create was cut short: leftovers the next up deals with
        # Leftovers a later create neither adopted nor deleted: kept and reported, as the resource tag (a hash of the
        # URN) cannot prove they are not another backend's stack's (RT-1); the user deletes them.
        self.kept_leftovers: set[str] = set()
        self.interruptions = 0
        self.lost: LostAnswer | None = None  # armed for the next run
        self.series_ids: dict[str, str] = {}  # series label -> its id, while in state
        self.before: dict[str, Seen] = {}
        self.step: tuple[str, float] | None = None

    # --- the world -------------------------------------------------------------------------------------------------
    def _seed(self, spec: VolumeSpec) -> str:
        backend = self.emulator.ec2_backend()
        volume = backend.create_volume(
            size=spec.size,
            zone_name=spec.zone,
            volume_type=spec.volume_type,
            iops=spec.iops,
            throughput=spec.throughput,
            encrypted=spec.encrypted,
            kms_key_id=spec.kms_key_id,
        )
        volume.add_tags(dict(spec.tags))
        return str(volume.id)

    def _ec2(self) -> Any:
        """The user's own EC2 client (the standard chain's credentials)."""
        return boto3.client("ec2", region_name=REGION, endpoint_url=self.emulator.url)

    def _snapshots(self, account: str = HOME_ACCOUNT) -> dict[str, Seen]:
        backend = self.emulator.ec2_backend(account_id=account)
        seen = {}
        for s in list(backend.snapshots.values()):
            if s.from_ami:
                continue
            start = s.start_time if isinstance(s.start_time, datetime) else datetime.fromisoformat(str(s.start_time))
            tags = dict(backend.tags.get(s.id, {}))
            seen[s.id] = Seen(s.id, s.volume.id, s.status, s.storage_tier, start, tags)
        return seen

    def _volumes(self, account: str = HOME_ACCOUNT) -> dict[str, Any]:
        return dict(self.emulator.ec2_backend(account_id=account).volumes)

    def _present(self, vol: str) -> bool:
        return vol not in self.removals

    # --- choosing ---------------------------------------------------------------------------------------------------
    def _labels(self, kinds: tuple[Kind, ...]) -> tuple[str, ...]:
        return tuple(label_of(k, v) for k in kinds for v in VOLUMES)

    def _pick(self, data: Picks, kinds: tuple[Kind, ...], allowed: list[str]) -> str:
        return str(draw_one(data, self._labels(kinds), allowed, "resource"))

    def _may_interrupt(self) -> bool:
        return self.interruptions < MAX_INTERRUPTIONS

    def _takers(self) -> tuple[Kind, ...]:
        return ("snap",) if self.family == "removals" else ("series",)

    def _sources(self, vol: str) -> list[Source]:
        """Usable or not, the snapshots of the volume as it is now that a removal could be given."""
        volume_id = self.volume_id[vol]
        found: list[Source] = []
        for kind in ("snap", "imp", "series"):
            entry = self.engine.state.get(label_of(kind, vol))  # type: ignore[arg-type]
            if entry is None or entry.label not in self.program or entry.label in self.interrupted:
                continue
            ids = self._recorded_by(entry)
            newest = entry.id if kind != "series" else entry.outs.get("snapshot_id")
            if newest and self._snapshot_volume(newest) == volume_id:
                found.append(Source(output_of=entry.label))
                found += [Source(snapshot_id=sid) for sid in sorted(ids) if self._snapshot_volume(sid) == volume_id]
        found += [
            Source(snapshot_id=sid)
            for sid, v in sorted(self.user_snapshots.items())
            if v == volume_id and sid not in self.user_deleted
        ]
        return found

    def _snapshot_volume(self, snapshot_id: str) -> str | None:
        seen = self._snapshots().get(snapshot_id)
        return seen.volume_id if seen else None

    # --- rules: the program -----------------------------------------------------------------------------------------
    @precondition(lambda self: self.family == "removals")
    @rule(data=PICKS, description=st.sampled_from(DESCRIPTIONS), tags=TAGS, copy=st.booleans())
    def take(self, data: Picks, description: str | None, tags: tuple[tuple[str, str], ...], copy: bool) -> None:
        """Declare an EbsSnapshot of a volume, or change it (tags in place; a description replaces it)."""
        allowed = [v for v in VOLUMES if self._present(v) or label_of("snap", v) in self.program]
        if not allowed:  # every volume removed, and nothing of this kind declared
            self._outcome("nothing to do")
            return
        vol = draw_one(data, tuple(VOLUMES), allowed, "volume")
        label = label_of("snap", vol)
        old = self.program.get(label)
        if old is None or not self._present(vol):
            base = old or Decl("snap", vol, self.volume_id[vol])
            new = dataclasses.replace(base, tags=tags, copy_volume_tags=copy if old is None else base.copy_volume_tags)
            if old is not None:  # the volume is removed: only what updates in place
                new = dataclasses.replace(new, description=old.description)
            else:
                new = dataclasses.replace(new, description=description)
        else:
            new = dataclasses.replace(old, description=description, tags=tags, volume_id=self.volume_id[vol])
        self._begin("take")
        self._declare(label, new)
        self._up_and_expect()

    @precondition(lambda self: self.family == "removals")
    @rule(data=PICKS)
    @only_when(lambda self: self._replaceable())
    def replace(self, data: Picks) -> None:
        """`pulumi up --replace` of a snapshot resource."""
        label = self._pick(data, ("snap", "imp"), self._replaceable())
        self._begin("replace")
        imported = self.program[label].import_snapshot_id
        refusals = {}
        if imported and self._managed(imported):  # held by a removal since: an import of it is refused, as a new one
            refusals[label] = ("managed by another Pulumi resource", ANOTHER_IMPORT)
        self._up_and_expect(refusals, replace=frozenset({label}))

    def _replaceable(self) -> list[str]:
        return [
            label
            for label in self.engine.state
            if kind_of(label) in ("snap", "imp")
            and label in self.program
            and (kind_of(label) == "imp" or self._current_volume(self.program[label]))
        ]

    def _current_volume(self, decl: Decl) -> bool:
        """Whether the declared volume exists: not removed, and not one an undo brought back under a new id."""
        return self._present(decl.vol) and decl.volume_id == self.volume_id[decl.vol]

    @precondition(lambda self: self.family == "removals")
    @rule(data=PICKS, tags=TAGS)
    @only_when(lambda self: self._importable())
    def import_snapshot(self, data: Picks, tags: tuple[tuple[str, str], ...]) -> None:
        """Declare an EbsSnapshot recording one of the user's snapshots, or point it at another (a replace: the old
        one is left, being the user's)."""
        choices = self._importable()
        snapshot_id = draw_one(data, tuple(sorted(self.user_snapshots)), choices, "snapshot")
        volume_id = self.user_snapshots[snapshot_id]
        vol = next(v for v, spec in VOLUMES.items() if self._original_id(volume_id, v))
        label = label_of("imp", vol)
        self._begin("import_snapshot")
        self.emulator.settle()  # the user picks a snapshot they can see, as it is (its tags) in the console
        self._declare(label, Decl("imp", vol, volume_id, tags=tags, import_snapshot_id=snapshot_id))
        managed = self._managed(snapshot_id)
        if managed:
            self._up_and_expect({label: ("managed by another Pulumi resource", ANOTHER_IMPORT)})
            self._revert(label)
        else:
            self._up_and_expect()

    def _importable(self) -> list[str]:
        return [sid for sid in self.user_snapshots if sid not in self.user_deleted and sid not in self.user_archived]

    def _original_id(self, volume_id: str, vol: str) -> bool:
        """Whether `volume_id` is (or was, before a removal and its undo) the volume `vol`."""
        if self.volume_id[vol] == volume_id:
            return True
        return any(
            restored == self.volume_id[vol] or self._original_id(restored, vol)
            for old, (_, restored) in self.undone.items()
            if old == volume_id
        )

    def _managed(self, snapshot_id: str) -> bool:
        tags = self._snapshots().get(snapshot_id)
        return tags is not None and any(k.startswith("pulumi-snapshot:") for k in tags.tags)

    @precondition(lambda self: self.family == "removals")
    @rule(data=PICKS)
    @only_when(lambda self: (self.engine.state) and (self._recorded_snapshots()))
    def import_managed_snapshot(self, data: Picks) -> None:
        """Declare an import of a snapshot another resource of this provider manages: refused, nothing changed."""
        choices = self._recorded_snapshots()
        snapshot_id = draw_one(data, tuple(sorted(choices)), list(choices), "snapshot")
        volume_id, vol = choices[snapshot_id]
        label = label_of("imp", vol)
        if label in self.program:
            return
        self._begin("import_managed_snapshot")
        self._declare(label, Decl("imp", vol, volume_id, import_snapshot_id=snapshot_id))
        self._up_and_expect({label: ("managed by another Pulumi resource|belongs to SnapshotSeries", ANOTHER_IMPORT)})
        self._revert(label)

    def _recorded_snapshots(self) -> dict[str, tuple[str, str]]:
        """Snapshots resources of this provider record -> their volume's id and the volume's name."""
        found = {}
        for label, entry in self.engine.state.items():
            if kind_of(label) in ("snap", "series") and label in self.program:
                for sid in self._recorded_by(entry):
                    volume_id = self._snapshot_volume(sid)
                    if volume_id:
                        found[sid] = (volume_id, self.program[label].vol)
        return found

    @precondition(lambda self: self.family == "series")
    @rule(
        data=PICKS,
        bump=st.booleans(),
        keep_last=st.sampled_from((None, 1, 2, 3)),
        max_age=st.sampled_from((None, 2.0, 5.0)),
        archive_after=st.sampled_from((None, 1.0, 3.0)),
        tags=TAGS,
    )
    def series(
        self,
        data: Picks,
        bump: bool,
        keep_last: int | None,
        max_age: float | None,
        archive_after: float | None,
        tags: tuple[tuple[str, str], ...],
    ) -> None:
        """Declare a SnapshotSeries of a volume, or change it: a new trigger (takes a snapshot), its policy, tags."""
        allowed = [v for v in VOLUMES if self._present(v) or label_of("series", v) in self.program]
        if not allowed:  # every volume removed, and nothing of this kind declared
            self._outcome("nothing to do")
            return
        vol = draw_one(data, tuple(VOLUMES), allowed, "volume")
        label = label_of("series", vol)
        if archive_after is not None and max_age is not None and archive_after >= max_age:
            archive_after = None
        old = self.program.get(label) or Decl("series", vol, self.volume_id[vol])
        takes = label not in self.program or (bump and self._present(vol))
        new = dataclasses.replace(
            old,
            trigger=old.trigger + (1 if takes and label in self.program else 0),
            keep_last=keep_last,
            max_age_days=max_age,
            archive_after_days=archive_after,
            tags=tags,
            volume_id=self.volume_id[vol] if self._present(vol) else old.volume_id,
        )
        self._begin("series")
        self._declare(label, new)
        self._up_and_expect()

    @precondition(lambda self: self.family == "series")
    @rule(days=st.sampled_from((1, 2, 4)))
    @only_when(lambda self: self.engine.state)
    def days_pass(self, days: int) -> None:
        """Days pass for every snapshot (and for EC2's clock: sessions end, archive restores finish)."""
        self._begin("days_pass")
        for seen in self._snapshots().values():
            self.emulator.age_snapshot(seen.snapshot_id, seen.start.replace(tzinfo=None) - timedelta(days=days))
        self.emulator.advance_clock(days * 86400)
        self._outcome(f"{days} days passed")

    @rule(data=PICKS)
    @only_when(lambda self: (self.engine.state or self.user_snapshots) and (self._removable()))
    def remove_volume(self, data: Picks) -> None:
        """Declare a VolumeRemoval of a volume (from a snapshot resource's output, or a snapshot id as a plain value),
        or point an existing one at another snapshot of the removed volume (the hold moves)."""
        vol = draw_one(data, tuple(VOLUMES), self._removable(), "volume")
        label = label_of("rm", vol)
        old = self.program.get(label)
        volume_id = old.volume_id if old else self.volume_id[vol]
        sources = self._sources(vol) if old is None else self._removed_sources(vol)
        source = draw_any(data, sources, "source")
        self._begin("remove_volume")
        self._declare(label, dataclasses.replace(old or Decl("rm", vol, volume_id), source=source))
        refusals = self._source_refusals(label)
        self._up_and_expect(refusals)
        if refusals:
            self._revert(label)

    def _removable(self) -> list[str]:
        found = []
        for vol in VOLUMES:
            label = label_of("rm", vol)
            if label in self.interrupted:
                continue
            new = label not in self.program and self._present(vol) and self._sources(vol)
            moved = label in self.engine.state and label in self.program and len(self._removed_sources(vol)) > 1
            if new or moved:
                found.append(vol)
        return found

    def _removed_sources(self, vol: str) -> list[Source]:
        removal = self.removals[vol]
        sources = []
        for kind in ("snap", "imp", "series"):
            entry = self.engine.state.get(label_of(kind, vol))  # type: ignore[arg-type]
            if entry is not None and entry.label in self.program:
                newest = entry.id if kind != "series" else entry.outs.get("snapshot_id")
                if newest and self._snapshot_volume(newest) == removal.volume_id:
                    sources.append(Source(output_of=entry.label))
        sources += [
            Source(snapshot_id=sid)
            for sid, v in sorted(self.user_snapshots.items())
            if v == removal.volume_id and sid not in self.user_deleted
        ]
        return sources

    def _source_refusals(self, label: str) -> dict[str, tuple[str, str]]:
        """A removal given an archived snapshot (the user archived it) is refused, saying to restore it first."""
        sid = self._source_id(self.program[label])
        entry = self.engine.state.get(label)
        unchanged = entry is not None and entry.outs.get("snapshot_id") == sid  # nothing to check: no change
        if sid in self.user_archived and not unchanged:
            return {label: ("is in the archive tier", RESTORE_PERMANENTLY)}
        return {}

    def _source_id(self, decl: Decl) -> str | None:
        if decl.source.snapshot_id:
            return decl.source.snapshot_id
        entry = self.engine.state.get(decl.source.output_of or "")
        if entry is None:
            return None
        return entry.id if kind_of(entry.label) != "series" else entry.outs.get("snapshot_id")

    @rule(data=PICKS, retain=st.booleans())
    @only_when(lambda self: self._undeclarable())
    def undeclare(self, data: Picks, retain: bool) -> None:
        """Remove a resource from the program (and what uses its output): `up` deletes it, or with `retain_on_delete`
        leaves what it made (a removal is always deleted: its delete is the undo)."""
        label = self._pick(data, ("snap", "imp", "series", "rm"), self._undeclarable())
        self._begin("undeclare")
        gone = [label] + [other for other, d in self.program.items() if label in d.depends_on]
        retained = [name for name in gone if retain and kind_of(name) != "rm"]
        for name in gone:
            self.program.pop(name)
        for name in retained:  # set in the program (and so in state by an up) before the resource is removed from it
            self.engine.state[name].retain_on_delete = True
        kept = {name: (self.engine.state[name].id, self._recorded_by(self.engine.state[name])) for name in retained}
        self._up_and_expect(self._delete_refusals(set(gone)))
        for name, (id_, ids) in kept.items():
            if name not in self.engine.state:
                self.retained |= ids
                if kind_of(name) == "series":
                    self.retained_series.add(id_)
                self._outcome("retained")

    def _undeclarable(self) -> list[str]:
        return [label for label in self.program if label in self.engine.state and label not in self.interrupted]

    def _delete_refusals(self, gone: set[str]) -> dict[str, tuple[str, str]]:
        """A delete that a hold stops (its snapshot is the undo source of a removal that stays), and an undo whose
        snapshot the user archived."""
        holding = {r.snapshot_id for vol, r in self.removals.items() if label_of("rm", vol) not in gone}
        refusals: dict[str, tuple[str, str]] = {}
        for label in gone:
            entry = self.engine.state.get(label)
            if entry is None or entry.retain_on_delete:
                continue
            if kind_of(label) in ("snap", "series") and self._recorded_by(entry) & holding:
                refusals[label] = ("held by the removal of", UNDO_FIRST)
            if kind_of(label) == "rm" and not self._restorable_from(entry.outs.get("snapshot_id")):
                refusals[label] = ("is in the archive tier", WAIT_FOR_TIER)
                refusals.update(
                    {
                        other: ("held by the removal of", UNDO_FIRST)
                        for other in gone
                        if other != label
                        and kind_of(other) in ("snap", "series")
                        and entry.outs.get("snapshot_id") in self._recorded_by(self.engine.state[other])
                    }
                )
        return refusals

    def _restorable_from(self, snapshot_id: str | None) -> bool:
        """Whether EC2 can make a volume from it now: in the standard tier, or restored from the archive (for good,
        or for a while that has not ended)."""
        snapshot = self.emulator.ec2_backend().snapshots.get(snapshot_id)
        return snapshot is None or snapshot.usable()

    @rule()
    @only_when(lambda self: self.engine.state and not self.interrupted)
    def destroy_stack(self) -> None:
        """`pulumi destroy`; then the user starts a new program."""
        self._begin("destroy_stack")
        refusals = self._delete_refusals(set(self.engine.state))
        run = self._run(lambda: self.engine.destroy())
        self._expect(run, refusals)
        self.program = {label: d for label, d in self.program.items() if label in self.engine.state}

    @rule()
    @only_when(lambda self: self.engine.state)
    def refresh(self) -> None:
        self._begin("refresh")
        self._refresh_and_check(self.accounts.environment_account)

    # --- rules: access and accounts ------------------------------------------------------------------------------
    @rule(data=PICKS, access=st.sampled_from(ACCESS_CHOICES))
    @only_when(lambda self: self._in_both())
    def change_access(self, data: Picks, access: Access) -> None:
        """New access settings on a resource: in the stack's account, an update that changes nothing in AWS; in
        another, refused (at preview for a role, at the update for a profile), naming both accounts."""
        label = self._pick(data, ("snap", "imp", "series", "rm"), self._in_both())
        self._begin("change_access")
        self._declare(label, dataclasses.replace(self.program[label], access=access))
        if access.acts_in(self.accounts.environment_account) != HOME_ACCOUNT:
            self._up_and_expect(
                {label: (f"{HOME_ACCOUNT}.*{OTHER_ACCOUNT}|{OTHER_ACCOUNT}.*{HOME_ACCOUNT}", ACCESS_BACK)}
            )
            self._revert(label)
            return
        mark = len(self.emulator.mutating_calls())
        run = self._up_and_expect()
        alone = all(s.op == "same" for s in run.steps if s.label != label)  # nothing else of the program changed
        if kind_of(label) in ("snap", "imp", "rm") and run.done(label, "update") and alone:
            changed = [c.action for c in self.emulator.mutating_calls()[mark:] if c.service == "ec2"]
            assert not changed, f"an access setting in the same account changed AWS: {changed}"

    def _in_both(self) -> list[str]:
        return [label for label in self.program if label in self.engine.state and label not in self.interrupted]

    @rule(data=PICKS, destroy=st.booleans())
    @only_when(lambda self: self.engine.state)
    def with_another_accounts_credentials(self, data: Picks, destroy: bool) -> None:
        """`pulumi refresh`, or a destroy of one resource, with credentials for another account: a resource whose
        settings act there is refused naming both accounts, and nothing changes, in AWS or in state."""
        self._begin("with_another_accounts_credentials")
        self.accounts.act_in(OTHER_ACCOUNT)
        try:
            if not destroy:
                self._refresh_and_check(OTHER_ACCOUNT)
                return
            if not self._undeclarable():
                return
            label = self._pick(data, ("snap", "imp", "series", "rm"), self._undeclarable())
            if set(self.program) != set(self.engine.state) or self.interrupted:
                return  # the up would also create or finish resources: this is about one delete
            if any(label in d.depends_on for d in self.program.values()):
                return  # its dependents would go too: this is about one delete
            entry = self.engine.state[label]
            elsewhere = self._acts_in(label) != HOME_ACCOUNT
            program = {name: d for name, d in self.program.items() if name != label and label not in d.depends_on}
            if not elsewhere:
                return  # its settings act in the stack's account whatever the environment: an ordinary delete
            if kind_of(label) == "imp":
                return  # an import's delete leaves its snapshot and calls no AWS API: nothing to refuse
            before = self._snapshots()
            run = self._run(lambda: self.engine.up(self._declared(program)), expect_changes=False)
            self._expect(run, {label: ("refusing to delete", RECORDED_ACCOUNT)})
            assert self.engine.state.get(label) is entry, f"{label} left state though its delete was refused"
            assert set(self._snapshots()) >= set(before), "a refused delete deleted snapshots"
        finally:
            self.accounts.act_in(HOME_ACCOUNT)

    def _acts_in(self, label: str) -> str:
        decl = self.program.get(label)
        access = decl.access if decl else Access()
        return access.acts_in(self.accounts.environment_account)

    def _refresh_and_check(self, environment: str) -> None:
        before = {label: set(self._recorded_by(e)) for label, e in self.engine.state.items()}
        new_provider_process()  # `pulumi refresh` starts one too: sessions from earlier runs may have expired since
        run = self.engine.refresh()
        for step in run.steps:
            decl = self.program.get(step.label)
            elsewhere = (decl.access if decl else Access()).acts_in(environment) != HOME_ACCOUNT
            if elsewhere:
                assert isinstance(step.error, AccountMismatch), f"refresh of {step.label} elsewhere: {step}"
                assert HOME_ACCOUNT in str(step.error) and environment in str(step.error), str(step.error)
                assert remedy_for(step.error) is not None, str(step.error)
            else:
                assert step.ok, f"refresh: {step}"
        now = self._snapshots()
        for label, ids in before.items():
            if label not in self.engine.state:
                alive = ids & set(now)
                assert not alive, f"refresh dropped {label} from state; its {sorted(alive)} exist"
            else:
                kept = set(self._recorded_by(self.engine.state[label]))
                lost = (ids - kept) & set(now)
                assert not lost or kind_of(label) == "series", f"refresh of {label} dropped {sorted(lost)}"
        self._outcome("refreshed" if not run.failures else "refresh refused elsewhere")

    # --- rules: outside Pulumi ----------------------------------------------------------------------------------
    @rule(data=PICKS)
    @only_when(lambda self: any(self._present(v) for v in VOLUMES))
    def user_takes_snapshot(self, data: Picks) -> None:
        """The user takes a snapshot of a volume outside Pulumi (the console, AWS Backup)."""
        vol = draw_one(data, tuple(VOLUMES), [v for v in VOLUMES if self._present(v)], "volume")
        self._begin("user_takes_snapshot")
        ec2, volume_id = self._ec2(), self.volume_id[vol]

        def request() -> str | None:
            try:
                made = ec2.create_snapshot(
                    VolumeId=volume_id,
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "owner", "Value": "user"}]}],
                )
            except ClientError as error:  # EC2's per-volume limits: the user tries again
                if error.response["Error"]["Code"] in ("SnapshotCreationPerVolumeRateExceeded",):
                    return None
                raise
            return str(made["SnapshotId"])

        snapshot_id = _poll(request, 30, every=0.1)
        assert snapshot_id is not None, f"EC2 kept refusing the user's snapshot of {volume_id}"
        self.user_snapshots[snapshot_id] = volume_id
        wait_until(f"the user's {snapshot_id} to complete", lambda: self._snapshots()[snapshot_id].state == "completed")
        self._outcome("the user took a snapshot")

    @rule(data=PICKS)
    @only_when(lambda self: self._user_deletable())
    def user_deletes_snapshot(self, data: Picks) -> None:
        """The user deletes one of their snapshots (never one held: it says what it is for)."""
        snapshot_id = draw_one(data, tuple(sorted(self.user_snapshots)), self._user_deletable(), "snapshot")
        self._begin("user_deletes_snapshot")
        self._as_the_user(lambda ec2: ec2.delete_snapshot(SnapshotId=snapshot_id))
        self.user_deleted.add(snapshot_id)
        self._outcome("the user deleted a snapshot")

    def _as_the_user(self, call: Callable[[Any], Any]) -> None:
        """A call of the user's on a snapshot they took, tried again while EC2 does not know it yet (the strict
        mode's listing delay: a new snapshot's id is `NotFound` for a few seconds, as the console would show it)."""
        ec2 = self._ec2()

        def attempt() -> str | None:
            try:
                call(ec2)
            except ClientError as error:
                if error.response["Error"]["Code"] == "InvalidSnapshot.NotFound":
                    return None
                raise
            return "done"

        assert _poll(attempt, 30, every=0.1), "EC2 kept saying the user's snapshot does not exist"

    def _user_deletable(self) -> list[str]:
        held = {r.snapshot_id for r in self.removals.values()}
        imported = {d.import_snapshot_id for d in self.program.values()}
        return [
            sid
            for sid in self.user_snapshots
            if sid not in self.user_deleted and sid not in held and sid not in imported
        ]

    @rule(data=PICKS)
    @only_when(
        lambda self: (set(self.user_snapshots) - self.user_deleted - self.user_archived) and (self._user_archivable())
    )
    def user_archives_snapshot(self, data: Picks) -> None:
        """The user archives one of their snapshots, even one an undo restores from (EC2 allows it)."""
        snapshot_id = draw_one(data, tuple(sorted(self.user_snapshots)), self._user_archivable(), "snapshot")
        self._begin("user_archives_snapshot")
        self._as_the_user(lambda ec2: ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive"))
        self.user_archived.add(snapshot_id)
        self._outcome("the user archived a snapshot")

    def _user_archivable(self) -> list[str]:
        return [
            sid
            for sid in self.user_snapshots
            if sid not in self.user_deleted and sid not in self.user_archived and self._snapshot_completed(sid)
        ]

    def _snapshot_completed(self, snapshot_id: str) -> bool:
        seen = self._snapshots().get(snapshot_id)
        return seen is not None and seen.state == "completed"

    # --- rules: runs cut short ------------------------------------------------------------------------------------
    @rule(action=st.sampled_from(LOSABLE), nth=st.integers(1, 2))
    @only_when(lambda self: self.lost is None)
    def lose_an_answer(self, action: str, nth: int) -> None:
        """The next run loses the answer to the `nth` call of `action` (it is carried out): nothing may change."""
        self.lost = LostAnswer(action, nth)
        self.figures.steps["lose_an_answer"] += 1

    @rule(data=PICKS, how=st.sampled_from(("crash", "cancel")))
    @only_when(lambda self: self._may_interrupt() and self._takeable())
    def interrupt_a_take(self, data: Picks, how: str) -> None:
        """An `up` that takes a snapshot (a new resource, a replace, a series' new trigger), its provider host killed
        or cancelled (Ctrl-C) once the snapshot was requested: the snapshot is left, for the next `up` to adopt."""
        label = self._pick(data, self._takers(), self._takeable())
        self._begin("interrupt_a_take")
        decl = self.program.get(label) or Decl(kind_of(label), label.split("-", 1)[1], "")
        vol = decl.vol
        if kind_of(label) == "series":
            new = dataclasses.replace(decl, trigger=decl.trigger + 1, volume_id=self.volume_id[vol])
        else:
            new = dataclasses.replace(decl, volume_id=self.volume_id[vol])
        self._declare(label, new)
        replace = frozenset({label}) if kind_of(label) == "snap" and label in self.engine.state else frozenset()
        op: Op = "update" if kind_of(label) == "series" and label in self.engine.state else "create"
        action = "CreateSnapshot"
        self._interrupted_run(label, op, action, how, replace=replace)

    def _takeable(self) -> list[str]:
        return [
            label_of(k, v)
            for k in self._takers()
            for v in VOLUMES
            if self._present(v) and label_of(k, v) not in self.interrupted and label_of("rm", v) not in self.program
        ]

    @precondition(lambda self: self.family == "series")
    @rule(data=PICKS)
    @only_when(lambda self: self._may_interrupt() and self._takeable())
    def take_times_out(self, data: Picks) -> None:
        """A series' new trigger with a timeout shorter than the snapshot takes: it is left, tagged, for the next
        take (which adopts it, or takes a new one and then deletes it)."""
        label = self._pick(data, ("series",), self._takeable())
        self._begin("take_times_out")
        decl = self.program.get(label) or Decl("series", label.split("-", 1)[1], "")
        vol = decl.vol
        trigger = decl.trigger + (1 if label in self.program else 0)
        self._declare(
            label, dataclasses.replace(decl, trigger=trigger, volume_id=self.volume_id[vol], timeout=SHORT_TIMEOUT)
        )
        self.emulator.configure(pending_seconds_by_volume={self.volume_id[vol]: SLOW_PENDING})
        try:
            run = self._run(lambda: self.engine.up(self._declared(self.program)))
        finally:
            self.emulator.configure(pending_seconds_by_volume={})
        self.program[label] = dataclasses.replace(self.program[label], timeout=TIMEOUT)
        [step] = [s for s in run.steps if s.label == label and s.op in ("create", "update")]
        assert isinstance(step.error, SnapshotTimedOut), f"{label}'s take with a 1 s timeout: {step}"
        assert remedy_for(step.error) is not None, str(step.error)
        self._expect(run, {label: ("still pending", RUN_AGAIN)})
        self.interrupted.add(label)
        self.interruptions += 1
        self._outcome("take timed out")

    @rule(data=PICKS)
    @only_when(
        lambda self: (self._may_interrupt() and (self.engine.state or self.user_snapshots)) and (self._removable_now())
    )
    def crash_mid_removal(self, data: Picks) -> None:
        """A removal's create, its host killed once it asked EC2 to delete the volume: the next `up` finishes it
        from the restore record on the snapshot."""
        vol = draw_one(data, tuple(VOLUMES), self._removable_now(), "volume")
        label = label_of("rm", vol)
        sources = [s for s in self._sources(vol) if self._source_usable(s)]
        source = draw_any(data, sources, "source")
        self._begin("crash_mid_removal")
        self._declare(label, Decl("rm", vol, self.volume_id[vol], source=source))
        self._interrupted_run(label, "create", "DeleteVolume", "crash")

    def _removable_now(self) -> list[str]:
        return [
            v
            for v in VOLUMES
            if label_of("rm", v) not in self.program
            and self._present(v)
            and any(self._source_usable(s) for s in self._sources(v))
        ]

    def _source_usable(self, source: Source) -> bool:
        sid = source.snapshot_id or self._source_id(Decl("rm", "", "", source=source))
        return sid is not None and sid not in self.user_archived

    @rule(data=PICKS)
    @only_when(lambda self: self._may_interrupt() and self._undoable())
    def crash_mid_undo(self, data: Picks) -> None:
        """A removal's undo (the resource removed from the program), its host killed once it asked EC2 for the new
        volume: the next run finds that volume by its tag and makes no other."""
        vol = draw_one(data, tuple(VOLUMES), self._undoable(), "volume")
        label = label_of("rm", vol)
        self._begin("crash_mid_undo")
        for name in [label] + [o for o, d in self.program.items() if label in d.depends_on]:
            self.program.pop(name)
        self._interrupted_run(label, "delete", "CreateVolume", "crash")

    def _undoable(self) -> list[str]:
        return [
            v
            for v, r in self.removals.items()
            if r.recorded and label_of("rm", v) in self.program and r.snapshot_id not in self.user_archived
        ]

    # --- the engine runs ------------------------------------------------------------------------------------------
    def _begin(self, rule_name: str) -> None:
        self.figures.steps[rule_name] += 1
        self.step = (rule_name, time.monotonic())

    def _outcome(self, what: str) -> None:
        self.figures.outcomes[what] += 1

    def _declare(self, label: str, decl: Decl) -> None:
        self.program[label] = decl
        note(f"program: {label} = {decl}")

    def _revert(self, label: str) -> None:
        """The user reads the refusal and puts the program back as state has it."""
        entry = self.engine.state.get(label)
        if entry is None:
            self.program.pop(label, None)
        else:
            self.program[label] = self._decl_in_state[label]

    @property
    def _decl_in_state(self) -> dict[str, Decl]:
        return self.__dict__.setdefault("_decls", {})

    def _declared(self, program: Mapping[str, Decl]) -> dict[str, Declared]:
        return {label: self._to_engine(label, decl) for label, decl in program.items()}

    def _to_engine(self, label: str, decl: Decl) -> Declared:
        kind = decl.kind

        def props(state: Mapping[str, Entry]) -> dict[str, Any]:
            found: dict[str, Any] = {
                "region": REGION,
                "resource_urn": self._urn(label),
                **decl.access.props(self.emulator),
            }
            if kind in ("snap", "imp"):
                found |= {"volume_id": decl.volume_id, "tags": dict(decl.tags), "timeout": decl.timeout}
                found |= {"copy_volume_tags": decl.copy_volume_tags}
                if decl.description is not None:
                    found["description"] = decl.description
                if decl.import_snapshot_id:
                    found["import_snapshot_id"] = decl.import_snapshot_id
            elif kind == "series":
                found |= {"volume_id": decl.volume_id, "tags": dict(decl.tags), "timeout": decl.timeout}
                found |= {"trigger": decl.trigger}
                for name in ("keep_last", "max_age_days", "archive_after_days", "description"):
                    if getattr(decl, name) is not None:
                        found[name] = getattr(decl, name)
            else:
                found |= {"volume_id": decl.volume_id, "confirm_delete_volume": decl.volume_id}
                if decl.source.output_of:
                    dependency = state[decl.source.output_of]
                    is_series = kind_of(dependency.label) == "series"
                    found["snapshot_id"] = dependency.outs.get("snapshot_id") if is_series else dependency.id
                else:
                    found["snapshot_id"] = decl.source.snapshot_id
            return found

        return Declared(label, PROVIDERS[kind], self._urn(label), props, decl.depends_on, decl.retain_on_delete)

    def _urn(self, label: str) -> str:
        return urn(TYPES[kind_of(label)], label)

    def _run(self, run: Callable[[], Run], *, expect_changes: bool = True) -> Run:
        """One engine run, as a new provider process, with the armed lost answer if any."""
        new_provider_process()
        lost, self.lost = self.lost, None
        if lost is None:
            done = run()
        else:
            with losing_one_answer(self.emulator, lost.action, lost.nth) as losing:
                done = run()
            if losing.dropped:
                self._outcome(f"an answer to {lost.action} lost")
                note(f"the answer to {lost.action} #{lost.nth} was lost")
        note(f"run: {done}")
        self._after_run(done)
        return done

    def _up_and_expect(
        self, refusals: Mapping[str, tuple[str, str]] | None = None, *, replace: frozenset[str] = frozenset()
    ) -> Run:
        # Resources gone from the program whose delete a hold refused before: refused again.
        lingering = self._delete_refusals(set(self.engine.state) - set(self.program))
        run = self._run(lambda: self.engine.up(self._declared(self.program), replace=replace))
        self._expect(run, {**lingering, **(refusals or {})})
        return run

    def _expect(self, run: Run, refusals: Mapping[str, tuple[str, str]]) -> None:
        """Every step succeeded but the predicted refusals, which happened, with their message and remedy."""
        failed = {s.label: s for s in run.failures}
        for step in run.failures:
            assert step.label in refusals, f"unexpected failure: {step} (run: {run})"
            pattern, remedy = refusals[step.label]
            found = remedy_for(step.error)  # type: ignore[arg-type]
            assert found is not None, f"{step}: the error does not say what to do (the stack is stuck)"
            assert found.name == remedy, f"{step}: says to {found.name!r}, the model expected {remedy!r}"
            assert re.search(pattern, str(step.error), re.DOTALL), f"{step}: expected /{pattern}/"
        reached = {s.label for s in run.steps}
        for label in refusals:
            if label in reached:
                assert label in failed, f"{label} was expected to be refused ({refusals[label][0]}): {run}"
        self._outcome(
            "run succeeded"
            if not run.failures
            else "refused: " + ", ".join(sorted({kind_of(s.label) for s in run.failures}))
        )

    def _interrupted_run(
        self, label: str, op: Op, action: str, how: str, *, replace: frozenset[str] = frozenset()
    ) -> None:
        """A run whose `op` of `label` runs in a provider host, interrupted (`how`) once `action` reached EC2."""
        mark = len(self.emulator.calls())
        error: list[str | None] = []

        def reached() -> bool:
            return any(c.action == action for c in self.emulator.calls()[mark:])

        def call(declared: Declared, this_op: Op, args: list[Any]) -> Any:
            if declared.label != label or this_op != op:
                return getattr(declared.provider, this_op)(*args)
            if how == "crash":
                self.host.call_and_kill(declared.provider, this_op, args, reached)
                raise Crashed(f"the provider host was killed during the {this_op} of {label}")
            message = self.host.call_and_cancel(declared.provider, this_op, args, reached)
            error.append(message)
            raise Crashed(message or "the cancelled call returned")

        if op == "delete" and label in self.engine.state:
            run = self._run(lambda: self.engine.up(self._declared(self.program), call=call))
        else:
            run = self._run(lambda: self.engine.up(self._declared(self.program), replace=replace, call=call))
        steps = [s for s in run.steps if s.label == label and s.op == op]
        assert steps and isinstance(steps[0].error, Crashed), f"the {op} of {label} was not interrupted: {run}"
        other = [s for s in run.failures if s is not steps[0]]
        assert not other, f"besides the interrupted {op} of {label}: {other}"
        if how == "cancel":
            [message] = error
            # The snapshot requested (kept for the next run to adopt); or, when EC2 refused the request (the volume's
            # 15 s, throttling) and Ctrl-C came while the retry waited for its turn, nothing more sent: each says so.
            said = message and any(s in message for s in ("adopts it", "(nothing was requested)", "(it was not sent)"))
            assert said, f"Ctrl-C during the take of {label}: {message}"
        self.interruptions += 1
        if op == "create" and kind_of(label) == "rm":
            vol = self.program[label].vol
            source = self._source_id(self.program[label])
            assert source is not None
            volume_id = self.program[label].volume_id
            wait_until(f"{volume_id} to be deleted", lambda: volume_id not in self._volumes())
            self.removals[vol] = Removal(vol, volume_id, self.spec_of[volume_id], source, recorded=False)
        if op != "delete":
            self.interrupted.add(label)
        self._outcome(f"{op} of {kind_of(label)} {'crashed' if how == 'crash' else 'cancelled'}")

    def _after_run(self, run: Run) -> None:
        """What the model learns from a run: removals done and undone, series ids, what interrupted creates left."""
        for step in run.steps:
            kind = kind_of(step.label)
            takes = {"snap": ("create",), "series": ("create", "update")}.get(kind, ())
            failed_take = step.op in takes
            if failed_take and not step.ok and not isinstance(step.error, Crashed):
                self.interrupted.add(step.label)  # a failed take may leave its snapshot (tagged)
            if step.op == "create" and step.ok and kind != "series":
                self._keep_leftovers_of(step.label)
            if kind == "series" and step.ok and step.op in ("create", "update") and self._took(step.label):
                self._keep_leftovers_of(step.label)
            if kind == "rm" and step.ok and step.op in ("create", "update"):
                entry = self.engine.state[step.label]
                vol = self.program[step.label].vol
                removal = self.removals.get(vol)
                volume_id = entry.outs["volume_id"]
                spec = removal.spec if removal else self.spec_of[volume_id]
                self.removals[vol] = Removal(vol, volume_id, spec, entry.outs["snapshot_id"], recorded=True)
                self._check_removal(self.removals[vol])
            if kind == "rm" and step.ok and step.op == "delete":
                vol = next(v for v, r in self.removals.items() if label_of("rm", v) == step.label)
                self._check_undo(self.removals.pop(vol))
        applied = {s.label for s in run.steps if s.ok and s.op in ("create", "update", "same")}
        for label, entry in self.engine.state.items():
            decl = self.program.get(label)
            if decl is not None and label in applied:  # a refused change leaves state as it was
                self._decl_in_state[label] = decl
            if kind_of(label) == "series":
                self.series_ids[label] = entry.id
                self._check_series(entry)
        for label in list(self.series_ids):
            if label not in self.engine.state and all(e.label != label for e in self.engine.doomed):
                del self.series_ids[label]

    def _took(self, label: str) -> bool:
        decl, before = self.program.get(label), self._decl_in_state.get(label)
        return decl is not None and (before is None or before.trigger != decl.trigger)

    # --- checks of one change ------------------------------------------------------------------------------------
    def _check_removal(self, removal: Removal) -> None:
        """A removal in state: its volume is gone, its snapshot held with the record (`holds`)."""
        assert removal.volume_id not in self._volumes(), f"{removal.volume_id} was removed and still exists"
        seen = self._snapshots().get(removal.snapshot_id)
        assert seen is not None, f"{removal.volume_id}'s undo source {removal.snapshot_id} is gone"
        assert seen.tags.get(HOLD_TAG) == removal.volume_id, f"{removal.snapshot_id} not held: {seen.tags}"
        record = record_of([{"Key": k, "Value": v} for k, v in seen.tags.items()])
        assert record and record["size"] == removal.spec.size, f"{removal.snapshot_id}'s restore record: {record}"

    def _check_undo(self, removal: Removal) -> None:
        """The undo restored exactly one volume, as it was; its snapshot is held no more."""
        restored = [
            (vid, v) for vid, v in self._volumes().items() if self._tags(vid).get(RESTORED_TAG) == removal.volume_id
        ]
        assert len(restored) == 1, f"the undo of {removal.volume_id} left {len(restored)} restored volumes"
        [(restored_id, volume)] = restored
        spec = removal.spec
        got = (volume.size, volume.zone.name, volume.volume_type, volume.encrypted, volume.kms_key_id)
        wanted = (spec.size, spec.zone, spec.volume_type, spec.encrypted, spec.kms_key_id)
        assert got == wanted, f"{removal.volume_id} restored as {restored_id}: {got}, was {wanted}"
        if spec.iops:
            assert (volume.iops, volume.throughput) == (spec.iops, spec.throughput), f"{restored_id}'s performance"
        tags = self._tags(restored_id)
        assert dict(spec.tags).items() <= tags.items(), f"{restored_id} has tags {tags}, was {dict(spec.tags)}"
        seen = self._snapshots().get(removal.snapshot_id)
        assert seen is None or seen.tags.get(HOLD_TAG) != removal.volume_id, f"{removal.snapshot_id} still held"
        self.undone[removal.volume_id] = (spec, restored_id)
        self.volume_id[removal.vol] = restored_id
        self.spec_of[restored_id] = spec
        self._outcome("volume restored")

    def _tags(self, resource_id: str) -> dict[str, str]:
        return dict(self.emulator.ec2_backend().tags.get(resource_id, {}))

    def _check_series(self, entry: Entry) -> None:
        """What the policy promises of the snapshots a series keeps, after a run of it."""
        kept = entry.outs.get("snapshots") or []
        now = self._snapshots()
        held = {r.snapshot_id for r in self.removals.values()}
        completed = sorted(
            (s for s in kept if s.get("state") == "completed"), key=lambda s: s["start_time"], reverse=True
        )
        if not completed:
            return
        newest = completed[0]
        assert newest["tier"] == "standard", f"{entry.label}'s newest snapshot is {newest['tier']}"
        # The newest take (a point: the snapshots one take made, started when its first did) that completed.
        points: dict[str, list[dict[str, Any]]] = {}
        for s in completed:
            points.setdefault(s.get("point") or s["snapshot_id"], []).append(s)
        started = {
            key: min(datetime.fromisoformat(m["start_time"]) for m in members) for key, members in points.items()
        }
        # The emulator lists StartTime in whole seconds (EC2 in milliseconds): takes within one second tie.
        newest_ids = {
            m["snapshot_id"]
            for key, members in points.items()
            if started[key] == max(started.values())
            for m in members
        }
        output = entry.outs.get("snapshot_id")
        assert output in {None, *newest_ids}, f"{output}: the newest take is {newest_ids}"
        assert output is None or output in now, f"{entry.label}'s snapshot_id {output} does not exist"
        decl = self._decl_in_state.get(entry.label)
        if decl is None:
            return
        others = [s for s in completed[1:] if s["snapshot_id"] not in held]
        if decl.keep_last is not None:
            assert len(others) <= decl.keep_last - 1, (
                f"{entry.label} keeps {len(completed)}: keep_last {decl.keep_last}"
            )
        for s in others:
            seen = now.get(s["snapshot_id"])
            if seen is None:
                continue
            age = (datetime.now(UTC) - seen.start.replace(tzinfo=UTC)) / timedelta(days=1)
            if decl.max_age_days is not None:
                assert age < decl.max_age_days + 0.01, f"{entry.label} keeps {s['snapshot_id']}, {age:.1f} days old"
        for sid in held & {s["snapshot_id"] for s in kept}:
            assert now[sid].tier == "standard" or sid in self.user_archived, f"{entry.label} archived held {sid}"

    # --- invariants ----------------------------------------------------------------------------------------------
    @invariant()
    def promises_kept(self) -> None:
        now = self._snapshots()
        self._nothing_of_the_users_deleted(now)
        self._removed_volumes_held(now)
        self._one_volume_per_undo()
        self._state_records_what_exists(now)
        self._every_snapshot_accounted_for(now)
        self._nothing_elsewhere()
        self.before = now
        if self.step is not None:
            self.figures.step_milliseconds[self.step[0]] += round(1000 * (time.monotonic() - self.step[1]))
            self.step = None

    def _nothing_of_the_users_deleted(self, now: Mapping[str, Seen]) -> None:
        gone = set(self.user_snapshots) - self.user_deleted - set(now)
        assert not gone, f"the user's snapshots {sorted(gone)} were deleted (imported: {self._imported() & gone})"

    def _imported(self) -> set[str]:
        return {d.import_snapshot_id for d in self.program.values() if d.import_snapshot_id}

    def _removed_volumes_held(self, now: Mapping[str, Seen]) -> None:
        volumes = self._volumes()
        for removal in self.removals.values():
            assert removal.volume_id not in volumes, f"{removal.volume_id} is removed, yet exists"
            seen = now.get(removal.snapshot_id)
            assert seen is not None, f"{removal.volume_id} is removed and its undo source {removal.snapshot_id} is gone"
            assert seen.tags.get(HOLD_TAG) == removal.volume_id, f"{removal.snapshot_id} is not held: {seen.tags}"

    def _one_volume_per_undo(self) -> None:
        restored: dict[str, list[str]] = {}
        for vid in self._volumes():
            of = self._tags(vid).get(RESTORED_TAG)
            if of:
                restored.setdefault(of, []).append(vid)
        twice = {of: ids for of, ids in restored.items() if len(ids) > 1}
        assert not twice, f"one undo restored more than one volume: {twice}"

    def _state_records_what_exists(self, now: Mapping[str, Seen]) -> None:
        for label, entry in self.engine.state.items():
            missing = self._recorded_by(entry) - set(now)
            unexplained = missing - self.user_deleted
            assert not unexplained, f"{label} records {sorted(unexplained)}, which are gone"

    def _every_snapshot_accounted_for(self, now: Mapping[str, Seen]) -> None:
        recorded: dict[str, str] = {}
        for entry in [*self.engine.state.values(), *self.engine.doomed]:
            for sid in self._recorded_by(entry):
                if kind_of(entry.label) == "snap":
                    assert sid not in recorded, f"{sid} is recorded by both {recorded[sid]} and {entry.label}"
                recorded.setdefault(sid, entry.label)
        tokens = {resource_token(self._urn(label)): label for label in self.program}
        series = set(self.series_ids.values()) | {e.id for e in self.engine.doomed if kind_of(e.label) == "series"}
        for sid, seen in now.items():
            if sid in self.user_snapshots or sid in recorded or sid in self.retained or sid in self.kept_leftovers:
                continue
            if seen.tags.get(SERIES_TAG) in series | self.retained_series:
                continue  # the series' (its delete deletes every snapshot tagged with its id; the next take adopts)
            owner = tokens.get(seen.tags.get(RESOURCE_TAG, ""))
            assert owner is not None, f"{sid} is an orphan: no resource of the program made it ({seen.tags})"
            assert seen.tags.get(ATTEMPT_TAG) != RECORDED, f"{sid} is marked recorded by {owner}, which does not"
            assert owner in self.interrupted, f"{sid} is left by {owner}, whose last create did not leave it"

    def _nothing_elsewhere(self) -> None:
        accounts = self.emulator.accounts()
        elsewhere = {a: held for a, held in accounts.items() if a != HOME_ACCOUNT}
        assert not elsewhere, f"resources were made in another account: {elsewhere}"

    def _recorded_by(self, entry: Entry) -> set[str]:
        kind = kind_of(entry.label)
        if kind in ("snap", "imp"):
            return {entry.id}
        if kind == "series":
            return {s["snapshot_id"] for s in entry.outs.get("snapshots") or []}
        return set()

    # --- the end of an example: the next up, then destroy, converge ------------------------------------------------
    def teardown(self) -> None:
        if self.step is None:  # the last step's invariants passed: converge from there
            self._converge()

    def _converge(self) -> None:
        self.accounts.act_in(HOME_ACCOUNT)
        self.lost = None
        for phase in ("up", "destroy"):
            runs = self._converge_by(phase)
            self.figures.outcomes[f"converged: {phase} in {runs} run(s)"] += 1
            self.program = {}
        assert not self.engine.state and not self.engine.doomed, "destroy left resources in state"
        self._check_the_end()

    def _converge_by(self, phase: str) -> int:
        """`up` (or `destroy`) again and again, doing what each failure says, until one succeeds: the number of runs.
        An `up` refused for what only a destroy does (an undo first, an archive restore) ends there."""
        for runs in range(1, 7):
            run = self._run(
                (lambda: self.engine.up(self._declared(self.program))) if phase == "up" else self.engine.destroy
            )
            if not run.failures:
                return runs
            remedies = set()
            for step in run.failures:
                remedy = remedy_for(step.error)  # type: ignore[arg-type]
                assert remedy is not None, f"{phase} after the sequence: {step}: stuck, the error says nothing to do"
                remedies.add(remedy.name)
                self._do(remedy.name, step)
            if phase == "up" and remedies & {UNDO_FIRST, WAIT_FOR_TIER}:
                return runs  # the destroy that follows is what it asks for
        raise AssertionError(f"{phase} did not converge after 6 runs: {run}")

    def _do(self, remedy: str, step: Step) -> None:
        """What the model's user does when an error says `remedy`."""
        if remedy == REFRESH:
            new_provider_process()
            self.engine.refresh()
        elif remedy in (WAIT_FOR_TIER, RESTORE_PERMANENTLY):
            if remedy == RESTORE_PERMANENTLY:
                for sid in [s for s in self.user_archived if s in str(step.error)]:
                    self._ec2().restore_snapshot_tier(SnapshotId=sid, PermanentRestore=True)
                    self.user_archived.discard(sid)
            self.emulator.advance_clock(RESTORE_TIME)
        elif remedy in (ACCESS_BACK, RECORDED_ACCOUNT):
            self.accounts.act_in(HOME_ACCOUNT)
            if step.label in self.program:
                self.program[step.label] = dataclasses.replace(self.program[step.label], access=Access())
        elif remedy == ANOTHER_IMPORT:
            self.program.pop(step.label, None)
        elif remedy == FRESH_CREDENTIALS:
            self.accounts.act_in(HOME_ACCOUNT)

    def _keep_leftovers_of(self, label: str) -> None:
        """`label`'s create or take went through: what its interrupted creates left and it did not adopt stays."""
        if label not in self.interrupted:
            return
        self.interrupted.discard(label)
        token = resource_token(self._urn(label))
        recorded = {sid for e in self.engine.state.values() for sid in self._recorded_by(e)}
        self.kept_leftovers |= {
            sid
            for sid, seen in self._snapshots().items()
            if seen.tags.get(RESOURCE_TAG) == token and sid not in recorded
        }

    def _check_the_end(self) -> None:
        now = self._snapshots()
        expected = (set(self.user_snapshots) - self.user_deleted) | self.retained | self.kept_leftovers
        left = {
            sid for sid, s in now.items() if sid not in expected and s.tags.get(SERIES_TAG) not in self.retained_series
        }
        assert not left, f"after up and destroy, snapshots are left: {sorted(left)} ({[now[s].tags for s in left]})"
        held = {sid: s.tags[HOLD_TAG] for sid, s in now.items() if HOLD_TAG in s.tags}
        assert not held, f"after destroy, snapshots are still held: {held}"
        assert not self.removals, f"after destroy, volumes are still removed: {sorted(self.removals)}"
        volumes = self._volumes()
        for vol, volume_id in self.volume_id.items():
            assert volume_id in volumes, f"after destroy, {vol} ({volume_id}) is gone"


def _poll(look: Callable[[], str | None], timeout: float, every: float) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        found = look()
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(every)  # a poll interval: the condition decides


# --- profiles and the tests ----------------------------------------------------------------------------------------
_COMMON = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
PROFILES = {
    "ci": settings(_COMMON, max_examples=6, stateful_step_count=30, derandomize=True),  # 10 took 92 s of CI
    "long": settings(_COMMON, max_examples=200, stateful_step_count=60, derandomize=False),
}
PROFILE = os.environ.get("LIFECYCLE_MODEL_PROFILE", "ci")
# Fewer or more examples than the profile's (a run that must fit in a given time).
EXAMPLES = os.environ.get("LIFECYCLE_MODEL_EXAMPLES")
SETTINGS = settings(PROFILES[PROFILE], max_examples=int(EXAMPLES)) if EXAMPLES else PROFILES[PROFILE]
if os.environ.get("LIFECYCLE_MODEL_SHRINK") == "0":  # the first failing sequence as found (checking a break quickly)
    SETTINGS = settings(SETTINGS, phases=(Phase.explicit, Phase.generate))


@pytest.mark.parametrize("family", ["removals", "series"])
def test_stack_model(
    family: Family, emulator: Ec2Emulator, model_pace: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    figures = MODEL_FIGURES.setdefault(f"stack model: {family}", ModelFigures())
    machine = type(f"StackModel_{family}", (StackModel,), {"family": family, "figures": figures})
    host = ProviderHost(environment_for(emulator))
    started = time.monotonic()
    try:
        run_state_machine_as_test(lambda: machine(emulator, host, monkeypatch, tmp_path), settings=SETTINGS)
    finally:
        host.close()
        figures.seconds += time.monotonic() - started
