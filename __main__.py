"""A runnable stack: snapshots from stack config, exporting snapshot ids and wait_time.

Stack config (pulumi config set NAME VALUE); `mode` picks what the stack does:

  mode=volume (default)  snapshot one volume (EbsSnapshot)
    volume_id            the volume to snapshot (required)
    import_snapshot_id   adopt this existing snapshot of volume_id instead of taking a new one
  mode=instance          crash-consistent snapshots of an instance's volumes (InstanceSnapshots)
    instance_id          the instance (required)
    exclude_boot_volume  true: leave the root volume out
    exclude_data_volume_ids  JSON list of data volume ids to leave out

  mode=cleanup           reversible cleanup of an unattached volume (components.ReversibleVolumeCleanup)
    volume_id            the volume; snapshot, wait, then delete it; `pulumi destroy` restores it
    confirm_delete_volume  must repeat volume_id, or the volume is only snapshotted
  mode=decommission      snapshot set of an instance, then stop it (components.SafeDecommission; needs the AWS plugin)
    instance_id, expected_volume_ids (JSON list), max_wait_seconds, availability_zone
    restore              true: re-create the volumes from the snapshots (components.RestoreVolumes)

  mode=series            a rolling series of snapshots kept by a retention policy (SnapshotSeries)
    volume_id or instance_id  the source
    trigger              a new value takes a new snapshot, then prunes (a nightly job sets today's date)
    keep_last, max_age_days, archive_after_days  the retention policy
    recycle_bin_days     also a Recycle Bin rule for the series' snapshots (components.retention; needs the AWS plugin)

  Shared: description, tags (JSON object), storage_tier (standard|archive), timeout (seconds),
  triggers (JSON object; any change of a value takes a new snapshot: volume and instance modes),
  retain_on_delete (true: keep snapshots when the resource goes), aws:region (else AWS_REGION),
  profile, role_arn, external_id (set it with --secret), allowed_account_ids (JSON list).
  Components: owner, reason, retention_days (the tagging policy), audit_bucket (S3 bucket for the audit trail).
"""

from typing import TYPE_CHECKING

import pulumi

from snapshot_provider import EbsSnapshot, InstanceSnapshots

if TYPE_CHECKING:
    from snapshot_provider.components.tagging import SnapshotPolicy

config = pulumi.Config()
mode = config.get("mode") or "volume"
common = {
    "description": config.get("description"),
    "tags": config.get_object("tags") or {"managed-by": "pulumi", "stack": pulumi.get_stack()},
    "storage_tier": config.get("storage_tier"),
    "timeout": config.get_float("timeout"),
    "triggers": config.get_object("triggers"),
    # Where to act (defaults: the standard AWS chain, the stack's aws:region)
    "profile": config.get("profile"),
    "role_arn": config.get("role_arn"),
    "external_id": config.get_secret("external_id"),
    "allowed_account_ids": config.get_object("allowed_account_ids"),
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
    export_audit(volume_snapshots=[snapshot])


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
    export_audit(instance_snapshots=[snapshot_set])


def policy() -> "SnapshotPolicy":
    from snapshot_provider.components.tagging import SnapshotPolicy

    return SnapshotPolicy(
        owner=config.get("owner") or "platform",
        reason=config.get("reason") or f"{mode} by pulumi stack {pulumi.get_stack()}",
        retention_days=config.get_int("retention_days"),
    )


def export_audit(**snapshots: list) -> None:
    from snapshot_provider.components.audit import AuditTrailArgs, SnapshotAuditTrail

    trail = SnapshotAuditTrail(
        "audit", AuditTrailArgs(reason=policy().reason, bucket=config.get("audit_bucket"), **snapshots)
    )
    pulumi.export("audit", trail.records)


def cleanup_volume() -> None:
    from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs

    cleanup = ReversibleVolumeCleanup(
        "cleanup",
        ReversibleVolumeCleanupArgs(
            volume_id=config.require("volume_id"),
            policy=policy(),
            confirm_delete_volume=config.get("confirm_delete_volume"),
        ),
    )
    pulumi.export("snapshot_id", cleanup.snapshot_id)
    pulumi.export("wait_time", cleanup.wait_time)
    pulumi.export("deleted_volume", cleanup.deleted_volume)


def decommission_instance() -> None:
    from snapshot_provider.components.decommission import SafeDecommission, SafeDecommissionArgs
    from snapshot_provider.components.restore import RestoreVolumes, RestoreVolumesArgs

    expected = config.get_object("expected_volume_ids") or []
    decommission = SafeDecommission(
        "decommission",
        SafeDecommissionArgs(
            instance_id=config.require("instance_id"),
            policy=policy(),
            expected_volume_ids=expected,
            max_wait_seconds=config.get_float("max_wait_seconds"),
            availability_zone=config.get("availability_zone"),
        ),
    )
    pulumi.export("snapshot_ids", decommission.snapshot_ids)
    pulumi.export("wait_time", decommission.wait_time)
    pulumi.export("restore", decommission.restore)
    if config.get_bool("restore"):
        restored = RestoreVolumes(
            "restore",
            RestoreVolumesArgs(
                snapshot_ids=decommission.snapshot_ids,
                volume_ids=expected,
                availability_zone=config.require("availability_zone"),
            ),
        )
        pulumi.export("restored_volume_ids", restored.volume_ids)


def snapshot_series() -> None:
    from snapshot_provider import SnapshotSeries

    given = {
        "volume_id": config.get("volume_id"),
        "instance_id": config.get("instance_id"),
        "trigger": config.get("trigger"),
        "keep_last": config.get_int("keep_last"),
        "max_age_days": config.get_float("max_age_days"),
        "archive_after_days": config.get_float("archive_after_days"),
        **{k: v for k, v in common.items() if k not in ("storage_tier", "triggers")},
    }
    days = config.get_int("recycle_bin_days")
    if days is None:
        series = SnapshotSeries("series", opts=options, **given)
    else:
        from snapshot_provider.components.retention import SnapshotRetention, SnapshotRetentionArgs

        series = SnapshotRetention("retention", SnapshotRetentionArgs(series=given, recycle_bin_days=days)).series
    pulumi.export("series_id", series.id)
    pulumi.export("snapshot_id", series.snapshot_id)
    pulumi.export("snapshot_ids", series.snapshot_ids)
    pulumi.export("wait_time", series.wait_time)
    pulumi.export("snapshots", series.snapshots)
    pulumi.export("archived", series.archived)
    pulumi.export("deleted", series.deleted)
    pulumi.export("in_use", series.in_use)
    pulumi.export("size_gib", series.size_gib)
    pulumi.export("full_size_gib", series.full_size_gib)


MODES = {
    "volume": snapshot_volume,
    "instance": snapshot_instance,
    "series": snapshot_series,
    "cleanup": cleanup_volume,
    "decommission": decommission_instance,
}
if mode not in MODES:
    raise pulumi.RunError(f"config mode={mode!r} is not one of: {', '.join(MODES)}")
MODES[mode]()
