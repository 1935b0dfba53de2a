"""Stop and start an instance for `consistency: stopped`, with its stopped-by tag: the only state that outlives a run
killed in between, so that the next run of the same resource starts the instance again."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core import progress, waiting
from snapshot_provider.core.quiesce.instance import (
    LOST_ANSWER,
    POLL_SECONDS,
    STOPPED_BY_TAG,
    Attachment,
    ResumeFailed,
)
from snapshot_provider.ec2.errors import error_code, explain

DEFAULT_STOP_TIMEOUT = 900  # AWS publishes no bound for `stopping`; 15 min covers a slow OS shutdown


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


def stop_refused(error: ClientError | BotoCoreError, at: Attachment) -> str:
    code = error_code(error) or ""
    why = _STOP_REFUSALS.get(code)
    if why is None:
        return explain(error, f"stopping instance {at.instance_id}")
    message = error.response.get("Error", {}).get("Message", "") if isinstance(error, ClientError) else ""
    return f"EC2 refused to stop instance {at.instance_id}: {why} ({code}: {message})"


def drop_stale(ec2: Any, at: Attachment, why: str) -> None:
    """Remove this resource's marker that no longer says who stopped the instance; the instance is left as it is."""
    progress.engine_log().warning(
        None,
        f"instance {at.instance_id} is tagged {STOPPED_BY_TAG}={at.stopped_by} by an earlier run that did not finish, "
        f"but {why}: the tag is removed and the instance left {at.state}",
    )
    unmark(ec2, at, at.stopped_by)


def mark(ec2: Any, at: Attachment, by: str) -> str:
    """Tag the running instance STOPPED_BY_TAG before stopping it; the tag's value."""
    marker = stopped_by(by, at)
    ec2.create_tags(Resources=[at.instance_id], Tags=[{"Key": STOPPED_BY_TAG, "Value": marker}])
    return marker


def unmark(ec2: Any, at: Attachment, marker: str) -> None:
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


def ask_stop(ec2: Any, at: Attachment) -> None:
    try:
        ec2.stop_instances(InstanceIds=[at.instance_id])
    except LOST_ANSWER:
        # The answer is lost, not necessarily the request: the instance may be stopping. Asking again is harmless
        # (EC2 API reference, StopInstances: an instance already stopping or stopped stays so) and usually answered;
        # if not, the stop is taken as asked: waited for, and the instance started again.
        with contextlib.suppress(ClientError, BotoCoreError):
            ec2.stop_instances(InstanceIds=[at.instance_id])


def start_again(ec2: Any, at: Attachment, marker: str) -> None:
    """Start the instance this provider stopped, then take its STOPPED_BY_TAG away (left when the start fails: the
    next run starts it)."""
    try:
        state = wait_state(ec2, at.instance_id, ("stopped",), DEFAULT_STOP_TIMEOUT, cancellable=False)
        if state == "stopped":
            ec2.start_instances(InstanceIds=[at.instance_id])
    except (ClientError, BotoCoreError) as error:
        raise ResumeFailed(
            explain(error, f"starting instance {at.instance_id} again after its snapshot request")
            + f" Start it yourself: aws ec2 start-instances --instance-ids {at.instance_id} (the next `pulumi up` "
            "of this resource starts it too)"
        ) from error
    if state == "running":  # the stop never took effect (its request lost on the way): nothing to start
        unmark(ec2, at, marker)
        return
    if state != "stopped":
        raise ResumeFailed(
            f"instance {at.instance_id} was still {state} after {DEFAULT_STOP_TIMEOUT} s, so it was not started "
            f"again: start it once it is stopped (aws ec2 start-instances --instance-ids {at.instance_id})"
        )
    unmark(ec2, at, marker)


def wait_state(ec2: Any, instance_id: str, wanted: tuple[str, ...], timeout: float, *, cancellable: bool) -> str:
    def look() -> str:
        [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return str(reservation["Instances"][0]["State"]["Name"])

    if cancellable:
        return waiting.until(look, lambda s: s in wanted, timeout, what=f"for instance {instance_id} to stop")
    return waiting.until_uncancellable(look, lambda s: s in wanted, timeout, every=POLL_SECONDS)
