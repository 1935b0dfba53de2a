"""VolumeRemoval: delete an unattached EBS volume once its snapshot is completed, and restore it on delete (undo).

Creating the resource deletes the volume; deleting the resource (`pulumi destroy`) re-creates the volume from the
snapshot with its original size, type, performance, encryption, zone and tags. Guarded hard: only `available`
volumes, only with `confirm_delete_volume` equal to the volume id, only when the snapshot of that volume completed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider import aws, snapshots
from snapshot_provider.errors import SnapshotProviderError, aws_errors
from snapshot_provider.inputs import (
    ACCOUNT_RULES,
    AccountSelection,
    Failure,
    check_rules,
    is_unknown,
    parse_account,
    snapshot_id_rule,
    volume_id_rule,
)
from snapshot_provider.plan import ACCOUNT_INPUT_KEYS, role_account
from snapshot_provider.program import default_region

INPUT_KEYS = ("volume_id", "snapshot_id", "confirm_delete_volume", *ACCOUNT_INPUT_KEYS)
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


def check_volume_removal(props: Mapping[str, Any]) -> list[Failure]:
    rules = {**ACCOUNT_RULES, "volume_id": volume_id_rule, "snapshot_id": snapshot_id_rule}
    failures = check_rules(props, rules, ("volume_id", "snapshot_id", "region"))
    volume_id, confirm = props.get("volume_id"), props.get("confirm_delete_volume")
    if not is_unknown(volume_id) and not is_unknown(confirm) and confirm != volume_id:
        failures.append(
            Failure(
                "confirm_delete_volume",
                f"must be exactly the volume id ({volume_id!r}) to allow deleting it, got {confirm!r}: "
                "deleting a volume is an explicit opt-in",
            )
        )
    return failures


class VolumeRemovalProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = check_volume_removal(news)
        inputs = {k: v for k, v in news.items() if v is not None}
        return CheckResult(inputs, [CheckFailure(f.property, f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("volume_id", "snapshot_id", "region") if olds.get(k) != news.get(k)]
        if role_account(olds) != role_account(news):
            replaces.append("role_arn")
        updates = [k for k in INPUT_KEYS if olds.get(k) != news.get(k) and k not in replaces]
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        failures = check_volume_removal(props)
        if failures:
            raise SnapshotProviderError("; ".join(f"{f.property}: {f.reason}" for f in failures))
        account = parse_account(props)
        aws.ensure_allowed_account(account)
        ec2 = aws.client(account)
        volume_id, snapshot_id = props["volume_id"], props["snapshot_id"]
        volume = _describe_volume(ec2, volume_id)
        if volume is None:
            raise SnapshotProviderError(f"volume {volume_id} does not exist in {account.region}: nothing to delete")
        _refuse_unless_safe(ec2, volume, snapshot_id)
        record = _restore_record(volume)
        with aws_errors("deleting the volume (ec2:DeleteVolume)", volume_id=volume_id):
            ec2.delete_volume(VolumeId=volume_id)
        pulumi.log.info(f"deleted volume {volume_id}; `pulumi destroy` restores it from {snapshot_id}")
        return CreateResult(f"removed-{volume_id}", {**props, **record, "deleted_at": time.time()})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The volume is gone by design; what matters is that the snapshot needed to undo is still there.
        ec2 = aws.client(parse_account(props))
        restorable = snapshots.describe_snapshot(ec2, props["snapshot_id"]) is not None
        return ReadResult(id_, {**props, "restorable": restorable})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**olds, **news})  # access settings only: nothing to change in AWS

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undo: the volume comes back from the snapshot, as it was (with a new id: EC2 never reuses one)."""
        account = parse_account(props)
        aws.ensure_allowed_account(account)
        ec2 = aws.client(account)
        snapshot_id = props["snapshot_id"]
        if snapshots.describe_snapshot(ec2, snapshot_id) is None:
            raise SnapshotProviderError(
                f"cannot restore volume {props['volume_id']}: its snapshot {snapshot_id} no longer exists. "
                "Nothing was changed; remove this resource from state with `pulumi state delete` if that is intended."
            )
        restored = _restore(ec2, account, props)
        pulumi.log.info(f"restored volume {props['volume_id']} from {snapshot_id} as {restored}")


def _describe_volume(ec2: Any, volume_id: str) -> dict[str, Any] | None:
    try:
        volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidVolume.NotFound":
            return None
        raise SnapshotProviderError(f"reading volume {volume_id} failed: {error}") from error
    return volumes[0] if volumes else None


def _refuse_unless_safe(ec2: Any, volume: Mapping[str, Any], snapshot_id: str) -> None:
    volume_id = volume["VolumeId"]
    if volume["State"] != "available":
        attached = ", ".join(a.get("InstanceId", "?") for a in volume.get("Attachments", [])) or "unknown"
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it is {volume['State']} (attached to {attached}); only "
            "unattached (available) volumes are cleaned up"
        )
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


class VolumeRemoval(Resource):
    """Deletes an unattached volume after its snapshot completed; `pulumi destroy` brings it back from the snapshot.

    Outputs the volume's recorded attributes (`availability_zone`, `size`, `volume_type`, ... `volume_tags`).
    """

    availability_zone: pulumi.Output[str]
    size: pulumi.Output[int]
    volume_type: pulumi.Output[str]
    volume_tags: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        resource_name: str,
        volume_id: pulumi.Input[str],
        snapshot_id: pulumi.Input[str],
        confirm_delete_volume: pulumi.Input[str] | None,
        region: pulumi.Input[str] | None = None,
        profile: pulumi.Input[str] | None = None,
        role_arn: pulumi.Input[str] | None = None,
        allowed_account_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
        endpoint_url: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "volume_id": volume_id,
            "snapshot_id": snapshot_id,
            "confirm_delete_volume": confirm_delete_volume,
            "region": region or default_region(),
            "profile": profile,
            "role_arn": role_arn,
            "allowed_account_ids": allowed_account_ids,
            "endpoint_url": endpoint_url,
            **{k: None for k in (*RESTORE_KEYS, "deleted_at", "restorable")},
        }
        super().__init__(VolumeRemovalProvider(), resource_name, props, opts)
