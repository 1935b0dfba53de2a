"""The tagging policy and naming convention (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pulumi
import pytest
from pulumi_mocks import Recorder, use

from snapshot_provider.components.tagging import (
    SnapshotPolicy,
    TaggedSnapshot,
    TaggedSnapshotArgs,
    snapshot_name,
    snapshot_tags,
)

DAY = dt.date(2026, 11, 22)


def test_tags_follow_the_policy() -> None:
    policy = SnapshotPolicy(owner="finops", reason="cleanup", retention_days=30, extra_tags={"cost-center": "42"})
    tags = snapshot_tags(policy, source_id="vol-01234567", date=DAY, stack="prod", project="storage")
    assert tags == {
        "Name": "prod-vol-01234567-2026-11-22",
        "owner": "finops",
        "reason": "cleanup",
        "source-id": "vol-01234567",
        "created-by": "pulumi:storage/prod",
        "retention-days": "30",
        "delete-after": "2026-12-22",
        "cost-center": "42",
    }


def test_policy_tags_win_over_extra_tags() -> None:
    policy = SnapshotPolicy(owner="finops", reason="r", extra_tags={"owner": "someone-else"})
    assert snapshot_tags(policy, source_id="i-1", date=DAY, stack="s", project="p")["owner"] == "finops"


def test_name_template_fields() -> None:
    policy = SnapshotPolicy(owner="o", reason="r", name_template="{project}/{source_id}@{date}")
    assert snapshot_name(policy, source_id="vol-1", date=DAY, stack="s", project="p") == "p/vol-1@2026-11-22"


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"name_template": "{stack}-{hostname}"}, "uses 'hostname'"),
        ({"retention_days": 0}, "at least 1"),
        ({"owner": " "}, "must not be empty"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SnapshotPolicy(**{"owner": "o", "reason": "r", **kwargs})


@pulumi.runtime.test
def test_tagged_snapshot_tags_the_snapshot_and_points_the_volume_at_it() -> Any:
    mocks = use(Recorder())
    tagged = TaggedSnapshot(
        "t", TaggedSnapshotArgs(volume_id="vol-01234567", policy=SnapshotPolicy(owner="finops", reason="retention"))
    )

    def check(values: list[Any]) -> None:
        snapshot_id, tag_urn = values
        snapshot = mocks.named("t-snapshot")
        assert snapshot.inputs["tags"]["owner"] == "finops"
        assert snapshot.inputs["tags"]["Name"].startswith("dev-vol-01234567-")
        assert mocks.named("t-source-tag").inputs == {
            "resourceId": "vol-01234567",
            "key": "latest-snapshot-id",
            "value": snapshot_id,
        }
        assert "TaggedSnapshot$aws:ec2/tag:Tag" in tag_urn

    assert tagged.source_tag is not None
    return pulumi.Output.all(tagged.snapshot_id, tagged.source_tag.urn).apply(check)
