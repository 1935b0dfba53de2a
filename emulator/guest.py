"""What happens on the instances: SSM Run Command invocations, file systems frozen by them, instances stopping and
starting, and one ordered record of it all next to the snapshot requests (`timeline`).

moto 5.2.1's SSM answers SendCommand with every invocation already `Success` and runs nothing; its StopInstances and
StartInstances jump straight to `stopped` / `running`. A provider that pauses writes around a snapshot request has to
be tested against what AWS documents instead, so the emulator answers the three Run Command actions itself
(`answer`, called from the server for `AmazonSSM.<action>` requests) and turns moto's instant stop/start into a
transition that takes `GuestBehaviour.transition_seconds` (`patch.install` wraps `Instance.stop/start`).

Knobs (`Ec2Emulator.configure(<name>=...)`, `GuestBehaviour`): how long a command runs, which commands fail or hang,
which instances have no SSM agent, how long a stop or start takes. The record (`Ec2Emulator.timeline()`): every
command sent and finished, every CreateSnapshot(s) request (with its HTTP status), every snapshot completed, every
instance state change, in order; `frozen_instances()` / `stopped_instances()` say what is still paused.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulator import strict

# SSM API reference, CommandInvocationStatus: Pending | InProgress | Delayed | Success | Cancelled | TimedOut | Failed
# | Cancelling. The emulator uses the four a single invocation goes through when it is delivered.
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
# AWS-RunShellScript / AWS-RunPowerShellScript: `executionTimeout` defaults to 3600 seconds.
DEFAULT_EXECUTION_TIMEOUT = 3600.0
# SendCommand: TimeoutSeconds (delivery) defaults to 3600 seconds.
DEFAULT_DELIVERY_TIMEOUT = 3600.0
# What the emulator takes for "this command froze / thawed the file systems": util-linux fsfreeze's flags.
FREEZE_MARKERS = ("fsfreeze -f", "fsfreeze --freeze")
THAW_MARKERS = ("fsfreeze -u", "fsfreeze --unfreeze")
THAW_TIMER = re.compile(r"sleep (\d+); (?:for m in [^;]*; do )?fsfreeze -u")  # the default freeze's timer
# EC2 API reference, InstanceState codes.
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
# EC2 API reference, StartInstances: a `stopping` instance cannot be started (IncorrectInstanceState).
NOT_STARTABLE = ("stopping", "shutting-down", "terminated")
# SSM API reference, InvalidInstanceId: "Valid states are: Running, Pending, Stopped, and Stopping".
SSM_VALID_STATES = ("running", "pending", "stopped", "stopping")


@dataclass
class GuestBehaviour:
    """The instances' knobs. Defaults: commands finish at once and succeed, every instance has the agent, stop and
    start take no time (still `stopping` / `pending` until the next request)."""

    command_seconds: float = 0.0
    """How long an invocation stays `InProgress` before it ends (on `strict.CLOCK`)."""
    fail_commands: list[str] = field(default_factory=list)
    """An invocation whose commands contain any of these ends `Failed`, ResponseCode 1 (stderr says which)."""
    hang_commands: list[str] = field(default_factory=list)
    """An invocation whose commands contain any of these runs until its `executionTimeout` (default 3600 s), then ends
    `TimedOut` (SSM user guide, "Understanding command statuses": Execution Timed Out)."""
    agentless_instances: list[str] = field(default_factory=list)
    """SendCommand naming any of these fails `InvalidInstanceId` (no SSM agent registered)."""
    transition_seconds: float = 0.0
    """How long `stopping` -> `stopped` and `pending` -> `running` take (on `strict.CLOCK`). AWS publishes no figure."""


GUEST_SETTINGS = frozenset(GuestBehaviour.__dataclass_fields__)
BEHAVIOUR = GuestBehaviour()


class SsmError(Exception):
    """An SSM error answered as awsJson1_1: HTTP 400, `{"__type": code, "message": ...}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Invocation:
    """One command on one instance (SSM API reference, CommandInvocation)."""

    command_id: str
    instance_id: str
    document_name: str
    parameters: dict[str, Any]
    text: str
    sent_at: float  # strict.CLOCK.monotonic()
    outcome: str  # the terminal status it will reach
    ends_at: float
    comment: str = ""  # SendCommand's Comment, answered back on the invocation (SSM API reference, CommandInvocation)
    finished_seen: bool = False

    def status(self, now: float) -> str:
        return self.outcome if now >= self.ends_at else "InProgress"

    def plain(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        code = {"Success": 0, "Failed": 1}.get(status, -1)
        details = {"InProgress": "In Progress", "TimedOut": "Execution Timed Out"}.get(status, status)
        return {
            "CommandId": self.command_id,
            "InstanceId": self.instance_id,
            "DocumentName": self.document_name,
            "DocumentVersion": "$DEFAULT",
            "Comment": self.comment,
            "Status": status,
            "StatusDetails": details,
            "ResponseCode": code,
            "StandardOutputContent": "" if status != "Success" else "ok\n",
            "StandardErrorContent": f"emulated failure of: {self.text}\n" if status == "Failed" else "",
            "RequestedDateTime": _epoch(self.sent_at),
        }


class Events:
    """The ordered record: each event gets the next sequence number and `time.monotonic()` when it is recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._sequence = itertools.count()

    def add(self, event: str, **details: Any) -> None:
        with self._lock:
            self._events.append({"event": event, "seq": next(self._sequence), "at": time.monotonic(), **details})

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


class Guest:
    """Invocations and instance transitions of every account and region, and the record of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.invocations: dict[tuple[str, str], Invocation] = {}  # (command id, instance id)
        self.transitions: dict[str, tuple[Any, str, float]] = {}  # instance id -> (instance, target state, due)
        self.events = Events()

    def reset(self) -> None:
        with self._lock:
            self.invocations.clear()
            self.transitions.clear()
        self.events.clear()
        BEHAVIOUR.__init__()  # type: ignore[misc]

    # --- Run Command --------------------------------------------------------------------------------------------
    def send_command(self, backend: Any, request: dict[str, Any]) -> dict[str, Any]:
        instance_ids = list(request.get("InstanceIds") or [])
        document = request.get("DocumentName") or ""
        if not instance_ids:
            # SSM API reference, SendCommand: InstanceIds or Targets; the emulator models InstanceIds only.
            raise SsmError("ValidationException", "SendCommand needs InstanceIds (Targets are not emulated)")
        if not document:
            raise SsmError("ValidationException", "DocumentName is required")
        for instance_id in instance_ids:
            self._check_managed(backend, instance_id)
        parameters = request.get("Parameters") or {}
        timeout = float((parameters.get("executionTimeout") or [DEFAULT_EXECUTION_TIMEOUT])[0])
        delivery = float(request.get("TimeoutSeconds") or DEFAULT_DELIVERY_TIMEOUT)
        text = _command_text(parameters)
        comment = str(request.get("Comment") or "")
        if len(comment) > 100:  # SSM API reference, SendCommand: Comment, length 0 to 100
            raise SsmError("ValidationException", f"Comment is longer than 100 characters: {comment!r}")
        command_id = str(uuid.uuid4())
        now = strict.CLOCK.monotonic()
        with self._lock:
            for instance_id in instance_ids:
                if backend.get_instance_by_id(instance_id).state == "running":
                    outcome, ends_at = _outcome(text, now, timeout)
                else:
                    # SSM user guide, "Understanding command statuses": a node that is not available (stopped) gets
                    # the command once it is; until the delivery timeout (TimeoutSeconds), then Delivery Timed Out.
                    outcome, ends_at = "TimedOut", now + delivery
                self.invocations[(command_id, instance_id)] = Invocation(
                    command_id, instance_id, document, parameters, text, now, outcome, ends_at, comment
                )
        for instance_id in instance_ids:
            self.events.add("command-sent", command_id=command_id, instance_id=instance_id, commands=text)
        return {
            "Command": {
                "CommandId": command_id,
                "DocumentName": document,
                "InstanceIds": instance_ids,
                "Parameters": parameters,
                "Comment": comment,
                "Status": "Pending",  # SSM API reference, Command.Status: Pending before any node has it
                "RequestedDateTime": _epoch(now),
                "TargetCount": len(instance_ids),
            }
        }

    def get_command_invocation(self, request: dict[str, Any]) -> dict[str, Any]:
        key = (request.get("CommandId", ""), request.get("InstanceId", ""))
        with self._lock:
            invocation = self.invocations.get(key)
        if invocation is None:
            # SSM API reference, GetCommandInvocation: InvocationDoesNotExist ("The command ID and managed node ID you
            # specified didn't match any invocations").
            raise SsmError("InvocationDoesNotExist", f"no invocation of command {key[0]} on {key[1]}")
        self.observe()
        return invocation.plain(strict.CLOCK.monotonic())

    def list_command_invocations(self, request: dict[str, Any]) -> dict[str, Any]:
        command_id, instance_id = request.get("CommandId"), request.get("InstanceId")
        self.observe()
        now = strict.CLOCK.monotonic()
        with self._lock:
            chosen = [
                i.plain(now)
                for i in self.invocations.values()
                if (command_id is None or i.command_id == command_id)
                and (instance_id is None or i.instance_id == instance_id)
            ]
        return {"CommandInvocations": chosen}

    def _check_managed(self, backend: Any, instance_id: str) -> None:
        # SSM API reference, InvalidInstanceId: no agent registered, no access, or a state other than Running,
        # Pending, Stopped, Stopping.
        instance = backend.get_instance_by_id(instance_id)
        if instance is None or instance_id in BEHAVIOUR.agentless_instances or instance.state not in SSM_VALID_STATES:
            raise SsmError(
                "InvalidInstanceId",
                f"Instances [[{instance_id}]] not in a valid state for account {backend.account_id}",
            )

    # --- instance states ----------------------------------------------------------------------------------------
    def begin_transition(self, instance: Any, current: str, target: str) -> None:
        """StopInstances / StartInstances: the instance is `current` (stopping / pending) until the transition's end.

        EC2 user guide, "Amazon EC2 instance state changes": stop enters `stopping`, then `stopped`; start enters
        `pending`, then `running`."""
        instance._state.name, instance._state.code = current, STATE_CODES[current]
        with self._lock:
            self.transitions[instance.id] = (instance, target, strict.CLOCK.monotonic() + BEHAVIOUR.transition_seconds)
        self.events.add(f"instance-{current}", instance_id=instance.id)

    def observe(self) -> None:
        """Bring lazily computed states up to now: finished transitions, finished invocations, completed snapshots."""
        now = strict.CLOCK.monotonic()
        with self._lock:
            due = [(iid, inst, target) for iid, (inst, target, at) in self.transitions.items() if at <= now]
            for instance_id, _instance, _target in due:
                del self.transitions[instance_id]
            finished = [i for i in self.invocations.values() if not i.finished_seen and i.status(now) in TERMINAL]
            for invocation in finished:
                invocation.finished_seen = True
        for instance_id, instance, target in due:
            instance._state.name, instance._state.code = target, STATE_CODES[target]
            self.events.add(f"instance-{target}", instance_id=instance_id)
        for invocation in sorted(finished, key=lambda i: i.ends_at):
            self.events.add(
                "command-finished",
                command_id=invocation.command_id,
                instance_id=invocation.instance_id,
                status=invocation.outcome,
                commands=invocation.text,
            )

    def timeline(self, snapshots: dict[str, tuple[str, float, float]]) -> list[dict[str, Any]]:
        """Every event so far in the order it happened, with the snapshots' creation and completion merged in.

        `snapshots`: snapshot id -> (volume id, created_at, completed_at) on `time.monotonic()`."""
        self.observe()
        now = time.monotonic()
        merged = self.events.all()
        for snapshot_id, (volume_id, created_at, completed_at) in snapshots.items():
            merged.append(
                {"event": "snapshot-created", "at": created_at, "snapshot_id": snapshot_id, "volume_id": volume_id}
            )
            if completed_at <= now:
                merged.append(
                    {
                        "event": "snapshot-completed",
                        "at": completed_at,
                        "snapshot_id": snapshot_id,
                        "volume_id": volume_id,
                    }
                )
        return sorted(merged, key=lambda e: (e["at"], e.get("seq", -1)))

    def stopped_instances(self, backend: Any) -> list[str]:
        """Instances of `backend` that are stopping or stopped."""
        self.observe()
        return sorted(i.id for i in backend.all_instances() if i.state in ("stopping", "stopped"))

    def frozen_instances(self) -> list[str]:
        """Instances whose last finished fsfreeze command froze (and none thawed since): still paused.

        A freeze command that leaves a thaw timer (`sleep N; ... fsfreeze -u`, as the provider's default does) thaws
        N seconds after it finished, as the instance would run it."""
        self.observe()
        now = strict.CLOCK.monotonic()
        with self._lock:
            done = [i for i in self.invocations.values() if i.status(now) == "Success"]
        changes: list[tuple[float, str, bool]] = []  # (when, instance, frozen)
        for invocation in done:
            # A freeze script may name the thaw too (its timer): freezing wins.
            if any(m in invocation.text for m in FREEZE_MARKERS):
                changes.append((invocation.ends_at, invocation.instance_id, True))
                timer = THAW_TIMER.search(invocation.text)
                if timer and invocation.ends_at + float(timer.group(1)) <= now:
                    changes.append((invocation.ends_at + float(timer.group(1)), invocation.instance_id, False))
            elif any(m in invocation.text for m in THAW_MARKERS):
                changes.append((invocation.ends_at, invocation.instance_id, False))
        state: dict[str, bool] = {}
        for _, instance_id, frozen in sorted(changes, key=lambda c: c[0]):
            state[instance_id] = frozen
        return sorted(i for i, frozen in state.items() if frozen)


def _outcome(text: str, now: float, timeout: float) -> tuple[str, float]:
    if any(marker in text for marker in BEHAVIOUR.hang_commands):
        return "TimedOut", now + timeout
    if any(marker in text for marker in BEHAVIOUR.fail_commands):
        return "Failed", now + BEHAVIOUR.command_seconds
    return "Success", now + BEHAVIOUR.command_seconds


def _command_text(parameters: dict[str, Any]) -> str:
    # AWS-RunShellScript and AWS-RunPowerShellScript take `commands` (a list of lines); other documents: every
    # parameter's values, so a knob can match a user document's arguments too.
    commands = parameters.get("commands")
    if isinstance(commands, list):
        return "\n".join(str(c) for c in commands)
    return json.dumps(parameters, sort_keys=True)


def _epoch(monotonic_at: float) -> float:
    """A `strict.CLOCK.monotonic()` moment as epoch seconds (SSM answers timestamps as epoch numbers)."""
    return strict.CLOCK.wall() - (strict.CLOCK.monotonic() - monotonic_at)


GUEST = Guest()
ACTIONS = {
    "SendCommand": lambda backend, body: GUEST.send_command(backend, body),
    "GetCommandInvocation": lambda backend, body: GUEST.get_command_invocation(body),
    "ListCommandInvocations": lambda backend, body: GUEST.list_command_invocations(body),
}


def answer(action: str, backend: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """An SSM Run Command action's HTTP status and JSON answer, for the instances of `backend` (moto's EC2)."""
    try:
        return 200, ACTIONS[action](backend, body)
    except SsmError as error:
        return 400, {"__type": error.code, "message": error.message}


def configure(**settings: Any) -> None:
    """Set `GuestBehaviour` fields by name (checked)."""
    for name, value in settings.items():
        if name in ("command_seconds", "transition_seconds"):
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0 (got {value!r})")
            value = float(value)
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of strings (got {value!r})")
        setattr(BEHAVIOUR, name, list(value) if isinstance(value, list) else value)
