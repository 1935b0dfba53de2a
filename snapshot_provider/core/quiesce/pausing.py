"""Around a snapshot request: pause the writes the plan's way (`frozen` through SSM, `stopped` by stopping the
instance), or fall back to a crash-consistent request, or to none (`on_failure`). See the package's docstring."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core.quiesce import commands, stopping
from snapshot_provider.core.quiesce.instance import (
    IN_TRANSITION,
    STOPPED_BY_TAG,
    Attachment,
    ConsistencyFailed,
    attached_instances,
    instance_attachment,
)
from snapshot_provider.core.quiesce.stopping import StoppedBy
from snapshot_provider.ec2.errors import explain
from snapshot_provider.inputs.consistency import CRASH, CRASH_CONSISTENT, DETACHED, FROZEN, STOPPED, Plan
from snapshot_provider.process.engine_log import engine_log

T = TypeVar("T")


def announce(urn: str | None, plan: Plan, instance: str) -> None:
    """Say at check (preview and up, before anything happens; no AWS call) what will happen to the instance
    (`instance`: "instance i-...", or "the instance that volume vol-... is attached to")."""
    line = plan.preview(instance)
    if line:
        engine_log().info(urn, line)


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


def _paused(
    ec2: Any, ssm: Callable[[], Any], plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker
) -> T:
    at = stopping.tidy(ec2, at, asker.resource)
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
        pre_id = commands.send(ssm, plan, at, "pre", token)
    except (ClientError, BotoCoreError) as error:  # SSM answered no: nothing was sent, nothing to undo
        return _fallback(plan, at.volume_id, commands.not_sent(error, at), request)
    failure: str | None = None
    try:
        if pre_id is None:
            failure = (
                f"the answer to the pre command's SendCommand on instance {at.instance_id} was lost and SSM does "
                "not list the command: it may still run, so the post command is sent anyway"
            )
            return _fallback(plan, at.volume_id, failure, request)
        status, detail = commands.wait(ssm, pre_id, at.instance_id, commands.command_timeout(plan), cancellable=True)
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
        commands.resume_writes(ssm, plan, at, failure, token)


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


def _fallback(plan: Plan, volumes: str, failure: str, request: Callable[[str], T]) -> T:
    if plan.on_failure == CRASH_CONSISTENT:
        return request(CRASH)
    raise ConsistencyFailed(
        f"no snapshot of {volumes} was taken: {failure}. Fix the instance, or set on_failure "
        "'crash_consistent' to take it crash-consistent when writes cannot be paused."
    )


def _stopped(ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker) -> T:
    try:
        mine = stopping.mark(ec2, at, asker.by)
    except (ClientError, BotoCoreError) as error:  # nothing stopped: no tag means the instance is not ours
        why = explain(error, f"tagging instance {at.instance_id} {STOPPED_BY_TAG} before stopping it (ec2:CreateTags)")
        return _fallback(plan, at.volume_id, f"instance {at.instance_id} was not stopped: {why}", request)
    try:
        answer = stopping.ask_stop(ec2, at)
    except (ClientError, BotoCoreError) as error:  # EC2 answered no (or was not reached): nothing of ours to start
        stopping.unmark(ec2, at, mine)
        return _fallback(plan, at.volume_id, stopping.stop_refused(error, at), request)
    if answer == stopping.NOT_OURS:
        return _stopped_before_ours(ec2, plan, at, request, mine, asker)
    if answer == stopping.BEGAN:  # confirmed before the wait for `stopped` (minutes), when a run is most likely killed
        mine = stopping.confirm(ec2, at, mine, asker.by)
    return _while_stopped(ec2, plan, at, request, mine, asker)


def _stopped_before_ours(
    ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], mine: StoppedBy, asker: Asker
) -> T:
    """A stop that began before this resource's StopInstances (its answer: PreviousState `stopping` or `stopped`).
    Joined when another resource of ours holds it by a confirmed stop; otherwise it is its owner's: the snapshot is
    requested once the instance is stopped, this resource's tag removed, and the instance never started."""
    if stopping.others_holding(ec2, at, asker.resource, confirmed=True):
        return _while_stopped(ec2, plan, at, request, mine, asker)
    try:  # the tag stays through the wait: another resource of ours whose stop this was leaves the start to us
        state = stopping.wait_state(ec2, at.instance_id, ("stopped",), stopping.DEFAULT_STOP_TIMEOUT, cancellable=True)
        joins = state == "stopped" and bool(stopping.others_holding(ec2, at, asker.resource, confirmed=True))
    except BaseException:
        stopping.unmark(ec2, at, mine)
        raise
    if joins:
        return _while_stopped(ec2, plan, at, request, mine, asker)
    stopping.unmark(ec2, at, mine)
    if state != "stopped":
        after = stopping.DEFAULT_STOP_TIMEOUT
        why = f"instance {at.instance_id}, stopped by someone else, was still {state} after {after} s"
        return _fallback(plan, at.volume_id, why, request)
    engine_log().warning(
        None,
        f"instance {at.instance_id} was already being stopped when this resource asked EC2 to stop it (StopInstances "
        "answered PreviousState stopping or stopped): that stop is its owner's, not this provider's, so the snapshot "
        "is taken with the instance stopped and the instance is left stopped (this provider starts only an instance "
        f"it stopped). If it should run: aws ec2 start-instances --instance-ids {at.instance_id}",
    )
    return request(STOPPED)


def _while_stopped(
    ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], mine: StoppedBy, asker: Asker
) -> T:
    try:  # from here on the instance may be stopping because of us: started again in any case but leave_stopped
        state = stopping.wait_state(ec2, at.instance_id, ("stopped",), stopping.DEFAULT_STOP_TIMEOUT, cancellable=True)
        if state != "stopped":
            return _fallback(
                plan,
                at.volume_id,
                f"instance {at.instance_id} was still {state} after {stopping.DEFAULT_STOP_TIMEOUT} s",
                request,
            )
        mine = stopping.confirm(ec2, at, mine, asker.by)
        return request(STOPPED)
    finally:
        _release(ec2, plan, at, mine)


def _release(ec2: Any, plan: Plan, at: Attachment, mine: StoppedBy) -> None:
    if plan.leave_stopped:  # an instance being decommissioned is not booted again for the snapshot wait
        stopping.unmark(ec2, at, mine)
    else:
        stopping.start_again(ec2, at, mine)


def _already_stopped(ec2: Any, plan: Plan, at: Attachment, request: Callable[[str], T], asker: Asker) -> T:
    """A stopped instance: nothing writes. Started afterwards only when it is held stopped by a confirmed stop of this
    resource (an unfinished run's), or of another resource of ours that this one joins, no other holder remains, and
    it is not to be left stopped. Its owner's stop is left as it is."""
    tags = stopping.holders(at)  # tidied: this resource's own, if any, is a confirmed stop of this launch
    mine = next((t for t in tags if t.resource == asker.resource), None)
    if mine is not None and not plan.leave_stopped:
        engine_log().warning(
            None,
            f"instance {at.instance_id} was stopped by an earlier run of this resource that did not finish (its "
            f"{mine.key} tag): it is started again once the snapshot is requested, unless another holds it stopped",
        )
    elif any(t.confirmed for t in tags):
        mine, why = _join(ec2, at, asker)
        if mine is None:
            return _fallback(plan, at.volume_id, why, request)
    else:
        # Its owner's stop, or one of ours not yet confirmed (that run requests its snapshot and looks for other
        # holders before its start): requested at once, not held.
        return request(STOPPED)
    try:
        return request(STOPPED)
    finally:
        _release(ec2, plan, at, mine)


def _join(ec2: Any, at: Attachment, asker: Asker) -> tuple[StoppedBy | None, str]:
    """Hold the instance another resource of ours stopped, so that it is not started before this resource's request
    (its tag, then a look that it is still stopped); or None, and why not."""
    try:
        mine = stopping.mark(ec2, at, asker.by, stopping.STOPPED)
    except (ClientError, BotoCoreError) as error:
        return None, explain(error, f"tagging instance {at.instance_id} to hold its stop (ec2:CreateTags)")
    if stopping.state_now(ec2, at.instance_id) != "stopped":
        stopping.unmark(ec2, at, mine)
        return None, f"instance {at.instance_id} was started by another resource of this provider meanwhile"
    return mine, ""
