"""Pulumi dynamic providers for safe, reversible EBS snapshots (EC2 CreateSnapshot and CreateSnapshots)."""

from snapshot_provider.ebs_snapshot import EbsSnapshot, EbsSnapshotProvider
from snapshot_provider.instance_snapshots import InstanceSnapshots, InstanceSnapshotsProvider

__all__ = ["EbsSnapshot", "EbsSnapshotProvider", "InstanceSnapshots", "InstanceSnapshotsProvider"]
