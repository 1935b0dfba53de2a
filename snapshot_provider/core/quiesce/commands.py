"""SSM Run Command for `consistency: frozen`: send the pre or post command (found again by a token in its Comment
when SendCommand's answer is lost), and wait for it, also through a Cancel for the post command."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core import waiting
from snapshot_provider.core.quiesce.default_scripts import freeze_script, thaw_script
from snapshot_provider.core.quiesce.instance import LOST_ANSWER, POLL_SECONDS, Attachment, ResumeFailed
from snapshot_provider.ec2.errors import error_code, explain
from snapshot_provider.inputs.consistency import Plan

SHELL_DOCUMENT = "AWS-RunShellScript"  # SSM's own documents: `commands` and `executionTimeout` parameters
POWERSHELL_DOCUMENT = "AWS-RunPowerShellScript"
SETTLE_MARGIN = 30.0  # beyond a command's own executionTimeout, for SSM to report it


def send(ssm: Any, plan: Plan, at: Attachment, phase: str, token: str) -> str | None:
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


def command_timeout(plan: Plan) -> float:
    return _execution_timeout(plan) + SETTLE_MARGIN


def resume_writes(ssm: Any, plan: Plan, at: Attachment, failure: str | None, token: str) -> None:
    try:
        post_id = send(ssm, plan, at, "post", token)
        if post_id is None:
            status, detail = "unknown", ": the answer to its SendCommand was lost and SSM does not list it"
        else:
            status, detail = wait(ssm, post_id, at.instance_id, command_timeout(plan), cancellable=False)
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


def wait(ssm: Any, command_id: str, instance_id: str, timeout: float, *, cancellable: bool) -> tuple[str, str]:
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
        seen = waiting.until_uncancellable(look, finished, timeout, every=POLL_SECONDS)
    if not finished(seen):
        return "still running", f" after {int(timeout)} s"
    detail = (seen.get("StandardErrorContent") or "").strip()
    return str(seen["Status"]), f" ({detail[:300]})" if detail else ""


def not_sent(error: ClientError | BotoCoreError, at: Attachment) -> str:
    if error_code(error) == "InvalidInstanceId":
        return (
            f"SSM cannot run commands on instance {at.instance_id} (InvalidInstanceId): its SSM agent is not "
            "running or not registered, or the instance has no instance profile allowing Systems Manager"
        )
    return explain(error, "sending the pre command", instance=at.instance_id)
