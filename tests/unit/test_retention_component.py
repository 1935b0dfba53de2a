"""SnapshotRetention under Pulumi mocks (the AWS plugin cannot be downloaded here, so the Recycle Bin rule is checked
as registered, not created): the series' tags, the rule matching them, and the order that makes destroy's deletes
recoverable."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi_mocks import Recorder, use

from snapshot_provider.components.retention import (
    SERIES_LABEL_TAG,
    SnapshotRetention,
    SnapshotRetentionArgs,
    recycle_bin_rule,
    series_tags,
)
from snapshot_provider.components.tagging import SnapshotPolicy

POLICY = SnapshotPolicy(owner="dba", reason="nightly backup", retention_days=30)
SERIES = {"volume_id": "vol-01234567", "trigger": "2026-03-10", "keep_last": 7, "archive_after_days": 2}


@pulumi.runtime.test
def test_recycle_bin_rule_matches_the_series_tag_and_is_registered_first() -> Any:
    mocks = use(Recorder())
    retention = SnapshotRetention("db", SnapshotRetentionArgs(series=SERIES, policy=POLICY, recycle_bin_days=14))

    def check(values: list[Any]) -> None:
        series_urn, rule_urn = values
        series = mocks.named("db-series")
        rule = mocks.named("db-recycle-bin")
        assert series.typ == "pulumi-python:dynamic/ebs-snapshots:SnapshotSeries"
        assert series.inputs["tags"][SERIES_LABEL_TAG] == "proj/dev/db"
        assert (series.inputs["keep_last"], series.inputs["archive_after_days"]) == (7, 2)
        assert rule.typ == "aws:rbin/rule:Rule"
        assert rule.inputs["resourceType"] == "EBS_SNAPSHOT"
        assert rule.inputs["retentionPeriod"] == {"retentionPeriodValue": 14, "retentionPeriodUnit": "DAYS"}
        assert rule.inputs["resourceTags"] == [{"resourceTagKey": SERIES_LABEL_TAG, "resourceTagValue": "proj/dev/db"}]
        # The series depends on the rule: destroy deletes the series (its snapshots go to the Recycle Bin) first.
        assert mocks.names().index("db-recycle-bin") < mocks.names().index("db-series")
        assert "SnapshotRetention$pulumi-python:dynamic/ebs-snapshots:SnapshotSeries" in series_urn
        assert "SnapshotRetention$aws:rbin/rule:Rule" in rule_urn

    assert retention.recycle_bin is not None
    return pulumi.Output.all(retention.series.urn, retention.recycle_bin.urn).apply(check)


@pulumi.runtime.test
def test_without_recycle_bin_days_there_is_no_rule() -> Any:
    mocks = use(Recorder())
    retention = SnapshotRetention("db", SnapshotRetentionArgs(series=SERIES))

    def check(_: Any) -> None:
        assert retention.recycle_bin is None
        assert [r.typ for r in mocks.registered if r.typ.startswith("aws:")] == []

    return retention.series.urn.apply(check)


def test_series_tags_leave_out_what_a_date_would_change_every_day() -> None:
    tags = series_tags(POLICY, "vol-01234567")
    assert {"owner", "reason", "source-id", "created-by"} <= set(tags)
    assert not {"Name", "delete-after", "retention-days"} & set(tags)


@pytest.mark.parametrize("days", [0, 366])
def test_recycle_bin_days_out_of_range_is_refused(days: int) -> None:
    use(Recorder())
    with pytest.raises(ValueError, match="1 to 365 days"):
        recycle_bin_rule("r", "k", "v", days, description="d", parent=None)  # type: ignore[arg-type]
