"""Permission checks at preview, without side effects: EC2's DryRun answers whether a create would be allowed.

Opt-in per resource (`permission_check=True`): previews then need credentials able to call the DryRun, which a
pull-request pipeline with read-only credentials would be refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import explain
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.inputs.schema import Failure

ALLOWED = "DryRunOperation"  # EC2's answer to a DryRun that would have succeeded
DENIED = ("UnauthorizedOperation", "AccessDenied")


def check_create_snapshot(props: Mapping[str, Any]) -> list[Failure]:
    volume_id = props["volume_id"]
    return _dry_run(
        props,
        "volume_id",
        f"ec2:CreateSnapshot on {volume_id}",
        lambda ec2: ec2.create_snapshot(VolumeId=volume_id, DryRun=True),
    )


def check_create_snapshots(props: Mapping[str, Any]) -> list[Failure]:
    instance_id = props["instance_id"]
    spec: dict[str, Any] = {"InstanceId": instance_id, "ExcludeBootVolume": bool(props.get("exclude_boot_volume"))}
    if props.get("exclude_data_volume_ids"):
        spec["ExcludeDataVolumeIds"] = list(props["exclude_data_volume_ids"])
    return _dry_run(
        props,
        "instance_id",
        f"ec2:CreateSnapshots on {instance_id}",
        lambda ec2: ec2.create_snapshots(InstanceSpecification=spec, DryRun=True),
    )


PLACEHOLDER_SNAPSHOT = "snap-00000000000000000"
"""LockSnapshot and UnlockSnapshot need a snapshot, which a create's preview does not have yet: they are asked about
this id, and only a denial (UnauthorizedOperation) is taken as an answer (a NotFound says nothing of permissions)."""


def check_lock(props: Mapping[str, Any]) -> list[Failure]:
    """For a resource that declares `lock`: DescribeLockedSnapshots, LockSnapshot, and UnlockSnapshot when the lock
    can ever be removed (governance, or compliance with a cooling-off period)."""
    lock = props.get("lock")
    if not isinstance(lock, Mapping):
        return []
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("ec2:DescribeLockedSnapshots", lambda ec2: ec2.describe_locked_snapshots(DryRun=True)),
        (
            "ec2:LockSnapshot",
            lambda ec2: ec2.lock_snapshot(
                SnapshotId=PLACEHOLDER_SNAPSHOT, LockMode=str(lock.get("mode")), LockDuration=1, DryRun=True
            ),
        ),
    ]
    if lock.get("mode") == "governance" or lock.get("cool_off_hours"):
        calls.append(
            ("ec2:UnlockSnapshot", lambda ec2: ec2.unlock_snapshot(SnapshotId=PLACEHOLDER_SNAPSHOT, DryRun=True))
        )
    return [failure for action, call in calls for failure in _dry_run(props, "lock", action, call, unknown_ok=True)]


def check_copy(props: Mapping[str, Any]) -> list[Failure]:
    """For a SnapshotCopy: CopySnapshot of its source, asked in the destination (its region and account)."""
    request: dict[str, Any] = {
        "SourceRegion": props.get("source_region") or props["region"],
        "SourceSnapshotId": props["source_snapshot_id"],
    }
    if props.get("kms_key_id") or props.get("encrypted"):
        request["Encrypted"] = True
    if props.get("kms_key_id"):
        request["KmsKeyId"] = props["kms_key_id"]
    return _dry_run(
        props,
        "source_snapshot_id",
        f"ec2:CopySnapshot of {props['source_snapshot_id']}",
        lambda ec2: ec2.copy_snapshot(**request, DryRun=True),
    )


def _dry_run(
    props: Mapping[str, Any], prop: str, action: str, call: Callable[[Any], Any], unknown_ok: bool = False
) -> list[Failure]:
    """A failure if `action` would be denied. `unknown_ok`: asked about a placeholder resource, so any answer but a
    denial says nothing."""
    if any(is_unknown(v) for v in props.values()):
        return []  # depends on resources not created yet: checked when they are
    account = AccountSelection.from_props(props)
    where = f"{action} in {account.region}"
    try:
        call(clients.client(account))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == ALLOWED:
            return []
        if code in DENIED:
            message = error.response.get("Error", {}).get("Message", "")
            return [
                Failure(
                    prop,
                    f"{where} would be denied ({code}: {message}). Grant it to the credentials in use, "
                    "or set permission_check=False to skip this check",
                )
            ]
        if unknown_ok:
            return []
        return [Failure(prop, explain(error, f"checking permissions with DryRun: {where}"))]
    except BotoCoreError as error:
        return [Failure(prop, explain(error, f"checking permissions with DryRun: {where}"))]
    return [Failure(prop, f"{where}: EC2 carried out a DryRun request; this should not happen")]
