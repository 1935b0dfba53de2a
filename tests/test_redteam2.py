"""Red team 2: reproducers of problems found in the branch's fixes, each xfail(strict) until fixed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from series_helpers import age, all_snapshot_ids
from test_series import Series

from conftest import in_thread, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, lifecycle, waiting
from snapshot_provider.errors import SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.series import RECYCLE_BIN_MAX_DAYS
from snapshot_provider.volume_limits import Gate

VOLUME = "vol-01234567"


def _a_year_later(outs: dict, sid: str) -> dict:
    """The series' state as it is a year and a day after it pruned `sid` (runs in between only carry the record)."""
    long_ago = (datetime.now(UTC).date() - timedelta(days=RECYCLE_BIN_MAX_DAYS + 1)).isoformat()
    return {**outs, "deleted": [], "pruned": {**(outs.get("pruned") or {}), sid: long_ago}}


@pytest.mark.xfail(
    strict=True,
    reason="RT2-1: a snapshot recovered from the Recycle Bin is forgotten a year after the prune and pruned again",
)
def test_a_snapshot_recovered_from_the_recycle_bin_stays_the_users_after_a_year(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = series.kept()
    age(emulator, [first], days=1)
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]
    series.up(trigger="day-2")
    assert first in series.outs["deleted"]
    emulator.seed_world({"snapshots": in_recycle_bin})  # recovered by the user, who needs it
    series.up(trigger="day-3")
    assert first in all_snapshot_ids(emulator)

    series.outs = _a_year_later(series.outs, first)  # nightly runs for a year leave it alone
    series.up(trigger="day-367")

    assert first in all_snapshot_ids(emulator), f"{first}, recovered by its user, was deleted by the series"


# --- volume_limits.Gate.give_back ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-5: a throttled request's give_back, after another create took the volume's next turn, gives that "
    "later turn back instead: the retry goes at the same moment as the other create's request",
)
def test_a_turn_given_back_after_another_create_took_the_next_keeps_the_two_requests_apart() -> None:
    gate = Gate(interval=1)  # the spacing EC2 enforces per volume (15 s), shortened
    gate.turn([VOLUME], time.monotonic() + 30, _quiet)  # create A's request goes
    gate.turn([VOLUME], time.monotonic() + 30, _quiet)  # create B (same volume) waits its turn, then goes
    b_sent = time.monotonic()
    gate.give_back([VOLUME])  # A's request was throttled: EC2 never acted on it
    gate.turn([VOLUME], time.monotonic() + 30, _quiet)  # A asks again
    a_sent = time.monotonic()
    assert a_sent - b_sent >= 1, f"A's retry went {a_sent - b_sent:.2f}s after B's request, within EC2's spacing"


def _quiet(_line: str) -> None:
    pass


# --- Ctrl-C and the create's second look at its leftovers ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-6: Ctrl-C does not end a create's wait for a second look at a completed leftover (time.sleep of up "
    "to the consistency window, 120 s), though every wait is said to end at Ctrl-C",
)
def test_ctrl_c_ends_the_wait_for_a_second_look_at_a_completed_leftover(
    fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(waiting.CONSISTENCY_WINDOW_ENV, "30")
    completed = {"SnapshotId": "snap-0123456789abcdef0", "State": "completed", "Tags": []}
    leftover = lifecycle.Leftover([completed], "attempt-1", "another description", time.monotonic())
    thread, _outcome = in_thread(lambda: lifecycle.still_left(None, leftover, None))
    waiting.cancel_waits()
    thread.join(5)
    assert not thread.is_alive(), "the create still waits, 5 s after Ctrl-C"


# --- the message of a wait that ends for a snapshot the create adopted ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-7: a create that adopted its own interrupted create's snapshot and times out again calls it the "
    "user's import (import_snapshot_id), though the resource never imported anything",
)
def test_a_second_timeout_of_an_adopted_snapshot_says_it_is_this_resources_not_an_import(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=8)
    with pytest.raises(SnapshotTimedOut):
        EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=1))
    with pytest.raises(SnapshotTimedOut) as again:  # the next `pulumi up` adopts it, and times out too
        EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=1))
    assert len(emulator.calls("CreateSnapshot")) == 1  # adopted, not taken again
    assert "import_snapshot_id" not in str(again.value), str(again.value)


# --- SnapshotSeries: an update that fails after its take ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-8: a series update that fails after taking its snapshot (a tag change EC2 refuses) takes another for "
    "the same trigger on the next up: two points for one trigger, and retention prunes an older point early",
)
def test_a_series_update_failing_after_its_take_does_not_take_twice_for_one_trigger(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=2, tags={"purpose": "test", "cost-centre": "x"})
    [first] = series.kept()
    # The nightly run: a new trigger, and a dropped tag that EC2 refuses to remove (here: ec2:DeleteTags missing from
    # the CI role; the same happens for a TagLimitExceeded on a snapshot held by a removal).
    emulator.configure(denied_actions=["DeleteTags"])
    with pytest.raises(SnapshotProviderError):
        series.up(trigger="day-2", tags={"purpose": "test"})
    emulator.configure(denied_actions=[])  # fixed; the next run goes again with the same inputs

    series.up(trigger="day-2", tags={"purpose": "test"})

    taken = emulator.calls("CreateSnapshot")
    assert first in series.kept(), "keep_last=2 with two triggers pruned the first day's point"
    assert len(taken) == 2, f"{len(taken)} snapshots taken for two triggers"


# --- a volume that does not exist, with a timeout shorter than the consistency window ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-9: a snapshot of a volume that does not exist, with a timeout shorter than the consistency window, "
    "fails as 'the volume's snapshot limits left no room' instead of saying the volume does not exist",
)
def test_a_volume_that_does_not_exist_is_named_as_such_whatever_the_timeout(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider's defaults, as in production (the suite shortens them): EC2's 15 s per volume, a 120 s window.
    monkeypatch.delenv(waiting.CONSISTENCY_WINDOW_ENV)
    monkeypatch.delenv("SNAPSHOT_VOLUME_INTERVAL")
    missing = "vol-0123456789abcdef0"  # a typo, or a volume deleted since
    with pytest.raises(SnapshotProviderError) as failed:
        EbsSnapshotProvider().create(snapshot_props(missing, timeout=5))  # a small volume's: 5 s is plenty
    message = str(failed.value)
    assert "NotFound" in message or "does not exist" in message, message
    assert "limits" not in message, message
