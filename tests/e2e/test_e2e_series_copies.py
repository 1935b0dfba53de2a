"""A SnapshotSeries with a copy in another region, end to end the way a user works: a program in a temp dir, the
real Pulumi CLI, the local EC2 emulator. Each point is copied there; pruning a point deletes its copy, the kept
point's copy stays; destroy deletes the series' copies."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from stack_harness import StackFactory

from emulator import Ec2Emulator
from snapshot_provider.core.copying import SOURCE_TAG

OTHER_REGION = "eu-west-1"


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": 0.5, "copy_seconds": 1.0}


def series_program(volume_id: str) -> str:
    return "import pulumi\nfrom snapshot_provider import SnapshotSeries\n\n" + textwrap.dedent(
        f"""
        series = SnapshotSeries(
            "nightly",
            volume_id={volume_id!r},
            trigger=pulumi.Config().require("day"),
            keep_last=1,
            copies=[{{"region": {OTHER_REGION!r}, "completion_duration_minutes": 15}}],
            timeout=1800,  # covers completion_duration_minutes (a bound: the emulator copies in seconds)
        )
        pulumi.export("snapshot_id", series.snapshot_id)
        pulumi.export("deleted", series.deleted)
        pulumi.export("copied", series.copied)
        """
    )


def copies_by_source(emulator: Ec2Emulator) -> dict[str, str]:
    return {s["tags"][SOURCE_TAG]: s["snapshot_id"] for s in emulator.snapshots(region=OTHER_REGION)}


def test_a_series_copy_in_another_region_is_pruned_with_its_point(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(series_program(volume_id))
    stack.config(day="2026-03-01")
    stack.up()
    first = stack.outputs()["snapshot_id"]
    assert list(copies_by_source(emulator)) == [first]

    stack.config(day="2026-03-02")
    preview = stack.preview()
    # The provider's lines reach the CLI's stderr when the engine log is not connected.
    preview_text = preview.stdout + preview.stderr
    assert f"copies the new snapshot to {OTHER_REGION} once it completed" in preview_text
    stack.up()

    outputs = stack.outputs()
    second = outputs["snapshot_id"]
    assert outputs["deleted"] == [first]
    [copy] = outputs["copied"]
    assert copies_by_source(emulator) == {second: copy["snapshot_id"]}  # the pruned point's copy is gone
    assert (copy["state"], copy["region"]) == ("completed", OTHER_REGION)

    stack.run("destroy", "--yes")
    assert emulator.snapshots(region=OTHER_REGION) == [] and emulator.snapshots() == []
