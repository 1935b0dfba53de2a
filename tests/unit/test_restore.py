"""Restore path: one volume per original, from its snapshot (Pulumi mocks)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi_mocks import OptionsMonitor, Recorder, use

from snapshot_provider.components.restore import RestoreVolumes, RestoreVolumesArgs, _snapshot_of


@pulumi.runtime.test
def test_volumes_are_recreated_from_their_snapshots() -> Any:
    mocks = use(Recorder())
    restore = RestoreVolumes(
        "restore",
        RestoreVolumesArgs(
            snapshot_ids={"vol-a": "snap-a", "vol-b": "snap-b"},
            volume_ids=["vol-a", "vol-b"],
            availability_zone="us-east-1a",
            tags={"owner": "finops"},
        ),
    )

    def check(values: list[Any]) -> None:
        volume_ids, urn = values
        restored = mocks.named("restore-vol-b")
        assert restored.typ == "aws:ebs/volume:Volume"
        assert restored.inputs["snapshotId"] == "snap-b"
        assert restored.inputs["availabilityZone"] == "us-east-1a"
        assert restored.inputs["tags"] == {"owner": "finops", "restored-from": "vol-b"}
        assert volume_ids == {"vol-a": "restore-vol-a-id", "vol-b": "restore-vol-b-id"}
        assert "RestoreVolumes$aws:ebs/volume:Volume" in urn

    return pulumi.Output.all(restore.volume_ids, restore.volumes["vol-a"].urn).apply(check)


@pulumi.runtime.test
def test_restored_volumes_are_not_replaced_when_the_snapshot_set_is() -> Any:
    """A replaced set has new snapshot ids; the restored volumes (in use, written to since) keep theirs."""
    monitor = OptionsMonitor(Recorder())
    use(monitor.mocks, monitor)  # type: ignore[arg-type]
    restore = RestoreVolumes(
        "restore",
        RestoreVolumesArgs(
            snapshot_ids={"vol-a": "snap-a", "vol-b": "snap-b"},
            volume_ids=["vol-a", "vol-b"],
            availability_zone="us-east-1a",
        ),
    )

    def check(volume_ids: dict[str, str]) -> None:
        for original in ("vol-a", "vol-b"):
            request = monitor.requests[f"restore-{original}"]
            assert request.type == "aws:ebs/volume:Volume"
            assert list(request.ignoreChanges) == ["snapshotId"]
        assert volume_ids == {"vol-a": "restore-vol-a-id", "vol-b": "restore-vol-b-id"}

    return restore.volume_ids.apply(check)


def test_a_volume_without_snapshot_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no snapshot of vol-c"):
        _snapshot_of({"vol-a": "snap-a"}, "vol-c")
