"""Pulumi dynamic providers for safe, reversible EBS snapshots (EC2 CreateSnapshot and CreateSnapshots)."""

from snapshot_provider.dynamic.host import adapt_dynamic_provider_host
from snapshot_provider.ebs_snapshot import EbsSnapshot, EbsSnapshotArgs, EbsSnapshotProvider
from snapshot_provider.ec2.errors import (
    AccountNotAllowed,
    SnapshotFailed,
    SnapshotInUse,
    SnapshotProviderError,
    SnapshotTimedOut,
)
from snapshot_provider.instance_snapshots import InstanceSnapshots, InstanceSnapshotsArgs, InstanceSnapshotsProvider
from snapshot_provider.series import SnapshotSeries, SnapshotSeriesArgs, SnapshotSeriesProvider
from snapshot_provider.volume_removal import VolumeRemoval, VolumeRemovalArgs, VolumeRemovalProvider

# Only inside `python -m pulumi.dynamic` (the engine's provider host): serve every create at once, not 4 at a time;
# end the waits on Ctrl-C; errors as one paragraph.
adapt_dynamic_provider_host()

__all__ = [
    "AccountNotAllowed",
    "EbsSnapshot",
    "EbsSnapshotArgs",
    "EbsSnapshotProvider",
    "InstanceSnapshots",
    "InstanceSnapshotsArgs",
    "InstanceSnapshotsProvider",
    "SnapshotFailed",
    "SnapshotInUse",
    "SnapshotProviderError",
    "SnapshotSeries",
    "SnapshotSeriesArgs",
    "SnapshotSeriesProvider",
    "SnapshotTimedOut",
    "VolumeRemoval",
    "VolumeRemovalArgs",
    "VolumeRemovalProvider",
]
