"""The shared snapshot poller: batching, wake-up, budget, failure, throttling, final looks and the poll schedule.

Most tests run the poller on a FakeClock: time passes only when the poller pauses, so they assert on calls, times
and states without sleeping or racing the wall clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_helpers import wait_until as wait_until_seen

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core import waiting
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED
from snapshot_provider.core.waiting import (
    CredentialsExpired,
    PollingFailed,
    PollPolicy,
    SnapshotPoller,
    WaitCancelled,
    WaitTimedOut,
)
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import SnapshotProviderError, WaitEnded
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES
from testbed import REGION, StrictEc2, in_thread, snapshot_props

FAST = PollPolicy(
    min_delay=0.05, max_delay=0.2, first_poll=0.0, calls_per_second=1000, missing_grace=0.3, max_backoff=0.1
)


class FakeClock:
    """Virtual monotonic time for the poller: it moves only when the poller pauses, so no test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds
        # A poller that never settles would otherwise spin here for ever; this fails the test instead.
        assert self.now < 1000.0 + 86400, "the poller ran for a virtual day"


class FakeEc2:
    """Snapshots that complete (or fail) at given times of `clock`; records DescribeSnapshots calls and their times."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.done_at: dict[str, float] = {}
        self.failing: set[str] = set()
        self.calls: list[list[str]] = []
        self.call_times: list[float] = []
        self.errors: list[Exception] = []
        # Seconds the next calls take (needs a FakeClock): botocore retrying a throttled call inside one describe.
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def add(self, snapshot_id: str, after: float, fail: bool = False) -> None:
        self.done_at[snapshot_id] = self.clock() + after
        if fail:
            self.failing.add(snapshot_id)

    def describe(self, ids: list[str]) -> list[dict[str, Any]]:
        with self.lock:
            self.calls.append(list(ids))
            self.call_times.append(self.clock())
            if self.latencies:
                self.clock.pause(self.latencies.pop(0))  # type: ignore[attr-defined]
            if self.errors:
                raise self.errors.pop(0)
        now = self.clock()
        found = []
        for sid in ids:
            if sid not in self.done_at:
                continue
            done = now >= self.done_at[sid]
            state = ("error" if sid in self.failing else "completed") if done else "pending"
            found.append(
                {
                    "SnapshotId": sid,
                    "State": state,
                    "Progress": "100%" if done else "50%",
                    "StateMessage": "broken" if state == "error" else None,
                }
            )
        return found


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "DescribeSnapshots")


def on_fake_clock(ec2: FakeEc2, policy: PollPolicy) -> SnapshotPoller:
    assert isinstance(ec2.clock, FakeClock)
    return SnapshotPoller(ec2.describe, policy, clock=ec2.clock, pause=ec2.clock.pause)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


def test_waiter_is_woken_soon_after_completion() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=0.3)
    status = on_fake_clock(ec2, FAST).wait(["snap-1"], timeout=5)["snap-1"]
    assert status.state == "completed"
    assert ec2.call_times[-1] <= 1000.0 + 0.3 + FAST.max_delay  # seen within one poll delay of completing


def test_concurrent_waiters_share_batched_calls() -> None:
    ec2 = FakeEc2()
    ids = [f"snap-{i}" for i in range(450)]
    for sid in ids:
        ec2.add(sid, after=0.0)
    registered = threading.Event()

    def describe(batch: list[str]) -> list[dict[str, Any]]:
        registered.wait(timeout=30)  # the first look is held until every waiter is in
        return ec2.describe(batch)

    poller = SnapshotPoller(describe, FAST)
    results: dict[str, str] = {}

    def wait_one(sid: str) -> None:
        results[sid] = poller.wait([sid], timeout=60)[sid].state

    threads = [threading.Thread(target=wait_one, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    with poller._cond:  # waiters notify it as they register
        assert poller._cond.wait_for(lambda: len(poller._entries) == len(ids), timeout=30)
    registered.set()
    for t in threads:
        t.join()

    assert set(results.values()) == {"completed"} and len(results) == 450
    assert max(len(c) for c in ec2.calls) == MAX_FILTER_VALUES
    # The first look (whichever waiters it found), then the other ids 200 at a time: not one call per waiter.
    assert len(ec2.calls) <= 4, [len(c) for c in ec2.calls]


def test_error_state_is_reported_with_its_message() -> None:
    ec2 = FakeEc2()
    ec2.add("snap-bad", after=0.1, fail=True)
    status = SnapshotPoller(ec2.describe, FAST).wait(["snap-bad"], timeout=5)["snap-bad"]
    assert (status.state, status.state_message) == ("error", "broken")


def test_snapshot_missing_after_grace_is_reported_gone() -> None:
    status = SnapshotPoller(FakeEc2().describe, FAST).wait(["snap-gone"], timeout=5)["snap-gone"]
    assert status.state == "missing"


def test_timeout_raises_with_last_seen_status() -> None:
    ec2 = FakeEc2()
    ec2.add("snap-slow", after=60)
    with pytest.raises(WaitTimedOut) as timed_out:
        SnapshotPoller(ec2.describe, FAST).wait(["snap-slow"], timeout=0.5)
    assert timed_out.value.statuses["snap-slow"].state == "pending"


def test_throttling_backs_off_and_recovers() -> None:
    ec2 = FakeEc2()
    ec2.add("snap-1", after=0.1)
    ec2.errors = [throttled() for _ in range(8)]
    status = SnapshotPoller(ec2.describe, FAST).wait(["snap-1"], timeout=10)["snap-1"]
    assert status.state == "completed"
    assert len(ec2.calls) >= 9


def test_throttling_backoff_never_pushes_the_look_past_the_deadline() -> None:
    # Throttling that gets past botocore's retries doubles the poller's backoff: 1-2, 2-4, 4-8, 8-16 s (jitter), so
    # five throttles in a row are over before 30 s, and then 16-32 s: the next scheduled look comes after 31 s,
    # past the 30.5 s deadline of a snapshot done in 1 s.
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=1.0)
    ec2.errors = [throttled() for _ in range(5)]
    policy = PollPolicy(first_poll=0.0, calls_per_second=2)
    status = on_fake_clock(ec2, policy).wait(["snap-1"], timeout=30.5)["snap-1"]
    assert status.state == "completed"
    assert len(ec2.calls) == 6 and ec2.call_times[-1] == 1030.5  # the final look, at the deadline


def test_failed_final_look_still_ends_the_wait() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=1.0)
    ec2.errors = [throttled() for _ in range(1000)]
    with pytest.raises(WaitTimedOut) as timed_out:
        on_fake_clock(ec2, PollPolicy(first_poll=0.0)).wait(["snap-1"], timeout=30)
    assert timed_out.value.statuses == {}  # never listed
    # The final look was taken, and failed like the others: one call after the deadline, not one per budget slot.
    assert sum(t >= 1030.0 for t in ec2.call_times) == 1


def test_persistent_failures_reach_the_waiter() -> None:
    ec2 = FakeEc2()
    ec2.add("snap-1", after=60)
    ec2.errors = [RuntimeError("credentials expired") for _ in range(20)]
    with pytest.raises(PollingFailed, match="credentials expired"):
        SnapshotPoller(ec2.describe, FAST).wait(["snap-1"], timeout=10)


def test_poller_crash_fails_every_waiter_at_once_and_the_next_wait_starts_afresh() -> None:
    ec2 = FakeEc2()
    ids = ["snap-1", "snap-2", "snap-3"]
    for sid in ids:
        ec2.add(sid, after=0.0)
    malformed = [True]

    def describe(batch: list[str]) -> list[dict[str, Any]]:
        if malformed:
            return [{"State": "completed"}]  # no SnapshotId: the poller's own code fails on this answer
        return ec2.describe(batch)

    poller = SnapshotPoller(describe, FAST)
    outcomes: dict[str, BaseException] = {}

    def wait_one(sid: str) -> None:
        try:
            poller.wait([sid], timeout=10)
        except Exception as error:
            outcomes[sid] = error

    threads = [threading.Thread(target=wait_one, args=(sid,), daemon=True) for sid in ids]
    for t in threads:
        t.start()
    give_up_at = time.monotonic() + 30  # generous: so that a regression fails here instead of hanging the run
    for t in threads:
        t.join(timeout=max(0.0, give_up_at - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "waiters left hanging by a dead poller"
    # Failed, not timed out: nobody was left waiting for a deadline.
    assert {type(e) for e in outcomes.values()} == {PollingFailed} and len(outcomes) == 3
    assert all("poller stopped unexpectedly" in str(e) for e in outcomes.values())

    malformed.clear()
    assert poller.wait(["snap-1"], timeout=10)["snap-1"].state == "completed"


def test_call_budget_is_respected() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=1.0)
    policy = PollPolicy(min_delay=0.01, max_delay=0.01, first_poll=0.0, calls_per_second=5)
    on_fake_clock(ec2, policy).wait(["snap-1"], timeout=5)
    assert len(ec2.calls) == 6  # at 0, 0.2, ... 1.0 s: the budget, not the 0.01 s schedule, sets the pace
    assert min(gaps(ec2.call_times)) >= 0.2 - 1e-9


def test_call_budget_holds_between_the_batches_of_a_round() -> None:
    ec2 = FakeEc2(FakeClock())
    ids = [f"snap-{i}" for i in range(450)]
    for sid in ids:
        ec2.add(sid, after=0.0)
    statuses = on_fake_clock(ec2, PollPolicy(first_poll=0.0, calls_per_second=2)).wait(ids, timeout=60)
    assert {s.state for s in statuses.values()} == {"completed"}
    assert sorted(len(c) for c in ec2.calls) == [50, 200, 200]
    assert min(gaps(ec2.call_times)) >= 0.5  # 2 calls per second, whatever the number of ids


@pytest.mark.parametrize("finishes_after,outcome", [(5.0, "completed"), (60.0, "timed out")])
def test_final_look_at_the_deadline_decides_the_wait(finishes_after: float, outcome: str) -> None:
    clock = FakeClock()
    ec2 = FakeEc2(clock)
    ec2.add("snap-1", after=finishes_after)
    poller = on_fake_clock(ec2, PollPolicy())
    try:
        # Started 100 s ago and half done: the schedule's next look is 30 s away, after the 10 s timeout.
        state = poller.wait(["snap-1"], timeout=10, started_at=clock() - 100)["snap-1"].state
    except WaitTimedOut as timed_out:
        state = "timed out"
        assert timed_out.statuses["snap-1"].state == "pending"  # as the final look saw it
    assert state == outcome
    assert ec2.call_times == [1000.0, 1010.0]  # the first look, then one last look at the deadline


def test_look_just_before_the_deadline_is_the_final_look() -> None:
    clock = FakeClock()
    ec2 = FakeEc2(clock)
    ec2.add("snap-1", after=60.0)
    with pytest.raises(WaitTimedOut):
        on_fake_clock(ec2, PollPolicy(first_poll=0.0, calls_per_second=0.5)).wait(["snap-1"], timeout=0.5)
    # At the 1000.5 deadline, the look at 1000 is as recent as a budget of one call per 2 s allows: it is the final
    # look. The wait ends at its deadline, neither squeezing in a call nor waiting for the next budget slot.
    assert ec2.call_times == [1000.0] and clock.now == 1000.5


@pytest.mark.parametrize("finishes_after,outcome", [(1.0, "completed"), (100.0, "timed out")])
def test_call_still_in_flight_at_the_deadline_is_the_final_look(finishes_after: float, outcome: str) -> None:
    # The CI failure: nine throttles in a row kept botocore retrying one DescribeSnapshots for ~55 s, past the
    # 30 s timeout, and the waiter gave up without its answer ("not yet listed").
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=finishes_after)
    ec2.latencies = [55.0]
    try:
        state = on_fake_clock(ec2, PollPolicy()).wait(["snap-1"], timeout=30)["snap-1"].state
    except WaitTimedOut:
        state = "timed out"
    assert state == outcome
    assert len(ec2.calls) == 1  # its answer came after the deadline: no other look is owed


def describe_calls_to_wait_for(snapshot_ids: list[str]) -> int:
    """DescribeSnapshots calls made while waiting for a 6 s snapshot, maybe alongside a 0.2 s one."""
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-6s", after=6.0)
    ec2.add("snap-quick", after=0.2)
    on_fake_clock(ec2, PollPolicy(calls_per_second=20)).wait(snapshot_ids, timeout=60)
    return len(ec2.calls)


def test_finished_snapshot_does_not_speed_up_its_siblings_schedule() -> None:
    alone = describe_calls_to_wait_for(["snap-6s"])
    # The quick one is seen completed in the first look, which the 6 s one needed anyway; nothing more after that.
    assert describe_calls_to_wait_for(["snap-6s", "snap-quick"]) == alone == 5


@pytest.mark.parametrize(
    "elapsed,progress,low,high",
    [
        (0.0, 0, 1.0, 1.0),  # first seconds: every second
        (40.0, 0, 10.0, 10.0),  # no progress reported: a quarter of the elapsed time
        (10.0, 50, 1.0, 10.3),  # steady progress: poll just after the predicted completion
        (100.0, 99, 1.0, 1.3),  # almost done: soon
        (600.0, 10, 30.0, 30.0),  # big and slow: at most every 30 s
    ],
)
def test_poll_delay_follows_progress(elapsed: float, progress: int, low: float, high: float) -> None:
    assert low <= PollPolicy().delay(elapsed, progress) <= high


# --- waits that end early: Ctrl-C and credentials ------------------------------------------------------------------
def expired() -> ClientError:
    return ClientError({"Error": {"Code": "ExpiredToken", "Message": "token expired"}}, "DescribeSnapshots")


def wait_in_thread(poller: SnapshotPoller, ids: list[str], timeout: float) -> tuple[threading.Thread, list[Any]]:
    """`poller.wait` in its own thread (a create's); what it returned or raised lands in the list."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(poller.wait(ids, timeout=timeout))
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)  # a failing test must not wait an hour for it
    thread.start()
    return thread, outcome


def test_cancel_ends_every_wait_at_once_and_any_later_one() -> None:
    ec2 = FakeEc2()
    ec2.add("snap-1", after=3600)
    ec2.add("snap-2", after=3600)
    poller = SnapshotPoller(ec2.describe, FAST)
    waits = [wait_in_thread(poller, [sid], timeout=3600) for sid in ("snap-1", "snap-2")]
    wait_until_seen(lambda: len(ec2.calls), lambda n: n >= 2)  # both are being waited for

    poller.cancel()

    for thread, outcome in waits:
        thread.join(timeout=10)
        assert not thread.is_alive()
        [cancelled] = outcome
        assert isinstance(cancelled, WaitCancelled)
    assert cancelled.statuses["snap-2"].progress == 50  # what was last seen, for the message
    with pytest.raises(WaitCancelled):
        poller.wait(["snap-3"], timeout=3600)


def test_cancel_waits_reaches_pollers_made_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiting, "_pollers", {})
    monkeypatch.setattr(cancel, "_cancelled", threading.Event())
    ec2 = FakeEc2()
    ec2.add("snap-1", after=3600)

    cancel.cancel_waits()

    with pytest.raises(WaitCancelled):
        waiting.poller_for("another account", ec2.describe).wait(["snap-1"], timeout=3600)


def test_cancel_waits_ends_a_wait_already_on_an_accounts_poller_at_once(
    fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's Cancel reaches a create that waits for `completed` (hours, for a big volume) through the hook
    `waiting` registers with `ec2.cancel`: the wait ends now, its snapshot left as it is for the next `up`."""
    monkeypatch.setenv("SNAPSHOT_POLL_FIRST_LOOK", "0")  # the first look at once, not after a second
    ec2 = FakeEc2()
    ec2.add("snap-1", after=3600)
    looked = threading.Event()

    def describe(ids: list[str]) -> list[dict[str, Any]]:
        looked.set()
        return ec2.describe(ids)

    thread, outcome = wait_in_thread(waiting.poller_for("an account", describe), ["snap-1"], timeout=3600)
    assert looked.wait(timeout=30), "the poller never looked"  # waiting, snap-1 seen pending

    cancel.cancel_waits()
    thread.join(timeout=30)  # a bound for a failing test only: a passing one ends as soon as the wait does

    assert not thread.is_alive(), "the wait went on after the engine's Cancel"
    [cancelled] = outcome
    assert isinstance(cancelled, WaitCancelled)
    assert cancelled.statuses["snap-1"].state == "pending"  # what was last seen, for the message


def test_expired_credentials_end_the_wait_at_once_when_they_cannot_be_renewed() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=3600)
    ec2.errors = [expired()] * 10
    renewals: list[bool] = []
    poller = SnapshotPoller(
        ec2.describe, FAST, clock=ec2.clock, pause=ec2.clock.pause, renew=lambda: renewals.append(False) or False
    )

    with pytest.raises(CredentialsExpired) as ended:
        poller.wait(["snap-1"], timeout=3600)

    assert len(ec2.calls) == 1 and renewals == [False]  # asked the chain once, then gave up: no backoff, no retries
    assert isinstance(ended.value.__cause__, ClientError)


def test_credentials_renewed_by_the_chain_keep_the_wait_going() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.add("snap-1", after=2)
    ec2.errors = [expired()]
    renewals: list[bool] = []
    poller = SnapshotPoller(
        ec2.describe, FAST, clock=ec2.clock, pause=ec2.clock.pause, renew=lambda: renewals.append(True) or True
    )

    status = poller.wait(["snap-1"], timeout=3600)["snap-1"]

    assert status.state == "completed" and renewals == [True]


# --- against the emulator: session credentials that expire during a wait ------------------------------------------
SAME_ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/snapshots"


def session(emulator: Ec2Emulator, seconds: int = 900) -> dict[str, Any]:
    """A role session from the emulator's STS (its `Expiration` scaled by `session_duration_scale`)."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=emulator.url)
    return dict(
        sts.assume_role(RoleArn=SAME_ACCOUNT_ROLE, RoleSessionName="ci", DurationSeconds=seconds)["Credentials"]
    )


def test_session_keys_expiring_mid_wait_end_it_and_the_next_create_adopts(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 900 s scaled to under 4 s: what a CI job's one-hour session is to a snapshot that takes hours.
    emulator.configure(session_expiry=True, session_duration_scale=0.004, pending_seconds=3600)
    home = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    keys = session(emulator)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", keys["SessionToken"])
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", keys["Expiration"].isoformat())
    caplog.set_level(logging.WARNING, logger="snapshot_provider.progress")

    with pytest.raises(WaitEnded) as ended:
        EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=600))

    assert "the AWS credentials stopped working (expired)" in str(ended.value)
    assert "It was left in place, tagged as this resource's" in str(ended.value)
    assert any("expire at" in r.getMessage() and "before the timeout" in r.getMessage() for r in caplog.records)
    [left] = emulator.snapshots()
    assert left["state"] == "pending" and left["tags"][ATTEMPT_TAG] != RECORDED

    for name in ("AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"):  # fresh credentials: the long-lived keys
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", home[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", home[1])
    emulator.age_snapshot(left["snapshot_id"], seconds_ago=3600)
    created = EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=600))

    assert created.id == left["snapshot_id"] and [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]


def waiting_after_create(actions: list[str]) -> bool:
    return "CreateSnapshot" in actions and "DescribeSnapshots" in actions[actions.index("CreateSnapshot") :]


def test_credentials_rewritten_in_the_shared_file_are_picked_up_mid_wait(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, volume_id: str, tmp_path: Path
) -> None:
    emulator.configure(session_expiry=True, pending_seconds=3)
    credentials = tmp_path / "credentials"

    def write_profile(keys: dict[str, Any]) -> None:
        credentials.write_text(
            f"[ci]\naws_access_key_id = {keys['AccessKeyId']}\naws_secret_access_key = {keys['SecretAccessKey']}\n"
            f"aws_session_token = {keys['SessionToken']}\n"
        )

    first = session(emulator)
    write_profile(first)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    outcome: list[Any] = []
    create = threading.Thread(
        target=lambda: outcome.append(EbsSnapshotProvider().create(snapshot_props(volume_id, profile="ci")))
    )
    create.start()
    wait_until_seen(lambda: [c.action for c in emulator.calls()], waiting_after_create)  # the wait has begun

    write_profile(session(emulator))  # a new session, as `aws sso login` or a CI step would write
    emulator.expire_credentials(first["AccessKeyId"])
    create.join(timeout=60)

    [created] = outcome
    assert created.outs["state"] == "completed"
    expired = [c for c in emulator.calls("DescribeSnapshots") if c.status >= 400]
    assert expired, "the first session's key was refused once"


# --- until: the small poller for one thing ----------------------------------------------------------------------
def test_until_returns_what_it_saw_once_done() -> None:
    seen = iter([None, None, "available"])
    assert waiting.until(lambda: next(seen), lambda s: s == "available", 10, what="for a volume", every=0.01) == (
        "available"
    )


def test_until_backs_off_doubling_its_pause_up_to_most() -> None:
    looked: list[float] = []

    def look() -> None:
        looked.append(time.monotonic())

    waiting.until(look, lambda _: False, 1.0, what="for nothing", every=0.05, most=0.2)

    pauses = [b - a for a, b in pairwise(looked)]
    assert all(p >= want * 0.9 for p, want in zip(pauses, [0.05, 0.1, 0.2, 0.2], strict=False)), pauses
    assert len(looked) <= 8  # 0.05 + 0.1 + 0.2 * n up to 1 s: a fixed 0.05 s pause would look 20 times


def test_until_ends_at_cancel_naming_what_it_waited_for_and_any_later_one_at_once(fresh_cancel: None) -> None:
    looks: list[int] = []
    thread, outcome = in_thread(
        lambda: waiting.until(lambda: looks.append(1), lambda _: False, 3600, what="for restored volume vol-1")
    )
    wait_until_seen(lambda: len(looks), lambda n: n >= 1)

    cancel.cancel_waits()
    thread.join(timeout=10)

    assert not thread.is_alive()
    [ended] = outcome
    assert isinstance(ended, cancel.LookCancelled)
    assert "cancelled (Ctrl-C) while waiting for restored volume vol-1" in str(ended)
    before = len(looks)
    with pytest.raises(cancel.LookCancelled):
        waiting.until(lambda: looks.append(1), lambda _: True, 3600, what="for anything")
    assert len(looks) == before  # a wait that starts after the cancel does not even look


@pytest.mark.long  # 35 s of real time; CI's strict tests (test_lifecycle) wait out 3-10 s delays the same way
def test_a_snapshot_ec2_lists_only_after_35_seconds_is_waited_for_not_called_deleted(
    strict_ec2: StrictEc2, volume_id: str
) -> None:
    """EC2 under load lists a new snapshot after 35 s, well within the consistency window this provider allows
    everywhere else (120 s by default). The create must wait for it and succeed with that one snapshot."""
    emulator = strict_ec2(listing_delay=(35, 35), tag_delay=(0, 0), deleted_listing_delay=(0, 0))
    emulator.configure(pending_seconds=1.0)
    emulator.settle()  # the volume was there long before

    try:
        created = EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=300))
    except SnapshotProviderError as error:
        left = [s["snapshot_id"] for s in emulator.snapshots()]
        pytest.fail(f"the create failed ({error}); the account still holds {left}")
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]
