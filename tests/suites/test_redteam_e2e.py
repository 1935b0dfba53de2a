"""Red-team findings reproduced end to end: a user's own program, the real Pulumi CLI, the local EC2 emulator.

Each test is named for what a user expects and is marked `xfail(strict=True)` with its finding id: it fails on the
code it was written against, and the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, new_stack, pulumi_bin_dir, wait_for

from emulator import Ec2Emulator
from testbed import REGION


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return pulumi_bin_dir()


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def snapshot_ids_in_state(stack: PulumiStack) -> list[str]:
    return [r["id"] for r in stack.resources("pulumi-python:dynamic/ebs-snapshots:EbsSnapshot")]


@pytest.mark.xfail(
    strict=True,
    reason="RT-1 (what remains): the resource tag is a hash of the URN only, so a second backend's stack of the same "
    "project/stack name still ADOPTS the first one's in-flight snapshot when the inputs match; both states record it "
    "and one destroy deletes the other's. Leftovers are no longer deleted (see test_e2e_lifecycle); adoption needs a "
    "per-stack identity the provider does not have (docs/troubleshooting.md, limitations)",
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
