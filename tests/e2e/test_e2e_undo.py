"""End to end, as a user works: the undo of a volume removal under the real Pulumi CLI, against the local emulator.

Each test writes the user's own program in a temporary project, runs `pulumi up` and `pulumi destroy`, and checks
what the emulator holds afterwards (volumes, snapshots, their tags) and the order of the calls, not only outputs:

- a stack with an EbsSnapshot and a VolumeRemoval given the snapshot id as a plain value (nothing tells the engine
  that one needs the other): one `destroy` restores the volume, and only then deletes the snapshot;
- an encrypted volume with its own KMS key, removed and restored by ReversibleVolumeCleanup: the restored volume has
  the key, size, type, performance and tags of the original;
- a destroy that fails after the volume was restored, is killed right after CreateVolume, or is cancelled (Ctrl-C)
  while it waits for the restored volume, then another: exactly one restored volume.

All of it with the emulator in its strict EC2 mode: new volumes, snapshots and tags are listed with a delay, STS has
its own endpoint, API calls are throttled, CreateVolume honours client tokens.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, StackFactory, kill_tree, wait_for

from emulator import Ec2Emulator
from snapshot_provider.ec2.undo_tags import HOLD_TAG, RESTORED_TAG
from testbed import REGION

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": 1.0, "strict": True}


@pytest.fixture
def new_stack(new_stack: StackFactory, emulator: Ec2Emulator) -> StackFactory:
    """The shared `new_stack`, for a program body after `import pulumi`, its provider told the strict emulator's
    delays and limits."""

    def make(body: str) -> PulumiStack:
        stack = new_stack("import pulumi\n" + textwrap.dedent(body))
        stack.strict(emulator)
        emulator.settle()  # the user's volumes were there long before: not new to EC2's listings
        return stack

    return make


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def restored(emulator: Ec2Emulator, volume_id: str) -> list[dict[str, Any]]:
    """The volumes restored for the removal of `volume_id`, as DescribeVolumes shows them once listed."""
    emulator.settle()
    found = ec2(emulator).describe_volumes(Filters=[{"Name": f"tag:{RESTORED_TAG}", "Values": [volume_id]}])
    return list(found["Volumes"])


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_one_destroy_restores_the_volume_then_deletes_the_snapshot_given_as_a_plain_value(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1, size=12, tags={"team": "data"})
    stack = new_stack(
        f"""
        from snapshot_provider import EbsSnapshot, VolumeRemoval

        snapshot = EbsSnapshot("before-removal", volume_id={volume_id!r}, tags={{"why": "stray"}})
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        undo_source = pulumi.Config().get("undo_snapshot")  # from config: nothing ties the two in the engine
        if undo_source:
            VolumeRemoval(
                "stray", volume_id={volume_id!r}, snapshot_id=undo_source, confirm_delete_volume={volume_id!r}
            )
        """
    )
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]
    stack.config(undo_snapshot=snapshot_id)
    stack.up()
    assert volume_id not in emulator.ec2_backend().volumes
    emulator.settle()
    held = tags(ec2(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])
    assert held[HOLD_TAG] == volume_id

    emulator.clear_calls()
    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert (volume["Size"], volume["State"], tags(volume)["team"]) == (12, "available", "data")
    assert emulator.snapshots() == []
    actions = [c.action for c in emulator.calls() if c.mutating]
    assert actions.index("DeleteSnapshot") > actions.index("CreateVolume")
    assert actions.index("DeleteSnapshot") > actions.index("DeleteTags")  # the hold released first


def test_an_encrypted_volume_comes_back_with_its_kms_key_size_type_and_tags(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    volume_id = ec2(emulator).create_volume(
        AvailabilityZone="us-east-1c",
        Size=30,
        VolumeType="io2",
        Iops=5000,
        Encrypted=True,
        KmsKeyId=KEY_ARN,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "ledger"}]}],
    )["VolumeId"]
    stack = new_stack(
        f"""
        from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
        from snapshot_provider.components.tagging import SnapshotPolicy

        policy = SnapshotPolicy(owner="finops", reason="unattached for 90 days", retention_days=30)
        cleanup = ReversibleVolumeCleanup(
            "stray",
            ReversibleVolumeCleanupArgs(volume_id={volume_id!r}, policy=policy, confirm_delete_volume={volume_id!r}),
        )
        pulumi.export("deleted_volume", cleanup.deleted_volume)
        """
    )
    stack.up()
    assert volume_id not in emulator.ec2_backend().volumes

    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert (volume["Encrypted"], volume["KmsKeyId"]) == (True, KEY_ARN)
    assert (volume["Size"], volume["VolumeType"], volume["Iops"]) == (30, "io2", 5000)
    assert volume["AvailabilityZone"] == "us-east-1c"
    assert tags(volume)["Name"] == "ledger" and tags(volume)["restored-from"] == volume_id
    assert emulator.snapshots() == []


@pytest.mark.long
def test_a_destroy_that_failed_after_the_restore_and_another_restore_exactly_one_volume(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1, tags={"team": "data"})
    stack = new_stack(
        f"""
        from snapshot_provider.components.cleanup import ReversibleVolumeCleanup, ReversibleVolumeCleanupArgs
        from snapshot_provider.components.tagging import SnapshotPolicy

        policy = SnapshotPolicy(owner="finops", reason="unattached", retention_days=30)
        ReversibleVolumeCleanup(
            "stray",
            ReversibleVolumeCleanupArgs(volume_id={volume_id!r}, policy=policy, confirm_delete_volume={volume_id!r}),
        )
        """
    )
    stack.up()
    # The volume is restored, then releasing the snapshot's hold is refused: the first destroy fails.
    emulator.configure(denied_actions=["DeleteTags"])
    first = stack.run("destroy", "--yes", check=False)
    assert first.returncode != 0 and "DeleteTags" in first.stdout
    assert len(restored(emulator, volume_id)) == 1
    assert len(emulator.snapshots()) == 1  # the snapshot waits for its removal's undo

    emulator.configure(denied_actions=[])
    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert volume["State"] == "available"
    assert len(emulator.mutating_calls("CreateVolume")) == 1
    assert emulator.snapshots() == []


@pytest.mark.long
def test_a_destroy_killed_right_after_create_volume_then_another_restore_exactly_one_volume(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1, tags={"team": "data"})
    stack = new_stack(
        f"""
        from snapshot_provider import EbsSnapshot, VolumeRemoval

        snapshot = EbsSnapshot("before-removal", volume_id={volume_id!r})
        VolumeRemoval(
            "stray",
            volume_id={volume_id!r},
            snapshot_id=snapshot.id,
            confirm_delete_volume={volume_id!r},
            opts=pulumi.ResourceOptions(depends_on=[snapshot]),
        )
        """
    )
    stack.up()
    # A new volume stays unlisted for 10 s: the undo is waiting for it when the destroy is killed.
    stack.strict(emulator, listing_delay=(10, 10))
    destroy = subprocess.Popen(
        ["pulumi", "destroy", "--yes", "--non-interactive"],
        cwd=stack.project_dir,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: emulator.calls("CreateVolume"), timeout=120)
    kill_tree(destroy.pid)
    destroy.wait()
    assert len(emulator.mutating_calls("CreateVolume")) == 1 and not emulator.calls("DeleteSnapshot")

    stack.run("cancel", "--yes")  # the killed run left the stack locked
    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert volume["State"] == "available" and tags(volume)["team"] == "data"
    tokens = {c.params["ClientToken"] for c in emulator.calls("CreateVolume")}
    assert len(tokens) == 1  # the second destroy asked again with the same token, or found the volume by its tag
    assert emulator.snapshots() == []


def test_ctrl_c_during_the_undo_wait_ends_within_seconds_and_the_next_destroy_restores_one_volume(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1, tags={"team": "data"})
    stack = new_stack(
        f"""
        from snapshot_provider import EbsSnapshot, VolumeRemoval

        snapshot = EbsSnapshot("before-removal", volume_id={volume_id!r})
        VolumeRemoval(
            "stray",
            volume_id={volume_id!r},
            snapshot_id=snapshot.id,
            confirm_delete_volume={volume_id!r},
            opts=pulumi.ResourceOptions(depends_on=[snapshot]),
        )
        """
    )
    stack.up()
    # A new volume stays unlisted for 10 minutes: the undo is waiting for it when Ctrl-C comes.
    stack.strict(emulator, listing_delay=(600, 600))
    destroy = subprocess.Popen(
        ["pulumi", "destroy", "--yes", "--non-interactive"],
        cwd=stack.project_dir,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: emulator.calls("CreateVolume"), timeout=120)
        interrupted = time.monotonic()
        destroy.send_signal(signal.SIGINT)  # the first Ctrl-C
        said, _ = destroy.communicate(timeout=120)
        took = time.monotonic() - interrupted
    finally:
        destroy.kill()

    said = " ".join(said.split())
    assert destroy.returncode != 0
    assert took < 30, f"the CLI took {took:.0f}s to stop after Ctrl-C"
    assert "cancelled (Ctrl-C) while waiting for restored volume" in said and "`pulumi destroy` again" in said, said
    assert "Traceback" not in said
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"][HOLD_TAG] == volume_id  # still held: the next destroy restores from it
    assert len(emulator.mutating_calls("CreateVolume")) == 1 and not emulator.calls("DeleteSnapshot")

    emulator.settle()  # EC2 lists the restored volume by the next run
    stack.run("destroy", "--yes")

    [volume] = restored(emulator, volume_id)
    assert volume["State"] == "available" and tags(volume)["team"] == "data"
    assert len(emulator.mutating_calls("CreateVolume")) == 1  # found by its tag, not made again
    assert emulator.snapshots() == []


def test_replacing_a_volume_removal_leaves_the_volume_removed_and_its_snapshot_held(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    """A user forces a replace of the removal (`pulumi up --replace <urn>`, as one does to redo a resource). After it,
    what state says must be true: the volume is removed, and the snapshot its undo needs is held, by the new
    resource; the destroy after it restores the volume once."""
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(
        f"""
        from snapshot_provider import EbsSnapshot, VolumeRemoval

        snap = EbsSnapshot("before-removal", volume_id={volume_id!r})
        VolumeRemoval("stray", volume_id={volume_id!r}, snapshot_id=snap.id, confirm_delete_volume={volume_id!r})
        pulumi.export("snapshot_id", snap.snapshot_id)
        """
    )
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]

    stack.up("--replace", stack.urn("stray"))

    emulator.settle()
    held = tags(ec2(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])
    assert [r["urn"].rsplit("::", 1)[1] for r in stack.resources()].count("stray") == 1
    assert restored(emulator, volume_id) == [], f"state records {volume_id} as removed, yet it was restored"
    assert held.get(HOLD_TAG) == volume_id, "the undo's snapshot is no longer held"

    stack.run("destroy", "--yes")
    assert len(restored(emulator, volume_id)) == 1 and emulator.snapshots() == []
