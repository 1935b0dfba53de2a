"""The red team's controls for lock and SnapshotCopy (RT-LF<n>): what held up. Its findings, fixed, are tests beside
their modules: tests/emulator/test_pausing.py (RT-LF1, 2, 7, 8), test_snapshot_copy.py (RT-LF3, 6), test_locking.py
(RT-LF4, 5)."""

from __future__ import annotations

from typing import Any

import boto3

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, SnapshotCopyProvider
from testbed import REGION, snapshot_props

# --- SnapshotCopy (emulator) ---------------------------------------------------------------------------------------
COPY_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotCopy::rt-copy"


def _copy_props(source_id: str, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "source_snapshot_id": source_id,
        "source_region": REGION,
        "region": "eu-west-1",
        "timeout": 30,
        "resource_urn": COPY_URN,
    }
    return {**props, **overrides}


def test_control_a_fresh_copy_asked_encrypted_is_encrypted(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    source_id = str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])
    result = SnapshotCopyProvider().create(_copy_props(source_id, encrypted=True))
    dest = boto3.client("ec2", region_name="eu-west-1", endpoint_url=emulator.url)
    assert dest.describe_snapshots(SnapshotIds=[result.id])["Snapshots"][0]["Encrypted"]


# --- lock ----------------------------------------------------------------------------------------------------------
SET_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::rt-set"


def test_control_preview_refuses_shortening_a_compliance_lock_in_days(volume_id: str) -> None:
    old = snapshot_props(volume_id, lock={"mode": "compliance", "duration_days": 3650})
    new = snapshot_props(volume_id, lock={"mode": "compliance", "duration_days": 2})
    failures = [f.reason for f in EbsSnapshotProvider().check(old, new).failures if f.property == "lock"]
    assert any("shortened" in reason for reason in failures), failures
