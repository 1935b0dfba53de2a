"""Tagging scheme and naming convention: one small policy turned into the tags every snapshot gets at creation."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from snapshot_provider import EbsSnapshot

NAME_FIELDS = ("stack", "project", "source_id", "date")
# Tags derived from the creation date: kept as first written (ignore_changes), so a later run does not rename.
DATE_DERIVED_TAGS = ("Name", "delete-after")


@dataclass(frozen=True)
class SnapshotPolicy:
    """Who owns a snapshot, why it was taken, how long to keep it, and how to name it."""

    owner: str
    reason: str
    retention_days: int | None = None
    name_template: str = "{stack}-{source_id}-{date}"
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [f for _, f, _, _ in string.Formatter().parse(self.name_template) if f and f not in NAME_FIELDS]
        if unknown:
            raise ValueError(
                f"name_template {self.name_template!r} uses {unknown[0]!r}; allowed fields: {', '.join(NAME_FIELDS)}"
            )
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {self.retention_days}")
        if not self.owner.strip() or not self.reason.strip():
            raise ValueError("owner and reason must not be empty: they are what makes a snapshot's purpose auditable")


def snapshot_name(policy: SnapshotPolicy, *, source_id: str, date: dt.date, stack: str, project: str) -> str:
    return policy.name_template.format(stack=stack, project=project, source_id=source_id, date=date.isoformat())


def snapshot_tags(policy: SnapshotPolicy, *, source_id: str, date: dt.date, stack: str, project: str) -> dict[str, str]:
    """The tags a snapshot of `source_id` gets under `policy` (pure)."""
    tags = {
        **policy.extra_tags,
        "Name": snapshot_name(policy, source_id=source_id, date=date, stack=stack, project=project),
        "owner": policy.owner,
        "reason": policy.reason,
        "source-id": source_id,
        "created-by": f"pulumi:{project}/{stack}",
    }
    if policy.retention_days is not None:
        tags["retention-days"] = str(policy.retention_days)
        tags["delete-after"] = (date + dt.timedelta(days=policy.retention_days)).isoformat()
    return tags


def tags_for(policy: SnapshotPolicy, source_id: str, date: dt.date | None = None) -> dict[str, str]:
    """`snapshot_tags` for the current stack, dated today unless told otherwise."""
    return snapshot_tags(
        policy,
        source_id=source_id,
        date=date or dt.datetime.now(dt.UTC).date(),
        stack=pulumi.get_stack(),
        project=pulumi.get_project(),
    )


def keep_first_dated_tags() -> pulumi.ResourceOptions:
    """Options for a snapshot resource: the date-derived tags keep the value they were created with."""
    return pulumi.ResourceOptions(ignore_changes=[f'tags["{key}"]' for key in DATE_DERIVED_TAGS])


LATEST_SNAPSHOT_TAG = "latest-snapshot-id"


def tag_source(name: str, source_id: str, snapshot_id: pulumi.Input[str], parent: pulumi.Resource) -> aws.ec2.Tag:
    """Tag the snapshotted volume (or instance) with the id of its latest snapshot."""
    return aws.ec2.Tag(
        name,
        resource_id=source_id,
        key=LATEST_SNAPSHOT_TAG,
        value=snapshot_id,
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass
class TaggedSnapshotArgs:
    volume_id: str
    policy: SnapshotPolicy
    tag_source: bool = True


class TaggedSnapshot(pulumi.ComponentResource):
    """An EbsSnapshot named and tagged by a policy; the volume gets `latest-snapshot-id` pointing to it."""

    snapshot_id: pulumi.Output[str]
    wait_time: pulumi.Output[float]

    def __init__(self, name: str, args: TaggedSnapshotArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ebs-snapshots:components:TaggedSnapshot", name, None, opts)
        self.snapshot = EbsSnapshot(
            f"{name}-snapshot",
            volume_id=args.volume_id,
            tags=tags_for(args.policy, args.volume_id),
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), keep_first_dated_tags()),
        )
        self.snapshot_id = self.snapshot.snapshot_id
        self.wait_time = self.snapshot.wait_time
        self.source_tag = (
            # The resource id, which a preview of an in-place update (tags) still knows; the output it would not.
            tag_source(f"{name}-source-tag", args.volume_id, self.snapshot.id, self) if args.tag_source else None
        )
        self.register_outputs({"snapshot_id": self.snapshot_id, "wait_time": self.wait_time})
