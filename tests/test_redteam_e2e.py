"""Red-team findings reproduced end to end: a user's own program, the real Pulumi CLI, the local EC2 emulator.

Each test is named for what a user expects and is marked `xfail(strict=True)` with its finding id: it fails on the
code it was written against, and the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, pulumi_bin_dir, wait_for

from conftest import REGION
from emulator import Ec2Emulator
from snapshot_provider.holds import HOLD_TAG, RESTORED_TAG


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return pulumi_bin_dir()


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def new_stack(workdir: Path, bin_dir: Path, emulator: Ec2Emulator, body: str) -> PulumiStack:
    """A user's project in its own directory with its own `file://` backend: stack `e2e` of project
    `ebs-snapshots`, whatever the directory (so two of them are two stacks of the same name)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stack = PulumiStack(
        workdir, bin_dir, emulator.url, program="import pulumi\n" + textwrap.dedent(body), sts_url=emulator.sts_url
    )
    stack.config(**{"aws:region": REGION})
    return stack


def snapshot_ids_in_state(stack: PulumiStack) -> list[str]:
    return [r["id"] for r in stack.resources("pulumi-python:dynamic/ebs-snapshots:EbsSnapshot")]


@pytest.mark.xfail(
    strict=True,
    reason="RT-1: the resource tag is a hash of the URN only, so a second backend's stack of the same project/stack "
    "name adopts the first one's in-flight snapshot; both states record it and one destroy deletes the other's",
)
def test_destroy_under_a_second_backend_never_deletes_the_other_stacks_snapshot(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    """Two teams (or a developer's local backend and CI's S3 backend) run the same project with a stack named the
    same, in one account and region. Their `pulumi up`s overlap. Each stack must keep its own snapshot: destroying one
    stack must not delete the snapshot the other stack's state records."""
    emulator.configure(pending_seconds=15.0)
    [volume_id] = emulator.seed_volumes(1)
    body = f"""
        from snapshot_provider import EbsSnapshot

        snap = EbsSnapshot("before-migration", volume_id={volume_id!r}, description="before migration", timeout=300)
        pulumi.export("snapshot_id", snap.snapshot_id)
        """
    team_a = new_stack(tmp_path / "team-a", bin_dir, emulator, body)
    team_b = new_stack(tmp_path / "team-b", bin_dir, emulator, body)

    running = team_a.start_up()
    try:
        wait_for(lambda: len(emulator.snapshots()) == 1, timeout=120)  # team A's snapshot is pending
        team_b.up()
        out, _ = running.communicate(timeout=300)
        assert running.returncode == 0, out
    finally:
        if running.poll() is None:
            running.kill()

    [a_snapshot] = snapshot_ids_in_state(team_a)
    team_b.run("destroy", "--yes")

    assert a_snapshot in {s["snapshot_id"] for s in emulator.snapshots()}, (
        f"team B's destroy deleted {a_snapshot}, which team A's state records (team B's state recorded "
        "the same snapshot: it adopted team A's in-flight create as its own)"
    )


@pytest.mark.xfail(
    strict=True,
    reason="RT-1: a second backend's stack of the same project/stack name takes the first one's in-flight snapshot "
    "for its own unadoptable leftover and deletes it once its own is handed over: the first stack's up fails",
)
def test_an_up_under_a_second_backend_never_deletes_the_other_stacks_pending_snapshot(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    """The same two stacks, where the second one's program asks for another description: each stack's `up` must
    finish with its own snapshot."""
    emulator.configure(pending_seconds=15.0)
    [volume_id] = emulator.seed_volumes(1)
    body = """
        from snapshot_provider import EbsSnapshot

        snap = EbsSnapshot("before-migration", volume_id={volume!r}, description={description!r}, timeout=300)
        pulumi.export("snapshot_id", snap.snapshot_id)
        """
    team_a = new_stack(
        tmp_path / "team-a", bin_dir, emulator, body.format(volume=volume_id, description="team a: before migration")
    )
    team_b = new_stack(
        tmp_path / "team-b", bin_dir, emulator, body.format(volume=volume_id, description="team b: before migration")
    )

    running = team_a.start_up()
    try:
        wait_for(lambda: len(emulator.snapshots()) == 1, timeout=120)
        b_result = team_b.up(check=False)
        out, _ = running.communicate(timeout=300)
    finally:
        if running.poll() is None:
            running.kill()

    # Whichever create finishes first takes the other's pending snapshot (same resource tag, not recorded) for an
    # interrupted create of its own, and deletes it: the other stack's `up` then fails ("deleted outside Pulumi").
    assert running.returncode == 0, f"team A's up failed:\n{out[-1500:]}"
    assert b_result.returncode == 0, f"team B's up failed:\n{b_result.stdout[-1500:]}"
    assert len(snapshot_ids_in_state(team_a)) == len(snapshot_ids_in_state(team_b)) == 1


@pytest.mark.xfail(
    strict=True,
    reason="RT-8: `pulumi up --replace` of a VolumeRemoval: the replacement's create takes the removed volume for an "
    "interrupted removal of its own, then the old one's delete (the undo) restores the volume and releases the hold; "
    "state says removed while the volume is back (and its snapshot is no longer held)",
)
def test_replacing_a_volume_removal_leaves_the_volume_removed_and_its_snapshot_held(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    """A user forces a replace of the removal (`pulumi up --replace <urn>`, as one does to redo a resource). After it,
    what state says must be true: the volume is removed, and the snapshot its undo needs is held."""
    emulator.configure(pending_seconds=1.0)
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(
        tmp_path,
        bin_dir,
        emulator,
        f"""
        from snapshot_provider import EbsSnapshot, VolumeRemoval

        snap = EbsSnapshot("before-removal", volume_id={volume_id!r})
        VolumeRemoval("stray", volume_id={volume_id!r}, snapshot_id=snap.id, confirm_delete_volume={volume_id!r})
        pulumi.export("snapshot_id", snap.snapshot_id)
        """,
    )
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]

    stack.up("--replace", stack.urn("stray"))

    emulator.settle()
    client = ec2(emulator)
    back = client.describe_volumes(Filters=[{"Name": f"tag:{RESTORED_TAG}", "Values": [volume_id]}])["Volumes"]
    held = {t["Key"]: t["Value"] for t in client.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["Tags"]}
    assert [r["urn"].rsplit("::", 1)[1] for r in stack.resources()].count("stray") == 1
    assert back == [], f"state records {volume_id} as removed, yet it was restored as {back[0]['VolumeId']}"
    assert held.get(HOLD_TAG) == volume_id, "the undo's snapshot is no longer held"
