"""The Pulumi engine, played in process for the model-based tests: a whole program's `up`, `destroy` and `refresh`,
calling dynamic providers as the engine does.

- `up`: first the deletes a crashed or failed run left pending (`doomed`); then each declared resource in dependency
  order: `check(old inputs, news)`, `diff(id, old outputs, checked)` (which must change nothing in AWS: it also runs at
  preview), then `create`, `update`, or a replace (create the new one, and delete the old one only once every create
  and update is done); a failure stops the run (what is done stays done). Then the deletes: resources the program no
  longer declares and replaced ones, dependents first, the ones that do not depend on each other at the same time (in
  threads, as the engine runs independent steps in parallel). `retain_on_delete` drops a resource from state without
  calling delete. A replaced resource whose delete failed stays in state, marked for deletion, and the next run
  deletes it first.
- `destroy`: every resource in state, dependents first, in the same waves.
- `refresh`: `read` of every resource; an empty id drops it from state.

A resource's inputs may come from another's outputs: `Declared.props` reads them from state when the step runs, and
`depends_on` orders the steps as the engine orders them. A run can also end as a crashed engine would: right after one
resource's create (`crash_after`), leaving the replaced resource marked for deletion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi.dynamic import ResourceProvider

from emulator import Ec2Emulator

Op = Literal["check", "diff", "create", "update", "same", "delete", "read", "forget"]
Home = Literal["state", "doomed"]  # where a resource whose delete failed goes back to


@dataclass(frozen=True)
class Declared:
    """A resource as the program declares it: its provider, URN, inputs (computed from state when its step runs, for
    inputs that are other resources' outputs) and the resources whose outputs it uses."""

    label: str
    provider: ResourceProvider
    urn: str
    props: Callable[[Mapping[str, Entry]], dict[str, Any]]
    depends_on: tuple[str, ...] = ()
    retain_on_delete: bool = False


@dataclass
class Entry:
    """A resource in state."""

    label: str
    provider: ResourceProvider
    urn: str
    id: str
    inputs: dict[str, Any]
    outs: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    retain_on_delete: bool = False


@dataclass
class Step:
    """One provider call of a run, and how it ended."""

    label: str
    op: Op
    error: BaseException | None = None
    replacing: bool = False  # a create of a replacement, or the delete of the replaced resource

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        what = f"{self.op}{' (replace)' if self.replacing else ''} {self.label}"
        return what if self.ok else f"{what} failed: {type(self.error).__name__}: {self.error}"


@dataclass
class Run:
    """What one engine run did, step by step."""

    steps: list[Step] = field(default_factory=list)

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]

    def done(self, label: str, op: Op) -> bool:
        return any(s.label == label and s.op == op and s.ok for s in self.steps)

    def __str__(self) -> str:
        return "; ".join(map(str, self.steps)) or "nothing to do"


Call = Callable[["Declared", Op, list[Any]], Any]  # makes one provider call: in process, or in a host


class CheckFailed(Exception):
    """`check` returned failures: the engine stops before any change (at preview)."""


class Engine:
    """State and the calls that change it; the program is passed to each run."""

    def __init__(self, emulator: Ec2Emulator) -> None:
        self.emulator = emulator
        self.state: dict[str, Entry] = {}
        self.doomed: list[Entry] = []  # replaced resources whose delete is still to come

    # --- the runs -----------------------------------------------------------------------------------------------
    def up(
        self,
        program: Mapping[str, Declared],
        *,
        replace: frozenset[str] = frozenset(),
        crash_after: str | None = None,
        call: Call | None = None,
    ) -> Run:
        """`pulumi up` of the whole program (`--replace` for the labels in `replace`). `call` makes the provider
        calls (by default in this process; a model passes one that runs a call in a host it kills)."""
        run = Run()
        doomed, self.doomed = self.doomed, []
        if not self._delete([(e, "doomed") for e in doomed], run, call):
            return run
        replaced: list[Entry] = []
        for label in self.order(program):
            declared = program[label]
            if not self._up_one(declared, label in replace, replaced, run, call or _in_process):
                self.doomed += replaced
                return run
            if label == crash_after:
                self.doomed += replaced
                return run
        gone = [e for label, e in self.state.items() if label not in program]
        for entry in gone:
            del self.state[entry.label]
        self._delete([*((e, "state") for e in gone), *((e, "doomed") for e in replaced)], run, call)
        return run

    def destroy(self, call: Call | None = None) -> Run:
        """`pulumi destroy`: every resource, dependents first."""
        run = Run()
        entries: list[tuple[Entry, Home]] = [
            *((e, "doomed") for e in self.doomed),
            *((e, "state") for e in self.state.values()),
        ]
        self.doomed, self.state = [], {}
        self._delete(entries, run, call)
        return run

    def refresh(self) -> Run:
        """`pulumi refresh`: read every resource; one read as gone leaves state."""
        run = Run()
        for entry in list(self.state.values()):
            try:
                result = entry.provider.read(entry.id, entry.outs)
            except Exception as error:
                run.steps.append(Step(entry.label, "read", error))
                continue
            run.steps.append(Step(entry.label, "read"))
            if not result.id:
                del self.state[entry.label]
            else:
                entry.outs = dict(result.outs or {})
        return run

    # --- ordering -----------------------------------------------------------------------------------------------
    @staticmethod
    def order(program: Mapping[str, Declared]) -> list[str]:
        """Labels with each resource after the ones it depends on (declaration order otherwise)."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(label: str) -> None:
            if label in ordered:
                return
            assert label not in visiting, f"dependency cycle through {label}"
            visiting.add(label)
            for dependency in program[label].depends_on:
                if dependency in program:
                    visit(dependency)
            ordered.append(label)

        for label in program:
            visit(label)
        return ordered

    # --- one resource -------------------------------------------------------------------------------------------
    def _up_one(
        self,
        declared: Declared,
        force_replace: bool,
        replaced: list[Entry],
        run: Run,
        call: Call,
    ) -> bool:
        label, provider = declared.label, declared.provider
        old = self.state.get(label)
        news = declared.props(self.state)
        result = provider.check(old.inputs if old else {}, news)
        if result.failures:
            failures = "; ".join(f"{f.property}: {f.reason}" for f in result.failures)
            run.steps.append(Step(label, "check", CheckFailed(failures)))
            return False
        checked = dict(result.inputs or {})
        replaces = old is None
        if old is not None:
            mark = len(self.emulator.mutating_calls())
            try:
                diff = provider.diff(old.id, old.outs, checked)
            except Exception as error:
                run.steps.append(Step(label, "diff", error))
                return False
            changed = [str(c) for c in self.emulator.mutating_calls()[mark:]]
            assert not changed, f"diff of {label} (as at preview) changed AWS: {changed}"
            replaces = bool(diff.replaces) or force_replace
            if not replaces and not diff.changes:
                old.inputs = checked
                run.steps.append(Step(label, "same"))
                return True
        if replaces:
            try:
                created = call(declared, "create", [checked])
            except Exception as error:
                run.steps.append(Step(label, "create", error, replacing=old is not None))
                return False
            run.steps.append(Step(label, "create", replacing=old is not None))
            self.state[label] = Entry(
                label,
                provider,
                declared.urn,
                str(created.id),
                checked,
                dict(created.outs or {}),
                declared.depends_on,
                declared.retain_on_delete,
            )
            if old is not None:
                replaced.append(old)
            return True
        assert old is not None
        try:
            updated = call(declared, "update", [old.id, old.outs, checked])
        except Exception as error:
            run.steps.append(Step(label, "update", error))
            return False
        run.steps.append(Step(label, "update"))
        old.inputs, old.outs = checked, dict(updated.outs or {})
        old.depends_on, old.retain_on_delete = declared.depends_on, declared.retain_on_delete
        return True

    def _delete(self, entries: list[tuple[Entry, Home]], run: Run, call: Call | None = None) -> bool:
        """Delete entries in waves, dependents first, each wave at once. An entry whose delete failed, or that was
        not tried because an earlier wave failed, goes back where it was: into state, or marked for deletion."""
        left = list(entries)
        while left:
            wave = [
                (entry, home)
                for entry, home in left
                if not any(entry.label in other.depends_on and other is not entry for other, _ in left)
            ]
            assert wave, f"dependency cycle among {sorted(e.label for e, _ in left)}"
            failed = self._delete_wave([e for e, _ in wave], run, call or _in_process)
            left = [item for item in left if item not in wave]
            if failed:
                for entry, home in [*(w for w in wave if w[0] in failed), *left]:
                    if home == "doomed":
                        self.doomed.append(entry)
                    else:
                        self.state[entry.label] = entry
                return False
        return True

    def _delete_wave(self, wave: list[Entry], run: Run, call: Call) -> list[Entry]:
        errors: dict[int, BaseException] = {}

        def delete(index: int, entry: Entry) -> None:
            if entry.retain_on_delete:
                return
            declared = Declared(entry.label, entry.provider, entry.urn, lambda _state: {}, entry.depends_on)
            try:
                call(declared, "delete", [entry.id, entry.outs])
            except BaseException as error:  # handed to the run
                errors[index] = error

        threads = [threading.Thread(target=delete, args=(i, e)) for i, e in enumerate(wave)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = []
        for index, entry in enumerate(wave):
            op: Op = "forget" if entry.retain_on_delete else "delete"
            replacing = entry.label in self.state
            run.steps.append(Step(entry.label, op, errors.get(index), replacing=replacing))
            if index in errors:
                failed.append(entry)
        return failed


def _in_process(declared: Declared, op: Op, args: list[Any]) -> Any:
    return getattr(declared.provider, op)(*args)
