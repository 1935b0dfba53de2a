"""Retention: a SnapshotSeries tagged by the tagging policy, and optionally a Recycle Bin rule, so that a snapshot the
series prunes (or destroy deletes) can be recovered for a number of days: the undo for its deletes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from snapshot_provider import SnapshotSeries, SnapshotSeriesArgs
from snapshot_provider.core.series.survey import RECYCLE_BIN_MAX_DAYS

from .tagging import DATE_DERIVED_TAGS, SnapshotPolicy, tags_for

# On every snapshot of a SnapshotRetention's series; what its Recycle Bin rule matches.
SERIES_LABEL_TAG = "snapshot-series"


def recycle_bin_rule(
    name: str,
    tag_key: str,
    tag_value: pulumi.Input[str],
    days: int,
    *,
    description: str,
    parent: pulumi.Resource,
) -> aws.rbin.Rule:
    """A tag-level Recycle Bin rule: EBS snapshots tagged `tag_key`=`tag_value` stay recoverable `days` days after
    they are deleted (`aws rbin`/console: Recycle Bin, Recover)."""
    if not 1 <= days <= RECYCLE_BIN_MAX_DAYS:
        raise ValueError(f"recycle_bin_days is {days}; Recycle Bin keeps deleted snapshots 1 to 365 days")
    return aws.rbin.Rule(
        name,
        resource_type="EBS_SNAPSHOT",
        retention_period={"retention_period_value": days, "retention_period_unit": "DAYS"},
        resource_tags=[{"resource_tag_key": tag_key, "resource_tag_value": tag_value}],
        description=description,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def series_tags(policy: SnapshotPolicy, source_id: str) -> dict[str, str]:
    """The policy's tags without the ones derived from a date: a series tags every snapshot it keeps with the same
    tags, and a date would rename them all each day."""
    return {k: v for k, v in tags_for(policy, source_id).items() if k not in (*DATE_DERIVED_TAGS, "retention-days")}


@dataclass
class SnapshotRetentionArgs:
    """`series`: SnapshotSeries' inputs. `policy`: its tags (owner, reason, source, stack; the series' own `tags`
    win). `recycle_bin_days`: also a Recycle Bin rule matching the series' `snapshot-series` tag, so what it
    deletes can be recovered for that many days (1 to 365)."""

    series: SnapshotSeriesArgs | Mapping[str, Any]
    policy: SnapshotPolicy | None = None
    recycle_bin_days: int | None = None


class SnapshotRetention(pulumi.ComponentResource):
    """A SnapshotSeries, tagged by a policy, whose deletes can be undone for `recycle_bin_days`.

    Every snapshot of the series is tagged `snapshot-series` = `<project>/<stack>/<name>`, which the Recycle Bin rule
    matches. That value is known before the series exists, so the series can depend on the rule: `destroy` then
    deletes the series (its snapshots go to the Recycle Bin) before the rule."""

    snapshot_id: pulumi.Output[str | None]
    wait_time: pulumi.Output[float]

    def __init__(self, name: str, args: SnapshotRetentionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ebs-snapshots:components:SnapshotRetention", name, None, opts)
        given = dict(args.series)
        label = f"{pulumi.get_project()}/{pulumi.get_stack()}/{name}"
        policy_tags = series_tags(args.policy, _source(given)) if args.policy is not None else {}
        given["tags"] = {**policy_tags, **(given.get("tags") or {}), SERIES_LABEL_TAG: label}
        self.recycle_bin = (
            recycle_bin_rule(
                f"{name}-recycle-bin",
                SERIES_LABEL_TAG,
                label,
                args.recycle_bin_days,
                description=f"snapshots deleted by the SnapshotSeries {label}: recoverable for "
                f"{args.recycle_bin_days} days",
                parent=self,
            )
            if args.recycle_bin_days is not None
            else None
        )
        self.series = SnapshotSeries(
            f"{name}-series",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.recycle_bin] if self.recycle_bin else None),
            **given,
        )
        self.snapshot_id = self.series.snapshot_id
        self.wait_time = self.series.wait_time
        self.register_outputs(
            {
                "snapshot_id": self.snapshot_id,
                "wait_time": self.wait_time,
                "snapshots": self.series.snapshots,
                "recycle_bin_rule": self.recycle_bin.id if self.recycle_bin else None,
            }
        )


def _source(given: Mapping[str, Any]) -> str:
    return str(given.get("volume_id") or given.get("instance_id"))
