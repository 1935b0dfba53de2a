"""A runnable stack: snapshots from stack config, exporting snapshot ids and wait_time.

Stack config (pulumi config set NAME VALUE); `mode` picks what the stack does:

  mode=volume (default)  snapshot one volume (EbsSnapshot)
    volume_id            the volume to snapshot (required)
    import_snapshot_id   adopt this existing snapshot of volume_id instead of taking a new one
  mode=instance          crash-consistent snapshots of an instance's volumes (InstanceSnapshots)
    instance_id          the instance (required)
    exclude_boot_volume  true: leave the root volume out
    exclude_data_volume_ids  JSON list of data volume ids to leave out

  Shared: description, tags (JSON object), storage_tier (standard|archive), timeout (seconds),
  retain_on_delete (true: keep snapshots when the resource goes), aws:region (else AWS_REGION).
"""

import pulumi

from snapshot_provider import EbsSnapshot, InstanceSnapshots

config = pulumi.Config()
mode = config.get("mode") or "volume"
common = {
    "description": config.get("description"),
    "tags": config.get_object("tags") or {"managed-by": "pulumi", "stack": pulumi.get_stack()},
    "storage_tier": config.get("storage_tier"),
    "timeout": config.get_float("timeout"),
}
options = pulumi.ResourceOptions(retain_on_delete=config.get_bool("retain_on_delete") or False)


def snapshot_volume() -> None:
    snapshot = EbsSnapshot(
        "snapshot",
        volume_id=config.require("volume_id"),
        import_snapshot_id=config.get("import_snapshot_id"),
        opts=options,
        **common,
    )
    pulumi.export("snapshot_id", snapshot.snapshot_id)
    pulumi.export("wait_time", snapshot.wait_time)
    pulumi.export("volume_id", snapshot.volume_id)
    pulumi.export("state", snapshot.state)
    pulumi.export("arn", snapshot.arn)


def snapshot_instance() -> None:
    snapshot_set = InstanceSnapshots(
        "instance-snapshots",
        instance_id=config.require("instance_id"),
        exclude_boot_volume=config.get_bool("exclude_boot_volume"),
        exclude_data_volume_ids=config.get_object("exclude_data_volume_ids"),
        copy_tags_from_source="volume",
        opts=options,
        **common,
    )
    pulumi.export("snapshot_ids", snapshot_set.snapshot_ids)
    pulumi.export("snapshots", snapshot_set.snapshots)
    pulumi.export("wait_time", snapshot_set.wait_time)


MODES = {"volume": snapshot_volume, "instance": snapshot_instance}
if mode not in MODES:
    raise pulumi.RunError(f"config mode={mode!r} is not one of: {', '.join(MODES)}")
MODES[mode]()
