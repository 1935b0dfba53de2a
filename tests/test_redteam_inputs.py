"""Red-team findings at the edges of the input rules: tag limits with the managed tags, and region names.

Each test is marked `xfail(strict=True)` with its finding id; the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import pytest

from conftest import snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.errors import SnapshotProviderError
from snapshot_provider.volume_removal import VolumeRemovalProvider

REMOVAL_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray"


@pytest.mark.xfail(
    strict=True,
    reason="RT-11: a tag change the preview accepts (48 tags) on a snapshot a VolumeRemoval holds fails at up with "
    "EC2's bare TagLimitExceeded: nothing says the undo's hold takes 2-3 of the 50 tags, nor what to do",
)
def test_a_tag_change_with_no_room_beside_an_undos_hold_says_so(emulator: Ec2Emulator, volume_id: str) -> None:
    """An EbsSnapshot with 46 tags, held by a VolumeRemoval (the hold and its record: 2 tags), gets 2 more tags
    (48, the documented maximum). The `up` fails; its error must name the hold and the fix."""
    emulator.settle()
    tags = {f"cost-{i:02d}": "x" for i in range(46)}
    provider = EbsSnapshotProvider()
    created = provider.create(snapshot_props(volume_id, tags=tags))
    VolumeRemovalProvider().create(
        {
            "volume_id": volume_id,
            "snapshot_id": created.id,
            "confirm_delete_volume": volume_id,
            "region": "us-east-1",
            "resource_urn": REMOVAL_URN,
        }
    )
    more = {**tags, "cost-46": "x", "cost-47": "x"}
    assert not provider.check({}, snapshot_props(volume_id, tags=more)).failures  # the preview accepts it

    with pytest.raises(SnapshotProviderError) as failed:
        provider.update(created.id, dict(created.outs or {}), snapshot_props(volume_id, tags=more))

    message = str(failed.value)
    assert "hold" in message or "undo" in message, message
