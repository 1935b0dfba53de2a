"""Complete snapshots: pause a volume's writes around its CreateSnapshot request, or stop its instance.

The EC2 CreateSnapshot reference: a snapshot holds what was written when it was requested, not what an application
or the OS still caches; pause the file systems long enough to issue the request (the volume can be used again as soon
as the request is in, while the snapshot is still `pending`), and stop the instance first for a root volume. AWS Data
Lifecycle Manager does the same through Systems Manager pre and post scripts, and falls back to a crash-consistent
snapshot when the pre script fails, if asked to ("ExecuteOperationOnScriptFailure", DLM API reference, Script).

`consistency`:
- `crash` (default): the request only, as before.
- `frozen`: the pre command through SSM Run Command (default: `fsfreeze -f` of the volume's mounted file systems on
  Linux, with a timer on the instance that thaws them after `max_pause_seconds` whatever happens to this process),
  the request, then the post command as soon as the request is answered (not after `completed`). The post command
  runs whenever the pre command may have been sent (also when SendCommand's answer was lost: the command is looked
  up by a token in its Comment, and thawed anyway when SSM does not list it), also when the pre command or the
  request failed or the run was cancelled; a post command that does not succeed is an error naming the instance.
- `stopped`: StopInstances, wait for `stopped`, the request, StartInstances once the request is answered (always,
  also when the request failed or StopInstances' answer was lost; not at all with `leave_stopped`, for an instance
  being decommissioned); an instance that was already stopped is left stopped and not started, unless an unfinished
  run of the same resource stopped it (its STOPPED_BY_TAG). Every call but the request goes on a retrying client.

An instance in a change this provider did not make (`pending`, `stopping`, `shutting-down`: its owner is at work)
is left alone, and a volume attached to several instances (Multi-Attach: each of them writes) is not paused through
one of them: both go the `on_failure` way, with the instances named.

`on_failure`: `fail` (nothing is taken, the error says why) or `crash_consistent` (taken anyway, recorded as `crash`).
The consistency a snapshot got is its `pulumi-snapshot:consistency` tag (read back into the outputs); a volume no
instance has attached has no writer: `detached`.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError

from snapshot_provider.core import progress, waiting
from snapshot_provider.ec2.errors import SnapshotProviderError, error_code, explain
from snapshot_provider.inputs.consistency import (
    CRASH,
    CRASH_CONSISTENT,
    DETACHED,
    FROZEN,
    STOPPED,
    Plan,
)

DEFAULT_STOP_TIMEOUT = 900  # AWS publishes no bound for `stopping`; 15 min covers a slow OS shutdown
SHELL_DOCUMENT = "AWS-RunShellScript"  # SSM's own documents: `commands` and `executionTimeout` parameters
POWERSHELL_DOCUMENT = "AWS-RunPowerShellScript"
POLL_SECONDS = 1.0
SETTLE_MARGIN = 30.0  # beyond a command's own executionTimeout, for SSM to report it

T = TypeVar("T")
# A request sent whose answer never came (a read timeout, a connection dropped mid-answer): it may have reached AWS.
# (A connection that could not be made, botocore's ConnectionError, sent nothing.)
LOST_ANSWER = HTTPClientError


class ConsistencyFailed(SnapshotProviderError):
    """Writes could not be paused (or the instance stopped) and `on_failure` is `fail`: nothing was taken."""


class ResumeFailed(SnapshotProviderError):
    """The post command did not succeed, or the instance did not start again: the instance is named."""


def announce(urn: str | None, plan: Plan, instance: str) -> None:
    """Say at check (preview and up, before anything happens; no AWS call) what will happen to the instance
    (`instance`: "instance i-...", or "the instance that volume vol-... is attached to")."""
    line = plan.preview(instance)
    if line:
        progress.engine_log().info(urn, line)


@dataclass(frozen=True)
class Attachment:
    """An instance and the volumes of it being snapshotted (volume id, device name), as EC2 describes them."""

    instance_id: str
    volumes: tuple[tuple[str, str], ...]
    root: bool  # one of them is the instance's root volume
    windows: bool
    state: str
    stopped_by: str = ""  # the instance's STOPPED_BY_TAG: who of this provider stopped it, if a run did not finish
    launched: str = ""  # its LaunchTime (ISO 8601): each start changes it

    @property
    def volume_id(self) -> str:
        """The volumes, for messages: `vol-a` or `vol-a, vol-b`."""
        return ", ".join(volume for volume, _ in self.volumes)


def attached_instances(ec2: Any, volume_id: str) -> list[tuple[str, str]]:
    """The instances `volume_id` is attached to, with its device name on each (several with Multi-Attach)."""
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    return [
        (a["InstanceId"], a.get("Device", ""))
        for a in volume.get("Attachments", [])
        if a.get("State") in ("attaching", "attached")
    ]


def instance_attachment(ec2: Any, instance_id: str, volumes: list[tuple[str, str]]) -> Attachment:
    """`volumes` (volume id, device) of `instance_id`, with what EC2 says of the instance."""
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [instance] = reservation["Instances"]
    return Attachment(
        instance_id=instance_id,
        volumes=tuple(volumes),
        root=any(instance.get("RootDeviceName") == device for _, device in volumes),
        windows=instance.get("Platform") == "windows",
        state=instance["State"]["Name"],
        stopped_by=next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == STOPPED_BY_TAG), ""),
        launched=_iso(instance.get("LaunchTime")),
    )


def _iso(when: Any) -> str:
    return when.isoformat() if hasattr(when, "isoformat") else str(when or "")


@dataclass(frozen=True)
class Asker:
    """Who asks for the snapshot, and how its request waits for its turn at EC2's API rate."""

    by: str  # the resource's token and the attempt's id: the instance's STOPPED_BY_TAG
    turn: Callable[[], contextlib.AbstractContextManager[None]]  # within it, the request goes without waiting

    @property
    def resource(self) -> str:
        """The resource's part of `by`: the same for every attempt of one resource."""
        return self.by.split("/")[0]


def around_instance(
    ec2: Any,
    ssm: Callable[[], Any],
    plan: Plan,
    instance_id: str,
    volumes: list[tuple[str, str]],
    request: Callable[[str], T],
    asker: Asker,
) -> T:
    """`around` for several volumes of one instance (CreateSnapshots): one pre command, one request, one post."""
    if plan.consistency == CRASH:
        return request(CRASH)
    at = instance_attachment(ec2, instance_id, volumes)
    shared = {
        volume: others
        for volume, _ in volumes
        if (others := [i for i, _ in attached_instances(ec2, volume) if i != instance_id])
    }
    if shared:
        return _fallback(plan, at.volume_id, _multi_attached(plan, shared, instance_id), request)
    return _paused(ec2, ssm, plan, at, request, asker)


def around(
    ec2: Any, ssm: Callable[[], Any], plan: Plan, volume_id: str, request: Callable[[str], T], asker: Asker
) -> T:
    """Make the request the plan's way: `request(consistency)` is called once, with the consistency the snapshot
    gets (for its tag), or not at all when `on_failure` is `fail` and writes could not be paused. `ec2` is a retrying
    client (stopping and starting are idempotent, EC2 API reference), for all but the request."""
    if plan.consistency == CRASH:
        return request(CRASH)
    attached = attached_instances(ec2, volume_id)
    if not attached:
        return request(DETACHED)
    if len(attached) > 1:
        others = [instance for instance, _ in attached[1:]]
        return _fallback(plan, volume_id, _multi_attached(plan, {volume_id: others}, attached[0][0]), request)
    [(instance_id, device)] = attached
    return _paused(ec2, ssm, plan, instance_attachment(ec2, instance_id, [(volume_id, device)]), request, asker)


def _multi_attached(plan: Plan, shared: dict[str, list[str]], instance_id: str) -> str:
    # EBS user guide, Multi-Attach: each instance the volume is attached to has full read and write permission to
    # it. Pausing one of them leaves the others writing; pausing all is a cluster's own protocol (its clustered file
    # system or application), which this provider cannot know. So it refuses, naming them all.
    volumes = "; ".join(f"{volume} is also attached to {', '.join(others)}" for volume, others in shared.items())
    return (
        f"consistency {plan.consistency!r} pauses one instance ({instance_id}), but {volumes} (Multi-Attach): those "
        "instances can keep writing, so the snapshot would not be consistent. Pause every writer yourself (your "
        "cluster's own freeze) and use consistency 'crash', or detach the other instances first"
    )


# An instance in one of these is in a change this provider did not make (EC2 user guide, instance state changes):
# its owner is starting, stopping or terminating it. Stopping it again and starting it afterwards would undo theirs.
IN_TRANSITION = ("pending", "stopping", "shutting-down")


def _paused(
    ec2: Any, ssm: Callable[[], Any], plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker
) -> T:
    if at.state == "running" and StoppedBy.of(at.stopped_by).resource == asker.resource:
        _drop_stale(ec2, at, "the instance is running: that stop never took effect")
    if at.state == "stopped":  # nothing writes: complete as it is
        return _already_stopped(ec2, plan, at, request, asker)
    if at.state in IN_TRANSITION or at.state == "terminated":
        return _fallback(
            plan,
            at.volume_id,
            f"instance {at.instance_id} is {at.state}, a change this provider did not make: it was left alone "
            "(neither stopped, started nor sent commands). Run `pulumi up` again once it is running or stopped",
            request,
        )
    if plan.consistency == STOPPED:
        return _stopped(ec2, plan, at, request, asker)
    return _frozen(ssm(), plan, at, request, asker)


# --- frozen --------------------------------------------------------------------------------------------------------
def _frozen(ssm: Any, plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker) -> T:
    _refuse_unsafe_defaults(plan, at)
    # The request's turn at EC2's API rate is taken before the freeze, so that it follows the pre command at once
    # rather than after a queue that may outlast the pause.
    with asker.turn():
        return _frozen_in_turn(ssm, plan, at, request)


def _frozen_in_turn(ssm: Any, plan: Plan, at: Attachment, request: Callable[[str], T]) -> T:
    token = uuid.uuid4().hex[:12]  # in both commands' Comment: finds them when SendCommand's answer is lost
    sent_at = time.monotonic()  # no freeze, hence no thaw timer, starts before the pre command is sent
    try:
        pre_id = _send(ssm, plan, at, "pre", token)
    except (ClientError, BotoCoreError) as error:  # SSM answered no: nothing was sent, nothing to undo
        return _fallback(plan, at.volume_id, _not_sent(error, at), request)
    failure: str | None = None
    try:
        if pre_id is None:
            failure = (
                f"the answer to the pre command's SendCommand on instance {at.instance_id} was lost and SSM does "
                "not list the command: it may still run, so the post command is sent anyway"
            )
            return _fallback(plan, at.volume_id, failure, request)
        status, detail = _wait(ssm, pre_id, at.instance_id, _command_timeout(plan), cancellable=True)
        if status != "Success":
            failure = f"the pre command on instance {at.instance_id} ended {status}{detail}"
            return _fallback(plan, at.volume_id, failure, request)
        late = time.monotonic() - sent_at
        if not plan.own_commands and late > plan.max_pause_seconds:
            # The default freeze's timer thaws after max_pause_seconds: a request later than that is not frozen.
            failure = (
                f"the request could go only {late:.0f} s after the pre command was sent to instance {at.instance_id}, "
                f"beyond max_pause_seconds ({plan.max_pause_seconds} s): its timer may have thawed the file systems"
            )
            return _fallback(plan, at.volume_id, failure, request)
        return request(FROZEN)
    finally:
        # Always, as soon as the request is answered or refused: a pre command that failed, timed out or whose
        # answer was lost may have frozen some file systems.
        _resume_writes(ssm, plan, at, failure, token)


def _refuse_unsafe_defaults(plan: Plan, at: Attachment) -> None:
    if plan.own_commands:
        return
    if at.windows:
        raise ConsistencyFailed(
            f"consistency 'frozen' on Windows instance {at.instance_id} needs commands of your own: fsfreeze is "
            "Linux's. Set pre_commands and post_commands (run by AWS-RunPowerShellScript), or ssm_document, or "
            "use consistency 'stopped'."
        )
    if at.root:
        raise ConsistencyFailed(
            f"the root volume of instance {at.instance_id} is among {at.volume_id}: freezing its root file system "
            "would also freeze the SSM agent that must thaw it. Use consistency 'stopped' for a root volume (as the "
            "CreateSnapshot reference advises), or pre_commands and post_commands of your own."
        )


def _send(ssm: Any, plan: Plan, at: Attachment, phase: str, token: str) -> str | None:
    """The command's id; None when SendCommand's answer was lost and SSM does not list the command (it may still have
    been delivered). A ClientError is SSM's answer: not sent."""
    document, parameters = _command(plan, at, phase)
    # SSM API reference, SendCommand: Comment is at most 100 characters.
    comment = f"pulumi-ebs-snapshots {phase} {token} {at.volume_id}"[:100]
    try:
        answer = ssm.send_command(
            InstanceIds=[at.instance_id],
            DocumentName=document,
            Parameters=parameters,
            TimeoutSeconds=30,  # delivery: the instance must take it at once, writes are (or are about to be) paused
            Comment=comment,
        )
    except LOST_ANSWER:
        # The answer is lost, not necessarily the command: SSM may have delivered it (botocore's retries may even
        # have delivered it twice; the default freeze and thaw bear that). Ask SSM for it by its Comment.
        return _listed(ssm, at.instance_id, comment)
    return str(answer["Command"]["CommandId"])


def _listed(ssm: Any, instance_id: str, comment: str) -> str | None:
    """The id of the command sent to `instance_id` with `comment` (unique: it holds a token), if SSM lists it."""
    try:
        # SSM API reference, ListCommandInvocations: filtered by InstanceId, each invocation with its Comment.
        found = ssm.list_command_invocations(InstanceId=instance_id, MaxResults=50)
    except (ClientError, BotoCoreError):
        return None
    ids = [i["CommandId"] for i in found.get("CommandInvocations", []) if i.get("Comment") == comment]
    return str(ids[0]) if ids else None


def _command(plan: Plan, at: Attachment, phase: str) -> tuple[str, dict[str, list[str]]]:
    if plan.ssm_document:  # DLM's convention for a document of pre and post scripts (EBS user guide)
        return plan.ssm_document, {"command": ["pre-script" if phase == "pre" else "post-script"]}
    commands = plan.pre_commands if phase == "pre" else plan.post_commands
    if not commands and not plan.own_commands:
        commands = tuple(freeze_script(at, plan.max_pause_seconds) if phase == "pre" else thaw_script(at))
    document = POWERSHELL_DOCUMENT if at.windows else SHELL_DOCUMENT
    return document, {"commands": list(commands) or ["exit 0"], "executionTimeout": [str(_execution_timeout(plan))]}


def _execution_timeout(plan: Plan) -> int:
    return max(30, plan.max_pause_seconds)


def _command_timeout(plan: Plan) -> float:
    return _execution_timeout(plan) + SETTLE_MARGIN


def _find_mounts(at: Attachment) -> list[str]:
    """Shell lines setting `mounts` to the mount points of the volumes' disks: each found by its NVMe serial on Nitro
    (`vol` and the id's hex), else by the attachment's device name (`/dev/sdf` is `/dev/xvdf` on Xen)."""
    pairs = " ".join(shlex.quote(f"{volume.replace('-', '')}:{device}") for volume, device in at.volumes)
    return [
        'mounts=""',
        f"for pair in {pairs}; do",
        "  serial=${pair%%:*}; device=${pair#*:}",
        "  disk=$(lsblk -dnpo NAME,SERIAL | awk -v s=\"$serial\" '$2 == s {print $1}')",
        '  [ -n "$disk" ] || disk=$(readlink -f "$device" 2>/dev/null || echo "$device" | sed s,/dev/sd,/dev/xvd,)',
        '  mounts="$mounts $(lsblk -lnpo MOUNTPOINT "$disk" | grep -v "^$" || true)"',
        "done",
    ]


# SSM user guide, "SSM Agent technical reference" (files and directories on Linux): the agent writes each Run Command
# script and its output under /var/lib/amazon/ssm and logs to /var/log/amazon/ssm. A frozen file system holding
# either blocks the agent: the pre command cannot report, the post command cannot even be written down to run.
AGENT_PATHS = ("/var/lib/amazon/ssm", "/var/log/amazon/ssm")


def freeze_script(at: Attachment, max_pause_seconds: int) -> list[str]:
    """Linux: freeze each file system mounted from the volumes, each followed at once by a timer that thaws it
    `max_pause_seconds` after its freeze in any case. Refuses (exit 2, nothing frozen) a mount holding `/` or SSM
    Agent's own directories."""
    agent_paths = " ".join(AGENT_PATHS)
    return [
        "set -eu",
        *_find_mounts(at),
        "for m in $mounts; do",
        f"  for p in / {agent_paths}; do",
        '    case "$p/" in "${m%/}/"*)',
        '      echo "refusing to freeze $m: it holds $p, which the SSM agent running this command needs (SSM Agent '
        'technical reference); use pre_commands of your own, or consistency stopped" >&2; exit 2;;',
        "    esac",
        "  done",
        "done",
        # The flush first, outside the pause: it may take long on a busy file system.
        'for m in $mounts; do sync -f "$m"; done',
        # Each timer counts from its own freeze, so no frozen file system is ever left without one.
        "for m in $mounts; do",
        '  fsfreeze -f "$m"',
        f'  nohup sh -c "sleep {max_pause_seconds}; fsfreeze -u $m" >/dev/null 2>&1 &',
        "done",
        'echo "frozen:$mounts"',
    ]


def thaw_script(at: Attachment) -> list[str]:
    """Linux: thaw each file system mounted from the volumes that is frozen."""
    return [
        "set -u",
        *_find_mounts(at),
        'failed=""',
        "for m in $mounts; do",
        # fsfreeze -u on a file system that is not frozen fails EINVAL: only a thaw that leaves it frozen counts.
        '  fsfreeze -u "$m" 2>/dev/null || timeout 5 sync -f "$m" || failed="$failed $m"',
        "done",
        '[ -z "$failed" ] || { echo "still frozen:$failed" >&2; exit 1; }',
        'echo "thawed"',
    ]


def _resume_writes(ssm: Any, plan: Plan, at: Attachment, failure: str | None, token: str) -> None:
    try:
        post_id = _send(ssm, plan, at, "post", token)
        if post_id is None:
            status, detail = "unknown", ": the answer to its SendCommand was lost and SSM does not list it"
        else:
            status, detail = _wait(ssm, post_id, at.instance_id, _command_timeout(plan), cancellable=False)
    except (ClientError, BotoCoreError) as error:
        status, detail = "unsent", f": {explain(error, 'sending the post command', instance=at.instance_id)}"
    if status != "Success":
        earlier = f" (after: {failure})" if failure else ""
        raise ResumeFailed(
            f"the post command on instance {at.instance_id} ended {status}{detail}{earlier}: the file systems of "
            f"{at.volume_id} may still be frozen until the pre command's timer thaws them ({plan.max_pause_seconds} "
            "s after the freeze, with the default commands). Check the instance (`fsfreeze -u <mount point>`), and "
            "its SSM agent."
        )


def _wait(ssm: Any, command_id: str, instance_id: str, timeout: float, *, cancellable: bool) -> tuple[str, str]:
    """The invocation's terminal status and a short detail, or ("still running", ...) at `timeout`."""

    def look() -> dict[str, Any]:
        try:
            return dict(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id))
        except ClientError as error:  # SSM API reference: the invocation may not exist for a moment after sending
            if error_code(error) == "InvocationDoesNotExist":
                return {"Status": "Pending"}
            raise

    def finished(seen: dict[str, Any]) -> bool:
        return seen.get("Status") in ("Success", "Failed", "TimedOut", "Cancelled")

    what = f"for the SSM command on instance {instance_id}"
    if cancellable:
        seen = waiting.until(look, finished, timeout, what=what, every=POLL_SECONDS)
    else:  # the post command after a Cancel: the engine's Cancel must not leave the instance frozen
        seen = _until_uncancellable(look, finished, timeout)
    if not finished(seen):
        return "still running", f" after {int(timeout)} s"
    detail = (seen.get("StandardErrorContent") or "").strip()
    return str(seen["Status"]), f" ({detail[:300]})" if detail else ""


def _until_uncancellable(look: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    seen = look()
    while not done(seen) and time.monotonic() < deadline:
        pause.wait(POLL_SECONDS)
        seen = look()
    return seen


def _not_sent(error: ClientError | BotoCoreError, at: Attachment) -> str:
    if error_code(error) == "InvalidInstanceId":
        return (
            f"SSM cannot run commands on instance {at.instance_id} (InvalidInstanceId): its SSM agent is not "
            "running or not registered, or the instance has no instance profile allowing Systems Manager"
        )
    return explain(error, "sending the pre command", instance=at.instance_id)


def _fallback(plan: Plan, volumes: str, failure: str, request: Callable[[str], T]) -> T:
    if plan.on_failure == CRASH_CONSISTENT:
        return request(CRASH)
    raise ConsistencyFailed(
        f"no snapshot of {volumes} was taken: {failure}. Fix the instance, or set on_failure "
        "'crash_consistent' to take it crash-consistent when writes cannot be paused."
    )


# --- stopped ---------------------------------------------------------------------------------------------------
# Left on the instance from before StopInstances until after StartInstances: the only state that outlives a run killed
# in between (SIGKILL, a cancelled CI runner), so that the next run of the same resource starts the instance again.
# An instance stopped without it was stopped by its owner, and is never started by this provider.
# Its value names the launch that was stopped (`<resource>/<attempt>@<LaunchTime>`): EC2 changes an instance's
# LaunchTime at each start (EC2 API reference, Instance: "the time that the instance was last launched"), so a marker
# naming an older launch than the instance's is stale: its owner started it since, and any stop now is theirs.
STOPPED_BY_TAG = "pulumi-snapshot:stopped-by"


@dataclass(frozen=True)
class StoppedBy:
    """A STOPPED_BY_TAG value, read: the resource that stopped the instance and the launch it stopped."""

    resource: str
    launched: str  # "" in a marker without it: its launch is unknown, so it is never taken as fresh

    @classmethod
    def of(cls, value: str) -> StoppedBy:
        by, _, launched = value.partition("@")
        return cls(resource=by.split("/")[0], launched=launched)

    def fresh(self, at: Attachment) -> bool:
        """The instance was not started since this marker was written: the stop, if any, was this provider's."""
        return bool(self.launched) and self.launched == at.launched


def stopped_by(by: str, at: Attachment) -> str:
    """The STOPPED_BY_TAG value `by` writes before stopping the instance `at` describes (running: its launch now)."""
    return f"{by}@{at.launched}"


# EC2 API reference, StopInstances, and EC2 user guide ("Stop protection", "Instance state changes").
_STOP_REFUSALS = {
    "UnauthorizedOperation": "the credentials lack ec2:StopInstances on it",
    "OperationNotPermitted": "it has stop protection (DisableApiStop): turn it off, or use consistency 'frozen'",
    "IncorrectInstanceState": "it is in a state that cannot be stopped (pending, shutting-down)",
    "UnsupportedOperation": "it cannot be stopped (an instance store root volume, a Spot instance of some kinds)",
}


def _stopped(ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker) -> T:
    marker = stopped_by(asker.by, at)
    try:
        ec2.create_tags(Resources=[at.instance_id], Tags=[{"Key": STOPPED_BY_TAG, "Value": marker}])
    except (ClientError, BotoCoreError) as error:  # nothing stopped: no marker means the instance is not ours
        why = explain(error, f"tagging instance {at.instance_id} {STOPPED_BY_TAG} before stopping it (ec2:CreateTags)")
        return _fallback(plan, at.volume_id, f"instance {at.instance_id} was not stopped: {why}", request)
    try:
        _ask_stop(ec2, at)
    except (ClientError, BotoCoreError) as error:  # EC2 answered no (or was not reached): nothing of ours to start
        _unmark(ec2, at, marker)
        return _fallback(plan, at.volume_id, _stop_refused(error, at), request)
    return _while_stopped(ec2, plan, at, request, marker)


def _while_stopped(ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], marker: str) -> T:
    try:  # from here on the instance may be stopping because of us: started again in any case but leave_stopped
        state = _wait_state(ec2, at.instance_id, ("stopped",), DEFAULT_STOP_TIMEOUT, cancellable=True)
        if state != "stopped":
            return _fallback(
                plan,
                at.volume_id,
                f"instance {at.instance_id} was still {state} after {DEFAULT_STOP_TIMEOUT} s",
                request,
            )
        return request(STOPPED)
    finally:
        if plan.leave_stopped:  # an instance being decommissioned is not booted again for the snapshot wait
            _unmark(ec2, at, marker)
        else:
            _start_again(ec2, at, marker)


def _already_stopped(ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker) -> T:
    """A stopped instance: nothing writes. Started afterwards only when an unfinished run of this resource stopped
    it (its STOPPED_BY_TAG, naming the instance's current launch) and it is not to be left stopped; its owner's stop,
    or another resource's, is left as it is."""
    marker = StoppedBy.of(at.stopped_by)
    if marker.resource != asker.resource:
        if marker.resource and marker.fresh(at):
            progress.engine_log().warning(
                None,
                f"instance {at.instance_id} is stopped and tagged {STOPPED_BY_TAG}={at.stopped_by}: another resource "
                "of this provider stopped it and did not finish; its next `pulumi up` starts it again (or start it "
                f"yourself: aws ec2 start-instances --instance-ids {at.instance_id})",
            )
        return request(STOPPED)
    if not marker.fresh(at):
        _drop_stale(ec2, at, "the instance was started since (its LaunchTime is later), so its owner stopped it")
        return request(STOPPED)
    if plan.leave_stopped:  # ours, and meant to stay stopped
        try:
            return request(STOPPED)
        finally:
            _unmark(ec2, at, at.stopped_by)
    progress.engine_log().warning(
        None,
        f"instance {at.instance_id} was stopped by an earlier run of this resource that did not finish (its "
        f"{STOPPED_BY_TAG} tag): it is started again once the snapshot is requested",
    )
    try:
        return request(STOPPED)
    finally:
        _start_again(ec2, at, at.stopped_by)


def _stop_refused(error: ClientError | BotoCoreError, at: Attachment) -> str:
    code = error_code(error) or ""
    why = _STOP_REFUSALS.get(code)
    if why is None:
        return explain(error, f"stopping instance {at.instance_id}")
    message = error.response.get("Error", {}).get("Message", "") if isinstance(error, ClientError) else ""
    return f"EC2 refused to stop instance {at.instance_id}: {why} ({code}: {message})"


def _drop_stale(ec2: Any, at: Attachment, why: str) -> None:
    """Remove this resource's marker that no longer says who stopped the instance; the instance is left as it is."""
    progress.engine_log().warning(
        None,
        f"instance {at.instance_id} is tagged {STOPPED_BY_TAG}={at.stopped_by} by an earlier run that did not finish, "
        f"but {why}: the tag is removed and the instance left {at.state}",
    )
    _unmark(ec2, at, at.stopped_by)


def _unmark(ec2: Any, at: Attachment, marker: str) -> None:
    # Only this marker (DeleteTags with a value deletes the tag only if it matches): another resource stopping the
    # same instance keeps its own, or a kill of that run would leave the instance stopped with no marker.
    try:
        ec2.delete_tags(Resources=[at.instance_id], Tags=[{"Key": STOPPED_BY_TAG, "Value": marker}])
    except (ClientError, BotoCoreError) as error:  # the instance runs; only a later stop by its owner would mislead
        progress.engine_log().warning(
            None,
            explain(error, f"removing the {STOPPED_BY_TAG} tag from instance {at.instance_id} (ec2:DeleteTags)")
            + " Remove it yourself, or a later stop of the instance may be taken for this provider's",
        )


def _ask_stop(ec2: Any, at: Attachment) -> None:
    try:
        ec2.stop_instances(InstanceIds=[at.instance_id])
    except LOST_ANSWER:
        # The answer is lost, not necessarily the request: the instance may be stopping. Asking again is harmless
        # (EC2 API reference, StopInstances: an instance already stopping or stopped stays so) and usually answered;
        # if not, the stop is taken as asked: waited for, and the instance started again.
        with contextlib.suppress(ClientError, BotoCoreError):
            ec2.stop_instances(InstanceIds=[at.instance_id])


def _start_again(ec2: Any, at: Attachment, marker: str) -> None:
    """Start the instance this provider stopped, then take its STOPPED_BY_TAG away (left when the start fails: the
    next run starts it)."""
    try:
        state = _wait_state(ec2, at.instance_id, ("stopped",), DEFAULT_STOP_TIMEOUT, cancellable=False)
        if state == "stopped":
            ec2.start_instances(InstanceIds=[at.instance_id])
    except (ClientError, BotoCoreError) as error:
        raise ResumeFailed(
            explain(error, f"starting instance {at.instance_id} again after its snapshot request")
            + f" Start it yourself: aws ec2 start-instances --instance-ids {at.instance_id} (the next `pulumi up` "
            "of this resource starts it too)"
        ) from error
    if state == "running":  # the stop never took effect (its request lost on the way): nothing to start
        _unmark(ec2, at, marker)
        return
    if state != "stopped":
        raise ResumeFailed(
            f"instance {at.instance_id} was still {state} after {DEFAULT_STOP_TIMEOUT} s, so it was not started "
            f"again: start it once it is stopped (aws ec2 start-instances --instance-ids {at.instance_id})"
        )
    _unmark(ec2, at, marker)


def _wait_state(ec2: Any, instance_id: str, wanted: tuple[str, ...], timeout: float, *, cancellable: bool) -> str:
    def look() -> str:
        [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return str(reservation["Instances"][0]["State"]["Name"])

    if cancellable:
        return waiting.until(look, lambda s: s in wanted, timeout, what=f"for instance {instance_id} to stop")
    return _until_uncancellable(look, lambda s: s in wanted, timeout)


def after_unfinished_run(ec2: Any, props: Mapping[str, Any], resource: str, urn: str | None, *, start: bool) -> None:
    """An instance an unfinished run of this resource (`resource`: its token) stopped and did not start again (its
    fresh STOPPED_BY_TAG): `delete` (start=True) starts it, as the next `up` would, since a destroy after a killed
    `up` expects the instance back; `read` (refresh) only says so. Nothing for other consistencies, nor with
    `leave_stopped`; an instance that cannot be read is passed over (a destroy never waits on it)."""
    plan = Plan.of(props)
    if plan.consistency != STOPPED or plan.leave_stopped:
        return
    try:
        if props.get("instance_id"):
            instance_ids = [str(props["instance_id"])]
        else:
            instance_ids = [i for i, _ in attached_instances(ec2, str(props.get("volume_id")))]
        found = [instance_attachment(ec2, i, []) for i in instance_ids]
    except (ClientError, BotoCoreError, ValueError):  # gone, or not readable: nothing this provider can start
        return
    for at in found:
        marker = StoppedBy.of(at.stopped_by)
        if at.state not in ("stopping", "stopped") or marker.resource != resource or not marker.fresh(at):
            continue
        if not start:
            progress.engine_log().warning(
                urn,
                f"instance {at.instance_id} is {at.state}: an earlier run of this resource stopped it and did not "
                "finish. The next `pulumi up` or `pulumi destroy` starts it again (or start it yourself: aws ec2 "
                f"start-instances --instance-ids {at.instance_id})",
            )
            continue
        progress.engine_log().info(
            urn, f"instance {at.instance_id}: an earlier run stopped it and did not finish: starting it again"
        )
        _start_again(ec2, at, at.stopped_by)
