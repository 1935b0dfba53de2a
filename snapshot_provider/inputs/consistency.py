"""The consistency inputs of a snapshot resource, declared once (check, diff and docs read them): how a snapshot is
made complete. What is done with them is `core.quiesce`'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

import pulumi

from snapshot_provider.inputs import rules
from snapshot_provider.inputs.rules import LIFECYCLE_TAG_COUNT, MANAGED_TAG_PREFIX, MAX_TAGS, is_unknown
from snapshot_provider.inputs.schema import Field

CRASH, FROZEN, STOPPED, DETACHED = "crash", "frozen", "stopped", "detached"
CONSISTENCIES = (CRASH, FROZEN, STOPPED)
FAIL, CRASH_CONSISTENT = "fail", "crash_consistent"
ON_FAILURE = (FAIL, CRASH_CONSISTENT)
CONSISTENCY_TAG = f"{MANAGED_TAG_PREFIX}consistency"
DEFAULT_MAX_PAUSE = 60
MAX_PAUSE_RANGE = (5, 900)


# --- the inputs, declared once ---------------------------------------------------------------------------------------
def _one_of(allowed: tuple[str, ...]) -> rules.Rule:
    def rule(value: Any) -> str | None:
        return None if value in allowed else f"{value!r} is not one of: {', '.join(allowed)}"

    return rule


def _commands(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) or is_unknown(c) for c in value):
        # Not the value: the commands are secret.
        kinds = sorted({type(c).__name__ for c in value}) if isinstance(value, list | tuple) else []
        return f"must be a list of command lines (strings), got a {type(value).__name__}" + (
            f" of {', '.join(kinds)}" if kinds else ""
        )
    return None


def _document(value: Any) -> str | None:
    # SSM API reference, DocumentName: 3 to 128 of a-z A-Z 0-9 _ - . (an ARN for a document shared with you).
    if not isinstance(value, str) or not 3 <= len(value) <= 200 or " " in value:
        return f"{value!r} is not an SSM document name or ARN"
    return None


def _max_pause(value: Any) -> str | None:
    low, high = MAX_PAUSE_RANGE
    # Pulumi hands numbers over as floats: 60.0 is 60.
    whole = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if not whole or not low <= value <= high:
        return f"must be whole seconds from {low} to {high}, got {value!r}"
    return None


class ConsistencyArgs(TypedDict, total=False):
    """How a snapshot is made complete: pause the volume's writes, or stop its instance (see `quiesce`)."""

    consistency: Annotated[
        pulumi.Input[Literal["crash", "frozen", "stopped"]],
        Field(
            "`crash` (the request only); `frozen`: pause the volume's file systems through SSM Run Command around "
            "the request (fsfreeze on Linux by default); `stopped`: stop the attached instance, request, start it "
            "again (downtime; for root volumes). See docs/consistency.md",
            rule=_one_of(CONSISTENCIES),
            default=CRASH,
            on_change="none",
        ),
    ]
    on_failure: Annotated[
        pulumi.Input[Literal["fail", "crash_consistent"]],
        Field(
            "when writes cannot be paused or the instance stopped: `fail` (nothing taken) or `crash_consistent` "
            "(taken anyway; its `snapshot_consistency` output says `crash`)",
            rule=_one_of(ON_FAILURE),
            default=FAIL,
            on_change="none",
        ),
    ]
    pre_commands: Annotated[
        pulumi.Input[list[str]],
        Field(
            "`frozen`: shell lines run before the request instead of the default freeze (PowerShell on Windows); "
            "stored as a secret (a database's flush may name a password)",
            rule=_commands,
            on_change="none",
            ordered=True,  # run in turn: another order is other commands
            secret=True,
        ),
    ]
    post_commands: Annotated[
        pulumi.Input[list[str]],
        Field(
            "`frozen`: lines run as soon as the request is answered, also when it failed; stored as a secret",
            rule=_commands,
            on_change="none",
            ordered=True,  # run in turn: another order is other commands
            secret=True,
        ),
    ]
    ssm_document: Annotated[
        pulumi.Input[str],
        Field(
            "`frozen`: your SSM document instead, run with `command` = `pre-script`, then `post-script` (the "
            "convention of Data Lifecycle Manager's pre and post scripts)",
            rule=_document,
            on_change="none",
        ),
    ]
    max_pause_seconds: Annotated[
        pulumi.Input[int],
        Field(
            "`frozen`: the longest writes stay paused; the default freeze leaves a timer on the instance that "
            "thaws after it whatever happens to this run",
            rule=_max_pause,
            default=DEFAULT_MAX_PAUSE,
            on_change="none",
        ),
    ]


def problems(inputs: Mapping[str, Any], managed: int = LIFECYCLE_TAG_COUNT) -> list[tuple[str, str]]:
    """Combinations of the consistency inputs that cannot work: (property, reason), for check (`managed`: how many
    of the snapshot's tags are the provider's without the consistency tag)."""
    found: list[tuple[str, str]] = []
    consistency = inputs.get("consistency") or CRASH
    for name in ("pre_commands", "post_commands", "ssm_document"):
        if inputs.get(name) and consistency != FROZEN:
            found.append((name, f"is only used with consistency 'frozen' (consistency is {consistency!r})"))
    if inputs.get("leave_stopped") and consistency != STOPPED:
        found.append(("leave_stopped", f"is only used with consistency 'stopped' (consistency is {consistency!r})"))
    if inputs.get("ssm_document") and (inputs.get("pre_commands") or inputs.get("post_commands")):
        found.append(("ssm_document", "cannot be used with pre_commands or post_commands: give one or the other"))
    tags = inputs.get("tags")
    limit = MAX_TAGS - managed - 1
    if consistency != CRASH and isinstance(tags, Mapping) and len(tags) > limit:
        found.append(
            (
                "tags",
                f"has {len(tags)} tags: with consistency {consistency!r} the snapshot carries one more tag of "
                f"this provider's ({CONSISTENCY_TAG}), so at most {limit}",
            )
        )
    return found


@dataclass(frozen=True)
class Plan:
    """How one resource's snapshots are made consistent: its `consistency` inputs, checked."""

    consistency: str = CRASH
    on_failure: str = FAIL
    pre_commands: tuple[str, ...] = ()
    post_commands: tuple[str, ...] = ()
    ssm_document: str | None = None
    max_pause_seconds: int = DEFAULT_MAX_PAUSE
    leave_stopped: bool = False  # `stopped`: not started again after the request (InstanceSnapshots' input)

    @classmethod
    def of(cls, inputs: Mapping[str, Any]) -> Plan:
        return cls(
            consistency=inputs.get("consistency") or CRASH,
            on_failure=inputs.get("on_failure") or FAIL,
            pre_commands=tuple(inputs.get("pre_commands") or ()),
            post_commands=tuple(inputs.get("post_commands") or ()),
            ssm_document=inputs.get("ssm_document") or None,
            max_pause_seconds=int(inputs.get("max_pause_seconds") or DEFAULT_MAX_PAUSE),
            leave_stopped=inputs.get("leave_stopped") is True,
        )

    @property
    def own_commands(self) -> bool:
        return bool(self.pre_commands or self.post_commands or self.ssm_document)

    def preview(self, instance: str) -> str | None:
        """What will happen to the instance, in one sentence (no AWS call): None for `crash`."""
        fallback = (
            "if that fails, nothing is taken"
            if self.on_failure == FAIL
            else "if that fails, the snapshot is taken crash-consistent"
        )
        if self.consistency == STOPPED:
            after = "leave it stopped (leave_stopped)" if self.leave_stopped else "start it again (downtime)"
            return f"will STOP {instance}, request the snapshot once it is stopped, then {after}; {fallback}"
        if self.consistency == FROZEN:
            if self.ssm_document:
                pre = f"SSM document {self.ssm_document} (pre-script)"
            elif self.pre_commands:
                pre = f"your pre commands ({len(self.pre_commands)} lines)"
            else:
                pre = "fsfreeze of its mounted file systems"
            # Only the default freeze leaves a timer on the instance; nothing bounds the pause of the user's own.
            bound = (
                "your commands must bound the pause themselves"
                if self.own_commands
                else f"writes paused at most {self.max_pause_seconds} s"
            )
            return (
                f"will run {pre} through SSM Run Command on {instance}, request the "
                f"snapshot, then run the post command as soon as the request is in ({bound}); {fallback}"
            )
        return None
