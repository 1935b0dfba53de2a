"""Red-team findings, stop 29, on the copy's share record and lock ownership (issue 21): RT29-<n>. Those on the
stopped-by holder tags (RT29-2, RT29-8; issue 22) are fixed, their tests in tests/emulator/test_pausing.py.

Each finding is a strict xfail that passes once the product is fixed; a control test next to it shows the part that
already holds. The AWS behaviour each one relies on is named in its reason or docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from emulator_helpers import client

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, SnapshotCopyProvider, SnapshotSeriesProvider
from snapshot_provider.core import copy_shares
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.series import SCHEMA as SERIES_SCHEMA
from testbed import REGION, snapshot_props

OTHER_REGION = "eu-west-1"
THIRD_REGION = "us-west-2"
BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"
COPY_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotCopy::rt29-copy"
SERIES_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::rt29-nightly"


def _shared_with(snapshot_id: str) -> list[str]:
    answer = boto3.client("ec2", region_name=REGION).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )
    return [p.get("UserId") or p.get("Group", "") for p in answer["CreateVolumePermissions"]]


def _holders(snapshot_id: str) -> set[str]:
    [found] = boto3.client("ec2", region_name=REGION).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return copy_shares.holders(found, BACKUP_ACCOUNT)


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


# --- RT29-3: a series' two targets in one account hold the point's share by one key --------------------------------
def _series_props(volume_id: str, **overrides: Any) -> dict[str, Any]:
    given = {"region": REGION, "tags": {}, "timeout": 30, "resource_urn": SERIES_URN, "volume_id": volume_id}
    return SERIES_SCHEMA.stored({**given, **overrides})


TWO_TARGETS = [{"region": OTHER_REGION, "role_arn": BACKUP_ROLE}, {"region": THIRD_REGION, "role_arn": BACKUP_ROLE}]


@pytest.mark.xfail(
    strict=True,
    reason="RT29-3: the holder key is <account>:<token>, and a series uses one token for all its targets: the copy "
    "to us-west-2 completing releases the key the eu-west-1 copy, still pending, holds, and removes the share under "
    "it (copy_shares.holder_key has no destination region; core/series/copies.py passes the series' URN)",
)
def test_a_series_copy_that_completes_keeps_the_share_another_target_copy_still_pending_needs(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    provider = SnapshotSeriesProvider()
    emulator.configure(copy_seconds=3600)
    first = _series_props(volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1])
    created = provider.create(first)
    point = created.outs["snapshot_id"]
    [pending] = created.outs["copied"]
    assert pending["state"] == "failed" and _shared_with(point) == [BACKUP_ACCOUNT]  # pending: share kept, recorded
    emulator.configure(copy_seconds=0.0)  # the new target's copy completes at once; the first stays pending
    provider.update(created.id, created.outs, _series_props(volume_id, trigger="d1", timeout=2, copies=TWO_TARGETS))
    [left] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    assert left["state"] == "pending", "not the case this test is about"
    assert _shared_with(point) == [BACKUP_ACCOUNT], "the share was removed while a copy of ours still needs it"


# --- RT29-4: a share left for good, said nowhere -------------------------------------------------------------------
@pytest.fixture
def source_id(emulator: Ec2Emulator, volume_id: str) -> str:
    return str(client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])


def _copy_props(source: str, **overrides: Any) -> dict[str, Any]:
    given = {
        "source_snapshot_id": source,
        "source_region": REGION,
        "region": OTHER_REGION,
        "tags": {},
        "timeout": 30,
        "resource_urn": COPY_URN,
        "role_arn": BACKUP_ROLE,
    }
    return {**given, **overrides}


@pytest.mark.xfail(
    strict=True,
    reason="RT29-4: a copy cut short at its timeout keeps the source shared with the other account (by design), but "
    "the error says only that the copy is adopted by the next up: a user who then removes the resource (no state: "
    "no delete) never learns the source stays shared with that account, nor the command that ends it",
)
def test_a_copy_cut_short_says_the_source_stays_shared_and_how_to_end_it(emulator: Ec2Emulator, source_id: str) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotTimedOut) as cut:
        SnapshotCopyProvider().create(_copy_props(source_id, timeout=1))
    assert _shared_with(source_id) == [BACKUP_ACCOUNT], "not the case this test is about"
    message = str(cut.value)
    assert BACKUP_ACCOUNT in message and "modify-snapshot-attribute" in message, message


@pytest.mark.xfail(
    strict=True,
    reason="RT29-4: SnapshotCopy.delete reads the holding's token from the copy's own tags; a copy already gone "
    "(deleted in the backup account, a lifecycle policy) gives no token, so the share its failed unshare left "
    "recorded is never removed: the source stays shared with the other account after `pulumi destroy`",
)
def test_destroying_a_copy_already_gone_still_removes_the_share_it_recorded(
    emulator: Ec2Emulator, source_id: str
) -> None:
    provider = SnapshotCopyProvider()
    emulator.configure(copy_seconds=3600)
    with pytest.raises(SnapshotTimedOut):  # cut short: the share kept and recorded for the next run
        provider.create(_copy_props(source_id, timeout=1))
    [left] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.configure(copy_seconds=0.0)
    emulator.age_snapshot(left["snapshot_id"], seconds_ago=3600, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.configure(denied_actions=["ModifySnapshotAttribute"])
    try:  # the next `up` adopts the copy; its unshare is refused: the share stays recorded (a warning says so)
        created = provider.create(_copy_props(source_id))
    finally:
        emulator.configure(denied_actions=[])
    assert _shared_with(source_id) == [BACKUP_ACCOUNT] and _holders(source_id), "not the case this test is about"
    backup = clients.client(AccountSelection.from_props(_copy_props(source_id)))
    backup.delete_snapshot(SnapshotId=created.id)  # the copy deleted in the backup account (by hand, a policy)
    provider.delete(created.id, created.outs)  # `pulumi destroy`
    assert _shared_with(source_id) == [] and _holders(source_id) == set(), "the source stays shared for good"


@pytest.mark.xfail(
    strict=True,
    reason="RT29-4: a series target taken out of `copies` while its copy was pending keeps the point shared with "
    "that account until the point is pruned (a compliance series: years); nothing ends the holding and no line says "
    "so (core/series/copies.py never calls copying.end_holding)",
)
def test_a_series_target_taken_out_ends_the_share_its_pending_copy_held(emulator: Ec2Emulator, volume_id: str) -> None:
    provider = SnapshotSeriesProvider()
    emulator.configure(copy_seconds=3600)
    created = provider.create(_series_props(volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1]))
    point = created.outs["snapshot_id"]
    assert _shared_with(point) == [BACKUP_ACCOUNT], "not the case this test is about"
    provider.update(created.id, created.outs, _series_props(volume_id, trigger="d1", timeout=1, copies=[]))
    assert _shared_with(point) == [], "the point stays shared with an account no longer declared"


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


# --- RT29-6: a source at EC2's tag limit -----------------------------------------------------------------------------
def test_control_a_source_at_the_tag_limit_is_not_shared_and_not_copied(emulator: Ec2Emulator, volume_id: str) -> None:
    full = [{"Key": f"team-{i}", "Value": "x"} for i in range(50)]
    source = client(emulator).create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": full}]
    )["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match="TagLimitExceeded"):
        SnapshotCopyProvider().create(_copy_props(source))
    assert _shared_with(source) == [] and emulator.calls("CopySnapshot") == []


@pytest.mark.xfail(
    strict=True,
    reason="RT29-6: a source with 50 tags of its own (EC2's limit per resource, EC2 user guide 'Tag restrictions') "
    "cannot take the holder tag: the copy is refused with the raw TagLimitExceeded and no way out, though sharing "
    "the source yourself (then left alone as the user's share) or freeing one tag would let it copy",
)
def test_a_source_at_the_tag_limit_is_refused_with_the_way_out(emulator: Ec2Emulator, volume_id: str) -> None:
    full = [{"Key": f"team-{i}", "Value": "x"} for i in range(50)]
    source = client(emulator).create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": full}]
    )["SnapshotId"]
    with pytest.raises(SnapshotProviderError) as refused:
        SnapshotCopyProvider().create(_copy_props(source))
    message = str(refused.value)
    assert "50" in message and "modify-snapshot-attribute" in message, message


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
