"""The decommission recipe end to end, the way a user works: a program in a temp dir, the real Pulumi CLI, the local
EC2 emulator. "Snapshot, lock for 90 days, copy to another region and to the backup account, then delete the volume"
with ReversibleVolumeCleanup; what the emulator holds and the order of the calls it served decide.

SafeDecommission takes the same `lock` and `copies`, but its stop and its volume tags are pulumi-aws resources, whose
plugin cannot be downloaded here: its wiring is tested under Pulumi mocks (tests/unit/test_decommission.py)."""

from __future__ import annotations

import textwrap
from typing import Any

import boto3
import pytest
from stack_harness import StackFactory

from emulator import Ec2Emulator
from emulator.accounts import DEFAULT_ACCOUNT_ID
from snapshot_provider.ec2.undo_tags import RESTORED_TAG
from testbed import REGION

OTHER_REGION = "eu-west-1"
BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"
COPY_SECONDS = 2.0


def recipe(volume_id: str, *, copies: list[dict[str, str]], delete: bool, keep: bool = True) -> str:
    """The user's program: a ReversibleVolumeCleanup with a 90-day governance lock and `copies`, deleting the volume
    when `delete`, leaving the snapshot and its copies to `destroy` when `keep`."""
    return "import pulumi\n" + textwrap.dedent(
        f"""
        from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
        from snapshot_provider.components.tagging import SnapshotPolicy

        policy = SnapshotPolicy(owner="finops", reason="unattached for 90 days", retention_days=90)
        cleanup = ReversibleVolumeCleanup(
            "stray",
            ReversibleVolumeCleanupArgs(
                volume_id={volume_id!r},
                policy=policy,
                lock={{"mode": "governance", "duration_days": 90}},
                copies={copies!r},
                confirm_delete_volume={volume_id if delete else None!r},
                keep_snapshot_on_undo={keep!r},
            ),
        )
        pulumi.export("snapshot_id", cleanup.snapshot_id)
        pulumi.export("wait_time", cleanup.wait_time)
        pulumi.export("copies", [c.snapshot_id for c in cleanup.copies])
        pulumi.export("copy_wait_times", [c.wait_time for c in cleanup.copies])
        """
    )


BOTH_COPIES = [{"region": OTHER_REGION}, {"region": OTHER_REGION, "role_arn": BACKUP_ROLE}]


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": 1.0, "copy_seconds": COPY_SECONDS}


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def test_the_volume_is_deleted_only_after_its_snapshot_is_locked_and_copied_and_destroy_restores_it(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1, tags={"team": "data"})
    stack = new_stack(recipe(volume_id, copies=BOTH_COPIES, delete=True))

    stack.up()  # one `up`: the backup account's copy shares the snapshot with it itself

    outputs: dict[str, Any] = stack.outputs()
    snapshot_id = outputs["snapshot_id"]
    [snapshot] = emulator.snapshots()
    assert (snapshot["snapshot_id"], snapshot["state"], outputs["snapshot_id"]) == (
        snapshot_id,
        "completed",
        snapshot_id,
    )
    [lock] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    assert (lock["LockState"], lock["LockDuration"]) == ("governance", 90)
    [regional] = emulator.snapshots(region=OTHER_REGION)
    [backup] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    assert sorted(outputs["copies"]) == sorted([regional["snapshot_id"], backup["snapshot_id"]])
    assert regional["state"] == backup["state"] == "completed"
    assert outputs["wait_time"] >= 1.0 and min(outputs["copy_wait_times"]) >= COPY_SECONDS
    assert volume_id not in emulator.ec2_backend().volumes
    # The order, from the calls the emulator served: the volume went only after the lock and both copies completed.
    [deleted] = emulator.calls("DeleteVolume")
    [locked] = emulator.calls("LockSnapshot")
    copied = emulator.calls("CopySnapshot")
    assert len(copied) == 2 and {c.account_id for c in copied} == {DEFAULT_ACCOUNT_ID, BACKUP_ACCOUNT}
    assert deleted.at > locked.at and deleted.at >= max(c.at for c in copied) + COPY_SECONDS
    shared = ec2(emulator).describe_snapshot_attribute(SnapshotId=snapshot_id, Attribute="createVolumePermission")
    assert shared["CreateVolumePermissions"] == []  # shared for the copy only

    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["team"] == "data"
    # Kept, as the recipe asks: the locked snapshot and its copies outlive the undo, and the stack is empty.
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]
    assert len(emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)) == 1
    assert len(emulator.snapshots(region=OTHER_REGION)) == 1
    assert stack.resources() == []


def restored(emulator: Ec2Emulator, volume_id: str) -> list[dict[str, Any]]:
    emulator.settle()
    found = ec2(emulator).describe_volumes(Filters=[{"Name": f"tag:{RESTORED_TAG}", "Values": [volume_id]}])
    return list(found["Volumes"])


def test_without_keep_snapshot_on_undo_destroy_restores_the_volume_then_fails_naming_the_lock(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(recipe(volume_id, copies=[], delete=True, keep=False))
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]

    result = stack.run("destroy", "--yes", check=False)

    assert result.returncode != 0
    said = " ".join((result.stdout + result.stderr).split())
    assert f"snapshot {snapshot_id} is locked in governance mode until" in said and "Nothing was deleted" in said
    assert len(restored(emulator, volume_id)) == 1  # the undo ran first
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]
    assert [r["type"].rsplit(":", 1)[-1] for r in stack.resources()] == ["EbsSnapshot"]  # the next destroy converges


def test_a_copy_target_without_region_or_account_is_refused_at_preview_and_changes_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(recipe(volume_id, copies=[{"kms_key_id": "alias/backup"}], delete=True))

    result = stack.preview(check=False)

    assert result.returncode != 0
    said = " ".join((result.stdout + result.stderr).split())
    assert "stray: copies[0]: give region (another region) and/or role_arn (a role in another account)" in said
    assert emulator.mutating_calls() == [] and volume_id in emulator.ec2_backend().volumes
