"""VolumeRemoval: delete an unattached EBS volume once its snapshot is completed, and restore it on delete (undo).

Creating the resource deletes the volume; deleting the resource (`pulumi destroy`) re-creates the volume from the
snapshot with its original size, type, performance, encryption, zone and tags. Guarded hard: only `available`
volumes, only with `confirm_delete_volume` equal to the volume id, only when the snapshot of that volume completed.
"""

from __future__ import annotations

import time
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

from snapshot_provider import aws, rules, snapshots
from snapshot_provider.args import AccountArgs, AccountSelection
from snapshot_provider.errors import SnapshotProviderError, aws_errors, error_code
from snapshot_provider.program import ProviderResource
from snapshot_provider.schema import Failure, Field, InvalidInputs, Schema


class VolumeRemovalArgs(AccountArgs, total=False):
    """The inputs of a VolumeRemoval."""

    volume_id: Required[
        Annotated[
            pulumi.Input[str],
            Field("the unattached volume to delete", rule=rules.volume_id, required=True, on_change="replace"),
        ]
    ]
    snapshot_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "a completed snapshot of that volume: the undo restores from it; a new one is recorded in place",
                rule=rules.snapshot_id,
                required=True,
            ),
        ]
    ]
    confirm_delete_volume: Required[
        Annotated[
            pulumi.Input[str],
            Field("must repeat `volume_id`: deleting a volume is an explicit opt-in", required=True, on_change="state"),
        ]
    ]


SCHEMA = Schema.of(VolumeRemovalArgs)
# What is needed to bring the volume back, recorded before it is deleted.
RESTORE_KEYS = (
    "availability_zone",
    "size",
    "volume_type",
    "iops",
    "throughput",
    "encrypted",
    "kms_key_id",
    "multi_attach_enabled",
    "volume_tags",
)
RESTORE_WAIT_SECONDS = 600.0


def failures(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """The schema's rules, the confirmation, and changes no replace could carry out (the volume is gone)."""
    found = SCHEMA.failures(news, olds)
    volume_id, confirm = news.get("volume_id"), news.get("confirm_delete_volume")
    if not rules.is_unknown(volume_id) and not rules.is_unknown(confirm) and confirm != volume_id:
        found.append(
            Failure(
                "confirm_delete_volume",
                f"must be exactly the volume id ({volume_id!r}) to allow deleting it, got {confirm!r}: "
                "deleting a volume is an explicit opt-in",
            )
        )
    if olds:
        found += _moves(olds, news)
    return found


def _moves(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """A removed volume cannot follow a change of region: a replacement would look for it there. (Nor of account:
    new access settings are checked at diff and update to act in the account state records, as for every
    resource.)"""
    found = []
    if olds.get("region") != news.get("region") and not rules.is_unknown(news.get("region")):
        found.append(Failure("region", _MOVE.format(what="region", old=olds.get("region"))))
    return found


_MOVE = (
    "the volume was removed in {what} {old}, and a removed volume cannot follow a change of {what}: "
    "`pulumi destroy` this resource (which restores the volume) before pointing it elsewhere"
)


class VolumeRemovalProvider(ResourceProvider):
    """Dynamic provider for VolumeRemoval. Its module path and name are in every stack's state: keep them."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(SCHEMA.stored(news), [CheckFailure(f.property, f.reason) for f in failures(olds, news)])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        aws.refuse_account_change(olds, news)
        return SCHEMA.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        found = failures({}, props)
        if found:
            raise InvalidInputs(found)
        inputs = SCHEMA.stored(props)
        account = AccountSelection.from_props(inputs)
        account_id = aws.ensure_allowed_account(account)
        ec2 = aws.client(account)
        volume_id, snapshot_id = inputs["volume_id"], inputs["snapshot_id"]
        volume = _describe_volume(ec2, volume_id)
        if volume is None:
            raise SnapshotProviderError(f"volume {volume_id} does not exist in {account.region}: nothing to delete")
        _refuse_unless_safe(ec2, volume, snapshot_id)
        record = _restore_record(volume)
        with aws_errors("deleting the volume (ec2:DeleteVolume)", volume_id=volume_id):
            ec2.delete_volume(VolumeId=volume_id)
        pulumi.log.info(f"deleted volume {volume_id}; `pulumi destroy` restores it from {snapshot_id}")
        outs = {**inputs, **record, "deleted_at": time.time(), "account_id": account_id}
        return CreateResult(f"removed-{volume_id}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The volume is gone by design; what matters is that the snapshot needed to undo is still there (asked of the
        # account the volume was removed in: elsewhere it would look gone).
        account = AccountSelection.from_props(props)
        account_id = aws.ensure_recorded_account(account, aws.recorded_account(props), "refresh")
        restorable = snapshots.describe_snapshot(aws.client(account), props["snapshot_id"]) is not None
        return ReadResult(id_, {**props, "restorable": restorable, **_account_learned(props, account_id, restorable)})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Access settings are state only (an unset one is gone from state); a new snapshot id becomes the undo's
        source once it is checked to be a completed snapshot of the removed volume."""
        found = failures(olds, news)
        if found:
            raise InvalidInputs(found)
        inputs = SCHEMA.stored(news)
        account = AccountSelection.from_props(inputs)
        aws.ensure_recorded_account(account, aws.recorded_account(olds), "update")
        if inputs["snapshot_id"] != olds.get("snapshot_id"):
            _require_undo_source(aws.client(account), inputs["volume_id"], inputs["snapshot_id"])
        kept = {k: olds[k] for k in (*RESTORE_KEYS, "deleted_at", "account_id") if k in olds}
        return UpdateResult({**inputs, **kept})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undo: the volume comes back from the snapshot, as it was (with a new id: EC2 never reuses one)."""
        account = AccountSelection.from_props(props)
        aws.ensure_recorded_account(account, aws.recorded_account(props), "delete")
        ec2 = aws.client(account)
        snapshot_id = props["snapshot_id"]
        if snapshots.describe_snapshot(ec2, snapshot_id) is None:
            raise SnapshotProviderError(
                f"cannot restore volume {props['volume_id']}: its snapshot {snapshot_id} no longer exists. "
                "Nothing was changed; remove this resource from state with `pulumi state delete` if that is intended."
            )
        restored = _restore(ec2, account, props)
        pulumi.log.info(f"restored volume {props['volume_id']} from {snapshot_id} as {restored}")


def _account_learned(props: Mapping[str, Any], account_id: str, restorable: bool) -> dict[str, Any]:
    """State from before `account_id` was recorded: the account where its undo snapshot is seen is the one."""
    return {"account_id": account_id} if restorable and not props.get("account_id") else {}


def _describe_volume(ec2: Any, volume_id: str) -> dict[str, Any] | None:
    with aws_errors("reading the volume (ec2:DescribeVolumes)", volume_id=volume_id):
        try:
            volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except Exception as error:
            if error_code(error) == "InvalidVolume.NotFound":
                return None
            raise
    return volumes[0] if volumes else None


def _refuse_unless_safe(ec2: Any, volume: Mapping[str, Any], snapshot_id: str) -> None:
    volume_id = volume["VolumeId"]
    if volume["State"] != "available":
        attached = ", ".join(a.get("InstanceId", "?") for a in volume.get("Attachments", [])) or "unknown"
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it is {volume['State']} (attached to {attached}); only "
            "unattached (available) volumes are cleaned up"
        )
    _require_undo_source(ec2, volume_id, snapshot_id)


def _require_undo_source(ec2: Any, volume_id: str, snapshot_id: str) -> None:
    snapshot = snapshots.describe_snapshot(ec2, snapshot_id)
    if snapshot is None or snapshot["VolumeId"] != volume_id:
        raise SnapshotProviderError(f"refusing to delete volume {volume_id}: {snapshot_id} is not a snapshot of it")
    if snapshot["State"] != "completed":
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: its snapshot {snapshot_id} is {snapshot['State']}, not completed"
        )


def _restore_record(volume: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "availability_zone": volume["AvailabilityZone"],
        "size": volume["Size"],
        "volume_type": volume.get("VolumeType", "gp3"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "multi_attach_enabled": bool(volume.get("MultiAttachEnabled")),
        "volume_tags": snapshots.tags_of(volume.get("Tags")),
    }


def _restore(ec2: Any, account: AccountSelection, props: Mapping[str, Any]) -> str:
    request: dict[str, Any] = {
        "SnapshotId": props["snapshot_id"],
        "AvailabilityZone": props["availability_zone"],
        "Size": int(props["size"]),  # numbers come back from Pulumi state as floats
        "VolumeType": props["volume_type"],
        "TagSpecifications": [
            {
                "ResourceType": "volume",
                "Tags": [
                    {"Key": k, "Value": v}
                    for k, v in sorted({**props.get("volume_tags", {}), "restored-from": props["volume_id"]}.items())
                ],
            }
        ],
    }
    if props.get("volume_type") in ("io1", "io2", "gp3") and props.get("iops"):
        request["Iops"] = int(props["iops"])
    if props.get("volume_type") == "gp3" and props.get("throughput"):
        request["Throughput"] = int(props["throughput"])
    if props.get("kms_key_id"):
        request["KmsKeyId"] = props["kms_key_id"]
    if props.get("multi_attach_enabled"):
        request["MultiAttachEnabled"] = True
    with aws_errors(
        "restoring the volume from its snapshot (ec2:CreateVolume)",
        snapshot_id=props["snapshot_id"],
        region=account.region,
    ):
        volume_id = str(ec2.create_volume(**request)["VolumeId"])
        ec2.get_waiter("volume_available").wait(
            VolumeIds=[volume_id], WaiterConfig={"Delay": 5, "MaxAttempts": int(RESTORE_WAIT_SECONDS / 5)}
        )
    return volume_id


class VolumeRemoval(ProviderResource, module="ebs-snapshots", name="VolumeRemoval"):
    """Deletes an unattached volume after its snapshot completed; `pulumi destroy` brings it back from the snapshot.

    Outputs the volume's recorded attributes (`availability_zone`, `size`, `volume_type`, ... `volume_tags`).
    """

    schema = SCHEMA
    provider = VolumeRemovalProvider

    availability_zone: pulumi.Output[str]
    size: pulumi.Output[int]
    volume_type: pulumi.Output[str]
    iops: pulumi.Output[int | None]
    throughput: pulumi.Output[int | None]
    encrypted: pulumi.Output[bool]
    kms_key_id: pulumi.Output[str | None]
    multi_attach_enabled: pulumi.Output[bool]
    volume_tags: pulumi.Output[dict[str, str]]
    deleted_at: pulumi.Output[float]
    restorable: pulumi.Output[bool]
    account_id: pulumi.Output[str]

    @overload
    def __init__(
        self, resource_name: str, args: VolumeRemovalArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[VolumeRemovalArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: VolumeRemovalArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        super().__init__(resource_name, args, opts, **inputs)
