"""Helpers for the SnapshotSeries tests: pass days, register an AMI that uses a snapshot, list a series' snapshots.

All through the EC2 API or the emulator's own (`age_snapshot`); the emulator runs in the test process, so a day
passed here has passed for the provider processes the Pulumi CLI starts too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import boto3

from emulator import Ec2Emulator
from snapshot_provider.core.lifecycle.shapes import SERIES_TAG
from testbed import REGION


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def age(emulator: Ec2Emulator, snapshot_ids: Iterable[str], days: float) -> None:
    """Move the snapshots' StartTime `days` further into the past: that much time has passed for them."""
    ids = list(snapshot_ids)
    if not ids:
        return
    for snapshot in ec2(emulator).describe_snapshots(SnapshotIds=ids)["Snapshots"]:
        emulator.age_snapshot(snapshot["SnapshotId"], snapshot["StartTime"] - timedelta(days=days))


def tagged(emulator: Ec2Emulator, key: str, value: str) -> list[dict[str, Any]]:
    """Snapshots tagged key=value, as DescribeSnapshots returns them, oldest first."""
    found = ec2(emulator).describe_snapshots(OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]}])
    return sorted(found["Snapshots"], key=lambda s: s["StartTime"])


def series_snapshots(emulator: Ec2Emulator, series_id: str) -> list[dict[str, Any]]:
    return tagged(emulator, SERIES_TAG, series_id)


def all_snapshot_ids(emulator: Ec2Emulator) -> set[str]:
    """Every snapshot in the account (AMI-used ones too), except the ones moto makes for its own AMIs."""
    return {s["snapshot_id"] for s in emulator.snapshots()}


def register_ami_using(emulator: Ec2Emulator, snapshot_id: str) -> str:
    """RegisterImage with a block device mapping that names the snapshot; EC2 then refuses to delete or archive it."""
    return str(
        ec2(emulator).register_image(
            Name=f"uses-{snapshot_id}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
        )["ImageId"]
    )
