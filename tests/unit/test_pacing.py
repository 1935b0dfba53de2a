"""Pacing: EC2's token buckets on the client side, shared by the whole provider process, in front of botocore."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from stack_harness import wait_for

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG
from snapshot_provider.ec2 import cancel, clients, pacing
from snapshot_provider.ec2.errors import WaitEnded
from snapshot_provider.ec2.pacing import Policy, Size, TokenBucket, bucket_name, parse_sizes
from snapshot_provider.inputs.declarations import AccountSelection
from testbed import REGION, in_thread, snapshot_props


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_bucket_lets_its_capacity_through_then_one_per_refill_interval() -> None:
    fake = FakeTime()
    b = TokenBucket(Size(3, 2), clock=fake.clock, sleep=fake.sleep)
    waits = [b.take() for _ in range(6)]
    # Three at once, then each waits for its own token: half a second apart, in order of arrival.
    assert waits == [0, 0, 0, 0.5, 1.0, 1.5]


def test_bucket_refills_up_to_its_capacity_only() -> None:
    fake = FakeTime()
    b = TokenBucket(Size(2, 1), clock=fake.clock, sleep=fake.sleep)
    b.take()
    b.take()
    fake.now = 100.0  # long idle: the bucket is full again, not 100 tokens
    assert [b.take() for _ in range(3)] == [0, 0, 1.0]


def test_throttling_answer_empties_the_bucket() -> None:
    fake = FakeTime()
    b = TokenBucket(Size(100, 5), clock=fake.clock, sleep=fake.sleep)
    b.take()
    b.empty()  # EC2 said the account's bucket is empty (another client used it)
    assert b.take() == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("action", "params", "bucket"),
    [
        ("DescribeSnapshots", {"SnapshotIds": ["snap-1"]}, "DescribeSnapshots (unfiltered)"),
        ("DescribeSnapshots", {"Filters": [{"Name": "tag:x", "Values": ["y"]}]}, "DescribeSnapshots"),
        ("DescribeSnapshots", {"MaxResults": 5}, "DescribeSnapshots"),
        ("DescribeImages", {}, "DescribeImages"),
        ("CreateSnapshot", {"VolumeId": "vol-1"}, "CreateSnapshot"),
    ],
)
def test_unfiltered_describes_take_from_their_smaller_bucket(action: str, params: dict[str, Any], bucket: str) -> None:
    assert bucket_name(action, params) == bucket


def test_published_sizes_with_the_share_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pacing.SHARE_ENV, raising=False)
    monkeypatch.delenv(pacing.BUCKETS_ENV, raising=False)
    policy = Policy.from_env()
    # EC2's refill rate, and 90% of its capacity (the headroom for timing differences).
    assert policy.size("CreateSnapshot") == Size(90, 5)
    assert policy.size("CreateTags") == Size(90, 10)
    assert policy.size("ModifySnapshotTier") == Size(45, 5)  # a mutating action without a bucket of its own
    assert policy.size("DescribeSnapshots (unfiltered)") == Size(45, 10)
    monkeypatch.setenv(pacing.SHARE_ENV, "0.5")
    monkeypatch.setenv(pacing.BUCKETS_ENV, "CreateSnapshot=400/20, CreateTags=200/10")
    assert Policy.from_env().size("CreateSnapshot") == Size(180, 10)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (pacing.SHARE_ENV, "1.5", "above 0 and at most 1"),
        (pacing.SHARE_ENV, "half", "above 0 and at most 1"),
        (pacing.BUCKETS_ENV, "CreateSnapshot=0/5", r"ACTION=CAPACITY/REFILL .* \(e\.g\. CreateSnapshot=200/10\)"),
        (pacing.BUCKETS_ENV, "CreateSnapshot", "ACTION=CAPACITY/REFILL"),
    ],
)
def test_bad_settings_are_refused_with_the_expected_form(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Policy.from_env()


def test_parse_sizes_reads_capacity_and_refill() -> None:
    assert parse_sizes("CreateSnapshot=200/10") == {"CreateSnapshot": Size(200, 10)}
    assert parse_sizes("") == {}


# --- in front of botocore ----------------------------------------------------------------------------------------
THROTTLED = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error>"
    b"</Errors><RequestID>r</RequestID></Response>"
)
TAGGED = b"<CreateTagsResponse><requestId>r</requestId><return>true</return></CreateTagsResponse>"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class BucketedEc2:
    """EC2's CreateTags as botocore's transport sees it: a token bucket of `size`; an empty one answers 503
    RequestLimitExceeded, as EC2 does. Installed as the client's `before-send` handler (the HTTP layer)."""

    def __init__(self, size: Size) -> None:
        self.bucket = size.capacity
        self.size = size
        self.at = time.monotonic()
        self.lock = threading.Lock()
        self.answers: Counter[int] = Counter()

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        with self.lock:
            now = time.monotonic()
            self.bucket = min(self.size.capacity, self.bucket + (now - self.at) * self.size.refill)
            self.at = now
            ok = self.bucket >= 1
            if ok:
                self.bucket -= 1
            self.answers[200 if ok else 503] += 1
        return AWSResponse(request.url, 200 if ok else 503, {}, _Raw(TAGGED if ok else THROTTLED))


def tag_concurrently(client: Any, calls: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            client.create_tags(Resources=[f"snap-{i:017x}"], Tags=[{"Key": "k", "Value": "v"}])
        except ClientError as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def bucketed_client(server: BucketedEc2, paced: bool) -> Any:
    client = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1").client(
        "ec2", config=clients.RETRY_CONFIG
    )
    client.meta.events.register("before-send.ec2.CreateTags", server)
    if paced:
        pacing.install(client, lambda: ("123456789012", "us-east-1"))
    return client


def test_paced_burst_sees_no_throttling_and_every_call_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pacing.BUCKETS_ENV, "CreateTags=20/50")  # this EC2's size, as a user would set it
    # A fifth left to this machine's scheduling delays, as to other clients of an account: a busy CI runner may hold a
    # request back longer than the headroom covers at 50 requests a second.
    monkeypatch.setenv(pacing.SHARE_ENV, "0.8")
    pacing.reset()
    server = BucketedEc2(Size(20, 50))
    errors = tag_concurrently(bucketed_client(server, paced=True), 200)
    assert errors == []
    # EC2 counts a request when it arrives, the pacing when it is signed: a loaded machine can hold a few signed
    # requests back and deliver them together, and EC2 may refuse one of those (retried, within botocore's quota).
    # A handful at most; unpaced, the same burst is refused more than a hundred times (the next test).
    assert server.answers[200] == 200 and server.answers[503] <= 10, server.answers


def test_unpaced_burst_spends_botocores_retry_quota_and_throttling_reaches_the_caller() -> None:
    """Why pacing exists: botocore's standard retries alone, against the same bucket, give up once the client's retry
    quota (500, 5 per throttled retry) is spent, and the caller sees RequestLimitExceeded."""
    server = BucketedEc2(Size(20, 50))
    errors = tag_concurrently(bucketed_client(server, paced=False), 300)
    assert server.answers[503] > 100
    assert errors and {e.response["Error"]["Code"] for e in errors} == {"RequestLimitExceeded"}  # type: ignore[attr-defined]


def test_provider_clients_are_paced_per_account(emulator: Ec2Emulator, volume_id: str) -> None:
    pacing.reset()
    account = AccountSelection.of(region="us-east-1")
    account_id = clients.caller_account_id(account)
    clients.client(account).describe_snapshots(SnapshotIds=[])
    clients.client(account, single_attempt=True).describe_volumes(VolumeIds=[volume_id])
    made = pacing.buckets()
    assert {name for _, name in made} == {"DescribeSnapshots (unfiltered)", "DescribeVolumes (unfiltered)"}
    assert {key for key, _ in made} == {(account_id, "us-east-1")}  # both clients spend the account's buckets


def test_wait_time_counts_from_when_the_create_left_the_queue(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pacing.BUCKETS_ENV, "CreateSnapshot=1/0.2")  # one token, then one every 5 s
    pacing.reset()
    emulator.configure(pending_seconds=0)
    account = AccountSelection.of(region=REGION)
    pacing.bucket((clients.caller_account_id(account), REGION), "CreateSnapshot").take()  # another create took it
    started = time.monotonic()
    created = EbsSnapshotProvider().create(snapshot_props(volume_id))
    assert time.monotonic() - started >= 3.0  # it waited its turn...
    assert created.outs["wait_time"] < 2.5  # ...which is not time the snapshot took (the first look is after 1 s)


def test_a_long_queue_is_told_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(pacing.BUCKETS_ENV, "CreateTags=1/5")  # with the headroom: one token, then one every 0.2 s
    monkeypatch.setattr(pacing, "TELL_AFTER", 0.3)
    pacing.reset()
    client = bucketed_client(BucketedEc2(Size(100, 100)), paced=True)
    with caplog.at_level("INFO", logger="snapshot_provider.progress"):
        assert tag_concurrently(client, 6) == []
    told = [r.getMessage() for r in caplog.records if "waiting for EC2's API rate" in r.getMessage()]
    # The last of six waits a second: worth a line, but one line for the queue, not one per request.
    assert len(told) == 1
    assert "CreateTags requests are waiting for EC2's API rate (5 a second in this account and region)" in told[0]


def test_bucket_counts_the_callers_in_line() -> None:
    fake = FakeTime()
    b = TokenBucket(Size(1, 1), clock=fake.clock, sleep=fake.sleep)
    assert [b.reserve() for _ in range(4)] == [0, 1.0, 2.0, 3.0]
    assert b.queued == 3
    assert b.time_to_tell() and not b.time_to_tell()  # once per interval
    fake.now += pacing.TELL_EVERY
    assert b.time_to_tell()


def test_ctrl_c_while_a_create_is_in_flight_leaves_its_snapshot_named_and_tagged_for_adoption(
    emulator: Ec2Emulator, volume_id: str, fresh_cancel: None
) -> None:
    """The request went before the Cancel, so its snapshot exists: the create's answer is not dropped on the way
    back, and the user is told which snapshot was left for the next `up`."""
    emulator.configure(pending_seconds=120.0)
    arrived, release = threading.Event(), threading.Event()

    def in_flight(**_: Any) -> None:  # signed, paced, on its way: EC2 gets it once released
        arrived.set()
        release.wait(timeout=30)

    once = clients.client(AccountSelection.of(region=REGION), single_attempt=True)  # the client creates go by
    once.meta.events.register("before-send.ec2.CreateSnapshot", in_flight)
    try:
        thread, outcome = in_thread(lambda: EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=300)))
        assert arrived.wait(timeout=30), "the create never sent its request"
        cancel.cancel_waits()  # the engine's Cancel: the first Ctrl-C
        release.set()
        thread.join(timeout=30)
    finally:
        release.set()
        once.meta.events.unregister("before-send.ec2.CreateSnapshot", in_flight)

    assert not thread.is_alive(), "the create went on waiting after Ctrl-C"
    [ended] = outcome
    [snapshot] = emulator.snapshots()
    assert isinstance(ended, WaitEnded), ended
    assert "cancelled (Ctrl-C)" in str(ended)
    assert f"--snapshot-id {snapshot['snapshot_id']}" in str(ended)
    assert ATTEMPT_TAG in snapshot["tags"]  # this resource's, for the next `up` to adopt


def test_ctrl_c_takes_no_new_snapshot_for_creates_still_queued_for_ec2s_api_rate(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    """A thousand-snapshot `up` is minutes of CreateSnapshot queued for EC2's bucket; the user presses Ctrl-C
    because it is the wrong stack. What was not requested yet must not be requested any more."""
    monkeypatch.setenv("SNAPSHOT_API_BUCKETS", "CreateSnapshot=1/0.25")  # one token now, the next every 4 s
    emulator.configure(pending_seconds=120.0)
    volumes = emulator.seed_volumes(3)
    started = [in_thread(lambda v=v: EbsSnapshotProvider().create(snapshot_props(v, timeout=300))) for v in volumes]
    wait_for(lambda: len(emulator.snapshots()) == 1, timeout=20)  # the first create's request went

    cancel.cancel_waits()  # the engine's Cancel: the first Ctrl-C

    for thread, _ in started:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread, _ in started), "creates still waiting 30 s after Ctrl-C"
    not_sent = [o for _, [o] in started if isinstance(o, WaitEnded) and "was not sent" in str(o)]
    assert len(not_sent) == 2, [o for _, o in started]
    assert len(emulator.snapshots()) == 1, (
        f"{len(emulator.snapshots())} snapshots: creates still queued for EC2's API rate at Ctrl-C took theirs"
    )


# --- the engine's Cancel at the queue's door: no new start, no answer lost -----------------------------------------
ANSWERS = {
    "CreateSnapshot": b"<CreateSnapshotResponse><requestId>r</requestId><snapshotId>snap-0123456789abcdef0</snapshotId>"
    b"<volumeId>vol-1</volumeId><status>pending</status></CreateSnapshotResponse>",
    "CreateTags": TAGGED,
    "DescribeSnapshots": b"<DescribeSnapshotsResponse><requestId>r</requestId><snapshotSet/>"
    b"</DescribeSnapshotsResponse>",
}
# One request of each action that starts something (`pacing.STARTS`), as the provider makes it.
START_REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "CreateSnapshot": ("create_snapshot", {"VolumeId": "vol-1"}),
    "CreateSnapshots": ("create_snapshots", {"InstanceSpecification": {"InstanceId": "i-1"}}),
    "CreateVolume": ("create_volume", {"AvailabilityZone": "us-east-1a", "SnapshotId": "snap-1"}),
    "DeleteVolume": ("delete_volume", {"VolumeId": "vol-1"}),
}


class StubEc2:
    """EC2 as botocore's transport sees it (the client's `before-send` handler): records each request that reaches
    it, by action, and answers from ANSWERS. With `hold` set, a request waits there until `release` (in flight)."""

    def __init__(self, hold: str | None = None) -> None:
        self.received: list[str] = []
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        action = event_name.rsplit(".", 1)[-1]
        self.received.append(action)
        if action == self.hold:
            self.arrived.set()
            assert self.release.wait(timeout=30), "the test never released the request in flight"
        return AWSResponse(request.url, 200, {}, _Raw(ANSWERS.get(action, TAGGED)))


_STUB_SESSION = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")


def paced_stub_client(stub: StubEc2) -> Any:
    """A client of the provider's kind (its retries, paced per account) whose requests go to `stub`."""
    pacing.reset()  # every bucket full: whatever is refused below is refused for the Cancel, not for a token
    client = _STUB_SESSION.client("ec2", config=clients.RETRY_CONFIG)  # one session: its models loaded once
    client.meta.events.register("before-send.ec2", stub)
    pacing.install(client, lambda: ("123456789012", "us-east-1"))
    return client


@pytest.mark.parametrize("action", sorted(pacing.STARTS))
def test_after_ctrl_c_a_request_that_starts_something_is_not_sent_though_a_token_is_free(
    action: str, fresh_cancel: None
) -> None:
    """What Ctrl-C promises: nothing new is created after it, even by a request that would not have waited."""
    assert set(START_REQUESTS) == pacing.STARTS  # a new start action gets a request here too
    stub = StubEc2()
    client = paced_stub_client(stub)

    cancel.cancel_waits()  # the engine's Cancel: the first Ctrl-C

    method, params = START_REQUESTS[action]
    with pytest.raises(WaitEnded, match=f"cancelled \\(Ctrl-C\\) .*{action} .*\\(it was not sent\\)"):
        getattr(client, method)(**params)
    assert stub.received == []


def test_after_ctrl_c_requests_that_start_nothing_still_go(fresh_cancel: None) -> None:
    """Looking and tagging finish what was started before the Cancel (a snapshot's tags, the look that records it)."""
    stub = StubEc2()
    client = paced_stub_client(stub)

    cancel.cancel_waits()

    client.describe_snapshots(SnapshotIds=["snap-1"])
    client.create_tags(Resources=["snap-1"], Tags=[{"Key": "k", "Value": "v"}])
    assert stub.received == ["DescribeSnapshots", "CreateTags"]


def test_after_ctrl_c_a_create_whose_turn_was_taken_before_it_is_not_sent(fresh_cancel: None) -> None:
    """An instance's create takes its turn, then pauses the instance's writes, then sends: a Ctrl-C meanwhile ends
    it unsent (its turn no longer lets it past the Cancel)."""
    stub = StubEc2()
    client = paced_stub_client(stub)

    with pacing.turn_taken(client, "CreateSnapshot"):
        cancel.cancel_waits()
        with pytest.raises(WaitEnded, match="it was not sent"):
            client.create_snapshot(VolumeId="vol-1")
    assert stub.received == []


def test_a_create_in_flight_at_ctrl_c_finishes_and_its_answer_reaches_the_caller(fresh_cancel: None) -> None:
    """Its snapshot exists whatever the Cancel does: its id must reach the provider (state, or the tags the next `up`
    adopts), not be dropped on the way back."""
    stub = StubEc2(hold="CreateSnapshot")
    client = paced_stub_client(stub)
    thread, outcome = in_thread(lambda: client.create_snapshot(VolumeId="vol-1"))
    assert stub.arrived.wait(timeout=30), "the create never reached EC2"

    cancel.cancel_waits()
    stub.release.set()  # EC2 answers after the Cancel
    thread.join(timeout=30)

    assert not thread.is_alive()
    [answer] = outcome
    assert not isinstance(answer, BaseException), answer
    assert answer["SnapshotId"] == "snap-0123456789abcdef0"
    assert stub.received == ["CreateSnapshot"]  # sent once: not retried, not refused on the way back
