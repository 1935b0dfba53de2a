"""Red team 29b: the stop's fixes (rt29-stopped, rt29-shares, rt29-locks, inward) attacked as a user on production
AWS. Each test is a strict xfail until its finding is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from testbed import REGION, snapshot_props

provider = EbsSnapshotProvider()


def _ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


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
