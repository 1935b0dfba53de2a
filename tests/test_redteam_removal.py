"""Red-team findings in VolumeRemoval's undo and the holds it places, against the emulator.

Each test is marked `xfail(strict=True)` with its finding id; the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from stack_harness import wait_for

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.errors import SnapshotHeld, SnapshotProviderError
from snapshot_provider.holds import HOLD_WAIT_ENV, RESTORED_TAG, managed_keys
from snapshot_provider.volume_removal import VolumeRemovalProvider

removal_provider = VolumeRemovalProvider()
snapshot_provider = EbsSnapshotProvider()
REMOVAL_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray"
OTHER_ACCOUNT = "210987654321"


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def removal_props(volume_id: str, snapshot_id: str) -> dict[str, Any]:
    return {
        "volume_id": volume_id,
        "snapshot_id": snapshot_id,
        "confirm_delete_volume": volume_id,
        "region": REGION,
        "resource_urn": REMOVAL_URN,
    }


def restored(emulator: Ec2Emulator, volume_id: str) -> list[str]:
    backend = emulator.ec2_backend()
    return [v.id for v in backend.volumes.values() if backend.tags.get(v.id, {}).get(RESTORED_TAG) == volume_id]


def as_state_before_holds(emulator: Ec2Emulator, snapshot_id: str, outs: dict[str, Any]) -> dict[str, Any]:
    """A removal made by 0.1.0 (tests/fixtures/upgrade/0.1.0): no hold or record on its snapshot, no account_id."""
    client = ec2(emulator)
    tags = client.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0].get("Tags", [])
    client.delete_tags(Resources=[snapshot_id], Tags=[{"Key": k} for k in managed_keys(tags)])
    emulator.settle()
    return {k: v for k, v in outs.items() if k != "account_id"}


@pytest.mark.xfail(
    strict=True,
    reason="RT-3: the SnapshotHeld error tells the user to delete the hold when no VolumeRemoval exists any more, "
    "without checking that the held volume is gone and was never restored: following it deletes the volume's only copy",
)
def test_a_held_snapshot_whose_volume_is_gone_says_how_to_restore_it_before_releasing_the_hold(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi up` was killed right after DeleteVolume (or the VolumeRemoval had retain_on_delete): no state records
    the removal, the volume is gone, the hold is on the snapshot. The user runs `pulumi destroy`; the snapshot's
    delete fails on the hold. Its message must say the volume is deleted and this snapshot is its only copy, and how
    to bring it back, before it suggests removing the hold (after which the destroy deletes the last copy)."""
    monkeypatch.setenv(HOLD_WAIT_ENV, "2")
    emulator.settle()
    snapshot = snapshot_provider.create(snapshot_props(volume_id))
    removal_provider.create(removal_props(volume_id, snapshot.id))  # ... and the engine never recorded it
    assert volume_id not in emulator.ec2_backend().volumes

    with pytest.raises(SnapshotHeld) as refused:
        snapshot_provider.delete(snapshot.id, dict(snapshot.outs or {}))

    message = str(refused.value)
    assert "create-volume" in message and "delete-tags" in message, message
    assert message.index("create-volume") < message.index("delete-tags"), message


@pytest.mark.xfail(
    strict=True,
    reason="RT-7: a VolumeRemoval from before account_id was recorded (0.1.0 state), destroyed under another "
    "account's credentials, says its snapshot was deleted, the volume's data lost, and to `pulumi state delete` it",
)
def test_an_upgraded_removals_undo_under_another_account_never_calls_the_snapshot_deleted(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State made by 0.1.0 records no account for a VolumeRemoval. A `pulumi destroy` with the wrong AWS_PROFILE
    must not tell the user that the data is lost and to drop the resource from state: the snapshot is fine, in the
    other account."""
    emulator.settle()
    snapshot = snapshot_provider.create(snapshot_props(volume_id))
    created = removal_provider.create(removal_props(volume_id, snapshot.id))
    upgraded = as_state_before_holds(emulator, str(snapshot.id), dict(created.outs or {}))
    other = emulator.credentials(OTHER_ACCOUNT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", other["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", other["aws_secret_access_key"])

    with pytest.raises(SnapshotProviderError) as failed:
        removal_provider.delete(created.id, upgraded)

    message = str(failed.value)
    assert "state delete" not in message and "data is lost" not in message, message


@pytest.mark.xfail(
    strict=True,
    reason="RT-9: a VolumeRemoval made before holds existed (0.1.0 state) never gets one: a destroy with its "
    "snapshot's resource, nothing tying the two, still deletes the snapshot first and the undo fails (issue 17 #2)",
)
def test_one_destroy_of_an_upgraded_stack_restores_the_volume_then_deletes_the_snapshot(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """An upgraded stack (0.1.0 state, no hold on the removal's snapshot) with the removal's `snapshot_id` as a plain
    value. `pulumi up` after the upgrade shows no changes; then `pulumi destroy` runs both deletes at once."""
    emulator.settle()
    snapshot = snapshot_provider.create(snapshot_props(volume_id))
    created = removal_provider.create(removal_props(volume_id, snapshot.id))
    upgraded = as_state_before_holds(emulator, str(snapshot.id), dict(created.outs or {}))
    # What `pulumi up` after the upgrade does to the removal: the engine diffs, finds nothing to change.
    assert not removal_provider.diff(created.id, upgraded, removal_props(volume_id, snapshot.id)).changes
    errors: list[BaseException] = []

    def undo() -> None:
        try:
            removal_provider.delete(created.id, upgraded)
        except BaseException as error:  # the test reports it
            errors.append(error)

    deleting = threading.Thread(target=lambda: snapshot_provider.delete(snapshot.id, dict(snapshot.outs or {})))
    deleting.start()
    wait_for(lambda: emulator.calls("DescribeSnapshots"), timeout=20)  # the snapshot's delete has started
    undoing = threading.Thread(target=undo)
    undoing.start()
    for thread in (deleting, undoing):
        thread.join(timeout=120)

    assert errors == [] and len(restored(emulator, volume_id)) == 1, f"the undo failed: {errors}"
