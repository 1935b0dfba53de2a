"""The shared lifecycle against the emulator: a recorded snapshot is never adopted, interrupted creates are finished
(or their leftovers deleted once the new snapshot is handed over), and nothing of the user's is deleted."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
from snapshot_provider.core import waiting
from snapshot_provider.core.lifecycle import leftovers, shapes
from snapshot_provider.core.lifecycle.ebs_snapshot import VOLUME
from snapshot_provider.core.lifecycle.leftovers import mismatch, still_left
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, Leftover, resource_token
from snapshot_provider.core.sources import Member
from snapshot_provider.ec2 import cancel, snapshots
from snapshot_provider.ec2.errors import SnapshotFailed, SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.inputs.declarations import DEFAULT_TIMEOUT
from testbed import REGION, URN_PREFIX, StrictEc2, at_once, in_thread, snapshot_props

provider = EbsSnapshotProvider()


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def leave_snapshot(emulator: Ec2Emulator, volume_id: str, urn: str, attempt: str = "0123456789abcdef") -> str:
    """What an interrupted create of the resource `urn` leaves behind: a snapshot tagged as its, not recorded."""
    tags = {RESOURCE_TAG: resource_token(urn), ATTEMPT_TAG: attempt}
    specification = {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    return str(ec2(emulator).create_snapshot(VolumeId=volume_id, TagSpecifications=[specification])["SnapshotId"])


def ids(emulator: Ec2Emulator) -> set[str]:
    return {s["snapshot_id"] for s in emulator.snapshots()}


# --- a recorded snapshot is never adopted ------------------------------------------------------------------------
def test_replace_takes_a_new_snapshot_and_the_old_delete_leaves_it(emulator: Ec2Emulator, volume_id: str) -> None:
    original = provider.create(snapshot_props(volume_id, description="a"))
    # The engine replaces: create with the new inputs (same URN), then delete the old resource.
    replacement = provider.create(snapshot_props(volume_id, description="b"))
    provider.delete(original.id, original.outs)

    assert replacement.id != original.id
    assert ids(emulator) == {replacement.id}
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"][ATTEMPT_TAG] == RECORDED


def test_forced_replace_with_unchanged_inputs_takes_a_new_snapshot(emulator: Ec2Emulator, volume_id: str) -> None:
    original = provider.create(snapshot_props(volume_id))
    replacement = provider.create(snapshot_props(volume_id))  # `pulumi up --replace`: same inputs, same URN
    provider.delete(original.id, original.outs)
    assert ids(emulator) == {replacement.id} and replacement.id != original.id


def test_retained_snapshot_stays_the_users_and_a_new_one_is_taken(emulator: Ec2Emulator, volume_id: str) -> None:
    kept = provider.create(snapshot_props(volume_id))  # then destroyed with retain_on_delete: delete never called
    again = provider.create(snapshot_props(volume_id))
    assert again.id != kept.id and ids(emulator) == {kept.id, again.id}


def test_same_name_under_two_parents_are_two_resources(emulator: Ec2Emulator, volume_id: str) -> None:
    top = provider.create(snapshot_props(volume_id, resource_urn=URN_PREFIX + "s"))
    nested = provider.create(
        snapshot_props(
            volume_id,
            resource_urn="urn:pulumi:test::ebs-snapshots::my:Component$pulumi-python:dynamic/ebs-snapshots:EbsSnapshot::s",
        )
    )
    assert top.id != nested.id
    provider.delete(top.id, top.outs)
    assert ids(emulator) == {nested.id}


# --- interrupted creates are finished ------------------------------------------------------------------------------
def test_create_adopts_snapshot_left_by_an_interrupted_create(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=1.5)
    props = snapshot_props(volume_id)
    left = leave_snapshot(emulator, volume_id, props["resource_urn"])
    emulator.clear_calls()

    result = provider.create(props)

    assert result.id == left
    assert emulator.calls("CreateSnapshot") == []
    assert result.outs["wait_time"] >= 1.0  # measured from the first request, not from adoption
    assert emulator.snapshots()[0]["tags"][ATTEMPT_TAG] == RECORDED


def test_timeout_then_next_create_adopts_with_tags_brought_to_the_inputs(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3)
    with pytest.raises(SnapshotTimedOut) as timed_out:
        provider.create(snapshot_props(volume_id, timeout=1, tags={"old": "1", "kept": "x"}))
    [left] = emulator.snapshots()
    assert left["snapshot_id"] in str(timed_out.value)

    result = provider.create(snapshot_props(volume_id, tags={"new": "2", "kept": "y"}))

    assert result.id == left["snapshot_id"]
    assert len(emulator.calls("CreateSnapshot")) == 1
    [snapshot] = emulator.snapshots()
    user_tags = {k: v for k, v in snapshot["tags"].items() if not k.startswith("pulumi-snapshot:")}
    assert user_tags == {"new": "2", "kept": "y"} == result.outs["tags"] == result.outs["all_tags"]


def index_of_recorded(emulator: Ec2Emulator, snapshot_id: str) -> int:
    """Where, among the mutating calls, `snapshot_id` was marked recorded (handed over)."""
    calls = [c for c in emulator.calls() if c.mutating]
    return next(
        i
        for i, c in enumerate(calls)
        if c.action == "CreateTags" and snapshot_id in c.params.values() and RECORDED in c.params.values()
    )


def deletions(emulator: Ec2Emulator) -> dict[str, int]:
    """Snapshot id -> where, among the mutating calls, it was deleted."""
    calls = [c for c in emulator.calls() if c.mutating]
    return {c.params["SnapshotId"]: i for i, c in enumerate(calls) if c.action == "DeleteSnapshot"}


def said_by_provider(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "snapshot_provider.progress")


def assert_kept_and_reported(
    emulator: Ec2Emulator, caplog: pytest.LogCaptureFixture, result_id: str, left: str
) -> None:
    """RT-1: a leftover carries this resource's URN hash, which another backend's stack of the same project and stack
    name shares: it may be that stack's in-flight snapshot, so it is kept and reported with what to do, never
    deleted."""
    assert ids(emulator) == {result_id, left} and left not in deletions(emulator)
    said = said_by_provider(caplog)
    assert f"kept {left}" in said and f"aws ec2 delete-snapshot --snapshot-id {left}" in said, said


def test_leftover_with_another_description_is_kept_and_reported_not_deleted(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.configure(pending_seconds=3)
    with pytest.raises(SnapshotTimedOut):
        provider.create(snapshot_props(volume_id, timeout=1, description="a"))
    [left] = emulator.snapshots()
    emulator.clear_calls()
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    result = provider.create(snapshot_props(volume_id, description="b"))

    assert result.id != left["snapshot_id"]
    assert_kept_and_reported(emulator, caplog, str(result.id), left["snapshot_id"])


def test_leftover_of_another_volume_is_kept_and_reported_not_deleted(
    emulator: Ec2Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = emulator.seed_volumes(2)
    props = snapshot_props(second)
    left = leave_snapshot(emulator, first, props["resource_urn"])
    emulator.clear_calls()
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    result = provider.create(props)

    assert_kept_and_reported(emulator, caplog, str(result.id), left)


def test_stale_completed_leftover_is_kept_and_reported_not_deleted(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    props = snapshot_props(volume_id)
    left = leave_snapshot(emulator, volume_id, props["resource_urn"])
    emulator.age_snapshot(left, seconds_ago=2 * 3600)  # completed, and older than the timeout plus an hour
    emulator.clear_calls()
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    result = provider.create(props)

    assert_kept_and_reported(emulator, caplog, str(result.id), left)


def test_leftover_an_ami_uses_is_kept_and_reported(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    props = snapshot_props(volume_id, description="new")
    left = leave_snapshot(emulator, volume_id, props["resource_urn"])  # description '': cannot be adopted
    image_id = ec2(emulator).register_image(
        Name="uses-leftover",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": left}}],
    )["ImageId"]

    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    result = provider.create(props)

    assert ids(emulator) == {result.id, left} and image_id
    assert f"kept {left}" in said_by_provider(caplog)


def test_a_recorded_snapshot_is_never_a_leftover_even_while_ec2_shows_its_old_tag(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """What a listing shows for a snapshot handed over moments ago, under EC2's tag delay: its attempt id."""
    props = snapshot_props(volume_id)
    handed = leave_snapshot(emulator, volume_id, props["resource_urn"], attempt="fedcba9876543210")
    leftover = seen_now(emulator, handed)
    assert leftover.settled is False  # completed: may have been recorded moments ago
    ec2(emulator).create_tags(Resources=[handed], Tags=[{"Key": ATTEMPT_TAG, "Value": RECORDED}])

    assert still_left(ec2(emulator), leftover, props["resource_urn"]) == []


def seen_now(emulator: Ec2Emulator, snapshot_id: str) -> Leftover:
    [snapshot] = ec2(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return Leftover([snapshot], snapshots.tag_value(snapshot, ATTEMPT_TAG) or "", "seen not recorded", time.monotonic())


def test_leftover_in_error_state_is_kept_and_reported_and_a_new_snapshot_taken(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.configure(pending_seconds=0, fail_volume_ids=[volume_id])
    props = snapshot_props(volume_id)
    failed = leave_snapshot(emulator, volume_id, props["resource_urn"])
    emulator.configure(fail_volume_ids=[])
    emulator.clear_calls()
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    result = provider.create(props)
    assert result.id != failed
    assert_kept_and_reported(emulator, caplog, str(result.id), failed)


def test_lost_create_response_is_found_by_its_attempt_not_repeated(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.2, seed=1, drop_rate=0.5, actions=["CreateSnapshot"])  # seed 1: first drops
    result = provider.create(snapshot_props(volume_id))
    assert emulator.calls("CreateSnapshot")[0].fault == "drop"
    assert ids(emulator) == {result.id}


def test_stale_leftover_is_refused(emulator: Ec2Emulator, volume_id: str) -> None:
    props = snapshot_props(volume_id, timeout=60)
    group = [
        {
            "SnapshotId": "snap-01234567",
            "VolumeId": volume_id,
            "StartTime": datetime.now(UTC) - timedelta(hours=2),
        }
    ]
    reason = mismatch(VOLUME, VOLUME.schema.parse(props), [Member(volume_id)], group)
    assert reason is not None and "pass old data off as a new snapshot" in reason
    group[0]["StartTime"] = datetime.now(UTC) - timedelta(minutes=30)
    assert mismatch(VOLUME, VOLUME.schema.parse(props), [Member(volume_id)], group) is None


# --- error paths delete only what this create made -----------------------------------------------------------------
def test_failed_snapshot_of_this_create_is_deleted(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.3, fail_volume_ids=[volume_id])
    with pytest.raises(SnapshotFailed, match="ended in state error"):
        provider.create(snapshot_props(volume_id))
    assert emulator.snapshots() == []


def test_imported_snapshot_in_error_state_is_refused_and_kept(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0, fail_volume_ids=[volume_id])
    users = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match=f"import_snapshot_id {users} is in state error"):
        provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    assert ids(emulator) == {users}


def test_imported_snapshot_failing_while_pending_is_kept(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=0.5, fail_volume_ids=[volume_id])
    users = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotFailed, match="It was left as it is"):
        provider.create(snapshot_props(volume_id, import_snapshot_id=users))
    assert ids(emulator) == {users}


def test_delete_ignores_todays_input_rules(emulator: Ec2Emulator, volume_id: str) -> None:
    created = provider.create(snapshot_props(volume_id))
    # State written under looser rules (or by an older version): inputs today's check refuses.
    stored = {**created.outs, "tags": {f"k{i}": "v" for i in range(60)}, "timeout": -1, "description": "x" * 999}
    provider.delete(created.id, stored)
    assert emulator.snapshots() == []


def test_instance_set_replace_with_failing_new_set_keeps_the_old_set(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    data = [d["volume_id"] for d in instance["data_volumes"]]
    sets = InstanceSnapshotsProvider()
    urn = URN_PREFIX.replace("EbsSnapshot", "InstanceSnapshots") + "set"
    props = {"instance_id": instance["instance_id"], "region": REGION, "timeout": 30, "resource_urn": urn, "tags": {}}
    original = sets.create(props)
    emulator.clear_calls()
    emulator.configure(pending_seconds=0.3, fail_volume_ids=[data[1]])

    with pytest.raises(SnapshotFailed, match="not crash-consistent"):
        sets.create({**props, "exclude_data_volume_ids": [data[0]]})  # the replacement fails

    assert set(original.outs["snapshot_ids"].values()) <= ids(emulator)
    actions = [c.action for c in emulator.calls() if c.mutating]
    assert actions.index("CreateSnapshots") < actions.index("DeleteSnapshot")  # only the new set's are deleted
    assert ids(emulator) == set(original.outs["snapshot_ids"].values())


def test_copied_volume_tags_beyond_ec2s_limit_are_refused_before_any_snapshot(emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1, tags={f"v{i}": "x" for i in range(10)})  # and its Name
    props = snapshot_props(volume_id, copy_volume_tags=True, tags={f"k{i}": "y" for i in range(45)})
    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(props)
    message = str(refused.value)
    assert "56 tags with the volume's 11 copied" in message and "at most 48" in message
    assert emulator.calls("CreateSnapshot") == [] and emulator.snapshots() == []


# --- under EC2's own semantics (the emulator's strict mode) --------------------------------------------------------
FIRST_DROPPED = 92  # with drop_rate 0.5: the first request's answer is dropped, the next seven are answered


def test_strict_create_waits_for_the_listing_and_hands_over_one_snapshot(strict_ec2: StrictEc2, volume_id: str) -> None:
    emulator = strict_ec2(pending_seconds=1)
    result = provider.create(snapshot_props(volume_id))
    emulator.settle()
    assert ids(emulator) == {result.id}
    assert emulator.snapshots()[0]["tags"][ATTEMPT_TAG] == RECORDED


def test_lost_answer_under_a_listing_delay_makes_exactly_one_snapshot(strict_ec2: StrictEc2, volume_id: str) -> None:
    # The first CreateSnapshot is carried out and its answer dropped; EC2 lists the snapshot 8 s later.
    emulator = strict_ec2(listing_delay=(8, 8), seed=FIRST_DROPPED, drop_rate=0.5, actions=["CreateSnapshot"])

    result = provider.create(snapshot_props(volume_id))

    emulator.settle()
    assert ids(emulator) == {result.id}
    assert [c.fault for c in emulator.calls("CreateSnapshot")] == ["drop"]  # found, not asked again


def test_a_retry_refused_by_the_volume_rate_keeps_looking_for_the_lost_one(
    strict_ec2: StrictEc2, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window ran out before EC2 listed the lost request's snapshot; the second request, refused because the
    first went through moments ago, is the evidence: look again, do not ask a third time blindly."""
    emulator = strict_ec2(listing_delay=(10, 10), seed=FIRST_DROPPED, drop_rate=0.5, actions=["CreateSnapshot"])
    monkeypatch.setenv("SNAPSHOT_CONSISTENCY_WINDOW", "3")  # shorter than the delay: the retry comes too early
    monkeypatch.setenv("SNAPSHOT_VOLUME_INTERVAL", "0")  # as if the first request had been another process's

    result = provider.create(snapshot_props(volume_id))

    emulator.settle()
    assert ids(emulator) == {result.id}
    calls = emulator.calls("CreateSnapshot")
    assert calls[0].fault == "drop" and {c.status for c in calls[1:]} == {400}  # every later request refused


def test_duplicates_of_a_take_are_swept_once_the_window_has_passed(
    strict_ec2: StrictEc2, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost request's snapshot shows (by its tags) only after the window, once a second request made another: one
    goes. The second is listed at once, and completes after the first one's tags show."""
    emulator = strict_ec2(
        listing_delay=(0, 0), tag_delay=(4, 4), snapshot_interval_per_volume=0, seed=1, drop_rate=0.5, pending_seconds=4
    )
    emulator.configure(actions=["CreateSnapshot"])
    monkeypatch.setenv("SNAPSHOT_CONSISTENCY_WINDOW", "2")  # shorter than the tag delay: the retry comes too early

    result = provider.create(snapshot_props(volume_id))

    emulator.settle()
    assert len(emulator.calls("CreateSnapshot")) == 2
    assert ids(emulator) == {result.id}


def test_snapshots_of_one_volume_queue_behind_its_pending_limit(strict_ec2: StrictEc2, volume_id: str) -> None:
    emulator = strict_ec2(pending_snapshots_per_volume={"gp2": 1}, snapshot_interval_per_volume=0, pending_seconds=2)
    urns = [URN_PREFIX + f"queued-{i}" for i in range(2)]

    results = at_once(lambda i: provider.create(snapshot_props(volume_id, resource_urn=urns[i])), 2)

    emulator.settle()
    assert ids(emulator) == {r.id for r in results} and len(results) == 2
    refused = [c for c in emulator.calls("CreateSnapshot") if c.status == 400]
    assert len(refused) <= 1  # once, when the gate learnt the volume's limit; never again in this process


def test_requests_for_one_volume_are_spaced_not_refused(strict_ec2: StrictEc2, volume_id: str) -> None:
    emulator = strict_ec2(snapshot_interval_per_volume=3)
    urns = [URN_PREFIX + f"spaced-{i}" for i in range(2)]

    results = at_once(lambda i: provider.create(snapshot_props(volume_id, resource_urn=urns[i])), 2)

    emulator.settle()
    assert ids(emulator) == {r.id for r in results}
    calls = emulator.calls("CreateSnapshot")
    assert [c.status for c in calls] == [200, 200] and calls[1].at - calls[0].at >= 2.9


def test_a_volume_with_no_room_within_the_timeout_takes_nothing(strict_ec2: StrictEc2, volume_id: str) -> None:
    emulator = strict_ec2(pending_snapshots_per_volume={"gp2": 1}, snapshot_interval_per_volume=0)
    emulator.configure(pending_seconds=60)
    ec2(emulator).create_snapshot(VolumeId=volume_id)  # someone else's, pending for a minute

    with pytest.raises(SnapshotTimedOut, match="was not requested") as timed_out:
        provider.create(snapshot_props(volume_id, timeout=3))

    assert "ConcurrentSnapshotLimitExceeded" not in str(timed_out.value) or "Nothing was taken" in str(timed_out.value)
    emulator.settle()
    assert len(ids(emulator)) == 1


def test_outputs_and_a_refresh_right_after_a_write_tell_what_was_written(strict_ec2: StrictEc2, volume_id: str) -> None:
    strict_ec2(tag_delay=(4, 4))
    props = snapshot_props(volume_id, tags={"team": "db"})

    created = provider.create(props)
    assert created.outs["tags"] == {"team": "db"} == created.outs["all_tags"]
    assert provider.diff(created.id, created.outs, props).changes is False  # `preview --expect-no-changes`

    news = snapshot_props(volume_id, tags={"team": "platform", "tier": "gold"})
    updated = provider.update(created.id, created.outs, news).outs
    assert updated["tags"] == {"team": "platform", "tier": "gold"}
    assert provider.diff(created.id, updated, news).changes is False

    refreshed = provider.read(created.id, updated).outs  # seconds after the write: EC2 still shows the old tags
    assert refreshed["tags"] == {"team": "platform", "tier": "gold"}


def test_a_completed_snapshot_recorded_moments_ago_is_not_adopted_by_a_replace(
    strict_ec2: StrictEc2, volume_id: str
) -> None:
    """`pulumi up`, then at once `pulumi up --replace`: EC2 may still list the first snapshot with its attempt id."""
    emulator = strict_ec2(tag_delay=(5, 5), snapshot_interval_per_volume=0)
    original = provider.create(snapshot_props(volume_id))

    replacement = provider.create(snapshot_props(volume_id))
    provider.delete(original.id, original.outs)

    assert replacement.id != original.id
    emulator.settle()
    assert ids(emulator) == {replacement.id}


# --- "gone" only once EC2 would list it: its listing delay ---------------------------------------------------------
def just_taken(emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A snapshot taken a moment ago, still out of EC2's listings (strict emulator: 3 s, within the provider's
    consistency window), and its state as a record of it (an import) holds it: a start time, no wait of this
    provider's."""
    emulator.configure(listing_delay=(3.0, 3.0), mutations_see_delay=True, pending_seconds=0.0)
    monkeypatch.setenv("SNAPSHOT_CONSISTENCY_WINDOW", "6")
    snapshot = ec2(emulator).create_snapshot(VolumeId=volume_id)
    return {
        **snapshot_props(volume_id),
        "snapshot_id": snapshot["SnapshotId"],
        "start_time": snapshot["StartTime"].isoformat(),
        "account_id": "123456789012",
    }


def test_refresh_keeps_a_snapshot_ec2_does_not_list_yet(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = just_taken(emulator, volume_id, monkeypatch)
    with pytest.raises(ClientError, match="NotFound"):  # as EC2 answers for a while
        ec2(emulator).describe_snapshots(SnapshotIds=[props["snapshot_id"]])

    read = provider.read(props["snapshot_id"], props)

    assert read.id == props["snapshot_id"] and read.outs["state"] == "completed"


def test_delete_of_a_snapshot_ec2_does_not_list_yet_deletes_it(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = just_taken(emulator, volume_id, monkeypatch)

    provider.delete(props["snapshot_id"], props)

    emulator.settle()
    assert emulator.snapshots() == []


def test_the_credentials_expiry_warning_is_said_once_per_run_not_once_per_snapshot(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The CI recipe exports AWS_CREDENTIAL_EXPIRATION for its 6-hour session. Snapshots of small volumes complete in
    minutes, well within it; a stack of many of them must not flood the log with one warning each: it is said once."""
    expires = datetime.now(UTC) + timedelta(hours=6)
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", expires.isoformat())
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    for volume_id in emulator.seed_volumes(5):
        EbsSnapshotProvider().create(snapshot_props(volume_id, timeout=DEFAULT_TIMEOUT))  # the default: 24 h

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "expire" in r.getMessage()]
    assert len(warnings) == 1, f"{len(warnings)} warnings for 5 snapshots: {[w.getMessage() for w in warnings][:2]}"
    assert expires.isoformat(timespec="seconds") in warnings[0].getMessage()


def test_a_snapshot_of_a_volume_made_moments_ago_is_asked_again_until_ec2_knows_the_volume(
    strict_ec2: StrictEc2,
) -> None:
    """pulumi-aws made the volume in the same `up`: EC2 answers InvalidVolume.NotFound for a few seconds."""
    emulator = strict_ec2(listing_delay=(3, 3), snapshot_interval_per_volume=0, pending_seconds=0)
    made = ec2(emulator).create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]

    created = provider.create(snapshot_props(made))

    assert [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]
    assert created.outs["state"] == "completed"


def test_a_snapshot_of_a_volume_that_does_not_exist_fails_once_the_window_has_passed(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPSHOT_CONSISTENCY_WINDOW", "2")
    started = time.monotonic()
    with pytest.raises(SnapshotProviderError, match=r"InvalidVolume\.NotFound|does not exist"):
        provider.create(snapshot_props("vol-0123456789abcdef0"))
    assert time.monotonic() - started < 30
    assert emulator.snapshots() == []


# --- Ctrl-C and the create's second look at its leftovers ---------------------------------------------------------
def test_ctrl_c_ends_the_wait_for_a_second_look_at_a_completed_leftover(
    fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(waiting.CONSISTENCY_WINDOW_ENV, "30")
    completed = {"SnapshotId": "snap-0123456789abcdef0", "State": "completed", "Tags": []}
    leftover = shapes.Leftover([completed], "attempt-1", "another description", time.monotonic())
    thread, _outcome = in_thread(lambda: leftovers.still_left(None, leftover, None))
    cancel.cancel_waits()
    thread.join(5)
    assert not thread.is_alive(), "the create still waits, 5 s after Ctrl-C"


# --- the message of a wait that ends for a snapshot the create adopted -----------------------------------------
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
    assert "tagged as this resource's" in str(again.value), str(again.value)


# --- a volume that does not exist, with a timeout shorter than the consistency window ------------------------
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
    assert "after a delay" in message, message  # a volume created moments ago: say why it was asked again
