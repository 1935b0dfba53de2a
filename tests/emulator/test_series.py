"""SnapshotSeries' provider against the emulator: takes on a new trigger, prunes by the plan, touches only its own
snapshots, keeps what AMIs use, deletes its own on destroy, and previews what the next `up` would do."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest
from lifecycle_harness import model_pace, strict_world, urn
from pulumi.dynamic import DiffResult
from pulumi.dynamic.dynamic import serialize_provider
from series_helpers import (
    age,
    all_snapshot_ids,
    ec2,
    register_ami_using,
    series_snapshots,
)

from emulator import Ec2Emulator
from snapshot_provider import SnapshotSeriesProvider
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, SERIES_TAG, resource_token
from snapshot_provider.core.series.survey import POINT_TAG, RECYCLE_BIN_MAX_DAYS, pruned_in
from snapshot_provider.ec2.errors import SnapshotInUse, SnapshotProviderError, SnapshotTimedOut
from snapshot_provider.ec2.locks import SnapshotLocked
from snapshot_provider.inputs.series import SCHEMA, failures
from snapshot_provider.volume_removal import VolumeRemovalProvider
from testbed import REGION, StrictEc2

URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
provider = SnapshotSeriesProvider()


def props(**overrides: Any) -> dict[str, Any]:
    """Inputs as the engine hands them to the provider after check."""
    given: dict[str, Any] = {
        "region": REGION,
        "tags": {"purpose": "test"},
        "timeout": 30,
        "resource_urn": URN,
        **overrides,
    }
    return SCHEMA.stored({k: v for k, v in given.items() if v is not None})


def mutating(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]


class Said:
    """What the provider said through the engine (outside the provider host that is `logging`: `<urn>: <line>`)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "snapshot_provider.progress"]

    def text(self) -> str:
        return "\n".join(self.lines())

    def clear(self) -> None:
        self.caplog.clear()


@pytest.fixture
def said(caplog: pytest.LogCaptureFixture) -> Said:
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    return Said(caplog)


class Series:
    """A series driven like the engine drives it: create, then updates with the previous outputs as olds."""

    def __init__(self, **inputs: Any) -> None:
        self.inputs = props(**inputs)
        created = provider.create(self.inputs)
        self.id: str = created.id
        self.outs: dict[str, Any] = created.outs

    def up(self, **changes: Any) -> dict[str, Any]:
        news = props(**{**self.inputs, **changes})
        self.outs = provider.update(self.id, self.outs, news).outs
        self.inputs = news
        return self.outs

    def diff(self, **changes: Any) -> DiffResult:
        return provider.diff(self.id, self.outs, props(**{**self.inputs, **changes}))

    def kept(self) -> list[str]:
        return [s["snapshot_id"] for s in self.outs["snapshots"]]

    def ids(self, emulator: Ec2Emulator) -> list[str]:
        return [s["SnapshotId"] for s in series_snapshots(emulator, self.id)]

    def pass_days(self, emulator: Ec2Emulator, days: float = 1) -> None:
        age(emulator, self.ids(emulator), days)


# --- create and trigger --------------------------------------------------------------------------------------------
def test_create_takes_the_first_snapshot_tagged_as_the_series(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="2026-03-01", keep_last=3)

    [snapshot] = series_snapshots(emulator, series.id)
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert series.id.startswith("series-")
    assert tags[SERIES_TAG] == series.id and tags[ATTEMPT_TAG] == RECORDED
    assert tags[POINT_TAG].startswith("point-") and tags[RESOURCE_TAG] == resource_token(URN)
    # Tagged as the series' by the request itself: a take that never finishes still names its series.
    [request] = emulator.calls("CreateSnapshot")
    assert SERIES_TAG in request.params.values() and series.id in request.params.values()
    assert tags["purpose"] == "test"
    assert series.outs["snapshot_id"] == snapshot["SnapshotId"]
    assert series.outs["snapshot_ids"] == {volume_id: snapshot["SnapshotId"]}
    assert series.outs["wait_time"] >= 0
    assert series.outs["series_tag"] == {"key": SERIES_TAG, "value": series.id}
    [entry] = series.outs["snapshots"]
    assert (entry["tier"], entry["size_gib"], entry["state"]) == ("standard", 8, "completed")
    assert (series.outs["archived"], series.outs["deleted"]) == ([], [])


def test_a_new_trigger_takes_a_snapshot_in_place_and_prunes_by_keep_last(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=2)
    first = series.outs["snapshot_id"]
    series.up(trigger="d2")
    second = series.outs["snapshot_id"]
    assert series.kept() == [second, first] and series.outs["deleted"] == []

    emulator.clear_calls()
    series.up(trigger="d3")

    third = series.outs["snapshot_id"]
    assert series.kept() == [third, second]
    assert series.outs["deleted"] == [first]
    assert series.ids(emulator) == [second, third]
    assert f"nightly: deleted {first}: 3rd newest, beyond keep_last=2" in said.text()
    # the new snapshot is completed and recorded before anything older is deleted
    assert mutating(emulator) == ["CreateSnapshot", "CreateTags", "DeleteSnapshot"]


def test_an_unchanged_trigger_takes_nothing_and_a_policy_change_only_prunes(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    series.up(trigger="d2")
    series.up(trigger="d3")
    assert series.diff().changes is False

    emulator.clear_calls()
    series.up(keep_last=1)

    assert emulator.calls("CreateSnapshot") == []
    assert len(series.outs["deleted"]) == 2 and len(series.kept()) == 1


def test_archive_after_days_archives_and_reports_size_per_tier(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", archive_after_days=2)
    first = series.outs["snapshot_id"]
    series.pass_days(emulator, 2)

    series.up(trigger="d2")

    assert series.outs["archived"] == [first]
    tiers = {s["snapshot_id"]: s["tier"] for s in series.outs["snapshots"]}
    assert tiers == {first: "archive", series.outs["snapshot_id"]: "standard"}
    assert series.outs["size_gib"] == {"standard": 8, "archive": 8}
    assert series.outs["full_size_gib"] == {"standard": None, "archive": None}  # moto does not report it


def test_a_source_change_takes_a_snapshot_of_the_new_volume_and_keeps_the_history(emulator: Ec2Emulator) -> None:
    old_volume, new_volume = emulator.seed_volumes(2)
    series = Series(volume_id=old_volume, trigger="d1", keep_last=5)
    assert series.diff(volume_id=new_volume).replaces == []

    series.up(volume_id=new_volume)

    assert [s["volume_id"] for s in series.outs["snapshots"]] == [new_volume, old_volume]


def test_tag_change_updates_every_kept_snapshot_in_place(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", tags={"owner": "a", "drop": "x"})
    series.up(trigger="d2")
    series.up(tags={"owner": "b"})
    for snapshot in series_snapshots(emulator, series.id):
        tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
        assert tags["owner"] == "b" and "drop" not in tags and tags[SERIES_TAG] == series.id


# --- only its own ---------------------------------------------------------------------------------------------------
def test_only_snapshots_tagged_with_its_own_id_are_pruned(emulator: Ec2Emulator, volume_id: str) -> None:
    outside = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    # A series of the same URN created before (kept by retain_on_delete): same resource tag, other series id.
    retained = Series(volume_id=volume_id, trigger="d0")
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, max_age_days=1)
    age(emulator, [outside, retained.outs["snapshot_id"]], 30)

    series.up(trigger="d2")
    series.pass_days(emulator, 5)
    series.up(trigger="d3")

    assert {outside, retained.outs["snapshot_id"]} < all_snapshot_ids(emulator)
    assert series.ids(emulator) == [series.outs["snapshot_id"]]


def test_a_leftover_of_an_interrupted_take_is_adopted_by_the_next_trigger(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    tags = {RESOURCE_TAG: resource_token(URN), ATTEMPT_TAG: "0123456789abcdef", "purpose": "test"}
    left = ec2(emulator).create_snapshot(
        VolumeId=volume_id,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["SnapshotId"]
    emulator.clear_calls()

    series.up(trigger="d2")

    assert emulator.calls("CreateSnapshot") == []
    assert series.outs["snapshot_id"] == left
    assert len(series.kept()) == 2


def test_a_take_that_timed_out_goes_once_the_next_trigger_took_a_new_one(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=3)
    emulator.configure(pending_seconds=30)
    with pytest.raises(SnapshotTimedOut):
        series.up(trigger="d2", timeout=1)  # the nightly take times out: the update fails, state stays as it was
    [timed_out] = [s for s in all_snapshot_ids(emulator) if s not in series.kept()]
    emulator.configure(pending_seconds=0)
    age(emulator, [timed_out], 2)  # the next night: older than the timeout plus an hour, it cannot be adopted
    emulator.clear_calls()

    series.up(trigger="d3")

    newest = series.outs["snapshot_id"]
    assert timed_out not in all_snapshot_ids(emulator) and newest != timed_out
    assert set(series.kept()) == all_snapshot_ids(emulator) and len(series.kept()) == 2
    calls = [(c.action, c.params.get("SnapshotId")) for c in emulator.calls() if c.mutating]
    assert calls.index(("DeleteSnapshot", timed_out)) > calls.index(("CreateTags", None))  # after the hand-over


def test_delete_removes_a_take_that_never_finished(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    emulator.configure(pending_seconds=30)
    with pytest.raises(SnapshotTimedOut):
        series.up(trigger="d2", timeout=1)

    provider.delete(series.id, series.outs)

    assert all_snapshot_ids(emulator) == set()


def test_what_a_failed_create_left_is_kept_and_reported_by_the_next_create(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The failed create's series id never reached state, so nothing proves the leftover is this series' rather than
    a series of the same name in another backend's stack (RT-1): kept, and reported with what to do."""
    emulator.configure(pending_seconds=30)
    with pytest.raises(SnapshotTimedOut):
        Series(volume_id=volume_id, trigger="d1", timeout=1)  # the series never reached state: its id is lost
    [left] = all_snapshot_ids(emulator)
    emulator.configure(pending_seconds=0)
    age(emulator, [left], 2)
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    series = Series(volume_id=volume_id, trigger="d1")

    assert all_snapshot_ids(emulator) == {series.outs["snapshot_id"], left} and not emulator.calls("DeleteSnapshot")
    assert any(f"aws ec2 delete-snapshot --snapshot-id {left}" in r.getMessage() for r in caplog.records)


def test_a_leftover_of_another_series_of_the_same_name_is_left_alone(emulator: Ec2Emulator, volume_id: str) -> None:
    kept = Series(volume_id=volume_id, trigger="d1")  # then dropped from state by retain_on_delete
    emulator.configure(pending_seconds=30)
    with pytest.raises(SnapshotTimedOut):
        kept.up(trigger="d2", timeout=1)
    theirs = all_snapshot_ids(emulator)
    emulator.configure(pending_seconds=0)
    age(emulator, theirs, 2)

    again = Series(volume_id=volume_id, trigger="d1")

    assert all_snapshot_ids(emulator) == theirs | {again.outs["snapshot_id"]}


def test_strict_back_to_back_takes_tell_the_truth_and_preview_no_change(strict_ec2: StrictEc2, volume_id: str) -> None:
    """Nightly runs seconds apart under EC2's tag delay: each sees the previous take, outputs list them all."""
    emulator = strict_ec2(tag_delay=(4, 4), snapshot_interval_per_volume=0)
    series = Series(volume_id=volume_id, trigger="d1", keep_last=2)
    first = series.outs["snapshot_id"]
    series.up(trigger="d2")
    second = series.outs["snapshot_id"]
    series.up(trigger="d3")
    third = series.outs["snapshot_id"]

    assert series.kept() == [third, second] and series.outs["deleted"] == [first]
    assert series.diff().changes is False
    assert [s["snapshot_id"] for s in provider.read(series.id, series.outs).outs["snapshots"]] == [third, second]
    emulator.settle()
    assert all_snapshot_ids(emulator) == {second, third}


def test_a_snapshot_recovered_from_the_recycle_bin_is_not_pruned_again(emulator: Ec2Emulator, volume_id: str) -> None:
    """SnapshotRetention's documented undo: the series pruned a snapshot, the user recovers it from the Recycle Bin
    (`aws ec2 restore-snapshot-from-recycle-bin`) because they need it. The nightly runs after that must leave it
    alone."""
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = [s["snapshot_id"] for s in series.outs["snapshots"]]
    age(emulator, [first], days=1)
    # The emulator has no Recycle Bin: what RestoreSnapshotFromRecycleBin gives back is the same snapshot (same id,
    # tags and description), which seed_world recreates from the account's export taken before the prune.
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]

    series.up(trigger="day-2")
    assert first in series.outs["deleted"]
    emulator.seed_world({"snapshots": in_recycle_bin})  # recovered by the user

    series.up(trigger="day-3")
    series.up(trigger="day-4")

    assert first in all_snapshot_ids(emulator), f"{first}, recovered from the Recycle Bin, was pruned again"


def test_destroying_the_series_leaves_a_snapshot_its_user_recovered_from_the_recycle_bin(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = [s["snapshot_id"] for s in series.outs["snapshots"]]
    age(emulator, [first], days=1)
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]
    series.up(trigger="day-2")
    [second] = [s["snapshot_id"] for s in series.outs["snapshots"]]
    emulator.seed_world({"snapshots": in_recycle_bin})  # recovered by the user

    provider.delete(series.id, series.outs)

    assert first in all_snapshot_ids(emulator) and second not in all_snapshot_ids(emulator)


def test_the_series_forgets_a_delete_once_the_recycle_bin_cannot_give_the_snapshot_back() -> None:
    today = datetime.now(UTC).date()
    long_ago = (today - timedelta(days=RECYCLE_BIN_MAX_DAYS + 1)).isoformat()
    within = (today - timedelta(days=RECYCLE_BIN_MAX_DAYS)).isoformat()
    state = {"pruned": {"snap-old": long_ago, "snap-kept": within}, "deleted": ["snap-last"]}
    assert pruned_in(state) == {"snap-kept": within, "snap-last": today.isoformat()}


def test_the_newest_completed_snapshot_is_never_deleted(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, max_age_days=1)
    series.pass_days(emulator, 10)
    series.up(keep_last=2)  # a policy change: no new snapshot, the only one is 10 days old
    assert len(series.kept()) == 1 and series.outs["deleted"] == []


# --- AMIs -------------------------------------------------------------------------------------------------------------
def test_a_snapshot_an_ami_uses_is_kept_and_reported(emulator: Ec2Emulator, volume_id: str, said: Said) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, archive_after_days=1)
    first = series.outs["snapshot_id"]
    image_id = register_ami_using(emulator, first)
    series.pass_days(emulator, 2)
    emulator.clear_calls()

    series.up(trigger="d2")

    assert first in series.kept() and series.outs["deleted"] == []
    assert series.outs["in_use"] == [{"snapshot_id": first, "image_ids": [image_id]}]
    assert "DeleteSnapshot" not in mutating(emulator) and "ModifySnapshotTier" not in mutating(emulator)
    [entry] = [s for s in series.outs["snapshots"] if s["snapshot_id"] == first]
    assert entry["used_by"] == [image_id]
    assert f"nightly: kept {first}: used by {image_id}, which EC2 refuses to delete" in said.text()


def test_when_ec2_cannot_say_which_amis_the_refused_delete_is_reported(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    image_id = register_ami_using(emulator, first)
    emulator.configure(denied_actions=["DescribeImages"])  # credentials without ec2:DescribeImages

    series.up(trigger="d2")

    assert series.outs["in_use"] == [{"snapshot_id": first, "image_ids": [image_id]}]
    assert first in series.kept()


# --- locks ------------------------------------------------------------------------------------------------------------
def test_a_locked_point_is_never_pruned_and_the_run_says_which_lock_until_when(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    # Locked outside the series (a person, a backup policy): EC2 refuses its delete until the lock ends.
    ec2(emulator).lock_snapshot(SnapshotId=first, LockMode="governance", LockDuration=30)
    emulator.clear_calls()

    series.up(trigger="d2")

    assert first in series.kept() and series.outs["deleted"] == [] and series.outs["failed"] == []
    assert "DeleteSnapshot" not in mutating(emulator)
    [locked] = series.outs["locked"]
    assert (locked["snapshot_id"], locked["lock_state"]) == (first, "governance")
    assert locked["lock_expires_at"].endswith("Z")
    assert (
        f"nightly: kept {first} instead of deleting it: it is locked in governance mode until "
        f"{locked['lock_expires_at']} (EC2 refuses to delete a locked snapshot)" in said.text()
    )


def test_a_point_whose_lock_was_removed_is_pruned_by_the_next_run(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    ec2(emulator).lock_snapshot(SnapshotId=first, LockMode="governance", LockDuration=30)
    series.up(trigger="d2")
    ec2(emulator).unlock_snapshot(SnapshotId=first)

    series.up(trigger="d3")

    assert first not in series.kept() and first in series.outs["deleted"] and series.outs["locked"] == []


def test_a_series_without_permission_to_read_locks_prunes_as_before_and_warns(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    warned: list[str] = []  # pulumi.log.warn goes to stderr, or to logging once a test has set Pulumi's mocks
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warned.append(message))

    series.up(trigger="d2")

    assert series.outs["deleted"] == [first] and series.outs["locked"] == []
    assert any("pruning went ahead without knowing which snapshots are locked" in line for line in warned)


def test_a_series_with_lock_locks_each_new_point_once_completed_and_keeps_it_past_its_policy(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, lock={"mode": "governance", "duration_days": 7})
    first = series.outs["snapshot_id"]
    [info] = ec2(emulator).describe_locked_snapshots(SnapshotIds=[first])["Snapshots"]
    assert (info["LockState"], info["LockDuration"]) == ("governance", 7)

    series.up(trigger="d2")

    second = series.outs["snapshot_id"]
    assert series.kept() == [second, first] and series.outs["deleted"] == []
    assert [entry["snapshot_id"] for entry in series.outs["locked"]] == [first]
    assert f"nightly: kept {first} instead of deleting it: it is locked in governance mode" in said.text()
    assert ec2(emulator).describe_locked_snapshots(SnapshotIds=[second])["Snapshots"][0]["LockState"] == "governance"


LAPSED = "2020-01-31T00:00:00Z"


def test_once_an_unchanged_lock_has_ended_the_preview_passes_and_new_points_are_taken_unlocked(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    ahead = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    series = Series(volume_id=volume_id, trigger="d1", lock={"mode": "governance", "expires_at": ahead})
    # Days later, as state recorded it: the program and state both say the lock that has now ended.
    ended = {"mode": "governance", "expires_at": LAPSED}
    series.inputs, series.outs = props(**{**series.inputs, "lock": ended}), {**series.outs, "lock": ended}
    news = props(**{**series.inputs, "trigger": "d2"})
    assert provider.check(series.outs, news).failures == []
    assert f"nightly: lock ended on {LAPSED}: new points are not locked" in said.text()
    said.clear()
    emulator.clear_calls()

    series.up(trigger="d2")

    second = series.outs["snapshot_id"]
    assert not emulator.calls("LockSnapshot")
    assert ec2(emulator).describe_locked_snapshots(SnapshotIds=[second])["Snapshots"] == []
    assert f"lock ended on {LAPSED}: new points are not locked ({second} taken without one)" in said.text()


@pytest.mark.parametrize("olds", [{}, {"lock": {"mode": "governance", "duration_days": 3}}])
def test_a_new_or_changed_series_lock_that_has_already_ended_is_refused_at_preview(olds: dict[str, Any]) -> None:
    news = props(volume_id="vol-0123456789abcdef0", lock={"mode": "governance", "expires_at": LAPSED})
    reasons = [
        f.reason
        for f in provider.check(props(volume_id="vol-0123456789abcdef0", **olds) if olds else {}, news).failures
    ]
    assert any("in the past" in reason for reason in reasons), reasons


def test_a_lock_change_takes_nothing_and_applies_to_the_points_taken_after_it(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    first = series.outs["snapshot_id"]
    lock = {"mode": "governance", "duration_days": 3}
    assert series.diff(lock=lock).changes is True and series.diff(lock=lock).replaces == []
    emulator.clear_calls()

    series.up(lock=lock)

    assert emulator.calls("CreateSnapshot") == [] and emulator.calls("LockSnapshot") == []
    series.up(trigger="d2")
    locked = ec2(emulator).describe_locked_snapshots(SnapshotIds=[first, series.outs["snapshot_id"]])["Snapshots"]
    assert [s["SnapshotId"] for s in locked] == [series.outs["snapshot_id"]]


def test_check_refuses_a_series_lock_ec2_would_refuse() -> None:
    news = props(volume_id="vol-1", trigger="d1", lock={"mode": "x", "duration_days": 7})
    reasons = [f.reason for f in failures(news) if f.property == "lock"]
    assert any("mode must be 'governance' or 'compliance'" in r for r in reasons)


def test_destroying_a_series_with_a_locked_point_fails_naming_the_lock_and_deletes_nothing(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", lock={"mode": "governance", "duration_days": 7})
    locked = series.outs["snapshot_id"]
    series.up(trigger="d2", lock=None)  # taken out later: the point taken with it stays locked
    emulator.clear_calls()

    with pytest.raises(
        SnapshotLocked, match=rf"{locked} is locked in governance mode until 20\d\d-.*Nothing was deleted"
    ):
        provider.delete(series.id, series.outs)

    assert emulator.calls("DeleteSnapshot") == [] and len(series_snapshots(emulator, series.id)) == 2


# --- destroy ----------------------------------------------------------------------------------------------------------
def test_delete_removes_the_series_snapshots_and_nothing_else(emulator: Ec2Emulator, volume_id: str) -> None:
    outside = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    series = Series(volume_id=volume_id, trigger="d1")
    series.up(trigger="d2")

    provider.delete(series.id, series.outs)

    assert series_snapshots(emulator, series.id) == []
    assert all_snapshot_ids(emulator) == {outside}


def test_delete_with_an_ami_in_use_deletes_the_rest_and_names_the_ami(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    used = series.outs["snapshot_id"]
    series.up(trigger="d2")
    image_id = register_ami_using(emulator, used)

    with pytest.raises(SnapshotInUse, match=image_id):
        provider.delete(series.id, series.outs)

    assert [s["SnapshotId"] for s in series_snapshots(emulator, series.id)] == [used]


# --- instance series ------------------------------------------------------------------------------------------------
def test_destroying_a_series_right_after_its_up_deletes_the_snapshot_state_records(
    strict_ec2: StrictEc2, volume_id: str
) -> None:
    """A CI job that tests the stack: `pulumi up`, then `pulumi destroy`. The series' snapshot is in state; destroy
    must delete it, whether or not EC2's tag filters show its tags yet."""
    emulator = strict_ec2(listing_delay=(0, 0), tag_delay=(20, 20), deleted_listing_delay=(0, 0))
    emulator.configure(pending_seconds=1.0)
    series = Series(volume_id=volume_id, trigger="2026-11-24", keep_last=3)
    [taken] = [s["snapshot_id"] for s in series.outs["snapshots"]]

    provider.delete(series.id, series.outs)

    assert taken not in all_snapshot_ids(emulator), f"{taken}, recorded in the series' state, outlived its destroy"


def test_an_instance_series_keeps_and_deletes_sets_whole(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    series = Series(instance_id=instance["instance_id"], trigger="d1", keep_last=1)
    first_set = set(series.outs["snapshot_ids"].values())
    assert len(first_set) == 2 and series.outs["snapshot_id"] is None

    series.up(trigger="d2")

    assert sorted(series.outs["deleted"]) == sorted(first_set)
    assert len(series.kept()) == 2 and len({s["point"] for s in series.outs["snapshots"]}) == 1


# --- refresh ----------------------------------------------------------------------------------------------------------
def test_read_drops_what_was_deleted_outside_and_keeps_what_the_last_run_did(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    series.up(trigger="d2")
    series.up(trigger="d3")
    newest = series.outs["snapshot_id"]
    ec2(emulator).delete_snapshot(SnapshotId=newest)

    result = provider.read(series.id, series.outs)

    assert result.id == series.id
    assert result.outs["snapshots"] == [] and result.outs["snapshot_id"] is None
    assert result.outs["deleted"] == series.outs["deleted"] and result.outs["wait_time"] == series.outs["wait_time"]


# --- check and diff ---------------------------------------------------------------------------------------------------
CHECK_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no source", {}, "volume_id", "or instance_id"),
    ("two sources", {"volume_id": "vol-01234567", "instance_id": "i-01234567"}, "instance_id", "both set"),
    ("keep_last 0", {"volume_id": "vol-01234567", "keep_last": 0}, "keep_last", "at least 1"),
    ("keep_last fraction", {"volume_id": "vol-01234567", "keep_last": 2.5}, "keep_last", "whole number"),
    ("max_age 0", {"volume_id": "vol-01234567", "max_age_days": 0}, "max_age_days", "more than 0"),
    ("archive negative", {"volume_id": "vol-01234567", "archive_after_days": -1}, "archive_after_days", "at least 0"),
    (
        "archive after max age",
        {"volume_id": "vol-01234567", "archive_after_days": 30, "max_age_days": 30},
        "archive_after_days",
        "deleted before they are archived",
    ),
    ("trigger a list", {"volume_id": "vol-01234567", "trigger": ["x"]}, "trigger", "string, number or boolean"),
    (
        "exclusions on a volume",
        {"volume_id": "vol-01234567", "exclude_boot_volume": True},
        "exclude_boot_volume",
        "instance_id",
    ),
    ("too many tags", {"volume_id": "vol-01234567", "tags": {f"k{i}": "v" for i in range(47)}}, "tags", "at most 46"),
]


@pytest.mark.parametrize("case,given,prop,reason", CHECK_CASES, ids=[c[0] for c in CHECK_CASES])
def test_check_refuses_with_the_property_and_the_fix(case: str, given: dict[str, Any], prop: str, reason: str) -> None:
    found = failures({"region": REGION, **given})
    assert any(f.property == prop and reason in f.reason for f in found), (case, found)


def test_check_accepts_floats_from_state() -> None:
    assert failures({"region": REGION, "volume_id": "vol-01234567", "keep_last": 3.0, "max_age_days": 7.0}) == []


DIFF_CASES: list[tuple[str, dict[str, Any], bool, list[str]]] = [
    ("nothing", {}, False, []),
    ("trigger: in place", {"trigger": "d2"}, True, []),
    ("policy: in place", {"keep_last": 2}, True, []),
    ("volume: in place", {"volume_id": "vol-89abcdef"}, True, []),
    ("tags: in place", {"tags": {"a": "2"}}, True, []),
    ("description: nothing", {"description": "other"}, False, []),
    ("timeout: nothing", {"timeout": 60}, False, []),
    ("region: replaces", {"region": "eu-west-1"}, True, ["region"]),
]


@pytest.mark.parametrize("case,change,changes,replaces", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_diff_says_what_each_input_change_means(case: str, change: dict, changes: bool, replaces: list[str]) -> None:
    old = props(volume_id="vol-01234567", trigger="d1", keep_last=3)
    result = SCHEMA.diff(old, {**old, **change})
    assert (result.changes, result.replaces) == (changes, replaces), case


def test_exclusions_in_another_order_take_no_snapshot() -> None:
    old = props(instance_id="i-01234567", exclude_data_volume_ids=["vol-01234567", "vol-89abcdef"], trigger="d1")
    result = SCHEMA.diff(old, {**old, "exclude_data_volume_ids": ["vol-89abcdef", "vol-01234567"]})
    assert result.changes is False


def test_the_series_preview_never_announces_deleting_a_snapshot_an_undo_holds(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A volume's series; the volume retired with a VolumeRemoval restoring from the series' older snapshot. Then
    keep_last is lowered: the preview must say what the `up` will do, and the `up` keeps the held snapshot."""
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=3)
    [older] = [s["snapshot_id"] for s in series.outs["snapshots"]]
    series.up(trigger="day-2")
    VolumeRemovalProvider().create(
        {
            "volume_id": volume_id,
            "snapshot_id": older,
            "confirm_delete_volume": volume_id,
            "region": REGION,
            "resource_urn": URN.replace("SnapshotSeries::nightly", "VolumeRemoval::retire"),
        }
    )
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")

    provider.diff(series.id, series.outs, props(**{**series.inputs, "keep_last": 1}))
    preview = "\n".join(r.getMessage() for r in caplog.records if r.name == "snapshot_provider.progress")
    series.up(keep_last=1)

    assert older not in series.outs["deleted"]  # what the up did: kept it for the undo
    assert f"delete {older}" not in preview, preview


def test_preview_says_what_the_next_up_would_archive_and_delete(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=2, archive_after_days=2)
    first = series.outs["snapshot_id"]
    series.pass_days(emulator)
    series.up(trigger="d2")
    second = series.outs["snapshot_id"]
    series.pass_days(emulator)
    said.clear()
    emulator.clear_calls()

    series.diff(trigger="d3")

    assert mutating(emulator) == []
    text = said.text()
    assert "the next `up` of nightly takes a new snapshot of volume" in text
    assert f"delete {first}: 3rd newest, beyond keep_last=2" in text
    assert f"archive {second}: 1.0 days old" not in text  # only 1 day old: kept
    series.pass_days(emulator)
    said.clear()
    series.diff(trigger="d3")
    assert f"archive {second}: 2.0 days old, reached archive_after_days=2" in said.text()


def test_preview_without_credentials_says_it_cannot_know_yet(
    emulator: Ec2Emulator, volume_id: str, said: Said, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    said.clear()

    result = series.diff(trigger="d2")

    assert result.changes is True
    [line] = said.lines()
    assert line.startswith(f"{URN}: cannot know yet what the next `up` of nightly will archive and delete")
    assert "no AWS credentials" in line


def test_preview_of_a_replace_counts_the_snapshots_it_would_delete(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1")
    series.up(trigger="d2")
    said.clear()
    series.diff(region="eu-west-1")
    assert "the 2 snapshot(s) of this one are deleted, unless the resource has retain_on_delete" in said.text()


def test_preview_with_unknown_inputs_says_so(emulator: Ec2Emulator, volume_id: str, said: Said) -> None:
    from snapshot_provider.inputs.rules import UNKNOWN

    series = Series(volume_id=volume_id, trigger="d1")
    said.clear()
    series.diff(volume_id=UNKNOWN)
    assert "volume_id not known until other resources are created" in said.text()


def test_docs_table_lists_every_input_with_what_a_change_means() -> None:
    table = SCHEMA.docs_table()
    assert "| `trigger` | str or number or bool | none | takes a new snapshot, in place |" in table
    assert "| `keep_last` | integer | none | updates in place |" in table
    assert "resource_urn" not in table


def test_serialized_provider_is_a_reference_to_this_module() -> None:
    serialized = serialize_provider(SnapshotSeriesProvider())
    assert len(serialized) < 300
    assert "snapshot_provider.series" in base64.b64decode(serialized).decode("latin-1")


__all__ = ["model_pace"]  # a fixture


def test_a_series_destroyed_right_after_its_take_deletes_that_snapshot(emulator: Ec2Emulator, model_pace: None) -> None:
    """MODEL-1 (found by the stack model): EC2 lists a new tag after a delay, so a destroy right after the `up` must
    also delete what state records, not only what the tag filter finds."""
    strict_world(emulator, pending_seconds=0.2)
    emulator.configure(tag_delay=(2.0, 2.0))  # within EC2's: a new tag filters a listing only after a few seconds
    volume = emulator.ec2_backend().create_volume(size=8, zone_name=f"{REGION}a")
    provider = SnapshotSeriesProvider()
    props = provider.check(
        {},
        {
            "region": REGION,
            "resource_urn": urn("SnapshotSeries", "nightly"),
            "volume_id": volume.id,
            "tags": {},
            "timeout": 60,
            "trigger": 0,
        },
    ).inputs
    created = provider.create(props)
    taken = created.outs["snapshot_id"]
    assert taken, created.outs

    provider.delete(created.id, created.outs)

    emulator.settle()
    left = [s.id for s in emulator.ec2_backend().snapshots.values() if s.id == taken]
    assert left == [], f"the destroyed series left {taken}"


# --- an update that fails after its take -------------------------------------------------------------------------
def test_a_series_update_failing_after_its_take_does_not_take_twice_for_one_trigger(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=2, tags={"purpose": "test", "cost-centre": "x"})
    [first] = series.kept()
    # The nightly run: a new trigger, and a dropped tag that EC2 refuses to remove (here: ec2:DeleteTags missing from
    # the CI role; the same happens for a TagLimitExceeded on a snapshot held by a removal).
    emulator.configure(denied_actions=["DeleteTags"])
    with pytest.raises(SnapshotProviderError):
        series.up(trigger="day-2", tags={"purpose": "test"})
    emulator.configure(denied_actions=[])  # fixed; the next run goes again with the same inputs

    series.up(trigger="day-2", tags={"purpose": "test"})

    taken = emulator.calls("CreateSnapshot")
    assert first in series.kept(), "keep_last=2 with two triggers pruned the first day's point"
    assert len(taken) == 2, f"{len(taken)} snapshots taken for two triggers"
    assert len(series.kept()) == 2 and series.outs["snapshot_id"] != first  # the failed run's take, now in state


def _a_year_later(outs: dict, sid: str) -> dict:
    """The series' state as it is a year and a day after it pruned `sid` (runs in between only carry the record)."""
    long_ago = (datetime.now(UTC).date() - timedelta(days=RECYCLE_BIN_MAX_DAYS + 1)).isoformat()
    return {**outs, "deleted": [], "pruned": {**(outs.get("pruned") or {}), sid: long_ago}}


def test_a_snapshot_recovered_from_the_recycle_bin_stays_the_users_after_a_year(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = series.kept()
    age(emulator, [first], days=1)
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]
    series.up(trigger="day-2")
    assert first in series.outs["deleted"]
    emulator.seed_world({"snapshots": in_recycle_bin})  # recovered by the user, who needs it
    series.up(trigger="day-3")
    assert first in all_snapshot_ids(emulator)

    series.outs = _a_year_later(series.outs, first)  # nightly runs for a year leave it alone
    series.up(trigger="day-367")

    assert first in all_snapshot_ids(emulator), f"{first}, recovered by its user, was deleted by the series"
    assert first not in series.outs["pruned"]  # let go of for good: the record stays bounded


def test_a_recovered_snapshot_is_let_go_of_its_series_tags_removed_and_said(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    emulator.configure(pending_seconds=0.5)
    series = Series(volume_id=volume_id, trigger="day-1", keep_last=1)
    [first] = series.kept()
    age(emulator, [first], days=1)
    in_recycle_bin = [s for s in emulator.export_world()["snapshots"] if s["id"] == first]
    series.up(trigger="day-2")
    emulator.seed_world({"snapshots": in_recycle_bin})

    series.up(trigger="day-3")

    [recovered] = ec2(emulator).describe_snapshots(SnapshotIds=[first])["Snapshots"]
    assert not [t for t in recovered.get("Tags") or [] if t["Key"].startswith("pulumi-snapshot:")], recovered
    assert first not in series.outs["pruned"] and first not in series.kept()
    assert any(f"let go of {first}" in line for line in said.lines()), said.lines()
    provider.delete(series.id, series.outs)
    assert first in all_snapshot_ids(emulator)  # destroy leaves it too


def test_preview_keeps_a_locked_point_it_would_otherwise_delete_and_says_which_lock(
    emulator: Ec2Emulator, volume_id: str, said: Said
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    ec2(emulator).lock_snapshot(SnapshotId=first, LockMode="governance", LockDuration=30)
    said.clear()

    series.diff(trigger="d2")

    text = said.text()
    assert f"delete {first}" not in text, text
    assert f"keep {first}: {first} is locked in governance mode until 20" in text


def test_preview_that_cannot_read_locks_says_so(emulator: Ec2Emulator, volume_id: str, said: Said) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1)
    first = series.outs["snapshot_id"]
    emulator.configure(denied_actions=["DescribeLockedSnapshots"])
    said.clear()

    series.diff(trigger="d2")

    text = said.text()
    assert f"delete {first}" in text and "could not read which of these are locked" in text, text
