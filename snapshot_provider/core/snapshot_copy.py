"""A SnapshotCopy's operations, whichever front door (check, diff, create through `copying`, read, update of its
tags, delete), and its outputs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider.core import copy_shares, copying
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG, managed_tags_now, resource_token
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.ec2 import clients, find, locks, snapshots
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.inputs.snapshot_copy import SCHEMA, failures, parse
from snapshot_provider.process.engine_log import engine_log


def _outputs(inputs: Mapping[str, Any], found: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    outs = SCHEMA.echoed(inputs)
    outs.update(
        snapshot_id=found["SnapshotId"],
        state=found.get("State"),
        # What EC2 made, apart from the inputs `encrypted` and `kms_key_id` (echoed as given): diff compares inputs
        # with inputs, or an encrypted copy would be replaced by every `up` (MODEL-LC2).
        copy_encrypted=bool(found.get("Encrypted")),
        copy_kms_key_id=found.get("KmsKeyId"),
        start_time=snapshots.iso(found.get("StartTime")),
        region=inputs["region"],
        account_id=account_id,
        tags=managed_tags_now(inputs.get("tags") or {}, found.get("Tags")),
        share_holder_key=_share_holder_key(inputs, account_id),
    )
    return outs


def _share_holder_key(inputs: Mapping[str, Any], account_id: str) -> str | None:
    """The tag by which this resource holds its source's share with another account (`copy_shares`), kept in state:
    the delete ends that holding even when the copy, whose tags carry the token too, is gone. State has no URN, so a
    read keeps what state recorded."""
    urn = inputs.get(URN_INPUT)
    if not inputs.get("role_arn") or not urn:
        return inputs.get("share_holder_key")
    return copy_shares.holder_key(account_id, inputs["region"], resource_token(str(urn)))


class SnapshotCopyOperations(ResourceProvider):
    """A SnapshotCopy's operations, whichever front door: the copy itself is `copying.create_copy`."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = failures(news, olds)
        if not found and not olds and news.get("permission_check"):
            found = copying.denied_at_preview(news)
        return CheckResult(SCHEMA.stored(news), [CheckFailure(f.property, f.reason) for f in found])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        return SCHEMA.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = parse(props)
        copy_id, found, account_id, waited = copying.create_copy(inputs)
        outs = _outputs(inputs, found, account_id)
        outs["wait_time"] = waited
        return CreateResult(copy_id, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        account = AccountSelection.from_props(props)
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(props), "refresh")
        found = snapshots.which_exist(clients.client(account), [id_], "reading the copy").get(id_)
        if found is None:
            return ReadResult("", {})
        return ReadResult(id_, {**_outputs(props, found, account_id), "wait_time": props.get("wait_time")})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = parse(news)
        account = AccountSelection.from_props(inputs)
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(olds), "update")
        ec2 = clients.client(account)
        snapshots.update_tags(ec2, [id_], olds.get("tags") or {}, inputs["tags"])
        # A create cut short after this copy was made may have left its source shared: ended once nothing is pending.
        copying.end_holding(inputs, account_id, resource_token(str(inputs.get(URN_INPUT))), unless_pending=True)
        found = snapshots.which_exist(ec2, [id_], "reading the copy").get(id_, {"SnapshotId": id_})
        found = snapshots.as_updated(found, olds.get("tags") or {}, inputs["tags"])
        return UpdateResult({**_outputs(inputs, found, account_id), "wait_time": olds.get("wait_time")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        account = AccountSelection.from_props(props)
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(props), "delete")
        ec2 = clients.client(account)
        # A copy locked outside Pulumi (a backup policy): say which lock and until when, as the snapshots do.
        locks.refuse_delete_if_locked(
            ec2, [id_], declared=False, unread=lambda line: engine_log().warning(props.get(URN_INPUT), line)
        )
        # Another account's copy: a create of this resource cut short may hold its source's share, by the token state
        # records (`share_holder_key`), or, in state of the previous build, the token its copy carries.
        token = _holding_token(ec2, id_, props)
        with contextlib.suppress(find.NotFound):  # gone already: deleted all the same
            snapshots.delete_snapshot(ec2, id_)
        if token:
            copying.end_holding(props, account_id, token, unless_pending=False)


def _holding_token(ec2: Any, id_: str, props: Mapping[str, Any]) -> str | None:
    """The token this resource holds its source's share by, if it is another account's copy."""
    if not props.get("role_arn"):
        return None
    if props.get("share_holder_key"):
        return copy_shares.token_of(props["share_holder_key"])
    copy = snapshots.which_exist(ec2, [id_], "reading the copy").get(id_)
    return snapshots.tag_value(copy, RESOURCE_TAG) if copy else None


class SnapshotCopyOutputs(Outputs):
    """A completed copy of a snapshot in `region` (and the account of `role_arn`). Outputs `snapshot_id`,
    `wait_time` (seconds until completed), `region`, `account_id`, and how EC2 encrypted it (`copy_encrypted`,
    `copy_kms_key_id`: with an encrypted source, a copy is encrypted whatever the inputs say), and for another account's
    copy `share_holder_key`, the tag on the source recording the share this copy holds while it is pending."""

    snapshot_id: pulumi.Output[str]
    wait_time: pulumi.Output[float]
    state: pulumi.Output[str]
    encrypted: pulumi.Output[bool | None]
    kms_key_id: pulumi.Output[str | None]
    copy_encrypted: pulumi.Output[bool]
    copy_kms_key_id: pulumi.Output[str | None]
    start_time: pulumi.Output[str]
    region: pulumi.Output[str]
    account_id: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]
    share_holder_key: pulumi.Output[str | None]


SNAPSHOT_COPY = ResourceType("SnapshotCopy", SCHEMA, SnapshotCopyOutputs, SnapshotCopyOperations)
