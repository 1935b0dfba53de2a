"""`permission_check=True` for a snapshot resource: at preview, every call of its create's plan that EC2 can answer
with DryRun (`ec2.permissions`), asked with the requests the create sends.

The plan (`create`): its reads (`_reads`); the start request, tagged at creation (`taking.take`, `Source.request`);
for `consistency: stopped`, the instance's stopped-by tag, StopInstances, StartInstances and the tag removed
(`quiesce.stopping`); once the snapshot completed, ModifySnapshotTier for `storage_tier: archive`, the lock
(`locks.adopt`), and the `recorded` tag (`completion.hand_over`). `consistency: frozen` sends SSM commands, which have
no DryRun: not asked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, Kind
from snapshot_provider.core.lifecycle.taking import asker, request_tags
from snapshot_provider.core.quiesce import stopping
from snapshot_provider.core.quiesce.instance import Attachment, attached_instances, instance_attachment
from snapshot_provider.ec2 import clients, permissions
from snapshot_provider.inputs.consistency import CRASH, STOPPED, Plan
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.inputs.rules import contains_unknown
from snapshot_provider.inputs.schema import Failure

PREVIEW_ATTEMPT = "preview"  # the attempt id of the request asked about (a real one is random)


def denied(kind: Kind, props: Mapping[str, Any]) -> list[Failure]:
    """The calls of a create of `kind` with these inputs that EC2 would deny, each a failure naming it."""
    if contains_unknown(props):
        return []  # depends on resources not created yet (at any depth): checked at the preview where they are known
    inputs = kind.schema.parse(props)
    return permissions.check_plan(inputs, lambda: _asked(kind, inputs))


def _asked(kind: Kind, inputs: Mapping[str, Any]) -> list[Failure]:
    """Every call of the create's plan, in its order."""
    plan = Plan.of(inputs)
    urn = inputs.get(URN_INPUT)
    # The volumes' own tags (copy_volume_tags) are read only when the create runs: asked with the input tags.
    desired: defaultdict[str, dict[str, str]] = defaultdict(lambda: dict(inputs["tags"]))
    tags = {**request_tags(kind, inputs, desired, urn), ATTEMPT_TAG: PREVIEW_ATTEMPT}
    return [
        *permissions.check_reads(inputs, permissions.CREATES[kind.action], _reads(kind, inputs, plan)),
        *permissions.check_create(inputs, kind.action, kind.request(inputs, tags, plan.consistency)),
        *_stopping(inputs, plan, urn),
        *permissions.check_archive(inputs),
        *permissions.check_lock(inputs),
        *permissions.check_tagging_snapshot(inputs, permissions.CREATES[kind.action], {ATTEMPT_TAG: RECORDED}),
    ]


def _reads(kind: Kind, inputs: Mapping[str, Any], plan: Plan) -> list[str]:
    """The Describe calls the create makes: DescribeSnapshots (what an earlier attempt left, the wait); DescribeVolumes
    for the volumes' own tags (`taking`) and, pausing writes, the volumes' instances (`pausing`); DescribeInstances for
    an instance's volumes (`InstanceSetSource.members`) and, pausing writes, its state."""
    pauses = plan.consistency != CRASH
    return [
        "DescribeSnapshots",
        *(["DescribeVolumes"] if pauses or kind.copies_volume_tags(inputs) else []),
        *(["DescribeInstances"] if pauses or kind.action == "CreateSnapshots" else []),
    ]


def _stopping(inputs: Mapping[str, Any], plan: Plan, urn: str | None) -> list[Failure]:
    """For `consistency: stopped`: the calls on the instance the create stops, with the holder tag it writes."""
    if plan.consistency != STOPPED:
        return []
    at = _paused_instance(inputs)
    if at is None:
        return []
    holder = stopping.stopped_by(asker(urn, PREVIEW_ATTEMPT), at)
    return permissions.check_stopping(inputs, at.instance_id, holder, starts_again=not plan.leave_stopped)


def _paused_instance(inputs: Mapping[str, Any]) -> Attachment | None:
    """The instance the create pauses, as EC2 describes it: InstanceSnapshots' own, or the one instance an
    EbsSnapshot's volume is attached to (none, or several with Multi-Attach: the create pauses none)."""
    ec2 = clients.client(AccountSelection.from_props(inputs))
    try:
        if inputs.get("instance_id"):
            return instance_attachment(ec2, str(inputs["instance_id"]), [])
        attached = attached_instances(ec2, inputs["volume_id"])
        if len(attached) != 1:
            return None
        [(instance_id, device)] = attached
        return instance_attachment(ec2, instance_id, [(inputs["volume_id"], device)])
    except (ClientError, BotoCoreError):
        # Not readable: a denial is the reads' DryRun's failure (`_reads`), anything else the start request's.
        return None
