"""Pulumi components built on snapshot_id and wait_time: tagging, audit trail, decommission, restore, cleanup."""
