"""Red-team findings, stop 29, on lock ownership (issue 21): RT29-<n>. Those on the stopped-by holder tags (RT29-2,
RT29-8; issue 22) are fixed, their tests in tests/emulator/test_pausing.py; those on the copy's share (RT29-3, 4, 6)
too, their tests in tests/emulator/test_snapshot_copy.py and test_series_copies.py.

Each finding is a strict xfail that passes once the product is fixed; a control test next to it shows the part that
already holds. The AWS behaviour each one relies on is named in its reason or docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from emulator_helpers import client

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.declarations import AccountSelection
from testbed import snapshot_props


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
