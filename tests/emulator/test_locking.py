"""`lock` on the snapshot resources (`snapshot_provider.locking`): the input's rules and allowed changes, and
EbsSnapshotProvider locking, changing, unlocking and refusing to delete against the local EC2 emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
from snapshot_provider.core.lifecycle.existing import recorded_locks
from snapshot_provider.ec2 import clients, locks
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.ec2.locks import SnapshotLocked
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.process.engine_log import engine_log
from testbed import REGION, snapshot_props

provider = EbsSnapshotProvider()
GOVERNANCE = {"mode": "governance", "duration_days": 30}
COMPLIANCE = {"mode": "compliance", "duration_days": 30}


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


@contextlib.contextmanager
def said() -> Iterator[list[str]]:
    """The lines the provider sends next to the resource, while in the block."""
    lines: list[str] = []
    log = engine_log()
    with (
        mock.patch.object(log, "info", lambda _urn, line, **_: lines.append(line)),
        mock.patch.object(log, "warning", lambda _urn, line: lines.append(line)),
    ):
        yield lines


def lock_failures(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    return [f.reason for f in provider.check(olds, news).failures if f.property == "lock"]


@pytest.mark.parametrize(
    ("lock", "says"),
    [
        ({"mode": "forever", "duration_days": 3}, "mode must be"),
        ({"mode": "governance"}, "exactly one of duration_days or expires_at"),
        ({"mode": "governance", "duration_days": 3, "expires_at": "2999-01-01T00:00:00Z"}, "exactly one"),
        ({"mode": "governance", "duration_days": 0}, "1 to 36500"),
        ({"mode": "governance", "duration_days": 3, "cool_off_hours": 2}, "compliance mode only"),
        ({"mode": "compliance", "duration_days": 3, "cool_off_hours": 73}, "1 to 72"),
        ({"mode": "compliance", "expires_at": "2001-01-01T00:00:00Z"}, "in the past"),
        ({"mode": "compliance", "expires_at": "next tuesday"}, "ISO 8601"),
        ({"mode": "governance", "days": 3}, "unknown key 'days'"),
    ],
)
def test_check_refuses_a_lock_ec2_would_refuse(volume_id: str, lock: dict[str, Any], says: str) -> None:
    reasons = lock_failures({}, snapshot_props(volume_id, lock=lock))
    assert any(says in reason for reason in reasons), reasons


@pytest.mark.parametrize(
    ("new", "says"),
    [
        (None, "cannot be removed"),
        (GOVERNANCE, "cannot be turned into governance"),
        ({"mode": "compliance", "duration_days": 10}, "cannot be shortened"),
        ({"mode": "compliance", "duration_days": 40, "cool_off_hours": 2}, "cooling-off period"),
    ],
)
def test_preview_refuses_changing_a_compliance_lock_without_cool_off_except_to_extend_it(
    volume_id: str, new: dict[str, Any] | None, says: str
) -> None:
    olds = snapshot_props(volume_id, lock=COMPLIANCE)
    state = {**olds, "lock_state": "compliance", "lock_expires_at": _in(30)}
    assert says in preview_refusal(olds, state, snapshot_props(volume_id, lock=new))


def test_preview_lets_a_compliance_duration_lock_that_has_ended_be_taken_out(volume_id: str) -> None:
    """Check cannot tell when a duration lock ends; diff reads the end state recorded (refresh: `expired`)."""
    olds = snapshot_props(volume_id, lock=COMPLIANCE)
    state = {**olds, "lock_state": "expired", "lock_expires_at": _in(-1)}
    assert preview_refusal(olds, state, snapshot_props(volume_id)) == ""


def test_preview_allows_extending_a_compliance_lock_and_any_change_of_a_governance_lock(volume_id: str) -> None:
    longer = {"mode": "compliance", "duration_days": 60}
    assert lock_failures(snapshot_props(volume_id, lock=COMPLIANCE), snapshot_props(volume_id, lock=longer)) == []
    assert lock_failures(snapshot_props(volume_id, lock=GOVERNANCE), snapshot_props(volume_id)) == []


def test_create_locks_the_snapshot_once_completed_and_outputs_the_lock(emulator: Ec2Emulator, volume_id: str) -> None:
    outs = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    assert outs["lock_state"] == "governance" and outs["lock_expires_at"].endswith("Z")
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[outs["snapshot_id"]])["Snapshots"]
    assert info["LockDuration"] == 30


def test_a_snapshot_without_lock_is_never_locked_and_only_its_delete_reads_locks(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id)).outs
    assert not [c for c in emulator.calls() if "Lock" in c.action]
    provider.delete(outs["snapshot_id"], outs)
    assert {c.action for c in emulator.calls() if "Lock" in c.action} == {"DescribeLockedSnapshots"}


def test_delete_of_a_locked_snapshot_fails_naming_the_lock_and_deletes_nothing(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    with pytest.raises(SnapshotLocked, match=rf"{outs['snapshot_id']} is locked in governance mode until 20\d\d-") as e:
        provider.delete(outs["snapshot_id"], outs)
    assert "pulumi state delete <URN from pulumi stack --show-urns>" in str(e.value)  # the way out
    urn = snapshot_props(volume_id)["resource_urn"]
    with pytest.raises(SnapshotLocked, match=f"pulumi state delete '{urn}'"):  # given the URN (the plugin passes it)
        provider.delete(outs["snapshot_id"], {**outs, "resource_urn": urn})
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [outs["snapshot_id"]]
    assert not emulator.mutating_calls("DeleteSnapshot") and not emulator.calls("DeleteSnapshot")


def test_removing_a_governance_lock_unlocks_in_place_and_then_destroy_deletes(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id)).outs
    assert outs["lock_state"] is None
    provider.delete(outs["snapshot_id"], outs)
    assert emulator.snapshots() == []


def test_a_compliance_lock_past_its_cool_off_cannot_be_removed_and_says_so(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    with_cool_off = {"mode": "compliance", "duration_days": 30, "cool_off_hours": 1}
    olds = provider.create(snapshot_props(volume_id, lock=with_cool_off)).outs
    assert olds["lock_state"] == "compliance-cooloff"
    emulator.advance_clock(3600)
    with pytest.raises(SnapshotLocked, match="can no longer be removed"):
        provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id))
    assert not emulator.calls("UnlockSnapshot")


def test_a_governance_lock_is_extended_in_place(emulator: Ec2Emulator, volume_id: str) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    longer = {"mode": "governance", "duration_days": 90}
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id, lock=longer)).outs
    assert outs["lock_expires_at"] > olds["lock_expires_at"] and outs["snapshot_id"] == olds["snapshot_id"]


def test_describe_lock_names_the_mode_and_end() -> None:
    from datetime import UTC, datetime

    info = {"LockState": "compliance-cooloff", "LockExpiresOn": datetime(2030, 1, 31, tzinfo=UTC)}
    assert locks.describe_lock(info) == (
        "is locked in compliance mode (still in its cooling-off period) until 2030-01-31T00:00:00Z"
    )


def test_a_locked_instance_set_is_deleted_whole_or_not_at_all(emulator: Ec2Emulator) -> None:
    from snapshot_provider import InstanceSnapshotsProvider

    instance = emulator.seed_instance(data_volumes=1)
    sets = InstanceSnapshotsProvider()
    inputs = {
        "instance_id": instance["instance_id"],
        "region": REGION,
        "tags": {},
        "timeout": 30,
        "storage_tier": "standard",
        "exclude_boot_volume": False,
        "exclude_data_volume_ids": [],
        "lock": GOVERNANCE,
        "resource_urn": "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::s",
    }
    created = sets.create(inputs)
    assert {s["lock_state"] for s in created.outs["snapshots"]} == {"governance"}
    [first, _] = created.outs["snapshot_ids"].values()
    ec2(emulator).unlock_snapshot(SnapshotId=first)  # one member unlocked outside Pulumi: the other still is
    with pytest.raises(SnapshotLocked, match="Nothing was deleted"):
        sets.delete(str(created.id), created.outs)
    assert len(emulator.snapshots()) == 2


def test_whole_numbers_arriving_as_floats_from_the_engine_are_accepted(volume_id: str) -> None:
    lock = {"mode": "compliance", "duration_days": 30.0, "cool_off_hours": 2.0}
    assert lock_failures({}, snapshot_props(volume_id, lock=lock)) == []
    assert lock_failures({}, snapshot_props(volume_id, lock={"mode": "governance", "duration_days": 1.5})) != []


SET_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::rt-set"


def set_inputs(instance_id: str) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "region": REGION,
        "tags": {},
        "timeout": 30,
        "storage_tier": "standard",
        "exclude_boot_volume": False,
        "exclude_data_volume_ids": [],
        "resource_urn": SET_URN,
    }


def test_a_set_with_a_member_locked_outside_pulumi_is_deleted_whole_or_not_at_all(emulator: Ec2Emulator) -> None:
    # RT-LF4: state declares no lock; an admin or a backup policy locked the member the delete would reach last.
    sets = InstanceSnapshotsProvider()
    created = sets.create(set_inputs(emulator.seed_instance(data_volumes=1)["instance_id"]))
    ids = list(created.outs["snapshot_ids"].values())
    ec2(emulator).lock_snapshot(SnapshotId=ids[-1], LockMode="governance", LockDuration=30)
    with pytest.raises(
        SnapshotLocked,
        match=rf"{ids[-1]} is locked in governance mode until 20\d\d-.*Nothing was.*outside.*"
        rf"aws ec2 unlock-snapshot --snapshot-id {ids[-1]}",
    ):
        sets.delete(str(created.id), created.outs)
    assert len(emulator.snapshots()) == 2, "part of the set was deleted before the locked member stopped the delete"


def test_a_delete_that_cannot_read_locks_says_so_and_goes_on_when_state_declares_no_lock(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id)).outs
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    provider.delete(outs["snapshot_id"], outs)
    assert emulator.snapshots() == []


def test_a_delete_that_cannot_read_locks_is_refused_when_state_declares_a_lock(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    ec2(emulator).unlock_snapshot(SnapshotId=outs["snapshot_id"])
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    with pytest.raises(SnapshotProviderError, match="DescribeLockedSnapshots"):
        provider.delete(outs["snapshot_id"], outs)
    assert len(emulator.snapshots()) == 1


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def preview_refusal(olds: dict[str, Any], state: dict[str, Any], news: dict[str, Any]) -> str:
    """What a preview (check with the old inputs, then diff with state) says against the lock change; '' if nothing."""
    reasons = lock_failures(olds, news)
    if reasons:
        return "; ".join(reasons)
    try:
        provider.diff("snap-0123456789abcdef0", state, provider.check(olds, news).inputs)
    except SnapshotProviderError as error:
        return str(error)
    return ""


def test_preview_refuses_shortening_a_compliance_lock_by_switching_to_expires_at(volume_id: str) -> None:
    # RT-LF5: the lock's end in days counts from its start; state records it (lock_expires_at).
    olds = snapshot_props(volume_id, lock={"mode": "compliance", "duration_days": 3650})
    state = {**olds, "lock_state": "compliance", "lock_expires_at": _in(3600)}
    news = snapshot_props(volume_id, lock={"mode": "compliance", "expires_at": _in(2)})
    assert "shortened" in preview_refusal(olds, state, news)


@pytest.mark.parametrize(
    ("old", "recorded_end", "new", "shortened"),
    [
        ({"mode": "compliance", "duration_days": 3650}, 3600, {"mode": "compliance", "expires_at": _in(3601)}, False),
        ({"mode": "compliance", "expires_at": _in(100)}, 100, {"mode": "compliance", "duration_days": 10}, True),
        ({"mode": "compliance", "expires_at": _in(100)}, 100, {"mode": "compliance", "duration_days": 200}, False),
        ({"mode": "compliance", "duration_days": 30}, 5, {"mode": "compliance", "expires_at": _in(10)}, False),
        ({"mode": "governance", "duration_days": 3650}, 3600, {"mode": "governance", "expires_at": _in(2)}, False),
    ],
)
def test_preview_compares_the_ends_of_the_old_and_new_lock_in_both_forms(
    volume_id: str, old: dict[str, Any], recorded_end: float, new: dict[str, Any], shortened: bool
) -> None:
    olds = snapshot_props(volume_id, lock=old)
    state = {**olds, "lock_state": old["mode"], "lock_expires_at": _in(recorded_end)}
    assert ("shortened" in preview_refusal(olds, state, snapshot_props(volume_id, lock=new))) is shortened


def test_up_refuses_shortening_a_compliance_lock_in_either_form_before_any_call(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id, lock={"mode": "compliance", "duration_days": 30})).outs
    for shorter in ({"mode": "compliance", "expires_at": _in(2)}, {"mode": "compliance", "duration_days": 2}):
        with pytest.raises(SnapshotLocked, match="only be extended"):
            locks.change(ec2(emulator), [outs["snapshot_id"]], outs["lock"], shorter, recorded_locks(outs))
    assert len(emulator.calls("LockSnapshot")) == 1  # the create's only


def test_up_refuses_shortening_a_compliance_lock_from_expires_at_to_duration_days(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    outs = provider.create(snapshot_props(volume_id, lock={"mode": "compliance", "expires_at": _in(100)})).outs
    recorded = recorded_locks(outs)
    with pytest.raises(SnapshotLocked, match="only be extended"):
        locks.change(
            ec2(emulator), [outs["snapshot_id"]], outs["lock"], {"mode": "compliance", "duration_days": 10}, recorded
        )
    locks.change(
        ec2(emulator), [outs["snapshot_id"]], outs["lock"], {"mode": "compliance", "duration_days": 200}, recorded
    )
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[outs["snapshot_id"]])["Snapshots"]
    assert info["LockDuration"] == 200


# --- a lock that has ended (RT-2-1, RT-2-2) ---------------------------------------------------------------------------
def test_an_unchanged_lock_that_has_ended_lets_an_update_go_through(emulator: Ec2Emulator, volume_id: str) -> None:
    ended = {"mode": "compliance", "expires_at": _in(-1)}
    outs = provider.create(snapshot_props(volume_id)).outs
    olds = {**outs, "lock": ended}
    news = snapshot_props(volume_id, lock=ended, tags={"team": "data"})
    assert lock_failures(olds, news) == []
    provider.update(outs["snapshot_id"], olds, news)
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"]["team"] == "data"
    assert not emulator.calls("LockSnapshot")


def test_a_replace_with_a_lock_that_has_ended_is_refused_before_anything_is_taken(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """`check` lets an unchanged ended lock through; a replace with it would take a snapshot EC2 cannot lock."""
    with pytest.raises(SnapshotProviderError, match="Nothing was taken"):
        provider.create(snapshot_props(volume_id, lock={"mode": "governance", "expires_at": _in(-1)}))
    assert emulator.snapshots() == []


def test_taking_out_a_compliance_lock_that_has_ended_makes_no_call_and_destroy_deletes(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock={"mode": "compliance", "expires_at": _in(2)})).outs
    assert olds["lock_state"] == "compliance"
    emulator.advance_clock(3 * 86400)  # EC2: LockState `expired`, "not locked and can be deleted"
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id)).outs
    assert not emulator.calls("UnlockSnapshot")
    provider.delete(outs["snapshot_id"], outs)
    assert emulator.snapshots() == []


# --- an imported snapshot (RT-2-8) ------------------------------------------------------------------------------------
def test_an_imported_snapshot_with_a_governance_lock_gets_the_declared_lock(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    existing = str(ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])
    ec2(emulator).lock_snapshot(SnapshotId=existing, LockMode="governance", LockDuration=5)
    outs = provider.create(snapshot_props(volume_id, import_snapshot_id=existing, lock=COMPLIANCE)).outs
    assert outs["lock_state"] == "compliance"
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[existing])["Snapshots"]
    assert info["LockDuration"] == 30


@pytest.mark.parametrize(
    ("mode", "days", "declared"),
    [
        ("compliance", 90, COMPLIANCE),  # ends later
        ("governance", 90, GOVERNANCE),  # ends later: a governance lock is the user's all the same
        ("compliance", 10, GOVERNANCE),  # ends earlier, but compliance is not given up for governance
    ],
)
def test_importing_a_snapshot_keeps_a_lock_the_declared_one_would_shorten_or_weaken_and_says_so(
    emulator: Ec2Emulator, volume_id: str, mode: str, days: int, declared: dict[str, Any]
) -> None:
    existing = str(ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])
    ec2(emulator).lock_snapshot(SnapshotId=existing, LockMode=mode, LockDuration=days)
    [before] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[existing])["Snapshots"]
    with said() as lines:
        outs = provider.create(snapshot_props(volume_id, import_snapshot_id=existing, lock=declared)).outs
    assert len(emulator.calls("LockSnapshot")) == 1  # the user's own
    [after] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[existing])["Snapshots"]
    assert (after["LockState"], after["LockExpiresOn"]) == (before["LockState"], before["LockExpiresOn"])
    assert outs["lock_state"] == mode and outs["lock_expires_at"] == locks.iso(before["LockExpiresOn"])
    assert outs["lock_owned"] is False
    assert any(f"kept the lock snapshot {existing} already holds" in line for line in lines), lines


def test_importing_a_snapshot_extends_a_shorter_lock_it_holds_and_still_never_removes_it(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    existing = str(ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])
    ec2(emulator).lock_snapshot(SnapshotId=existing, LockMode="governance", LockDuration=5)
    outs = provider.create(snapshot_props(volume_id, import_snapshot_id=existing, lock=GOVERNANCE)).outs
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[existing])["Snapshots"]
    assert info["LockDuration"] == 30 and outs["lock_owned"] is False
    with said() as lines:
        after = provider.update(existing, outs, snapshot_props(volume_id, import_snapshot_id=existing)).outs
    assert not emulator.calls("UnlockSnapshot")
    assert after["lock_state"] == "governance" and any("left the lock of snapshot" in line for line in lines)


def test_an_imported_snapshot_without_a_lock_gets_the_declared_one_as_its_own(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    existing = str(ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"])
    outs = provider.create(snapshot_props(volume_id, import_snapshot_id=existing, lock=GOVERNANCE)).outs
    assert outs["lock_owned"] is True
    provider.update(existing, outs, snapshot_props(volume_id, import_snapshot_id=existing))
    assert len(emulator.calls("UnlockSnapshot")) == 1


# --- only this resource's own lock is removed or shortened (red team, lock owner) -------------------------------------
def test_removing_lock_leaves_a_lock_another_user_extended_and_says_so(emulator: Ec2Emulator, volume_id: str) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    assert olds["lock_owned"] is True
    ec2(emulator).lock_snapshot(SnapshotId=olds["snapshot_id"], LockMode="governance", LockDuration=60)
    with said() as lines:
        outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id)).outs
    assert not emulator.calls("UnlockSnapshot")
    assert outs["lock_state"] == "governance" and outs["lock_owned"] is False
    assert any(f"left the lock of snapshot {olds['snapshot_id']}" in line for line in lines), lines
    with pytest.raises(SnapshotLocked, match="is locked in governance mode"):
        provider.delete(outs["snapshot_id"], outs)


def test_removing_lock_leaves_a_lock_another_user_turned_into_compliance(emulator: Ec2Emulator, volume_id: str) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[olds["snapshot_id"]])["Snapshots"]
    ec2(emulator).lock_snapshot(
        SnapshotId=olds["snapshot_id"], LockMode="compliance", ExpirationDate=info["LockExpiresOn"], CoolOffPeriod=2
    )
    outs = provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id)).outs
    assert not emulator.calls("UnlockSnapshot") and outs["lock_state"] == "compliance-cooloff"


def test_shortening_a_governance_lock_someone_else_extended_is_refused_naming_it(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    ec2(emulator).lock_snapshot(SnapshotId=olds["snapshot_id"], LockMode="governance", LockDuration=60)
    shorter = {"mode": "governance", "duration_days": 10}
    with pytest.raises(SnapshotLocked, match=r"did not set .* whoever set it can change it"):
        provider.update(olds["snapshot_id"], olds, snapshot_props(volume_id, lock=shorter))
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[olds["snapshot_id"]])["Snapshots"]
    assert info["LockDuration"] == 60 and len(emulator.calls("LockSnapshot")) == 2


def test_shortening_this_resources_own_governance_lock_still_goes_through(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    read = provider.read(olds["snapshot_id"], olds).outs  # a refresh keeps it this resource's
    assert read["lock_owned"] is True
    outs = provider.update(
        olds["snapshot_id"], read, snapshot_props(volume_id, lock={**GOVERNANCE, "duration_days": 5})
    ).outs
    assert outs["lock_owned"] is True and outs["lock_expires_at"] < olds["lock_expires_at"]


def test_a_refresh_after_another_user_extended_the_lock_records_it_as_not_this_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    ec2(emulator).lock_snapshot(SnapshotId=olds["snapshot_id"], LockMode="governance", LockDuration=60)
    read = provider.read(olds["snapshot_id"], olds).outs
    assert read["lock_owned"] is False
    provider.update(olds["snapshot_id"], read, snapshot_props(volume_id))  # the refreshed state is not taken as ours
    assert not emulator.calls("UnlockSnapshot")


def test_the_preview_of_removing_lock_says_it_unlocks_only_the_lock_this_resource_set(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    olds = provider.create(snapshot_props(volume_id, lock=GOVERNANCE)).outs
    emulator.clear_calls()
    with said() as lines:
        assert provider.diff(olds["snapshot_id"], olds, snapshot_props(volume_id)).changes
    assert any(
        f"removing `lock` unlocks {olds['snapshot_id']} only if each still holds the lock this resource set" in line
        and olds["lock_expires_at"] in line
        for line in lines
    ), lines
    assert not emulator.calls()  # from state alone: said without credentials
    kept = {**olds, "lock_owned": False}  # an imported snapshot's own lock, kept
    with said() as lines:
        provider.diff(olds["snapshot_id"], kept, snapshot_props(volume_id))
    assert any("holds a lock this resource did not set" in line and "leaves it as it is" in line for line in lines)
    with said() as lines:
        provider.diff(olds["snapshot_id"], kept, snapshot_props(volume_id, lock={**GOVERNANCE, "duration_days": 5}))
    assert any("the change is refused if it would end it earlier or make it governance" in line for line in lines)
    with said() as lines:  # extending says nothing
        provider.diff(olds["snapshot_id"], olds, snapshot_props(volume_id, lock={**GOVERNANCE, "duration_days": 90}))
    assert lines == []


def test_a_set_removes_its_own_member_locks_and_leaves_one_another_user_extended(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    sets = InstanceSnapshotsProvider()
    inputs = {**set_inputs(instance["instance_id"]), "lock": GOVERNANCE}
    created = sets.create(inputs)
    first, second = created.outs["snapshot_ids"].values()
    ec2(emulator).lock_snapshot(SnapshotId=first, LockMode="governance", LockDuration=90)
    outs = sets.update(str(created.id), created.outs, {**inputs, "lock": None}).outs
    assert [c.params.get("SnapshotId") for c in emulator.calls("UnlockSnapshot")] == [second]
    states = {s["snapshot_id"]: (s["lock_state"], s["lock_owned"]) for s in outs["snapshots"]}
    assert states == {first: ("governance", False), second: (None, False)}


# --- a set's lock change that failed part way (RT-2-12) ---------------------------------------------------------------
def test_a_set_lock_change_that_failed_part_way_is_finished_by_the_next_up(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    sets = InstanceSnapshotsProvider()
    inputs = {**set_inputs(instance["instance_id"]), "lock": GOVERNANCE}
    created = sets.create(inputs)
    first, second = created.outs["snapshot_ids"].values()
    compliance = {**inputs, "lock": {"mode": "compliance", "duration_days": 3650}}
    # The part done: the run marked both with the lock it asked for (before any LockSnapshot), then locked the first.
    asked = {"Key": locks.REQUEST_TAG, "Value": locks.request_digest(compliance["lock"])}
    ec2(emulator).create_tags(Resources=[first, second], Tags=[asked])
    ec2(emulator).lock_snapshot(SnapshotId=first, LockMode="compliance", LockDuration=3650)
    before = len(emulator.calls("LockSnapshot"))
    outs = sets.update(str(created.id), created.outs, compliance).outs  # the next `up`: state still says governance
    assert {s["lock_state"] for s in outs["snapshots"]} == {"compliance"}
    assert [c.params.get("SnapshotId") for c in emulator.calls("LockSnapshot")[before:]] == [second]
    assert [s["lock_owned"] for s in outs["snapshots"]] == [True, True]  # the part done is this resource's (RT29-1)


@pytest.mark.parametrize(
    ("info", "new", "skipped"),
    [
        ({"LockState": "compliance", "LockDuration": 30}, COMPLIANCE, True),
        ({"LockState": "governance", "LockDuration": 30}, COMPLIANCE, False),
        ({"LockState": "compliance", "LockDuration": 20}, COMPLIANCE, False),
        # Still removable in its cooling-off period: not yet the compliance lock asked for.
        ({"LockState": "compliance-cooloff", "LockDuration": 30, "CoolOffPeriod": 2}, COMPLIANCE, False),
        ({"LockState": "compliance", "LockDuration": 30}, {**COMPLIANCE, "cool_off_hours": 2}, True),
        ({"LockState": "expired", "LockDuration": 30}, COMPLIANCE, False),
    ],
)
def test_a_member_is_skipped_only_when_its_lock_is_already_the_new_one(
    info: dict[str, Any], new: dict[str, Any], skipped: bool
) -> None:
    assert locks.at_target(info, new) is skipped


# --- a lock someone else set while the snapshot was pending (RT29-7) --------------------------------------------------
def _others_lock_first(props: dict[str, Any], lock: dict[str, Any]) -> tuple[Any, Any]:
    """Another's automation (an organisation's rule on CreateSnapshot) locks each new snapshot right after it was
    requested, while it is pending; the provider locks it only once it completed."""
    ec2_client = clients.client(AccountSelection.from_props(props), single_attempt=True)  # CreateSnapshot's
    other = boto3.client("ec2", region_name=REGION, endpoint_url=ec2_client.meta.endpoint_url)

    def other_locks(parsed: dict[str, Any], **_: Any) -> None:
        [snapshot] = other.describe_snapshots(SnapshotIds=[parsed["SnapshotId"]])["Snapshots"]
        assert snapshot["State"] == "pending", "not the case this test is about"
        other.lock_snapshot(SnapshotId=parsed["SnapshotId"], **lock)

    ec2_client.meta.events.register("after-call.ec2.CreateSnapshot", other_locks)
    return ec2_client, other_locks


def _create_after_another_locked(emulator: Ec2Emulator, props: dict[str, Any], lock: dict[str, Any]) -> Any:
    emulator.configure(pending_seconds=0.5)
    ec2_client, hook = _others_lock_first(props, lock)
    try:
        return provider.create(props)
    finally:
        ec2_client.meta.events.unregister("after-call.ec2.CreateSnapshot", hook)


def test_a_lock_set_by_someone_else_while_the_snapshot_was_pending_is_not_shortened(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """EC2 lets a pending snapshot be locked (EBS user guide, "Lock snapshots")."""
    props = snapshot_props(volume_id, lock={"mode": "governance", "duration_days": 7})
    with said() as lines:
        created = _create_after_another_locked(emulator, props, {"LockMode": "governance", "LockDuration": 365})
    [lock] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert lock["LockDuration"] == 365, f"the other's 365-day lock was shortened to {lock['LockDuration']} days"
    assert created.outs["lock_owned"] is False
    assert any(f"kept the lock snapshot {created.id} already holds" in line for line in lines), lines


def test_a_shorter_lock_set_by_someone_else_while_pending_is_extended_and_stays_theirs(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    props = snapshot_props(volume_id, lock=GOVERNANCE)
    with said() as lines:
        created = _create_after_another_locked(emulator, props, {"LockMode": "governance", "LockDuration": 3})
    [lock] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert lock["LockDuration"] == 30 and created.outs["lock_owned"] is False
    assert any(f"extended the lock snapshot {created.id} already held" in line for line in lines), lines
    provider.update(created.id, {**props, **created.outs}, snapshot_props(volume_id))  # `lock` taken out
    assert not emulator.calls("UnlockSnapshot")


def test_an_organisations_lock_set_while_pending_on_a_leftover_is_never_taken_for_this_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """An organisation locks each new snapshot while pending, as the program declares; the first run is cut short
    after the snapshot completed, before its hand-over locked anything (a run killed during the wait leaves the
    same leftover). The next `up` adopts the leftover: its lock was set while pending (before its duration started),
    never by this resource's hand-over, so taking `lock` out leaves it."""
    emulator.configure(pending_seconds=2)  # the emulator answers times to the second, as moto writes EC2's
    props = snapshot_props(volume_id, lock=GOVERNANCE)
    ec2_client, hook = _others_lock_first(props, {"LockMode": "governance", "LockDuration": 30})
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    try:
        with pytest.raises(SnapshotProviderError):
            provider.create(props)
    finally:
        emulator.configure(denied_actions=[])
        ec2_client.meta.events.unregister("after-call.ec2.CreateSnapshot", hook)
    assert len(emulator.calls("LockSnapshot")) == 1, "not the case this test is about (this resource locked it)"
    [left] = emulator.snapshots()
    created = provider.create(props)  # the next `up` adopts the leftover
    assert created.id == left["snapshot_id"], "not the case this test is about (no leftover adopted)"
    [lock] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert lock["LockCreatedOn"] < lock["LockDurationStartTime"], "not the case this test is about (set while pending)"
    assert created.outs["lock_owned"] is False
    provider.update(created.id, {**props, **created.outs}, snapshot_props(volume_id))  # `lock` taken out
    held = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert [h["LockState"] for h in held] == ["governance"], "the organisation's lock, set while pending, was removed"


# --- this resource's own lock after an update that failed after LockSnapshot (RT29-1) ---------------------------------
GOVERNANCE_60 = {"mode": "governance", "duration_days": 60}


def _extended_by_an_update_that_failed_after_locking(emulator: Ec2Emulator, volume_id: str) -> tuple[Any, dict]:
    """Create with a 30-day governance lock; an update to 60 days (and a tag taken out) whose DeleteTags fails after
    its LockSnapshot went through (a throttled call, a denied tag, a run killed between the two calls): state keeps
    the old outputs, EC2 holds the 60-day lock this resource set."""
    created = provider.create(snapshot_props(volume_id, lock=GOVERNANCE, tags={"purpose": "test", "ticket": "OPS-1"}))
    news = snapshot_props(volume_id, lock=GOVERNANCE_60, tags={"purpose": "test"})
    emulator.configure(denied_actions=["DeleteTags"])
    try:
        with pytest.raises(SnapshotProviderError):
            provider.update(created.id, created.outs, news)
    finally:
        emulator.configure(denied_actions=[])
    [lock] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert lock["LockDuration"] == 60, f"the lock was not extended: not the case this test is about ({lock})"
    return created, news


def test_the_retry_of_an_update_that_failed_after_extending_the_lock_keeps_the_lock_its_own(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    created, news = _extended_by_an_update_that_failed_after_locking(emulator, volume_id)
    retried = provider.update(created.id, created.outs, news)  # the next `up`, state unchanged
    assert retried.outs["lock_owned"] is True, "the lock this resource set is now recorded as someone else's"


def test_taking_lock_out_after_that_retry_unlocks_the_snapshot_and_destroy_deletes_it(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    created, news = _extended_by_an_update_that_failed_after_locking(emulator, volume_id)
    retried = provider.update(created.id, created.outs, news)
    unlocked = snapshot_props(volume_id, tags=news["tags"])
    provider.update(created.id, {**news, **retried.outs}, unlocked)
    held = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert [lock["LockState"] for lock in held] in ([], ["expired"])
    provider.delete(created.id, {**unlocked, **retried.outs})  # destroy goes through
    assert emulator.snapshots() == []


def test_a_lock_unlocked_and_set_again_by_someone_else_as_asked_is_not_taken_for_this_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """The retry's lock is this resource's only if reached by a change: a duration lock keeps its start through one
    (LockDurationStartTime); one removed and set again starts anew."""
    created = provider.create(snapshot_props(volume_id, lock=GOVERNANCE))
    emulator.advance_clock(86400)
    ec2(emulator).unlock_snapshot(SnapshotId=created.id)
    ec2(emulator).lock_snapshot(SnapshotId=created.id, LockMode="governance", LockDuration=60)
    outs = provider.update(created.id, created.outs, snapshot_props(volume_id, lock=GOVERNANCE_60)).outs
    assert outs["lock_owned"] is False


def test_another_users_extension_of_a_dated_lock_stays_theirs_when_the_program_catches_up(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """This resource locks until day 30; another user (legal hold) extends it to day 90; the program is later set to
    day 90 too. The lock's end was reached by the other user's change, not this resource's (RT29b-2: the snapshot's
    `pulumi-snapshot:lock-request` tag names no request of this resource for day 90)."""
    mine, theirs = {"mode": "governance", "expires_at": _in(30)}, {"mode": "governance", "expires_at": _in(90)}
    created = provider.create(snapshot_props(volume_id, lock=mine))
    ec2(emulator).lock_snapshot(SnapshotId=created.id, LockMode="governance", ExpirationDate=theirs["expires_at"])
    caught_up = provider.update(created.id, created.outs, snapshot_props(volume_id, lock=theirs)).outs
    provider.update(created.id, {**snapshot_props(volume_id, lock=theirs), **caught_up}, snapshot_props(volume_id))
    held = ec2(emulator).describe_locked_snapshots(SnapshotIds=[created.id])["Snapshots"]
    assert [h["LockState"] for h in held] == ["governance"], "the other user's extension was removed with `lock`"


# --- a replace under an unchanged lock that has ended (RT29-5) --------------------------------------------------------
def test_a_replace_under_an_unchanged_lock_that_has_ended_is_refused_at_preview_naming_the_fix(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """EC2 API reference, LockSnapshot: ExpirationDate must be in the future, so the replacement cannot take it."""
    ended = {"mode": "governance", "expires_at": _in(-1)}  # set months ago, unchanged since
    olds = snapshot_props(volume_id, lock=ended, triggers={"release": "1"})
    news = snapshot_props(volume_id, lock=ended, triggers={"release": "2"})
    assert provider.diff("snap-0", olds, news).replaces == ["triggers"], "not the case this test is about"
    [reason] = lock_failures(olds, news)
    assert "in the past" in reason and "replaces the snapshot (triggers)" in reason, reason
    assert "duration_days" in reason and "take `lock` out" in reason, reason
    assert lock_failures(olds, {**news, "triggers": {"release": "1"}}) == []  # no replace: the ended lock is fine


def test_a_leftover_its_cut_short_hand_over_locked_is_adopted_with_the_lock_as_this_resources(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """A create whose hand-over locked the snapshot, then failed marking it recorded: the next `up` adopts it, and
    the lock exactly as declared is the one that create set."""
    props = snapshot_props(volume_id, lock=GOVERNANCE)
    emulator.configure(denied_actions=["CreateTags"], tagging_allowed_at_creation=True)
    try:
        with pytest.raises(SnapshotProviderError):
            provider.create(props)
    finally:
        emulator.configure(denied_actions=[])
    assert len(emulator.calls("LockSnapshot")) == 1, "not the case this test is about"
    created = provider.create(props)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]
    assert created.outs["lock_owned"] is True
