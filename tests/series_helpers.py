"""Helpers for the SnapshotSeries tests: pass days, register an AMI that uses a snapshot, list a series' snapshots.

The emulator's own `age_snapshot` and RegisterImage-with-mappings are on branch `emulator`; until they are merged,
`age` and `register_ami_using` reach into moto's backend (the emulator runs in the test process, so this also holds
for the provider processes the Pulumi CLI starts).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.ec2.models import amis

from conftest import REGION
from emulator import Ec2Emulator
from snapshot_provider.series import SERIES_TAG

SNAPSHOT_FILTER = "block-device-mapping.snapshot-id"


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def age(emulator: Ec2Emulator, snapshot_ids: Iterable[str], days: float) -> None:
    """Move the snapshots' StartTime `days` into the past: that much time has passed for them."""
    backend = emulator.ec2_backend()
    for sid in snapshot_ids:
        backend.snapshots[sid].start_time -= timedelta(days=days)


def tagged(emulator: Ec2Emulator, key: str, value: str) -> list[dict[str, Any]]:
    """Snapshots tagged key=value, as DescribeSnapshots returns them (AMI-used ones included), oldest first."""
    found = ec2(emulator).describe_snapshots(OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]}])
    return sorted(found["Snapshots"], key=lambda s: s["StartTime"])


def series_snapshots(emulator: Ec2Emulator, series_id: str) -> list[dict[str, Any]]:
    return tagged(emulator, SERIES_TAG, series_id)


def all_snapshot_ids(emulator: Ec2Emulator) -> set[str]:
    """Every snapshot in the account that is not an AMI's own (moto makes one per registered image)."""
    return {
        s.id for s in emulator.ec2_backend().snapshots.values() if not (s.description or "").startswith("Auto-created")
    }


def register_ami_using(emulator: Ec2Emulator, snapshot_id: str) -> str:
    """RegisterImage with a block device mapping that names the snapshot; EC2 then refuses to delete or archive it."""
    image_id = str(
        ec2(emulator).register_image(
            Name=f"uses-{snapshot_id}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
        )["ImageId"]
    )
    # moto keeps none of the mappings: make the image's snapshot ours, as AWS would (moto then refuses the delete).
    backend = emulator.ec2_backend()
    image = backend.amis[image_id]
    backend.snapshots.pop(image.ebs_snapshot.id, None)
    image.ebs_snapshot = backend.snapshots[snapshot_id]
    image.ebs_snapshot.from_ami = image_id
    return image_id


def support_images_by_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """DescribeImages' `block-device-mapping.snapshot-id` filter, which moto lacks (it answers 500)."""
    original = amis.Ami.get_filter_value

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == SNAPSHOT_FILTER:
            return [m["Ebs"]["SnapshotId"] for m in self.block_device_mappings]
        return original(self, filter_name, method_name)

    monkeypatch.setattr(amis.Ami, "get_filter_value", get_filter_value)
