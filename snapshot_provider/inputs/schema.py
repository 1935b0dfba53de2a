"""One declaration per input: a resource's `*Args` TypedDict annotates each input with a `Field`.

From that single declaration come `check` (rules, required inputs, one-way changes), the inputs stored in state
(defaults filled in), `diff` (each field says what a change to it means, like Terraform's ForceNew), the program-side
props (defaults from the stack, secrets) and the documentation's inputs tables.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult

from snapshot_provider.inputs.rules import Rule, is_unknown

# What a change to an input means:
#   replace  a new snapshot is taken (EC2 cannot change it on an existing one); the old one goes once it completed
#   update   changed in place in AWS (tags, tier)
#   state    recorded in state only: how the provider reaches the account, nothing changes in AWS
#   none     used when a snapshot is taken; a later change does nothing to the existing one
#   snapshot takes a new snapshot in place: the resource keeps its state and earlier snapshots (SnapshotSeries)
OnChange = Literal["replace", "update", "state", "none", "snapshot"]

# Keys that would carry credentials; refused so that secrets never reach Pulumi state.
CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "access_key",
    "secret_key",
    "session_token",
)


@dataclass(frozen=True)
class Field:
    """Everything about one input except its name and Python type (the annotation carries those)."""

    doc: str
    rule: Rule | None = None
    required: bool = False
    default: Any = None
    on_change: OnChange = "update"
    secret: bool = False
    # Only meaningful together with this other input (e.g. external_id with role_arn).
    requires: str | None = None
    # Program-side default, computed from the other inputs when this one is unset (e.g. region from aws:region).
    program_default: Callable[[Mapping[str, Any]], Any] | None = None
    # What a diff compares instead of the value itself: two values it maps alike are no change (a description of ""
    # and none at all are both EC2's empty description).
    compared_as: Callable[[Any], Any] | None = None
    # A change that replaces although the field is otherwise `none` (another import_snapshot_id).
    replaces_when: Callable[[Any, Any], bool] | None = None
    # Reason a change from old to new is refused (e.g. archive back to standard), or None; old is None on a create.
    transition: Callable[[Any, Any], str | None] | None = None
    missing: str = "is required"
    # Set by the program, never by users (the resource's URN); not in the constructor or the docs.
    internal: bool = False
    # A list whose order is its meaning (commands run in turn): compared in order. Other lists of strings are sets of
    # ids (allowed accounts, excluded volumes), where another order is no change.
    ordered: bool = False


@dataclass(frozen=True)
class Failure:
    """One rule an input broke: which property, and what to do about it."""

    property: str
    reason: str


class InvalidInputs(ValueError):
    """Inputs that `check` refuses, reaching a method that needs them valid."""

    def __init__(self, failures: Sequence[Failure]):
        self.failures = list(failures)
        super().__init__("; ".join(f"{f.property}: {f.reason}" for f in failures))


@dataclass(frozen=True)
class Schema:
    """The inputs of one resource, in declaration order."""

    fields: Mapping[str, Field]
    types: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, args_type: type, *internal: tuple[str, Field]) -> Schema:
        """The schema declared by a TypedDict whose annotations are `Annotated[type, Field(...)]`."""
        # pulumi.Input[T] is Union[T, Awaitable[T], "Output[T]"]: that name must resolve wherever a TypedDict is.
        names = {"Output": pulumi.Output, "T": Any}
        hints = typing.get_type_hints(args_type, localns=names, include_extras=True)
        fields: dict[str, Field] = {}
        python_types: dict[str, Any] = {}
        for name, hint in hints.items():
            found = [m for m in getattr(_unwrap_required(hint), "__metadata__", ()) if isinstance(m, Field)]
            if len(found) != 1:
                raise TypeError(f"{args_type.__name__}.{name} must be Annotated with exactly one Field")
            fields[name] = found[0]
            python_types[name] = typing.get_args(_unwrap_required(hint))[0]
        fields.update(internal)
        return cls(fields, python_types)

    def public(self) -> Iterator[tuple[str, Field]]:
        return ((name, f) for name, f in self.fields.items() if not f.internal)

    # --- provider side ----------------------------------------------------------------------------------------
    def failures(self, news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> list[Failure]:
        """Every rule `news` breaks, without calling AWS; unknown values (preview) are checked later."""
        found = [Failure(key, _CREDENTIALS_REASON) for key in CREDENTIAL_KEYS if key in news]
        for name, f in self.fields.items():
            value = news.get(name)
            if value is None:
                if f.required:
                    found.append(Failure(name, f.missing))
                elif (
                    olds and f.transition and olds.get(name) is not None and (reason := f.transition(olds[name], None))
                ):
                    found.append(Failure(name, reason))  # removing an input can be refused too (a compliance lock)
                continue
            if is_unknown(value):
                continue
            if f.requires and news.get(f.requires) is None:
                found.append(
                    Failure(name, f"is only used together with {f.requires}: set {f.requires} too, or remove it")
                )
            reasons = _reasons(f.rule, value)
            # check's create is a change from nothing (old None): a new lock must end ahead, an unchanged one need not.
            # `parse` (olds None) judges no change: check did, against the inputs state recorded.
            if olds is not None and f.transition and (reason := f.transition(olds.get(name, f.default) or None, value)):
                reasons.append(reason)
            found += [Failure(name, _concealed(reason, value) if f.secret else reason) for reason in reasons]
        return found

    def stored(self, news: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs as state stores them: unset ones dropped and defaults filled in, so diffs compare like with like."""
        stored = {k: v for k, v in news.items() if v is not None}
        for name, f in self.fields.items():
            if f.default is not None:
                stored.setdefault(name, f.default)
        return stored

    def check(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
        failures = self.failures(news, olds)
        return CheckResult(self.stored(news), [CheckFailure(f.property, f.reason) for f in failures])

    def echoed(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs a resource's outputs repeat: those a later `diff`, `read` or `delete` needs, which get the
        outputs as their olds. One whose change does nothing (`none`) is not stored twice: the engine rewrites
        every byte of state after every step of a run. One with `replaces_when` is kept: `diff` compares it."""
        return {k: v for k, v in props.items() if k in self.fields and _compared(self.fields[k])}

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Valid inputs with defaults filled in; raises InvalidInputs where `check` would have refused."""
        failures = self.failures(props)
        if failures:
            raise InvalidInputs(failures)
        return self.stored(props)

    def diff(self, olds: Mapping[str, Any], news: Mapping[str, Any], *extra_replaces: str) -> DiffResult:
        """What a change of inputs means, field by field: replace, update in place, or nothing."""
        replaces, updates = self.changes(olds, news)
        replaces += extra_replaces
        # The new snapshot exists before the old one is deleted (the engine's default, stated for clarity).
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False)

    def changes(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """The inputs whose change replaces, and those whose change updates in place (the plugin's detailed diff)."""
        replaces: list[str] = []
        updates: list[str] = []
        for name, f in self.fields.items():
            old, new = olds.get(name, f.default), news.get(name, f.default)
            if self.same(name, old, new):
                continue
            if f.on_change == "replace" or (f.replaces_when and f.replaces_when(old, new)):
                replaces.append(name)
            elif f.on_change != "none":
                updates.append(name)
        return replaces, updates

    def same(self, name: str, old: Any, new: Any) -> bool:
        """Whether input `name` going from `old` to `new` is no change (numbers from state, a list of ids in another
        order, what `compared_as` maps alike)."""
        f = self.fields[name]
        if _same(old, new, f.ordered):
            return True
        return f.compared_as is not None and _same(f.compared_as(old), f.compared_as(new), f.ordered)

    # --- program side -----------------------------------------------------------------------------------------
    def program_props(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """What the program registers: the given inputs, program-side defaults, secrets marked secret."""
        props: dict[str, Any] = {}
        for name, f in self.public():
            value = given.get(name)
            if value is None and f.program_default is not None:
                value = f.program_default(given)
            if value is not None and f.secret:
                value = pulumi.Output.secret(value)
            props[name] = value
        return props

    def unknown_names(self, given: Mapping[str, Any]) -> list[str]:
        public = {name for name, _ in self.public()}
        return sorted(set(given) - public)

    # --- documentation ----------------------------------------------------------------------------------------
    def docs_table(self, names: Sequence[str] | None = None) -> str:
        """The documentation's inputs table: every public input, or those `names`."""
        lines = ["| input | type | default | a change | notes |", "|---|---|---|---|---|"]
        for name, f in self.public():
            if names is not None and name not in names:
                continue
            default = "required" if f.required else ("none" if f.default is None else f"`{_render(f.default)}`")
            lines.append(
                f"| `{name}` | {type_name(self.types[name])} | {default} | {_CHANGE_WORDS[f.on_change]} | {f.doc} |"
            )
        return "\n".join(lines)


_CREDENTIALS_REASON = (
    "credentials are never resource inputs (they would be stored in state): use profile, role_arn or the standard "
    "AWS environment variables"
)
_CHANGE_WORDS: dict[str, str] = {
    "replace": "replaces",
    "update": "updates in place",
    "state": "state only",
    "none": "nothing",
    "snapshot": "takes a new snapshot, in place",
}


def _compared(f: Field) -> bool:
    """Whether a later `diff` looks at the old value (so the outputs must hold it)."""
    return f.on_change != "none" or f.replaces_when is not None


def _reasons(rule: Rule | None, value: Any) -> list[str]:
    if rule is None:
        return []
    result = rule(value)
    if result is None:
        return []
    return [result] if isinstance(result, str) else list(result)


# Shorter values turn up inside ordinary words by chance, and reveal next to nothing.
_MIN_CONCEALED = 4


def _concealed(reason: str, value: Any) -> str:
    """A secret input's reason without its value: `pulumi preview` prints check failures, in CI logs and pull-request
    comments. The backstop for a rule that echoes the value (the rules of secrets should not)."""
    for shown in (repr(value), str(value)):
        if len(shown) >= _MIN_CONCEALED:
            reason = reason.replace(shown, "(the secret value)")
    return reason


def _same(old: Any, new: Any, ordered: bool = False) -> bool:
    return bool(_normalized(old, ordered) == _normalized(new, ordered))


def _normalized(value: Any, ordered: bool = False) -> Any:
    if isinstance(value, (list, tuple)):
        items = [_normalized(v) for v in value]
        # A list of strings is a set of ids (allowed accounts, excluded volumes), unless its field is `ordered`.
        return sorted(set(items)) if not ordered and all(isinstance(i, str) for i in items) else items
    if isinstance(value, Mapping):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, bool):
        return ("bool", value)  # True == 1 in Python; a trigger changed from 1 to true did change
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers come back from Pulumi state as floats
    return value


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{}" if not value else str(dict(value))
    return str(value)


def _unwrap_required(hint: Any) -> Any:
    """Annotated inside Required/NotRequired, as TypedDicts allow."""
    while typing.get_origin(hint) in (typing.Required, typing.NotRequired):
        hint = typing.get_args(hint)[0]
    return hint


def type_name(hint: Any) -> str:
    """A reader's name for an input type: `Input[Sequence[Input[str]]]` is 'list of str'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        # pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]; None in Optional is no type of its own.
        plain = [a for a in args if a is not type(None) and typing.get_origin(a) not in _WRAPPERS]
        return " or ".join(dict.fromkeys(type_name(a) for a in plain)) if plain else "any"
    if origin in (Sequence, list, tuple) or (origin and getattr(origin, "__name__", "") == "Sequence"):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (Mapping, dict) or (origin and getattr(origin, "__name__", "") == "Mapping"):
        return f"map of {type_name(args[1])}" if len(args) == 2 else "map"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    return _PLAIN_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


_PLAIN_NAMES: dict[Any, str] = {Any: "any", float: "number", int: "integer", bool: "bool", str: "str"}


_WRAPPERS = (pulumi.Output, Awaitable)


def both_set_and_different(old: Any, new: Any) -> bool:
    """Another value where there was one: set for the first time or unset, the field changes nothing."""
    return old is not None and new is not None and old != new
