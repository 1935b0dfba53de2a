"""Red-team findings: Ctrl-C (the engine's Cancel, `waiting.cancel_waits`) ends only the shared poller's waits.

A create waiting its turn in EC2's API queue (pacing), for its volume's pending snapshots, or a delete waiting for an
undo's hold, goes on after Ctrl-C: the CLI hangs until they end, and queued creates still take their snapshots.

Each test is marked `xfail(strict=True)` with its finding id; the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from stack_harness import wait_for

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, lifecycle, waiting
from snapshot_provider.holds import HOLD_TAG, HOLD_WAIT_ENV

provider = EbsSnapshotProvider()


@pytest.fixture
def fresh_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider process that has not been cancelled yet (cancel_waits is process-wide and one-way)."""
    monkeypatch.setattr(waiting, "_pollers", {})
    monkeypatch.setattr(waiting, "_cancelled", False)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException | Any]]:
    outcome: list[BaseException | Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # the test looks at what the operation ended with
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.xfail(
    strict=True,
    reason="RT-2: after Ctrl-C, creates still queued for EC2's API rate (pacing) send their CreateSnapshot when their "
    "token comes: every queued snapshot is taken, and the CLI waits for the whole queue",
)
def test_ctrl_c_takes_no_new_snapshot_for_creates_still_queued_for_ec2s_api_rate(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    """A thousand-snapshot `up` is minutes of CreateSnapshot queued for EC2's bucket; the user presses Ctrl-C
    because it is the wrong stack. What was not requested yet must not be requested any more."""
    monkeypatch.setenv("SNAPSHOT_API_BUCKETS", "CreateSnapshot=1/0.25")  # one token now, the next every 4 s
    emulator.configure(pending_seconds=120.0)
    volumes = emulator.seed_volumes(3)
    started = [in_thread(lambda v=v: provider.create(snapshot_props(v, timeout=300))) for v in volumes]
    wait_for(lambda: len(emulator.snapshots()) == 1, timeout=20)  # the first create's request went

    waiting.cancel_waits()  # the engine's Cancel: the first Ctrl-C

    for thread, _ in started:
        thread.join(timeout=30)
    assert len(emulator.snapshots()) == 1, (
        f"{len(emulator.snapshots())} snapshots: creates still queued for EC2's API rate at Ctrl-C took theirs"
    )


@pytest.mark.xfail(
    strict=True,
    reason="RT-2: a delete waiting for a VolumeRemoval's hold (up to SNAPSHOT_HOLD_WAIT_SECONDS, 15 min) ignores "
    "Ctrl-C",
)
def test_ctrl_c_ends_a_delete_waiting_for_an_undo_to_release_its_snapshot_within_seconds(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    monkeypatch.setenv(HOLD_WAIT_ENV, "60")
    created = provider.create(snapshot_props(volume_id))
    client = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    client.create_tags(Resources=[created.id], Tags=[{"Key": HOLD_TAG, "Value": "vol-0123456789abcdef0"}])
    emulator.clear_calls()
    thread, _ = in_thread(lambda: provider.delete(created.id, dict(created.outs or {})))
    wait_for(lambda: len(emulator.calls("DescribeSnapshots")) >= 2, timeout=20)  # looked at the hold again: waiting
    assert thread.is_alive()

    cancelled_at = time.monotonic()
    waiting.cancel_waits()
    thread.join(timeout=10)
    ended_in = time.monotonic() - cancelled_at

    still_waiting = thread.is_alive()
    client.delete_tags(Resources=[created.id], Tags=[{"Key": HOLD_TAG}])  # let a delete still waiting finish
    thread.join(timeout=30)
    assert not still_waiting, f"the delete still waited for the hold {ended_in:.0f}s after Ctrl-C"


@pytest.mark.xfail(
    strict=True,
    reason="RT-2: a create waiting for room among its volume's pending snapshots (ConcurrentSnapshotLimitExceeded, "
    "up to the timeout: hours) ignores Ctrl-C",
)
def test_ctrl_c_ends_a_create_waiting_for_its_volumes_pending_snapshots_within_seconds(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    """AWS Backup took a snapshot of the volume an hour ago, still pending for hours (a first, full snapshot of a big
    volume), and the volume allows one pending snapshot (st1/sc1): the create waits for room. Ctrl-C must end it."""
    monkeypatch.setattr(lifecycle, "RECHECK", 1.0)  # look for room every second (so cleanup below is quick)
    emulator.configure(pending_seconds=3600.0, pending_snapshots_per_volume={"gp2": 1})
    client = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    elsewhere = client.create_snapshot(VolumeId=volume_id, Description="AWS Backup")["SnapshotId"]
    emulator.clear_calls()
    thread, _ = in_thread(lambda: provider.create(snapshot_props(volume_id, timeout=600)))
    wait_for(lambda: len(emulator.calls("CreateSnapshot")) >= 2, timeout=20)  # refused twice: waiting for room

    cancelled_at = time.monotonic()
    waiting.cancel_waits()
    thread.join(timeout=10)
    ended_in = time.monotonic() - cancelled_at

    still_waiting = thread.is_alive()
    emulator.age_snapshot(elsewhere, seconds_ago=7200)  # completed: a create still waiting gets its room
    thread.join(timeout=30)
    assert not still_waiting, f"the create still waited for room {ended_in:.0f}s after Ctrl-C"
