"""Red-team findings, stop 29, on the copy's share record, lock ownership and the stopped-by holder tags (issues 21
and 22): RT29-<n>.

Each finding is a strict xfail that passes once the product is fixed; a control test next to it shows the part that
already holds. The AWS behaviour each one relies on is named in its reason or docstring.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from emulator_helpers import client
from pausing_helpers import holder_tags, mark_stopped_by_earlier_build, stop

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core.quiesce import pausing
from snapshot_provider.core.quiesce.instance import STOPPED_BY_TAG
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.consistency import Plan
from snapshot_provider.inputs.declarations import AccountSelection
from testbed import REGION, snapshot_props


def _locks(emulator: Ec2Emulator, snapshot_id: str) -> list[dict[str, Any]]:
    return list(client(emulator).describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"])


# --- RT29-1: this resource's own lock taken for someone else's after an update that failed after LockSnapshot ------
GOVERNANCE_30 = {"mode": "governance", "duration_days": 30}
GOVERNANCE_60 = {"mode": "governance", "duration_days": 60}


def _extended_by_an_update_that_failed_after_locking(emulator: Ec2Emulator, volume_id: str) -> tuple[Any, dict]:
    """Create with a 30-day governance lock; an update to 60 days (and a new tag) whose CreateTags fails after its
    LockSnapshot went through (a throttled CreateTags, a denied tag, a run killed between the two calls): state keeps
    the old outputs, EC2 holds the 60-day lock this resource set."""
    provider = EbsSnapshotProvider()
    created = provider.create(snapshot_props(volume_id, lock=GOVERNANCE_30))
    news = snapshot_props(volume_id, lock=GOVERNANCE_60, tags={"purpose": "test", "ticket": "OPS-1"})
    emulator.configure(denied_actions=["CreateTags"])
    try:
        with pytest.raises(SnapshotProviderError):
            provider.update(created.id, created.outs, news)
    finally:
        emulator.configure(denied_actions=[])
    [lock] = _locks(emulator, created.id)
    assert lock["LockDuration"] == 60, f"the lock was not extended: not the case this test is about ({lock})"
    return created, news


def test_control_a_lock_this_resource_set_is_recorded_as_its_own(emulator: Ec2Emulator, volume_id: str) -> None:
    created = EbsSnapshotProvider().create(snapshot_props(volume_id, lock=GOVERNANCE_30))
    assert created.outs["lock_owned"] is True


@pytest.mark.xfail(
    strict=True,
    reason="RT29-1: an update whose LockSnapshot succeeded and a later step (CreateTags) failed leaves state's old "
    "lock_expires_at; the retry's locks.owned compares it with EC2's new end, finds them different, and records the "
    "lock this resource set as someone else's (lock_owned false) for good",
)
def test_the_retry_of_an_update_that_failed_after_extending_the_lock_keeps_the_lock_its_own(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    created, news = _extended_by_an_update_that_failed_after_locking(emulator, volume_id)
    retried = EbsSnapshotProvider().update(created.id, created.outs, news)  # the next `up`, state unchanged
    assert retried.outs["lock_owned"] is True, "the lock this resource set is now recorded as someone else's"


@pytest.mark.xfail(
    strict=True,
    reason="RT29-1: after the retry recorded lock_owned false, taking `lock` out leaves this resource's own lock "
    "(`left the lock ... a lock this resource did not set`), so `pulumi destroy` is refused for 60 days: a stuck "
    "stack that needs `aws ec2 unlock-snapshot` by hand",
)
def test_taking_lock_out_after_that_retry_unlocks_the_snapshot_this_resource_locked(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    provider = EbsSnapshotProvider()
    created, news = _extended_by_an_update_that_failed_after_locking(emulator, volume_id)
    retried = provider.update(created.id, created.outs, news)
    unlocked = snapshot_props(volume_id, tags=news["tags"])
    provider.update(created.id, {**news, **retried.outs}, unlocked)
    assert [lock["LockState"] for lock in _locks(emulator, created.id)] in ([], ["expired"])
    provider.delete(created.id, {**unlocked, **retried.outs})  # destroy goes through
    assert emulator.snapshots() == []


# --- RT29-2: an instance its owner stopped, started by us -----------------------------------------------------------
def _owner_stops_first(emulator: Ec2Emulator, instance_id: str, props: dict[str, Any]) -> Any:
    """Make the owner's StopInstances reach EC2 just before the provider's (between its DescribeInstances and its
    StopInstances): the provider's answer then says PreviousState `stopping`, not `running`."""
    owner = client(emulator)
    ec2 = clients.client(AccountSelection.from_props(props))

    def owner_stops(**_: Any) -> None:
        owner.stop_instances(InstanceIds=[instance_id])

    ec2.meta.events.register("provide-client-params.ec2.StopInstances", owner_stops)
    return ec2, owner_stops


def _stopped_root(emulator: Ec2Emulator) -> tuple[str, dict[str, Any]]:
    seeded = emulator.seed_instance(data_volumes=1)
    return seeded["instance_id"], snapshot_props(seeded["root_volume_id"], consistency="stopped", timeout=60)


def test_control_a_stop_of_ours_is_started_again(emulator: Ec2Emulator) -> None:
    _instance, props = _stopped_root(emulator)
    EbsSnapshotProvider().create(props)
    assert emulator.stopped_instances() == []


@pytest.mark.xfail(
    strict=True,
    reason="RT29-2: StopInstances answered PreviousState `stopping` (EC2 API reference, StopInstances / "
    "InstanceStateChange: the owner's stop began first), so ask_stop says the stop is not ours; pausing._while_stopped "
    "still confirms the tag after the wait and start_again starts the instance its owner stopped",
)
def test_an_instance_its_owner_began_to_stop_before_our_stop_is_left_stopped(emulator: Ec2Emulator) -> None:
    instance, props = _stopped_root(emulator)
    emulator.configure(transition_seconds=1)  # the owner's stop is still `stopping` when ours arrives
    ec2, hook = _owner_stops_first(emulator, instance, props)
    try:
        EbsSnapshotProvider().create(props)
    except SnapshotProviderError:
        pass  # refusing is fine too: what matters is the instance
    finally:
        ec2.meta.events.unregister("provide-client-params.ec2.StopInstances", hook)
    answers = emulator.mutating_calls("StopInstances")
    assert len(answers) == 2, f"not the case this test is about: {answers}"
    assert emulator.stopped_instances() == [instance], "the instance its owner stopped was started again"
    tags = client(emulator).describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0].get("Tags")
    assert not [t for t in tags or [] if t["Key"].startswith(STOPPED_BY_TAG)]


# --- RT29-5: a replace under an unchanged lock whose date has passed ------------------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="RT29-5: an unchanged `lock.expires_at` that has passed is accepted at preview (inputs/lock.py: an "
    "unchanged lock that ended did its job), but a replace (here `triggers`) creates a new snapshot with it and the "
    "create refuses 'expires_at ... is in the past' at `up`: the preview said nothing (EC2 API reference, "
    "LockSnapshot: ExpirationDate must be in the future); a series takes such points unlocked and says so",
)
def test_a_replace_under_an_ended_lock_is_refused_at_preview_or_goes_through(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    provider = EbsSnapshotProvider()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ended = {"mode": "governance", "expires_at": yesterday}  # set months ago, unchanged since
    olds = snapshot_props(volume_id, lock=ended, triggers={"release": "1"})
    news = snapshot_props(volume_id, lock=ended, triggers={"release": "2"})
    assert provider.diff("snap-0", olds, news).replaces == ["triggers"], "not the case this test is about"
    if [f for f in provider.check(olds, news).failures if f.property == "lock"]:
        return  # the preview says it: fine
    provider.create(news)  # or the replace goes through (unlocked, said, as a series does)


# --- RT29-7: a lock the organisation put on the new snapshot while it was pending, overwritten by ours -------------
def _org_locks_first(emulator: Ec2Emulator, props: dict[str, Any], lock: dict[str, Any]) -> tuple[Any, Any]:
    """The organisation's automation (a rule on CreateSnapshot) locks each new snapshot while it is pending: its
    LockSnapshot lands before the provider's, which comes only once the snapshot completed (completion.hand_over)."""
    org = client(emulator)
    ec2 = clients.client(AccountSelection.from_props(props))

    def org_locks(params: dict[str, Any], **_: Any) -> None:
        if not org.describe_locked_snapshots(SnapshotIds=[params["SnapshotId"]])["Snapshots"]:
            org.lock_snapshot(SnapshotId=params["SnapshotId"], **lock)

    ec2.meta.events.register("provide-client-params.ec2.LockSnapshot", org_locks)
    return ec2, org_locks


@pytest.mark.xfail(
    strict=True,
    reason="RT29-7: completion.hand_over calls locks.apply (LockSnapshot with the declared lock) without reading the "
    "lock the snapshot holds: a lock someone else put on it while it was pending (EC2 lets a pending snapshot be "
    "locked: EBS user guide, 'Lock snapshots') is shortened to ours and recorded lock_owned true, so taking `lock` "
    "out later unlocks it: a lock this provider did not set, shortened and then removed",
)
def test_a_lock_set_by_someone_else_while_the_snapshot_was_pending_is_not_shortened(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    props = snapshot_props(volume_id, lock={"mode": "governance", "duration_days": 7})
    ec2, hook = _org_locks_first(emulator, props, {"LockMode": "governance", "LockDuration": 365})
    try:
        created = EbsSnapshotProvider().create(props)
    finally:
        ec2.meta.events.unregister("provide-client-params.ec2.LockSnapshot", hook)
    [lock] = _locks(emulator, created.id)
    assert lock["LockDuration"] == 365, f"the organisation's 365-day lock was shortened to {lock['LockDuration']} days"
    assert created.outs["lock_owned"] is False


# --- RT29-8: an earlier build's single stopped-by tag taken as a confirmed stop ---------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="RT29-8: an earlier build wrote its single stopped-by tag before StopInstances, like this build's "
    "`stopping` phase, so a run killed before its stop reached EC2, followed by the owner's stop of the same launch, "
    "leaves the same evidence as an unconfirmed tag; StoppedBy.of reads it as confirmed=True and the next run starts "
    "the instance its owner stopped (this build's own unconfirmed tag is left stopped, with a warning)",
)
def test_an_earlier_builds_tag_followed_by_the_owners_stop_is_not_taken_for_ours(emulator: Ec2Emulator) -> None:
    seeded = emulator.seed_instance(data_volumes=1)
    instance_id = seeded["instance_id"]
    mark_stopped_by_earlier_build(emulator, instance_id, "rt29-resource/killed")  # killed before its StopInstances
    stop(emulator, instance_id)  # then its owner stops the instance (the same launch)
    ec2 = client(emulator)

    def request(consistency: str) -> str:
        return str(ec2.create_snapshot(VolumeId=seeded["root_volume_id"])["SnapshotId"])

    asker = pausing.Asker(by="rt29-resource/next", turn=contextlib.nullcontext)
    ssm = lambda: boto3.client("ssm", region_name=REGION)  # noqa: E731
    pausing.around(ec2, ssm, Plan(consistency="stopped"), seeded["root_volume_id"], request, asker)
    assert emulator.stopped_instances() == [instance_id], "the instance its owner stopped was started"
    assert holder_tags(emulator, instance_id) == {}
