"""Reversible cleanup wiring: delete only with the opt-in, after the snapshot (Pulumi mocks)."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_mocks import Recorder, use

from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
from snapshot_provider.components.tagging import SnapshotPolicy

POLICY = SnapshotPolicy(owner="finops", reason="unknown owner", retention_days=30)


@pulumi.runtime.test
def test_volume_is_deleted_only_after_its_snapshot_with_opt_in() -> Any:
    mocks = use(Recorder())
    cleanup = ReversibleVolumeCleanup(
        "stray",
        ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY, confirm_delete_volume="vol-01234567"),
    )

    def check(values: list[Any]) -> None:
        deleted, removal_urn = values
        names = mocks.names()
        assert names.index("stray-delete-volume") > names.index("stray-snapshot")
        removal = mocks.named("stray-delete-volume")
        assert removal.inputs["snapshot_id"] == "snap-01234567"  # the completed snapshot's id, not a guess
        assert removal.inputs["confirm_delete_volume"] == "vol-01234567"
        # Its URN, so that the undo's progress lines show next to it.
        assert removal.inputs["resource_urn"].endswith(
            "ReversibleVolumeCleanup$pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray-delete-volume"
        )
        snapshot = mocks.named("stray-snapshot")
        assert snapshot.inputs["tags"]["reason"] == "unknown owner" and snapshot.inputs["copy_volume_tags"] is True
        assert deleted == {
            "volume_id": "vol-01234567",
            "availability_zone": "us-east-1a",
            "size": 8,
            "volume_type": "gp3",
            "tags": {"team": "x"},
        }
        assert "ReversibleVolumeCleanup$pulumi-python:dynamic/ebs-snapshots:VolumeRemoval" in removal_urn

    assert cleanup.removal is not None and cleanup.deleted_volume is not None
    return pulumi.Output.all(cleanup.deleted_volume, cleanup.removal.urn).apply(check)


@pulumi.runtime.test
def test_without_opt_in_only_the_snapshot_is_taken() -> Any:
    mocks = use(Recorder())
    cleanup = ReversibleVolumeCleanup("stray", ReversibleVolumeCleanupArgs(volume_id="vol-01234567", policy=POLICY))
    assert cleanup.removal is None

    def check(_: Any) -> None:
        assert mocks.names() == ["stray", "stray-snapshot"]

    return cleanup.snapshot_id.apply(check)
