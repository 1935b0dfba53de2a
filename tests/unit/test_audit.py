"""Audit trail: records per snapshot, as an output and as an S3 object (Pulumi mocks)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi_mocks import Recorder, use

from snapshot_provider import EbsSnapshot, InstanceSnapshots
from snapshot_provider.components.audit import AuditTrailArgs, SnapshotAuditTrail, audit_record


@pytest.fixture
def mocks() -> Recorder:
    return use(Recorder())


def test_audit_record_has_every_field() -> None:
    record = audit_record(
        snapshot_id="snap-1",
        source_id="vol-1",
        region="eu-west-1",
        account_id="123456789012",
        wait_time=12.5,
        stack="prod",
        time="2026-11-22T10:00:00+00:00",
        reason="cleanup",
    )
    assert set(record) == {"snapshot_id", "source_id", "region", "account_id", "wait_time", "stack", "time", "reason"}


@pulumi.runtime.test
def test_trail_records_volume_and_instance_snapshots_and_writes_s3(mocks: Recorder) -> Any:
    volume = EbsSnapshot("vol-snap", volume_id="vol-01234567", region="us-east-1")
    instance = InstanceSnapshots("inst-snap", instance_id="i-01234567", region="us-east-1")
    trail = SnapshotAuditTrail(
        "audit",
        AuditTrailArgs(
            reason="decommission", volume_snapshots=[volume], instance_snapshots=[instance], bucket="audit-bucket"
        ),
    )

    def check(values: list[Any]) -> None:
        records, s3_urn = values
        assert [r["source_id"] for r in records] == ["vol-01234567", "vol-root0000", "vol-data0001"]
        assert records[0] == {
            "snapshot_id": "snap-01234567",
            "source_id": "vol-01234567",
            "region": "us-east-1",
            "account_id": "123456789012",
            "wait_time": 42.0,
            "stack": "dev",
            "time": "2026-11-22T10:00:00+00:00",
            "reason": "decommission",
        }
        s3 = mocks.named("audit-records")
        assert s3.typ == "aws:s3/bucketObjectv2:BucketObjectv2"
        assert s3.inputs["key"] == "snapshot-audit/proj/dev/audit.json"
        assert json.loads(s3.inputs["content"]) == records
        assert "ebs-snapshots:components:SnapshotAuditTrail$aws:s3/bucketObjectv2" in s3_urn  # parented

    assert trail.s3_object is not None
    return pulumi.Output.all(trail.records, trail.s3_object.urn).apply(check)
