"""SnapshotCopy: a completed copy of a snapshot in another region and/or account (EC2 CopySnapshot), made by a call
in the destination (`region`, and `role_arn` there for another account), waited for with the shared poller."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Annotated, Any, Required, Unpack, overload

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

from snapshot_provider.core import copying, progress
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG, managed_tags_now, resource_token
from snapshot_provider.dynamic.program import DynamicResource
from snapshot_provider.ec2 import clients, find, locks, permissions, snapshots
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.copies import completion_duration_minutes, kms_key, timeout_reason
from snapshot_provider.inputs.declarations import (
    DEFAULT_TIMEOUT,
    URN_FIELD,
    URN_INPUT,
    AccountArgs,
    AccountSelection,
    PermissionCheckArgs,
)
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema


class SnapshotCopyArgs(AccountArgs, PermissionCheckArgs, total=False):
    """The inputs of a SnapshotCopy. `region` (and `role_arn`, `profile`) say where the copy is made."""

    source_snapshot_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "the snapshot to copy: `snap-` and 8 or 17 hex digits; one of this account copied to another account "
                "is shared with it for the copy (createVolumePermission; the share removed after); another owner's "
                "must be shared by its owner",
                rule=rules.snapshot_id,
                required=True,
                on_change="replace",
            ),
        ]
    ]
    source_region: Annotated[
        pulumi.Input[str],
        Field(
            "the source snapshot's region; unset: `region` (a copy in the same region)",
            rule=rules.region,
            on_change="replace",
        ),
    ]
    kms_key_id: Annotated[
        pulumi.Input[str],
        Field(
            "encrypt the copy with this key (in the destination region); implies `encrypted`",
            rule=kms_key,
            on_change="replace",
        ),
    ]
    encrypted: Annotated[
        pulumi.Input[bool],
        Field(
            "encrypt a copy of an unencrypted snapshot (an encrypted one's copy is always encrypted)",
            rule=rules.boolean,
            on_change="replace",
        ),
    ]
    completion_duration_minutes: Annotated[
        pulumi.Input[int],
        Field(
            "a time-based copy that completes within this many minutes (15 to 2880, in 15-minute steps)",
            rule=completion_duration_minutes,
            on_change="replace",
        ),
    ]
    description: Annotated[
        pulumi.Input[str], Field("the copy's description", rule=rules.description, on_change="replace")
    ]
    tags: Annotated[
        pulumi.Input[Mapping[str, pulumi.Input[str]]],
        Field("the copy's tags (the source's are not copied)", rule=rules.tags, default={}),
    ]
    timeout: Annotated[
        pulumi.Input[float],
        Field(
            "seconds to wait for the copy to complete, 1 s to 7 days",
            rule=rules.timeout,
            default=DEFAULT_TIMEOUT,
            on_change="none",
        ),
    ]


SCHEMA = Schema.of(SnapshotCopyArgs, URN_FIELD)


def failures(news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> list[Failure]:
    """Every rule the inputs break, without AWS: each input's own, and a timeout shorter than a time-based copy."""
    timeout = news.get("timeout", DEFAULT_TIMEOUT)
    short = timeout_reason(news.get("completion_duration_minutes"), timeout)
    return SCHEMA.failures(news, olds) + ([Failure("timeout", short)] if short else [])


def parse(props: Mapping[str, Any]) -> dict[str, Any]:
    found = failures(props)
    if found:
        raise InvalidInputs(found)
    return SCHEMA.stored(props)


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
    )
    return outs


class SnapshotCopyProvider(ResourceProvider):
    """Dynamic provider for SnapshotCopy. Its module path and name are in every stack's state: keep them."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = failures(news, olds)
        if not found and not olds and news.get("permission_check"):
            found = list(permissions.check_copy(news))
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
        found = snapshots.describe_by_id(clients.client(account), [id_], "reading the copy").get(id_)
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
        found = snapshots.describe_by_id(ec2, [id_], "reading the copy").get(id_, {"SnapshotId": id_})
        found = snapshots.as_updated(found, olds.get("tags") or {}, inputs["tags"])
        return UpdateResult({**_outputs(inputs, found, account_id), "wait_time": olds.get("wait_time")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        account = AccountSelection.from_props(props)
        account_id = clients.ensure_recorded_account(account, clients.recorded_account(props), "delete")
        ec2 = clients.client(account)
        # A copy locked outside Pulumi (a backup policy): say which lock and until when, as the snapshots do.
        locks.refuse_delete_if_locked(
            ec2, [id_], declared=False, unread=lambda line: progress.engine_log().warning(props.get(URN_INPUT), line)
        )
        # Another account's copy: a create of this resource cut short may hold its source's share, by the token its
        # copy carries (state has no URN).
        copy = snapshots.describe_by_id(ec2, [id_], "reading the copy").get(id_) if props.get("role_arn") else None
        with contextlib.suppress(find.NotFound):  # gone already: deleted all the same
            snapshots.delete_snapshot(ec2, id_)
        token = snapshots.tag_value(copy, RESOURCE_TAG) if copy else None
        if token:
            copying.end_holding(props, account_id, token, unless_pending=False)


class SnapshotCopy(DynamicResource, module="ebs-snapshots", name="SnapshotCopy"):
    """A completed copy of a snapshot in `region` (and the account of `role_arn`). Outputs `snapshot_id`,
    `wait_time` (seconds until completed), `region`, `account_id`, and how EC2 encrypted it (`copy_encrypted`,
    `copy_kms_key_id`: with an encrypted source, a copy is encrypted whatever the inputs say)."""

    schema = SCHEMA
    provider = SnapshotCopyProvider

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

    @overload
    def __init__(
        self, resource_name: str, args: SnapshotCopyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[SnapshotCopyArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: SnapshotCopyArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
