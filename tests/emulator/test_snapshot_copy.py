"""SnapshotCopyProvider against the local EC2 emulator: a copy in another region waited for until completed, its
inputs' rules, tags, delete, and a lost CopySnapshot answer that never makes a second copy."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from emulator import Ec2Emulator
from snapshot_provider import SnapshotCopyProvider
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED
from testbed import REGION

provider = SnapshotCopyProvider()
OTHER_REGION = "eu-west-1"
URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotCopy::dr-copy"


@pytest.fixture
def source_id(emulator: Ec2Emulator, volume_id: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    return str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])


def copy_props(source_id: str, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "source_snapshot_id": source_id,
        "source_region": REGION,
        "region": OTHER_REGION,
        "tags": {"purpose": "dr"},
        "timeout": 30,
        "resource_urn": URN,
    }
    props.update(overrides)
    return {k: v for k, v in props.items() if v is not None}


def copies_in(emulator: Ec2Emulator, region: str = OTHER_REGION) -> list[dict[str, Any]]:
    return emulator.snapshots(region=region)


def test_create_copies_into_the_destination_region_and_waits_until_completed(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=1.0)
    result = provider.create(copy_props(source_id))
    [copy] = copies_in(emulator)
    assert (result.id, copy["state"], copy["tags"][ATTEMPT_TAG]) == (copy["snapshot_id"], "completed", RECORDED)
    assert result.outs["region"] == OTHER_REGION and result.outs["account_id"] == "123456789012"
    assert result.outs["wait_time"] >= 1.0 and result.outs["tags"] == {"purpose": "dr"}


def test_a_lost_copy_answer_adopts_the_copy_it_made_instead_of_copying_again(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(drop_rate=1.0, actions=["CopySnapshot"])
    result = provider.create(copy_props(source_id))
    assert len(emulator.mutating_calls("CopySnapshot")) == 1
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [result.id]


def test_a_create_cut_short_is_finished_by_the_next_one_with_the_same_copy(
    emulator: Ec2Emulator, source_id: str
) -> None:
    emulator.configure(copy_seconds=3600)
    with pytest.raises(Exception, match="still pending"):
        provider.create(copy_props(source_id, timeout=1))
    [left] = copies_in(emulator)
    emulator.age_snapshot(left["snapshot_id"], seconds_ago=3600, region=OTHER_REGION)
    result = provider.create(copy_props(source_id))
    assert result.id == left["snapshot_id"] and len(emulator.calls("CopySnapshot")) == 1


def test_a_replacement_makes_a_new_copy_and_leaves_the_recorded_one_to_the_engines_delete(
    emulator: Ec2Emulator, source_id: str
) -> None:
    first = provider.create(copy_props(source_id))
    second = provider.create(copy_props(source_id, description="again"))
    assert first.id != second.id and len(copies_in(emulator)) == 2
    provider.delete(first.id, first.outs)
    assert [c["snapshot_id"] for c in copies_in(emulator)] == [second.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [("completion_duration_minutes", 20), ("completion_duration_minutes", 2895), ("source_snapshot_id", "snap-x")],
)
def test_check_refuses_what_ec2_would_refuse(source_id: str, field: str, value: Any) -> None:
    failures = provider.check({}, copy_props(source_id, **{field: value})).failures
    assert [f.property for f in failures] == [field]


def test_a_changed_source_replaces_the_copy(source_id: str) -> None:
    olds = provider.check({}, copy_props(source_id)).inputs
    news = provider.check(olds, copy_props("snap-0123456789abcdef0")).inputs
    assert "source_snapshot_id" in provider.diff("snap-1", olds, news).replaces
