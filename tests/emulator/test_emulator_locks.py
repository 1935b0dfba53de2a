"""The emulator's EBS snapshot lock (`emulator.locks`): LockSnapshot, UnlockSnapshot, DescribeLockedSnapshots and
DeleteSnapshot of a locked snapshot, as the EC2 API reference and the EBS user guide describe them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from emulator_helpers import NO_RETRIES, client, error_of

from emulator import Ec2Emulator

DAY, HOUR = 86400, 3600


@pytest.fixture
def snapshot_id(emulator: Ec2Emulator, volume_id: str) -> str:
    return str(client(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])


def lock_state(ec2: Any, snapshot_id: str) -> str:
    [info] = ec2.describe_locked_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return str(info["LockState"])


def test_a_governance_lock_refuses_delete_until_unlocked(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=30)
    assert error_of(lambda: ec2.delete_snapshot(SnapshotId=snapshot_id)) == ("InvalidSnapshot.Locked", 400)
    ec2.unlock_snapshot(SnapshotId=snapshot_id)
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    assert snapshot_id not in {s["snapshot_id"] for s in emulator.snapshots()}


def test_a_lock_expires_after_its_duration_and_the_snapshot_can_then_be_deleted(
    emulator: Ec2Emulator, snapshot_id: str
) -> None:
    ec2 = client(emulator)
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=2)
    assert lock_state(ec2, snapshot_id) == "compliance"
    emulator.advance_clock(2 * DAY)
    assert lock_state(ec2, snapshot_id) == "expired"
    ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_a_compliance_lock_can_be_unlocked_only_inside_its_cool_off_period(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    ec2 = client(emulator)
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=10, CoolOffPeriod=24)
    assert lock_state(ec2, snapshot_id) == "compliance-cooloff"
    ec2.unlock_snapshot(SnapshotId=snapshot_id)

    other = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.lock_snapshot(SnapshotId=other, LockMode="compliance", LockDuration=10, CoolOffPeriod=24)
    emulator.advance_clock(24 * HOUR)
    assert lock_state(ec2, other) == "compliance"
    assert error_of(lambda: ec2.unlock_snapshot(SnapshotId=other))[0] == "IncorrectState"
    assert error_of(lambda: ec2.delete_snapshot(SnapshotId=other))[0] == "InvalidSnapshot.Locked"


def test_a_compliance_lock_after_cool_off_can_only_be_extended(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=10)
    shorter = lambda: ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=5)  # noqa: E731
    assert error_of(shorter)[0] == "IncorrectState"
    to_governance = lambda: ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=20)  # noqa: E731
    assert error_of(to_governance)[0] == "IncorrectState"
    with_cool_off = lambda: ec2.lock_snapshot(  # noqa: E731
        SnapshotId=snapshot_id, LockMode="compliance", LockDuration=20, CoolOffPeriod=1
    )
    assert error_of(with_cool_off)[0] == "InvalidParameterCombination"
    longer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=20)
    assert (longer["LockState"], longer["LockDuration"]) == ("compliance", 20)


def test_a_governance_lock_can_be_shortened_and_turned_into_compliance(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    first = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=30)
    shorter = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=3)
    assert shorter["LockExpiresOn"] < first["LockExpiresOn"]
    moved = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=3, CoolOffPeriod=2)
    assert moved["LockState"] == "compliance-cooloff" and moved["CoolOffPeriod"] == 2


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"LockMode": "governance"}, "InvalidParameterCombination"),  # neither duration nor date
        ({"LockMode": "governance", "LockDuration": 3, "ExpirationDate": "2999-01-01T00:00:00Z"}, "InvalidParameter"),
        ({"LockMode": "governance", "LockDuration": 0}, "InvalidParameterValue"),
        ({"LockMode": "governance", "LockDuration": 36501}, "InvalidParameterValue"),
        ({"LockMode": "governance", "LockDuration": 3, "CoolOffPeriod": 2}, "InvalidParameterCombination"),
        ({"LockMode": "compliance", "LockDuration": 3, "CoolOffPeriod": 73}, "InvalidParameterValue"),
        ({"LockMode": "compliance", "ExpirationDate": "2001-01-01T00:00:00Z"}, "InvalidParameterValue"),
    ],
)
def test_lock_requests_ec2_refuses_are_refused(
    emulator: Ec2Emulator, snapshot_id: str, request_: dict[str, Any], code: str
) -> None:
    ec2 = client(emulator, NO_RETRIES.merge(Config(parameter_validation=False)))  # the emulator refuses, not botocore
    assert error_of(lambda: ec2.lock_snapshot(SnapshotId=snapshot_id, **request_))[0].startswith(code)
    assert ec2.describe_locked_snapshots()["Snapshots"] == []


def test_a_lock_with_an_expiration_date_ends_then(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", ExpirationDate=until)
    assert answer["LockExpiresOn"] == until and "LockDuration" not in answer


def test_a_pending_snapshots_lock_duration_starts_when_it_completes(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    emulator.configure(pending_seconds=3600)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
    started = answer["LockDurationStartTime"] - answer["LockCreatedOn"]
    assert timedelta(minutes=59) < started <= timedelta(hours=1, seconds=1)
    assert answer["LockExpiresOn"] - answer["LockDurationStartTime"] == timedelta(days=1)


def test_locked_snapshots_are_listed_by_lock_state(emulator: Ec2Emulator, volume_id: str, snapshot_id: str) -> None:
    ec2 = client(emulator)
    other = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.create_snapshot(VolumeId=volume_id)  # never locked: not listed
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
    ec2.lock_snapshot(SnapshotId=other, LockMode="compliance", LockDuration=1, CoolOffPeriod=1)

    def ids(state: str) -> set[str]:
        found = ec2.describe_locked_snapshots(Filters=[{"Name": "lock-state", "Values": [state]}])["Snapshots"]
        return {s["SnapshotId"] for s in found}

    assert (ids("governance"), ids("compliance-cooloff"), ids("expired")) == ({snapshot_id}, {other}, set())
    assert len(ec2.describe_locked_snapshots()["Snapshots"]) == 2


def test_unlocking_a_snapshot_that_is_not_locked_is_refused(emulator: Ec2Emulator, snapshot_id: str) -> None:
    assert error_of(lambda: client(emulator).unlock_snapshot(SnapshotId=snapshot_id))[0] == "IncorrectState"


def test_lock_and_unlock_are_recorded_as_mutating_calls(emulator: Ec2Emulator, snapshot_id: str) -> None:
    ec2 = client(emulator)
    ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
    ec2.unlock_snapshot(SnapshotId=snapshot_id)
    assert {c.action for c in emulator.mutating_calls()} >= {"LockSnapshot", "UnlockSnapshot"}
