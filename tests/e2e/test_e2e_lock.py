"""`lock` end to end, the way a user works: a program in a temp dir, the real Pulumi CLI, the local EC2 emulator; what
the emulator holds afterwards decides. A locked snapshot outlives `destroy` (and says why), a governance lock is
removed by a change, a compliance lock's removal is refused at preview and changes nothing, a series keeps a locked
point its policy would prune."""

from __future__ import annotations

import textwrap
from typing import Any

import boto3
import pytest
from series_helpers import age
from stack_harness import StackFactory

from emulator import Ec2Emulator
from testbed import REGION


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": 1.0}


def locked_snapshot(volume_id: str, lock: dict[str, Any] | None) -> str:
    return "import pulumi\nfrom snapshot_provider import EbsSnapshot\n\n" + textwrap.dedent(
        f"""
        snapshot = EbsSnapshot("audit-copy", volume_id={volume_id!r}, lock={lock!r}, timeout=120)
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        pulumi.export("lock_state", snapshot.lock_state)
        pulumi.export("lock_expires_at", snapshot.lock_expires_at)
        pulumi.export("lock_owned", snapshot.lock_owned)
        """
    )


def lock_states(emulator: Ec2Emulator) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    return {s["SnapshotId"]: s["LockState"] for s in ec2.describe_locked_snapshots()["Snapshots"]}


def text(result: Any) -> str:
    return " ".join((result.stdout + result.stderr).split())


def test_destroy_cannot_remove_a_locked_snapshot_and_names_the_lock(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(locked_snapshot(volume_id, {"mode": "governance", "duration_days": 30}))
    stack.up()
    outputs = stack.outputs()
    assert (outputs["lock_state"], lock_states(emulator)) == ("governance", {outputs["snapshot_id"]: "governance"})

    result = stack.run("destroy", "--yes", check=False)

    assert result.returncode != 0
    expected = f"snapshot {outputs['snapshot_id']} is locked in governance mode until {outputs['lock_expires_at']}"
    assert expected in text(result) and "Nothing was deleted" in text(result)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [outputs["snapshot_id"]]
    assert len(stack.resources()) == 1  # still in state: the next destroy, once unlocked, converges


def test_removing_a_governance_lock_unlocks_in_place_then_destroy_deletes(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(locked_snapshot(volume_id, {"mode": "governance", "duration_days": 30}))
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]

    stack.write_program(locked_snapshot(volume_id, None))
    stack.up()

    assert stack.outputs()["snapshot_id"] == snapshot_id and stack.outputs().get("lock_state") is None
    assert lock_states(emulator) == {}
    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []


def test_removing_lock_leaves_a_lock_another_user_extended_and_the_preview_and_the_up_say_so(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(locked_snapshot(volume_id, {"mode": "governance", "duration_days": 30}))
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]
    assert stack.outputs()["lock_owned"] is True
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)  # another user: a longer hold
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=90)
    [extended] = ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]

    stack.write_program(locked_snapshot(volume_id, None))
    preview = text(stack.preview())
    up = text(stack.up())

    assert f"removing `lock` unlocks {snapshot_id} only if each still holds the lock this resource set" in preview
    assert f"left the lock of snapshot {snapshot_id} as it is" in up, up
    assert not emulator.mutating_calls("UnlockSnapshot")
    [held] = ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    assert (held["LockState"], held["LockExpiresOn"]) == ("governance", extended["LockExpiresOn"])
    assert (stack.outputs()["lock_state"], stack.outputs()["lock_owned"]) == ("governance", False)


def test_removing_a_compliance_lock_is_refused_at_preview_and_changes_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(locked_snapshot(volume_id, {"mode": "compliance", "duration_days": 1}))
    stack.up()
    snapshot_id = stack.outputs()["snapshot_id"]

    stack.write_program(locked_snapshot(volume_id, None))
    emulator.clear_calls()
    result = stack.preview(check=False)

    assert result.returncode != 0
    assert "a compliance lock without cool_off_hours cannot be removed" in text(result)
    assert emulator.mutating_calls() == []
    assert lock_states(emulator) == {snapshot_id: "compliance"}


def locked_series(volume_id: str, trigger: str) -> str:
    return "import pulumi\nfrom snapshot_provider import SnapshotSeries\n\n" + textwrap.dedent(
        f"""
        series = SnapshotSeries(
            "nightly", volume_id={volume_id!r}, trigger={trigger!r}, keep_last=1,
            lock={{"mode": "governance", "duration_days": 30}}, timeout=120,
        )
        pulumi.export("snapshot_id", series.snapshot_id)
        pulumi.export("locked", series.locked)
        pulumi.export("deleted", series.deleted)
        """
    )


def test_a_series_keeps_a_locked_point_its_policy_would_prune_and_destroy_names_the_lock(
    new_stack: StackFactory, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = new_stack(locked_series(volume_id, "d1"))
    stack.up()
    first = stack.outputs()["snapshot_id"]
    assert lock_states(emulator) == {first: "governance"}
    age(emulator, [first], days=1)

    stack.write_program(locked_series(volume_id, "d2"))
    result = stack.up()

    outputs = stack.outputs()
    second = outputs["snapshot_id"]
    assert f"kept {first} instead of deleting it: it is locked in governance mode until" in text(result)
    assert [p["snapshot_id"] for p in outputs["locked"]] == [first] and outputs["deleted"] == []
    assert {s["snapshot_id"] for s in emulator.snapshots()} == {first, second}
    assert lock_states(emulator) == {first: "governance", second: "governance"}

    refused = stack.run("destroy", "--yes", check=False)
    assert refused.returncode != 0 and f"snapshot {first} is locked in governance mode" in text(refused)
    assert {s["snapshot_id"] for s in emulator.snapshots()} == {first, second}  # nothing deleted

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    for sid in (first, second):  # the owner lifts the governance locks, as its IAM allows
        ec2.unlock_snapshot(SnapshotId=sid)
    stack.run("destroy", "--yes")
    assert emulator.snapshots() == [] and stack.resources() == []
