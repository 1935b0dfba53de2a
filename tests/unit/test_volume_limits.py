"""The per-volume gate: requests for one volume spaced by EC2's interval, and held behind the pending snapshots EC2
was seen to allow, within a deadline."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from stack_harness import wait_for

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core.lifecycle import taking
from snapshot_provider.core.volume_limits import TOO_MANY_PENDING, Gate, LimitWaitExpired
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import WaitEnded
from testbed import REGION, in_thread, snapshot_props

VOLUME = "vol-01234567"


def quiet(_line: str) -> None:
    pass


def test_two_requests_for_one_volume_are_spaced_by_the_interval() -> None:
    gate = Gate(interval=0.4)
    said: list[str] = []
    start = time.monotonic()
    gate.turn([VOLUME], start + 10, said.append)
    gate.turn([VOLUME], start + 10, said.append)
    assert time.monotonic() - start >= 0.4
    assert len(said) == 1 and "one request per volume every 0.4s" in said[0]


def test_requests_for_other_volumes_are_not_held() -> None:
    gate = Gate(interval=30)
    start = time.monotonic()
    gate.turn([VOLUME], start + 10, quiet)
    gate.turn(["vol-89abcdef"], start + 10, quiet)
    assert time.monotonic() - start < 1


def test_a_turn_past_the_deadline_is_refused_and_not_counted() -> None:
    gate = Gate(interval=30)
    gate.turn([VOLUME], time.monotonic() + 10, quiet)
    with pytest.raises(LimitWaitExpired):
        gate.turn([VOLUME], time.monotonic() + 1, quiet)


def test_a_request_ec2_never_acted_on_gives_its_turn_back() -> None:
    gate = Gate(interval=30)
    throttled = gate.turn([VOLUME], time.monotonic() + 10, quiet)
    gate.give_back(throttled)  # EC2 started no 15 s interval
    start = time.monotonic()
    gate.turn([VOLUME], start + 10, quiet)
    assert time.monotonic() - start < 1


def test_a_turn_given_back_after_a_later_one_was_taken_keeps_the_later_spacing() -> None:
    gate = Gate(interval=30)
    gate.give_back(gate.turn([VOLUME], time.monotonic() + 100, quiet))
    gate.turn([VOLUME], time.monotonic() + 100, quiet)
    gate.give_back(gate.turn(["vol-89abcdef"], time.monotonic() + 100, quiet))  # another volume's: no effect here
    with pytest.raises(LimitWaitExpired):
        gate.turn([VOLUME], time.monotonic() + 1, quiet)


def test_once_ec2_refused_for_pending_snapshots_the_next_request_waits_for_one_to_complete() -> None:
    gate = Gate(interval=0)
    deadline = time.monotonic() + 10
    gate.turn([VOLUME], deadline, quiet)  # ours, pending
    gate.turn([VOLUME], deadline, quiet)  # the next one ...
    gate.refused(TOO_MANY_PENDING, [VOLUME])  # ... refused: the volume allows one pending
    said: list[str] = []
    done = threading.Event()

    def third() -> None:
        gate.turn([VOLUME], deadline, said.append)
        done.set()

    threading.Thread(target=third, daemon=True).start()
    assert not done.wait(0.3)  # held: one of ours is pending
    gate.release([VOLUME])  # it completed
    assert done.wait(5)
    assert "pending snapshots of one volume" in said[0]


def test_ctrl_c_ends_a_create_waiting_for_its_volumes_pending_snapshots_within_seconds(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    """AWS Backup took a snapshot of the volume an hour ago, still pending for hours (a first, full snapshot of a big
    volume), and the volume allows one pending snapshot (st1/sc1): the create waits for room. Ctrl-C must end it."""
    monkeypatch.setattr(taking, "RECHECK", 1.0)  # look for room every second (so cleanup below is quick)
    emulator.configure(pending_seconds=3600.0, pending_snapshots_per_volume={"gp2": 1})
    client = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    elsewhere = client.create_snapshot(VolumeId=volume_id, Description="AWS Backup")["SnapshotId"]
    emulator.clear_calls()
    thread, outcome = in_thread(lambda: EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=600)))
    wait_for(lambda: len(emulator.calls("CreateSnapshot")) >= 2, timeout=20)  # refused twice: waiting for room

    cancelled_at = time.monotonic()
    cancel.cancel_waits()
    thread.join(timeout=10)
    ended_in = time.monotonic() - cancelled_at

    still_waiting = thread.is_alive()
    emulator.age_snapshot(elsewhere, seconds_ago=7200)  # completed: a create still waiting gets its room
    thread.join(timeout=30)
    assert not still_waiting, f"the create still waited for room {ended_in:.0f}s after Ctrl-C"
    [ended] = outcome
    assert isinstance(ended, WaitEnded) and "nothing was requested" in str(ended)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [elsewhere]


def test_a_turn_given_back_after_another_create_took_the_next_keeps_the_two_requests_apart() -> None:
    gate = Gate(interval=1)  # the spacing EC2 enforces per volume (15 s), shortened
    a_turn = gate.turn([VOLUME], time.monotonic() + 30, quiet)  # create A's request goes
    gate.turn([VOLUME], time.monotonic() + 30, quiet)  # create B (same volume) waits its turn, then goes
    b_sent = time.monotonic()
    gate.give_back(a_turn)  # A's request was throttled: EC2 never acted on it
    gate.turn([VOLUME], time.monotonic() + 30, quiet)  # A asks again
    a_sent = time.monotonic()
    assert a_sent - b_sent >= 1, f"A's retry went {a_sent - b_sent:.2f}s after B's request, within EC2's spacing"
