"""Snapshot EBS volumes before a migration, tagged by a policy; optionally retire a stray volume, reversibly.

Stack config:

  aws:region             where the volumes are (or AWS_REGION)
  volume_ids             the volumes to snapshot, a JSON list: pulumi config set --path 'volume_ids[0]' vol-...
  owner, reason          the tagging policy (defaults: platform, before migration)
  retention_days         written as the retention-days and delete-after tags (default 30)
  description            the snapshots' description; EC2 cannot change it, so a change takes new snapshots
  stray_volume_id        optional: an unattached volume to snapshot, then delete once the snapshot completed;
                         `pulumi destroy` brings it back from the snapshot
  confirm_delete_volume  must repeat stray_volume_id, or the stray volume is only snapshotted
"""

import pulumi

from snapshot_provider import EbsSnapshot
from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
from snapshot_provider.components.tagging import SnapshotPolicy, keep_first_dated_tags, tags_for

config = pulumi.Config()
policy = SnapshotPolicy(
    owner=config.get("owner") or "platform",
    reason=config.get("reason") or "before migration",
    retention_days=config.get_int("retention_days") or 30,
)

snapshot_ids, wait_times = {}, {}
for volume_id in config.require_object("volume_ids"):
    # Named after the volume, so that reordering the list changes nothing.
    snapshot = EbsSnapshot(
        f"snapshot-{volume_id}",
        volume_id=volume_id,
        description=config.get("description"),
        tags=tags_for(policy, volume_id),
        opts=keep_first_dated_tags(),
    )
    snapshot_ids[volume_id] = snapshot.snapshot_id
    wait_times[volume_id] = snapshot.wait_time  # seconds until EC2 reported it completed
pulumi.export("snapshot_ids", snapshot_ids)
pulumi.export("wait_times", wait_times)

stray_volume_id = config.get("stray_volume_id")
if stray_volume_id:
    cleanup = ReversibleVolumeCleanup(
        "stray",
        ReversibleVolumeCleanupArgs(
            volume_id=stray_volume_id,
            policy=policy,
            confirm_delete_volume=config.get("confirm_delete_volume"),
        ),
    )
    pulumi.export("stray_snapshot_id", cleanup.snapshot_id)
    pulumi.export("deleted_volume", cleanup.deleted_volume)
