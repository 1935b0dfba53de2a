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


def _dry_run(props: Mapping[str, Any], prop: str, action: str, call: Callable[[Any], Any]) -> list[Failure]:
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
        return [Failure(prop, explain(error, f"checking permissions with DryRun: {where}"))]
    except BotoCoreError as error:
        return [Failure(prop, explain(error, f"checking permissions with DryRun: {where}"))]
    return [Failure(prop, f"{where}: EC2 carried out a DryRun request; this should not happen")]
