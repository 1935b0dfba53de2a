"""SnapshotCopy end to end, the way a user works: a program in a temp dir, the real Pulumi CLI, the local EC2
emulator. A snapshot copied to another region is waited for (`wait_time`), held there, and deleted by destroy."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3
from stack_harness import PulumiStack

from emulator import Ec2Emulator
from testbed import REGION

OTHER_REGION = "eu-west-1"


def copy_program(volume_id: str, description: str = "dr copy") -> str:
    return "import pulumi\nfrom snapshot_provider import EbsSnapshot, SnapshotCopy\n\n" + textwrap.dedent(
        f"""
        snapshot = EbsSnapshot("data", volume_id={volume_id!r}, timeout=120)
        copy = SnapshotCopy(
            "data-dr",
            source_snapshot_id=snapshot.snapshot_id,
            source_region={REGION!r},
            region={OTHER_REGION!r},
            completion_duration_minutes=15,
            description={description!r},
            tags={{"purpose": "dr"}},
            timeout=1800,  # covers completion_duration_minutes (a bound: the emulator copies in seconds)
        )
        pulumi.export("copy_id", copy.snapshot_id)
        pulumi.export("copy_wait_time", copy.wait_time)
        pulumi.export("copy_region", copy.region)
        """
    )


def test_a_copy_to_another_region_is_waited_for_and_destroyed(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=1.0, copy_seconds=2.0)
    stack = PulumiStack(tmp_path, bin_dir, emulator.url, program=copy_program(volume_id), sts_url=emulator.sts_url)
    stack.config(**{"aws:region": REGION})

    stack.up()

    outputs: dict[str, Any] = stack.outputs()
    [held] = emulator.snapshots(region=OTHER_REGION)
    assert (held["snapshot_id"], held["state"], outputs["copy_region"]) == (
        outputs["copy_id"],
        "completed",
        OTHER_REGION,
    )
    assert outputs["copy_wait_time"] >= 2.0 and held["tags"]["purpose"] == "dr"
    assert len(emulator.calls("CopySnapshot")) == 1

    stack.run("destroy", "--yes")
    assert emulator.snapshots(region=OTHER_REGION) == [] and emulator.snapshots() == []


def test_a_replaced_copy_is_completed_before_the_old_copy_is_deleted(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=1.0, copy_seconds=2.0)
    stack = PulumiStack(tmp_path, bin_dir, emulator.url, program=copy_program(volume_id), sts_url=emulator.sts_url)
    stack.config(**{"aws:region": REGION})
    stack.up()
    old_id = stack.outputs()["copy_id"]
    emulator.clear_calls()

    stack.write_program(copy_program(volume_id, description="dr copy, second"))
    stack.up()

    new_id = stack.outputs()["copy_id"]
    [held] = emulator.snapshots(region=OTHER_REGION)
    assert new_id != old_id and (held["snapshot_id"], held["state"]) == (new_id, "completed")
    [copied] = emulator.calls("CopySnapshot")
    [deleted] = [c for c in emulator.calls("DeleteSnapshot") if c.region == OTHER_REGION]
    assert deleted.params["SnapshotId"] == old_id
    # the new copy was seen completed (the wait's last look) before the old one was deleted
    looks = [c for c in emulator.calls("DescribeSnapshots") if c.region == OTHER_REGION and copied.at < c.at]
    assert looks and max(c.at for c in looks if c.at < deleted.at) >= copied.at + 2.0


BACKUP_ACCOUNT = "210987654321"


def backup_copy_program(volume_id: str) -> str:
    copy = f"""
        copy = SnapshotCopy(
            "data-backup",
            source_snapshot_id=snapshot.snapshot_id,
            source_region={REGION!r},
            region={OTHER_REGION!r},
            role_arn="arn:aws:iam::{BACKUP_ACCOUNT}:role/backup",
            timeout=120,
        )
        pulumi.export("copy_id", copy.snapshot_id)
        pulumi.export("copy_account", copy.account_id)
        pulumi.export("copy_wait_time", copy.wait_time)
        """
    body = f"""
        snapshot = EbsSnapshot("data", volume_id={volume_id!r}, timeout=120)
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        """
    return "import pulumi\nfrom snapshot_provider import EbsSnapshot, SnapshotCopy\n\n" + textwrap.dedent(body + copy)


def test_a_copy_to_another_account_through_role_arn_is_held_there_and_destroyed(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=1.0, copy_seconds=2.0)
    program = backup_copy_program(volume_id)
    stack = PulumiStack(tmp_path, bin_dir, emulator.url, program=program, sts_url=emulator.sts_url)
    stack.config(**{"aws:region": REGION})

    stack.up()  # one `up`: the copy shares the snapshot with the backup account itself

    outputs: dict[str, Any] = stack.outputs()
    [held] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    assert (held["snapshot_id"], held["state"]) == (outputs["copy_id"], "completed")
    assert outputs["copy_account"] == BACKUP_ACCOUNT and outputs["copy_wait_time"] >= 2.0
    assert emulator.snapshots(region=OTHER_REGION) == []  # nothing in the home account's destination region
    shared = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url).describe_snapshot_attribute(
        SnapshotId=outputs["snapshot_id"], Attribute="createVolumePermission"
    )
    assert shared["CreateVolumePermissions"] == []  # the share the copy added, removed once it completed
    # ... and recorded on the source before it was added (a holder tag), the record gone with the share.
    holder = f"pulumi-snapshot:copy-share:{BACKUP_ACCOUNT}:"
    tagged = [c for c in emulator.calls("CreateTags") if any(v.startswith(holder) for v in c.params.values())]
    shared_at = min(c.at for c in emulator.calls("ModifySnapshotAttribute") if c.params.get("OperationType") == "add")
    assert tagged and min(c.at for c in tagged) < shared_at, "the share was added before it was recorded"
    [source] = [s for s in emulator.snapshots() if s["snapshot_id"] == outputs["snapshot_id"]]
    assert not [key for key in source["tags"] if key.startswith(holder)], source["tags"]

    stack.run("destroy", "--yes")
    assert emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION) == [] and emulator.snapshots() == []
