"""`permission_check=True` for a snapshot resource: at preview, every call of its create's plan that EC2 can answer
with DryRun (`ec2.permissions`), asked with the requests the create sends.

The plan (`create`): the start request, tagged at creation (`taking.take`, `Source.request`); for `consistency:
stopped`, the instance's stopped-by tag, StopInstances, StartInstances and the tag removed (`quiesce.stopping`);
once the snapshot completed, ModifySnapshotTier for `storage_tier: archive`, the lock (`locks.adopt`), and the
`recorded` tag (`completion.hand_over`). `consistency: frozen` sends SSM commands, which have no DryRun: not asked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, Kind, resource_token
from snapshot_provider.core.lifecycle.taking import request_tags
from snapshot_provider.core.quiesce import stopping
from snapshot_provider.core.quiesce.instance import attached_instances
from snapshot_provider.ec2 import clients, permissions
from snapshot_provider.inputs.consistency import STOPPED, Plan
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.inputs.rules import contains_unknown
from snapshot_provider.inputs.schema import Failure

PREVIEW_ATTEMPT = "preview"  # the attempt id of the request asked about (a real one is random)


def denied(kind: Kind, props: Mapping[str, Any]) -> list[Failure]:
    """The calls of a create of `kind` with these inputs that EC2 would deny, each a failure naming it."""
    if contains_unknown(props):
        return []  # depends on resources not created yet (at any depth): checked at the preview where they are known
    inputs = kind.schema.parse(props)
    if credentials := permissions.check_credentials(inputs):
        return credentials  # no call of the plan can be asked
    plan = Plan.of(inputs)
    urn = inputs.get(URN_INPUT)
    # The volumes' own tags (copy_volume_tags) are read only when the create runs: asked with the input tags.
    desired: defaultdict[str, dict[str, str]] = defaultdict(lambda: dict(inputs["tags"]))
    tags = {**request_tags(kind, inputs, desired, urn), ATTEMPT_TAG: PREVIEW_ATTEMPT}
    return [
        *permissions.check_create(inputs, kind.action, kind.request(inputs, tags, plan.consistency)),
        *_stopping(inputs, plan, urn),
        *permissions.check_archive(inputs),
        *permissions.check_lock(inputs),
        *permissions.check_tagging_snapshot(inputs, permissions.CREATES[kind.action], {ATTEMPT_TAG: RECORDED}),
    ]


def _stopping(inputs: Mapping[str, Any], plan: Plan, urn: str | None) -> list[Failure]:
    """For `consistency: stopped`: the calls on the instance the create stops, with its holder tag."""
    if plan.consistency != STOPPED:
        return []
    instance_id = _paused_instance(inputs)
    if instance_id is None:
        return []
    resource = resource_token(urn) if urn else "unnamed"
    holder = (stopping.holder_key(resource), f"{stopping.STOPPING} {resource}/{PREVIEW_ATTEMPT}")
    return permissions.check_stopping(inputs, instance_id, holder, starts_again=not plan.leave_stopped)


def _paused_instance(inputs: Mapping[str, Any]) -> str | None:
    """The instance the create pauses: InstanceSnapshots' own, or the one instance an EbsSnapshot's volume is
    attached to (none, or several with Multi-Attach: the create pauses none)."""
    if inputs.get("instance_id"):
        return str(inputs["instance_id"])
    try:
        attached = attached_instances(clients.client(AccountSelection.from_props(inputs)), inputs["volume_id"])
    except (ClientError, BotoCoreError):
        return None  # the volume cannot be read: the start request's check says why
    return attached[0][0] if len(attached) == 1 else None
