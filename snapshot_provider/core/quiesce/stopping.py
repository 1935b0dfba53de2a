"""Stop and start an instance for `consistency: stopped`, with one stopped-by tag per resource holding it stopped:
the only state that outlives a run killed in between, so that the next run of the same resource starts the instance
again, and the last of several resources stopping it at once starts it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core import waiting
from snapshot_provider.core.quiesce.instance import (
    LOST_ANSWER,
    POLL_SECONDS,
    STOPPED_BY_TAG,
    Attachment,
    ResumeFailed,
    instance_attachment,
)
from snapshot_provider.ec2.errors import error_code, explain
from snapshot_provider.process.engine_log import engine_log

DEFAULT_STOP_TIMEOUT = 900  # AWS publishes no bound for `stopping`; 15 min covers a slow OS shutdown


STOPPING, STOPPED = "stopping", "stopped"  # a holder tag's phase: the stop asked for; EC2 showed it done


@dataclass(frozen=True)
class StoppedBy:
    """One STOPPED_BY_TAG tag, read: which resource holds the instance stopped, how far its stop went, which launch."""

    key: str
    value: str
    resource: str
    launched: str  # "" when the tag does not say: its launch is unknown, so it is never taken as fresh
    confirmed: bool  # EC2 showed the instance stopped after this resource's StopInstances
    written: str = ""  # when the tag was written (UTC), for messages

    @classmethod
    def of(cls, key: str, value: str) -> StoppedBy:
        if key == STOPPED_BY_TAG:  # an earlier build's single tag, `<resource>/<attempt>@<LaunchTime>`
            # Written before its StopInstances, like this build's `stopping` phase: its stop is never taken as sure.
            by, _, launched = value.partition("@")
            return cls(key, value, resource=by.split("/")[0], launched=launched, confirmed=False)
        phase, _, rest = value.partition(" ")  # `<phase> <resource>/<attempt>@<LaunchTime> <written>`
        by, _, rest = rest.partition("@")
        launched, _, written = rest.partition(" ")
        resource = key.removeprefix(STOPPED_BY_TAG + ":")
        return cls(key, value, resource, launched, confirmed=phase == STOPPED, written=written)

    def fresh(self, at: Attachment) -> bool:
        """The instance was not started since this tag was written: the stop, if any, was this provider's."""
        return bool(self.launched) and self.launched == at.launched


def holder_key(resource: str) -> str:
    """The tag by which a resource (its token) holds an instance stopped."""
    return f"{STOPPED_BY_TAG}:{resource}"


def holders(at: Attachment) -> list[StoppedBy]:
    """The instance's STOPPED_BY_TAG tags, as `at` read them."""
    return [StoppedBy.of(key, value) for key, value in at.stopped_by]


def stopped_by(by: str, at: Attachment, phase: str = STOPPING) -> tuple[str, str]:
    """The tag (key, value) `by` (`<resource>/<attempt>`) holds the instance `at` describes by, its launch now."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return holder_key(by.split("/")[0]), f"{phase} {by}@{at.launched} {when}"


# EC2 API reference, StopInstances, and EC2 user guide ("Stop protection", "Instance state changes").
_STOP_REFUSALS = {
    "UnauthorizedOperation": "the credentials lack ec2:StopInstances on it",
    "OperationNotPermitted": "it has stop protection (DisableApiStop): turn it off, or use consistency 'frozen'",
    "IncorrectInstanceState": "it is in a state that cannot be stopped (pending, shutting-down)",
    "UnsupportedOperation": "it cannot be stopped (an instance store root volume, a Spot instance of some kinds)",
}


def stop_refused(error: ClientError | BotoCoreError, at: Attachment) -> str:
    code = error_code(error) or ""
    why = _STOP_REFUSALS.get(code)
    if why is None:
        return explain(error, f"stopping instance {at.instance_id}")
    message = error.response.get("Error", {}).get("Message", "") if isinstance(error, ClientError) else ""
    return f"EC2 refused to stop instance {at.instance_id}: {why} ({code}: {message})"


def tidy(ec2: Any, at: Attachment, resource: str) -> Attachment:
    """Remove the instance's holder tags that no longer say who holds it stopped (a stale one, whoever's; this
    resource's own unless it is the confirmed stop of a stopped instance), saying why; `at` with the tags kept."""
    kept = []
    for tag in holders(at):
        why = _outdated(at, tag, resource)
        if why:
            engine_log().warning(None, f"instance {at.instance_id} is tagged {tag.key}={tag.value}: {why}")
            unmark(ec2, at, tag)
        else:
            kept.append((tag.key, tag.value))
    return replace(at, stopped_by=tuple(kept))


def _outdated(at: Attachment, tag: StoppedBy, resource: str) -> str | None:
    """Why the tag no longer holds the instance, or None."""
    if not tag.fresh(at):
        return (
            "the instance was started since (its LaunchTime is later), so any stop of it now is its owner's: the tag "
            f"is removed and the instance left {at.state}"
        )
    if tag.resource == resource and at.state == "running":
        return "the instance is running, so that stop never took effect: the tag is removed"
    if tag.resource == resource and at.state == "stopped" and not tag.confirmed:
        # The run that wrote it died between its StopInstances and seeing the instance stopped; or its StopInstances
        # never reached EC2 and the owner stopped the instance since. EC2 cannot tell which: never started.
        by = f" at {tag.written}" if tag.written else ""
        seen = f" (EC2: {at.stop_reason})" if at.stop_reason else ""
        return (
            f"it may have been stopped by this resource's killed run{by}, or by its owner since{seen}. It is left "
            f"stopped and the tag removed; if this resource stopped it, start it with `aws ec2 start-instances "
            f"--instance-ids {at.instance_id}`"
        )
    return None


def mark(ec2: Any, at: Attachment, by: str, phase: str = STOPPING) -> StoppedBy:
    """Tag the instance as held stopped by `by` (before stopping it: `stopping`; joining a stop: `stopped`)."""
    key, value = stopped_by(by, at, phase)
    ec2.create_tags(Resources=[at.instance_id], Tags=[{"Key": key, "Value": value}])
    return StoppedBy.of(key, value)


def confirm(ec2: Any, at: Attachment, mine: StoppedBy, by: str) -> StoppedBy:
    """Rewrite this resource's tag as `stopped` once EC2 shows that its StopInstances stopped the instance (the answer
    says so, or the instance is seen stopped after it): a run killed from here on is started again by the next. Left
    `stopping` if EC2 refuses (a kill then leaves it stopped, with a warning on the next run)."""
    if mine.confirmed:
        return mine
    try:
        return mark(ec2, at, by, STOPPED)
    except (ClientError, BotoCoreError):
        return mine


def unmark(ec2: Any, at: Attachment, tag: StoppedBy) -> None:
    # Only this tag with its value (DeleteTags with a value deletes the tag only if it matches).
    try:
        ec2.delete_tags(Resources=[at.instance_id], Tags=[{"Key": tag.key, "Value": tag.value}])
    except (ClientError, BotoCoreError) as error:  # the instance runs; only a later stop by its owner would mislead
        engine_log().warning(
            None,
            explain(error, f"removing the {tag.key} tag from instance {at.instance_id} (ec2:DeleteTags)")
            + " Remove it yourself, or a later stop of the instance may be taken for this provider's",
        )


BEGAN, NOT_OURS, UNANSWERED = "began", "not ours", "unanswered"  # what StopInstances' answer says of the stop


def ask_stop(ec2: Any, at: Attachment) -> str:
    """StopInstances, and what its answer says (EC2 API reference, StopInstances: each instance's PreviousState):
    BEGAN when this request began the stop (`running`): EC2's own word that the stop is this provider's; NOT_OURS
    when a stop began before it (`stopping` or `stopped`: its owner's, or another resource's); UNANSWERED when the
    answer was lost or does not say."""
    try:
        answer = ec2.stop_instances(InstanceIds=[at.instance_id])
    except LOST_ANSWER:
        # The answer is lost, not necessarily the request: the instance may be stopping. Asking again is harmless
        # (EC2 API reference, StopInstances: an instance already stopping or stopped stays so) and usually answered;
        # if not, the stop is taken as asked: waited for, and the instance started again.
        with contextlib.suppress(ClientError, BotoCoreError):
            ec2.stop_instances(InstanceIds=[at.instance_id])
        return UNANSWERED
    before = {c.get("PreviousState", {}).get("Name") for c in answer.get("StoppingInstances", [])}
    if "running" in before:
        return BEGAN
    if before and before <= {"stopping", "stopped"}:
        return NOT_OURS
    return UNANSWERED


def others_holding(ec2: Any, at: Attachment, resource: str, *, confirmed: bool = False) -> list[StoppedBy]:
    """The fresh holder tags of other resources of ours on the instance, as EC2 lists them now (only those whose stop
    EC2 showed, if `confirmed`)."""
    now = instance_attachment(ec2, at.instance_id, list(at.volumes))
    found = [tag for tag in holders(now) if tag.resource != resource and tag.fresh(now)]
    return [tag for tag in found if tag.confirmed] if confirmed else found


def start_again(ec2: Any, at: Attachment, mine: StoppedBy) -> None:
    """Start the instance this provider stopped, unless another resource of ours still holds it stopped (the last
    holder starts it), then take this resource's tag away (left when the start fails: the next run starts it)."""
    try:
        state = wait_state(ec2, at.instance_id, ("stopped",), DEFAULT_STOP_TIMEOUT, cancellable=False)
        others = others_holding(ec2, at, mine.resource) if state == "stopped" else []
        if state == "stopped" and not others:
            ec2.start_instances(InstanceIds=[at.instance_id])
    except (ClientError, BotoCoreError) as error:
        raise ResumeFailed(
            explain(error, f"starting instance {at.instance_id} again after its snapshot request")
            + f" Start it yourself: aws ec2 start-instances --instance-ids {at.instance_id} (the next `pulumi up` "
            "of this resource starts it too)"
        ) from error
    if state not in ("running", "stopped"):
        raise ResumeFailed(
            f"instance {at.instance_id} was still {state} after {DEFAULT_STOP_TIMEOUT} s, so it was not started "
            f"again: start it once it is stopped (aws ec2 start-instances --instance-ids {at.instance_id})"
        )
    if others:
        engine_log().warning(
            None,
            f"instance {at.instance_id} stays stopped: {', '.join(t.key for t in others)} of this provider holds it "
            "stopped too, and the last holder starts it again (if that run was cut short, its next `pulumi up`; or "
            f"start it yourself: aws ec2 start-instances --instance-ids {at.instance_id})",
        )
    unmark(ec2, at, mine)  # started, or still running (the stop never took effect), or held by another


def state_now(ec2: Any, instance_id: str) -> str:
    """The instance's state, as EC2 describes it now."""
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def wait_state(ec2: Any, instance_id: str, wanted: tuple[str, ...], timeout: float, *, cancellable: bool) -> str:
    def look() -> str:
        return state_now(ec2, instance_id)

    if cancellable:
        return waiting.until(look, lambda s: s in wanted, timeout, what=f"for instance {instance_id} to stop")
    return waiting.until_uncancellable(look, lambda s: s in wanted, timeout, every=POLL_SECONDS)
