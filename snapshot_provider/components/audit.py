"""Audit trail: one record per snapshot, exported as a stack output and optionally written to S3 for auditors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from snapshot_provider import EbsSnapshot, InstanceSnapshots


def audit_record(
    *,
    snapshot_id: str,
    source_id: str,
    region: str,
    account_id: str,
    wait_time: float | None,
    stack: str,
    time: str,
    reason: str,
) -> dict[str, Any]:
    """One line of the trail (pure). `time` is the snapshot's start time, so records do not change between runs."""
    return {
        "snapshot_id": snapshot_id,
        "source_id": source_id,
        "region": region,
        "account_id": account_id,
        "wait_time": wait_time,
        "stack": stack,
        "time": time,
        "reason": reason,
    }


def set_records(
    snapshots: Sequence[Mapping[str, Any]],
    *,
    region: str,
    account_id: str,
    wait_time: float | None,
    stack: str,
    reason: str,
) -> list[dict[str, Any]]:
    """Records for every member of an InstanceSnapshots set."""
    return [
        audit_record(
            snapshot_id=s["snapshot_id"],
            source_id=s["volume_id"],
            region=region,
            account_id=account_id,
            wait_time=wait_time,
            stack=stack,
            time=s.get("start_time") or "",
            reason=reason,
        )
        for s in snapshots
    ]


@dataclass
class AuditTrailArgs:
    """What to record: snapshot resources and why they were taken; where auditors read it (optional)."""

    reason: str
    volume_snapshots: Sequence[EbsSnapshot] = ()
    instance_snapshots: Sequence[InstanceSnapshots] = ()
    bucket: pulumi.Input[str] | None = None
    key_prefix: str = "snapshot-audit/"


class SnapshotAuditTrail(pulumi.ComponentResource):
    """Collects audit records for snapshots; `records` is a list of dicts (see `audit_record`)."""

    records: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ebs-snapshots:components:SnapshotAuditTrail", name, None, opts)
        stack = pulumi.get_stack()
        parts: list[pulumi.Output[list[dict[str, Any]]]] = []
        for snap in args.volume_snapshots:
            parts.append(
                pulumi.Output.all(
                    snap.snapshot_id, snap.volume_id, snap.region, snap.account_id, snap.wait_time, snap.start_time
                ).apply(
                    lambda v: [
                        audit_record(
                            snapshot_id=v[0],
                            source_id=v[1],
                            region=v[2],
                            account_id=v[3],
                            wait_time=v[4],
                            stack=stack,
                            time=v[5],
                            reason=args.reason,
                        )
                    ]
                )
            )
        for snap_set in args.instance_snapshots:
            parts.append(
                pulumi.Output.all(snap_set.snapshots, snap_set.region, snap_set.account_id, snap_set.wait_time).apply(
                    lambda v: set_records(
                        v[0] or [], region=v[1], account_id=v[2], wait_time=v[3], stack=stack, reason=args.reason
                    )
                )
            )
        self.records = pulumi.Output.all(*parts).apply(lambda lists: [r for part in lists for r in part])
        self.s3_object: aws.s3.BucketObjectv2 | None = None
        if args.bucket is not None:
            self.s3_object = aws.s3.BucketObjectv2(
                f"{name}-records",
                bucket=args.bucket,
                key=f"{args.key_prefix}{pulumi.get_project()}/{stack}/{name}.json",
                content=self.records.apply(lambda r: json.dumps(r, indent=2, sort_keys=True)),
                content_type="application/json",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"records": self.records})
