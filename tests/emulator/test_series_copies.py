"""SnapshotSeries' `copies` against the emulator: each point copied to each target once completed, copies deleted
with their points (a locked copy kept), a failed copy reported and retried by the next `up` without a new point,
destroy deleting the series' copies and nothing else, and the inputs' rules."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import SnapshotSeriesProvider
from snapshot_provider.core.copying import SOURCE_TAG
from snapshot_provider.core.series.copies import COPY_SERIES_TAG
from snapshot_provider.core.series.survey import POINT_TAG
from snapshot_provider.ec2.locks import SnapshotLocked
from snapshot_provider.inputs.rules import UNKNOWN
from snapshot_provider.inputs.series import SCHEMA, failures
from testbed import REGION

URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
OTHER_REGION = "eu-west-1"
THIRD_REGION = "us-west-2"
BACKUP_ACCOUNT = "210987654321"
BACKUP_ROLE = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup"
provider = SnapshotSeriesProvider()


def props(**overrides: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"region": REGION, "tags": {"purpose": "test"}, "timeout": 30, "resource_urn": URN}
    return SCHEMA.stored({k: v for k, v in {**given, **overrides}.items() if v is not None})


class Series:
    """A series driven as the engine drives it: create, then diff and update with the previous outputs as olds."""

    def __init__(self, **inputs: Any) -> None:
        self.inputs = props(**inputs)
        created = provider.create(self.inputs)
        self.id: str = created.id
        self.outs: dict[str, Any] = created.outs

    def up(self, **changes: Any) -> dict[str, Any]:
        news = props(**{**self.inputs, **changes})
        if provider.diff(self.id, self.outs, news).changes:
            self.outs = provider.update(self.id, self.outs, news).outs
        self.inputs = news
        return self.outs

    def destroy(self) -> None:
        provider.delete(self.id, self.outs)


def held(emulator: Ec2Emulator, region: str = OTHER_REGION, account: str | None = None) -> dict[str, dict[str, Any]]:
    """The snapshots the emulator holds in a region (and account), by id."""
    found = emulator.snapshots(region=region, **({"account_id": account} if account else {}))
    return {s["snapshot_id"]: s for s in found}


def copies_of(emulator: Ec2Emulator, **where: Any) -> dict[str, str]:
    """Source snapshot -> its copy, for the copies held in the target."""
    return {s["tags"][SOURCE_TAG]: sid for sid, s in held(emulator, **where).items()}


def test_each_point_is_copied_to_the_target_once_completed_and_tagged_as_the_series(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(copy_seconds=1.0)
    series = Series(volume_id=volume_id, trigger="d1", keep_last=2, copies=[{"region": OTHER_REGION}])

    first = series.outs["snapshot_id"]
    [(copy_id, copy)] = held(emulator).items()
    assert copy["state"] == "completed" and copy["tags"][SOURCE_TAG] == first
    assert copy["tags"][COPY_SERIES_TAG] == series.id and copy["tags"][POINT_TAG].startswith("point-")
    assert copy["tags"]["purpose"] == "test"
    [entry] = series.outs["copied"]
    assert entry == {
        "point": copy["tags"][POINT_TAG],
        "source_snapshot_id": first,
        "region": OTHER_REGION,
        "role_arn": None,
        "snapshot_id": copy_id,
        "state": "completed",
    }
    assert len(emulator.calls("CopySnapshot")) == 1
    # Nothing changed: no second copy, and the source region holds only the point (a copy is never a point).
    series.up()
    assert len(emulator.calls("CopySnapshot")) == 1 and [s["snapshot_id"] for s in emulator.snapshots()] == [first]


def test_pruning_a_point_deletes_its_copies_and_keeps_the_kept_points_copies(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, copies=[{"region": OTHER_REGION}])
    first = series.outs["snapshot_id"]

    series.up(trigger="d2")

    second = series.outs["snapshot_id"]
    assert series.outs["deleted"] == [first]
    assert copies_of(emulator) == {second: series.outs["copied"][0]["snapshot_id"]}
    assert [e["source_snapshot_id"] for e in series.outs["copied"]] == [second]


def test_a_locked_copy_of_a_pruned_point_is_kept_and_said(
    emulator: Ec2Emulator, volume_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    series = Series(volume_id=volume_id, trigger="d1", keep_last=1, copies=[{"region": OTHER_REGION}])
    first, [entry] = series.outs["snapshot_id"], series.outs["copied"]
    there = boto3.client("ec2", region_name=OTHER_REGION)
    there.lock_snapshot(SnapshotId=entry["snapshot_id"], LockMode="governance", LockDuration=30)

    series.up(trigger="d2")

    assert first in series.outs["deleted"] and entry["snapshot_id"] in held(emulator)
    locked = [e for e in series.outs["copied"] if e["snapshot_id"] == entry["snapshot_id"]]
    assert locked and locked[0]["lock_state"] == "governance"
    assert f"kept copy {entry['snapshot_id']} of deleted {first}" in caplog.text


def test_a_failed_copy_is_reported_and_the_next_up_copies_it_without_a_new_point(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(denied_actions=["CopySnapshot"])
    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION}])
    point = series.outs["snapshot_id"]
    [entry] = series.outs["copied"]
    assert (entry["source_snapshot_id"], entry["state"], entry["snapshot_id"]) == (point, "failed", None)
    assert "CopySnapshot" in entry["message"] and held(emulator) == {}
    emulator.configure(denied_actions=[])
    emulator.clear_calls()

    series.up()  # no input changed: the missing copy alone makes it an update

    assert emulator.calls("CreateSnapshot") == [] and series.outs["snapshot_id"] == point
    [entry] = series.outs["copied"]
    assert entry["state"] == "completed" and copies_of(emulator) == {point: entry["snapshot_id"]}


def test_a_copy_still_pending_at_the_timeout_is_adopted_by_the_next_up(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(copy_seconds=3600)
    series = Series(volume_id=volume_id, trigger="d1", timeout=1, copies=[{"region": OTHER_REGION}])
    [entry] = series.outs["copied"]
    assert entry["state"] == "failed" and entry["snapshot_id"] in held(emulator)
    emulator.configure(copy_seconds=0.0)
    emulator.age_snapshot(entry["snapshot_id"], seconds_ago=3600, region=OTHER_REGION)

    series.up(timeout=30)

    assert series.outs["copied"][0] | {"state": "completed"} == series.outs["copied"][0]
    assert series.outs["copied"][0]["snapshot_id"] == entry["snapshot_id"]
    assert len(emulator.calls("CopySnapshot")) == 1


def test_a_copy_to_another_account_is_made_there_and_the_point_is_not_left_shared(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION, "role_arn": BACKUP_ROLE}])
    point = series.outs["snapshot_id"]
    [entry] = series.outs["copied"]
    assert copies_of(emulator, account=BACKUP_ACCOUNT) == {point: entry["snapshot_id"]}
    shared = boto3.client("ec2", region_name=REGION).describe_snapshot_attribute(
        SnapshotId=point, Attribute="createVolumePermission"
    )
    assert shared["CreateVolumePermissions"] == []


def test_destroy_deletes_the_series_copies_and_nothing_else(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", keep_last=3, copies=[{"region": OTHER_REGION}])
    series.up(trigger="d2")
    theirs = boto3.client("ec2", region_name=OTHER_REGION).copy_snapshot(
        SourceRegion=REGION, SourceSnapshotId=series.outs["snapshot_id"]
    )["SnapshotId"]
    assert len(held(emulator)) == 3

    series.destroy()

    assert list(held(emulator)) == [theirs] and emulator.snapshots() == []


def test_destroy_refuses_before_any_deletion_while_a_copy_is_locked(emulator: Ec2Emulator, volume_id: str) -> None:
    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION}])
    [entry] = series.outs["copied"]
    boto3.client("ec2", region_name=OTHER_REGION).lock_snapshot(
        SnapshotId=entry["snapshot_id"], LockMode="governance", LockDuration=30
    )

    with pytest.raises(SnapshotLocked, match=entry["snapshot_id"]):
        series.destroy()

    assert len(held(emulator)) == 1 and len(emulator.snapshots()) == 1


def test_the_preview_says_what_is_copied_where_without_calling_aws(emulator: Ec2Emulator, volume_id: str) -> None:
    from snapshot_provider.core.series.copies import preview_lines

    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION}])
    emulator.clear_calls()
    news = props(**{**series.inputs, "trigger": "d2", "copies": [{"region": OTHER_REGION}, {"role_arn": BACKUP_ROLE}]})

    lines = preview_lines(series.outs, news, takes=True)

    assert lines[0] == f"copies the new snapshot to {OTHER_REGION}, {REGION} as {BACKUP_ROLE} once it completed"
    assert f"copies the 1 kept snapshot(s) to {REGION} as {BACKUP_ROLE} (a new target)" in lines
    assert emulator.calls() == []


@pytest.mark.parametrize(
    ("copies", "reason"),
    [
        ("eu-west-1", "must be a list of copy targets"),
        ([{"kms_key_id": "alias/x"}], "[0]: give region (another region) and/or role_arn"),
        ([{"region": "eu-west-1", "speed": 1}], "[0]: unknown key 'speed'"),
        ([{"region": "mars-1"}], "[0]: region 'mars-1' is not an AWS region name"),
        ([{"region": "eu-west-1", "completion_duration_minutes": 10}], "completion_duration_minutes must be 15 to"),
        ([{"region": REGION}], "[0]: copies into the source's own region"),
        ([{"region": "eu-west-1"}, {"region": "eu-west-1"}], "[1]: names eu-west-1 again"),
    ],
)
def test_bad_copy_targets_are_refused_at_check_with_the_fix(copies: Any, reason: str) -> None:
    found = failures({"region": REGION, "volume_id": "vol-12345678", "copies": copies, "resource_urn": URN})
    assert any(f.property == "copies" and reason in f.reason for f in found), found


def test_a_time_based_copy_target_longer_than_the_series_timeout_is_refused_at_check() -> None:
    copies = [
        {"region": "eu-west-1"},
        {"region": "eu-west-1", "role_arn": BACKUP_ROLE, "completion_duration_minutes": 60},
    ]
    news = {"region": REGION, "volume_id": "vol-12345678", "copies": copies, "timeout": 3600, "resource_urn": URN}
    [failure] = [f for f in failures(news) if f.property == "timeout"]
    assert "completion_duration_minutes=60" in failure.reason and failure.reason.endswith("(copies[1])")
    assert [f for f in failures({**news, "timeout": 4500}) if f.property == "timeout"] == []


def test_a_target_not_known_at_preview_is_not_refused_and_the_preview_says_so() -> None:
    from snapshot_provider.core.series.copies import preview_lines

    news = {"region": REGION, "volume_id": "vol-12345678", "copies": [{"region": UNKNOWN}], "resource_urn": URN}

    assert [f for f in failures(news) if f.property == "copies"] == []
    assert preview_lines({}, news, takes=True) == [
        "copies each point once the targets are known (they depend on resources not created yet)"
    ]


def test_a_copy_that_ended_in_error_is_deleted_and_made_again_by_the_next_up(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(fail_copies=True)
    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION}])
    [entry] = series.outs["copied"]
    # The copy operation deletes a copy EC2 failed at once (it cannot be used): nothing of it is left.
    assert entry["state"] == "failed" and "ended in state error" in entry["message"] and held(emulator) == {}
    emulator.configure(fail_copies=False)

    series.up()

    [again] = series.outs["copied"]
    assert again["state"] == "completed" and list(held(emulator)) == [again["snapshot_id"]]
    assert len(emulator.calls("CopySnapshot")) == 2 and len(emulator.calls("CreateSnapshot")) == 1


def test_a_lost_copy_answer_makes_one_copy_of_the_point(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(drop_rate=1.0, actions=["CopySnapshot"])

    series = Series(volume_id=volume_id, trigger="d1", copies=[{"region": OTHER_REGION}])

    [entry] = series.outs["copied"]
    assert entry["state"] == "completed" and list(held(emulator)) == [entry["snapshot_id"]]
    assert len(emulator.mutating_calls("CopySnapshot")) == 1


def shared_with(snapshot_id: str) -> list[str]:
    answer = boto3.client("ec2", region_name=REGION).describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )
    return [p.get("UserId") or p.get("Group", "") for p in answer["CreateVolumePermissions"]]


TWO_TARGETS = [{"region": OTHER_REGION, "role_arn": BACKUP_ROLE}, {"region": THIRD_REGION, "role_arn": BACKUP_ROLE}]


def test_a_copy_that_completes_keeps_the_share_another_targets_pending_copy_needs(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    series = Series(volume_id=volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1])
    point = series.outs["snapshot_id"]
    assert [e["state"] for e in series.outs["copied"]] == ["failed"] and shared_with(point) == [BACKUP_ACCOUNT]
    emulator.configure(copy_seconds=0.0)  # the new target's copy completes at once; the first stays pending
    series.up(timeout=2, copies=TWO_TARGETS)
    [left] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    assert left["state"] == "pending"
    assert [c["state"] for c in emulator.snapshots(account_id=BACKUP_ACCOUNT, region=THIRD_REGION)] == ["completed"]
    assert shared_with(point) == [BACKUP_ACCOUNT], "the share was removed while a copy of ours still needs it"


def test_a_target_taken_out_ends_the_share_its_pending_copy_held(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(copy_seconds=3600)
    series = Series(volume_id=volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1])
    point = series.outs["snapshot_id"]
    assert shared_with(point) == [BACKUP_ACCOUNT]
    series.up(copies=[])
    assert shared_with(point) == [], "the point stays shared with an account no longer declared"
    [tags] = [s["tags"] for s in emulator.snapshots() if s["snapshot_id"] == point]
    assert not [k for k in tags if k.startswith("pulumi-snapshot:copy-share")]


def test_a_copy_that_completed_between_runs_ends_the_share_its_point_held(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    """The timeout's message says the next `up` ends the share a pending copy keeps: true when the copy completed
    meanwhile (the usual case for an hours-long copy), though that `up` copies nothing."""
    emulator.configure(copy_seconds=3600)
    series = Series(volume_id=volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1])
    point = series.outs["snapshot_id"]
    assert [e["state"] for e in series.outs["copied"]] == ["failed"] and shared_with(point) == [BACKUP_ACCOUNT]
    [copy] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.age_snapshot(copy["snapshot_id"], seconds_ago=7200, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)

    series.up(timeout=30)  # the next nightly `up`: the copy completed meanwhile

    assert [e["state"] for e in series.outs["copied"]] == ["completed"]
    assert shared_with(point) == [], "the point stays shared with the backup account after its copy completed"
    [tags] = [s["tags"] for s in emulator.snapshots() if s["snapshot_id"] == point]
    assert not [k for k in tags if k.startswith("pulumi-snapshot:copy-share")], tags


def test_a_target_taken_out_after_its_copy_completed_ends_the_share_its_point_held(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    series = Series(volume_id=volume_id, trigger="d1", timeout=1, copies=TWO_TARGETS[:1])
    point = series.outs["snapshot_id"]
    assert shared_with(point) == [BACKUP_ACCOUNT]
    [copy] = emulator.snapshots(account_id=BACKUP_ACCOUNT, region=OTHER_REGION)
    emulator.age_snapshot(copy["snapshot_id"], seconds_ago=7200, account_id=BACKUP_ACCOUNT, region=OTHER_REGION)

    series.up(copies=[])

    assert shared_with(point) == [], "the point stays shared with an account no longer declared"
    assert [e["state"] for e in series.outs["copied"]] == ["completed"], "the copy stays recorded"
