"""Red team 29b: the stop's fixes (rt29-stopped, rt29-shares, rt29-locks, inward) attacked as a user on production
AWS. Each test is a strict xfail until its finding is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, SnapshotSeriesProvider
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.series import SCHEMA as SERIES_SCHEMA
from testbed import REGION, snapshot_props

provider = EbsSnapshotProvider()
GOVERNANCE_30 = {"mode": "governance", "duration_days": 30}


def _ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


@pytest.mark.xfail(
    strict=True,
    reason="RT29b-1: locks.adopt(ours_if_as_asked) takes another's duration lock set while pending, of the declared "
    "mode and duration, for this resource's own; removing `lock` then unlocks the organisation's lock",
)
def test_an_organisations_lock_set_while_pending_on_a_leftover_is_never_taken_for_this_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """An organisation's automation locks every new snapshot (governance, 30 days) while it is pending (EBS user
    guide, "Lock snapshots": a pending snapshot can be locked); the program declares the same lock. The first run is
    cut short after the snapshot completed, before its hand-over locked anything (here: DescribeLockedSnapshots
    throttled/denied once; a run killed during the hours-long wait leaves the same leftover). The next `up` adopts
    the leftover: the lock on it is the organisation's, set while pending, never this resource's."""
    emulator.configure(pending_seconds=0.5)
    props = snapshot_props(volume_id, lock=GOVERNANCE_30)
    ec2_client = clients.client(AccountSelection.from_props(props), single_attempt=True)  # CreateSnapshot's
    other = _ec2(emulator)

    def organisation_locks(parsed: dict[str, Any], **_: Any) -> None:
        other.lock_snapshot(SnapshotId=parsed["SnapshotId"], LockMode="governance", LockDuration=30)

    ec2_client.meta.events.register("after-call.ec2.CreateSnapshot", organisation_locks)
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    try:
        with pytest.raises(SnapshotProviderError):
            provider.create(props)
    finally:
        emulator.configure(denied_actions=[])
        ec2_client.meta.events.unregister("after-call.ec2.CreateSnapshot", organisation_locks)
    assert len(emulator.calls("LockSnapshot")) == 1, "not the case this test is about (this resource locked it)"
    [left] = emulator.snapshots()
    created = provider.create(props)  # the next `up` adopts the leftover
    assert created.id == left["snapshot_id"], "not the case this test is about (no leftover adopted)"
    [lock] = other.describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert lock["LockCreatedOn"] < lock["LockDurationStartTime"], "not the case this test is about (set while pending)"
    provider.update(created.id, {**props, **created.outs}, snapshot_props(volume_id))  # `lock` taken out
    held = other.describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert [h["LockState"] for h in held] == ["governance"], "the organisation's lock, set while pending, was removed"
    assert created.outs["lock_owned"] is False


def _in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.xfail(
    strict=True,
    reason="RT29b-2: locks._changed_to takes any lock at the new target for this resource's own when the old lock "
    "was an expires_at one: another user's extension, matched later by the program, is then removed with `lock`",
)
def test_another_users_extension_of_a_dated_lock_stays_theirs_when_the_program_catches_up(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """This resource locks until day 30; another user (legal hold) extends it to day 90; the program is later set to
    day 90 too. The lock's end was reached by the other user's change, not this resource's (before rt29-locks:
    `same_lock` failed, the lock stayed theirs and `lock` taken out left it)."""
    mine, theirs = {"mode": "governance", "expires_at": _in(30)}, {"mode": "governance", "expires_at": _in(90)}
    created = provider.create(snapshot_props(volume_id, lock=mine))
    _ec2(emulator).lock_snapshot(SnapshotId=created.id, LockMode="governance", ExpirationDate=theirs["expires_at"])
    caught_up = provider.update(created.id, created.outs, snapshot_props(volume_id, lock=theirs)).outs
    provider.update(created.id, {**snapshot_props(volume_id, lock=theirs), **caught_up}, snapshot_props(volume_id))
    held = _ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert [h["LockState"] for h in held] == ["governance"], "the other user's extension was removed with `lock`"


def _shared_with(snapshot_id: str) -> list[str]:
    answer = boto3.client("ec2", region_name=REGION).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )
    return [p.get("UserId") or p.get("Group", "") for p in answer["CreateVolumePermissions"]]


OTHER_REGION, THIRD_REGION = "eu-west-1", "us-west-2"
BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"
TWO_TARGETS = [{"region": OTHER_REGION, "role_arn": BACKUP_ROLE}, {"region": THIRD_REGION, "role_arn": BACKUP_ROLE}]
SERIES_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
series_provider = SnapshotSeriesProvider()


class Series:
    """A series driven as the engine drives it (as tests/emulator/test_series_copies.py does)."""

    def __init__(self, **inputs: Any) -> None:
        self.inputs = _series_props(**inputs)
        created = series_provider.create(self.inputs)
        self.id: str = created.id
        self.outs: dict[str, Any] = created.outs

    def up(self, **changes: Any) -> dict[str, Any]:
        news = _series_props(**{**self.inputs, **changes})
        if series_provider.diff(self.id, self.outs, news).changes:
            self.outs = series_provider.update(self.id, self.outs, news).outs
        self.inputs = news
        return self.outs


def _series_props(**overrides: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"region": REGION, "tags": {"purpose": "test"}, "timeout": 30, "resource_urn": SERIES_URN}
    return SERIES_SCHEMA.stored({k: v for k, v in {**given, **overrides}.items() if v is not None})
