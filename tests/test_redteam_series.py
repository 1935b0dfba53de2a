"""Red-team findings in SnapshotSeries (and the retention component built on it), against the emulator.

Each test is marked `xfail(strict=True)` with its finding id; the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conftest import REGION
from emulator import Ec2Emulator
from snapshot_provider import SnapshotSeriesProvider
from snapshot_provider.series import SCHEMA
from snapshot_provider.volume_removal import VolumeRemovalProvider

URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
provider = SnapshotSeriesProvider()


def props(**overrides: Any) -> dict[str, Any]:
    """Inputs as the engine hands them to the provider after check."""
    given: dict[str, Any] = {"region": REGION, "tags": {"purpose": "test"}, "timeout": 60, "resource_urn": URN}
    return SCHEMA.stored({**given, **overrides})


class Series:
    """A series driven like the engine drives it: create, then updates with the previous outputs as olds."""

    def __init__(self, **inputs: Any) -> None:
        self.inputs = props(**inputs)
        created = provider.create(self.inputs)
        self.id: str = created.id
        self.outs: dict[str, Any] = created.outs

    def up(self, **changes: Any) -> dict[str, Any]:
        news = props(**{**self.inputs, **changes})
        self.outs = provider.update(self.id, self.outs, news).outs
        self.inputs = news
        return self.outs


@pytest.mark.xfail(
    strict=True,
    reason="RT-14: the series' preview plans deletes without the undo holds its update honours: it says a held "
    "snapshot will be deleted, and the up then keeps it",
)
def test_the_series_preview_never_announces_deleting_a_snapshot_an_undo_holds(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A volume's series; the volume retired with a VolumeRemoval restoring from the series' older snapshot. Then
    keep_last is lowered: the preview must say what the `up` will do, and the `up` keeps the held snapshot."""
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=3)
    [older] = [s["snapshot_id"] for s in series.outs["snapshots"]]
    series.up(trigger="day-2")
    VolumeRemovalProvider().create(
        {
            "volume_id": volume_id,
            "snapshot_id": older,
            "confirm_delete_volume": volume_id,
            "region": REGION,
            "resource_urn": URN.replace("SnapshotSeries::nightly", "VolumeRemoval::retire"),
        }
    )
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    provider.diff(series.id, series.outs, props(**{**series.inputs, "keep_last": 1}))
    preview = "\n".join(r.getMessage() for r in caplog.records if r.name == "snapshot_provider.progress")
    series.up(keep_last=1)

    assert older not in series.outs["deleted"]  # what the up did: kept it for the undo
    assert f"delete {older}" not in preview, preview
