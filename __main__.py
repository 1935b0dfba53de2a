"""A runnable stack: snapshot the EBS volume named in stack config and export snapshot_id and wait_time.

Stack config (pulumi config set NAME VALUE):
  volume_id            the volume to snapshot (required)
  description          snapshot description
  tags                 JSON object of tags (pulumi config set --path 'tags.team' storage)
  storage_tier         standard (default) or archive
  timeout              seconds to wait for completion
  retain_on_delete     true: keep the snapshot when the resource is deleted or replaced
  import_snapshot_id   adopt this existing snapshot (of volume_id) instead of taking a new one
  aws:region           region (else AWS_REGION / AWS_DEFAULT_REGION)
"""

import pulumi

from snapshot_provider import EbsSnapshot

config = pulumi.Config()
snapshot = EbsSnapshot(
    "snapshot",
    volume_id=config.require("volume_id"),
    description=config.get("description"),
    tags=config.get_object("tags") or {"managed-by": "pulumi", "stack": pulumi.get_stack()},
    storage_tier=config.get("storage_tier"),
    timeout=config.get_float("timeout"),
    import_snapshot_id=config.get("import_snapshot_id"),
    opts=pulumi.ResourceOptions(retain_on_delete=config.get_bool("retain_on_delete") or False),
)

pulumi.export("snapshot_id", snapshot.snapshot_id)
pulumi.export("wait_time", snapshot.wait_time)
pulumi.export("volume_id", snapshot.volume_id)
pulumi.export("state", snapshot.state)
pulumi.export("arn", snapshot.arn)
