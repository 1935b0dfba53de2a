"""The inputs of a SnapshotSeries, declared once (check, diff, docs), and the rules that span two inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeGuard

import pulumi

from snapshot_provider.inputs import consistency, copies, lock, rules
from snapshot_provider.inputs.declarations import DEFAULT_TIMEOUT, URN_FIELD, AccountArgs
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema

# How many of a series snapshot's tags the provider uses: the lifecycle's, and the series' id and point.
SERIES_TAG_COUNT = rules.LIFECYCLE_TAG_COUNT + 2
# And of a copy's: the lifecycle's, the series' id, the point, and the snapshot it copies.
COPY_TAG_COUNT = rules.LIFECYCLE_TAG_COUNT + 3


def series_tags(value: Any) -> list[str]:
    return rules.tags(value, managed=SERIES_TAG_COUNT)


class SnapshotSeriesArgs(AccountArgs, consistency.ConsistencyArgs, total=False):
    """The inputs of a SnapshotSeries (see docs/resources/snapshot-series.md, generated from these declarations).

    Not `SnapshotArgs`: a series has `trigger` and a retention policy where a snapshot has `triggers` and
    `storage_tier`, and its description applies to the next snapshot rather than replacing the resource."""

    volume_id: Annotated[
        pulumi.Input[str],
        Field(
            "the volume the series snapshots (or `instance_id`); a change takes a snapshot of the new volume and "
            "keeps the series' history",
            rule=rules.volume_id,
            on_change="snapshot",
        ),
    ]
    instance_id: Annotated[
        pulumi.Input[str],
        Field(
            "the instance whose volumes are snapshotted together each time (or `volume_id`)",
            rule=rules.instance_id,
            on_change="snapshot",
        ),
    ]
    exclude_boot_volume: Annotated[
        pulumi.Input[bool],
        Field(
            "instance series: leave the root volume out",
            rule=rules.boolean,
            on_change="snapshot",
            requires="instance_id",
        ),
    ]
    exclude_data_volume_ids: Annotated[
        pulumi.Input[Sequence[pulumi.Input[str]]],
        Field(
            "instance series: attached data volumes to leave out",
            rule=rules.volume_ids,
            on_change="snapshot",
            requires="instance_id",
        ),
    ]
    trigger: Annotated[
        pulumi.Input[str | float | bool],
        Field(
            "a new value takes a new snapshot, then prunes (a nightly job passes today's date); unset: one "
            "snapshot, when the series is created",
            rule=rules.trigger,
            on_change="snapshot",
        ),
    ]
    keep_last: Annotated[
        pulumi.Input[int],
        Field(
            "keep at most this many completed snapshots (sets), newest first; older ones are deleted",
            rule=rules.keep_last,
        ),
    ]
    max_age_days: Annotated[
        pulumi.Input[float],
        Field("delete snapshots once they are this many days old", rule=rules.days(0, inclusive=False)),
    ]
    archive_after_days: Annotated[
        pulumi.Input[float],
        Field(
            "move snapshots to the archive tier once they are this many days old (less than `max_age_days`; see "
            "the cost notes: archived snapshots are billed for at least 90 days)",
            rule=rules.days(0, inclusive=True),
        ),
    ]
    description: Annotated[
        pulumi.Input[str],
        Field("on each new snapshot; at most 255 characters", rule=rules.description, on_change="none"),
    ]
    tags: Annotated[
        pulumi.Input[Mapping[str, pulumi.Input[str]]],
        Field(
            "on every snapshot of the series: set at creation; a change updates the kept ones in place (only the "
            "keys given here); at most 46, no `aws:` or `pulumi-snapshot:` keys",
            rule=series_tags,
            default={},
        ),
    ]
    lock: Annotated[
        pulumi.Input[Mapping[str, Any]],
        Field(
            "EBS snapshot lock on each new point, applied once `completed` (as `lock` of EbsSnapshot: `mode`, "
            "`duration_days` or `expires_at`, `cool_off_hours`); a change applies to the points taken after it, the "
            "older ones keep theirs; a locked point is never pruned (kept, said, listed in `locked`); once "
            "`expires_at` has passed, new points are taken without a lock (and said)",
            rule=lock.rule,
            transition=lock.new_lock_ended,
        ),
    ]
    copies: Annotated[
        pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]],
        Field(
            "copy each completed point to these targets, each `region` (another region) and/or `role_arn` (another "
            "account), optional `kms_key_id` and `completion_duration_minutes` (as SnapshotCopy's); a copy is deleted "
            "with its point (a locked copy is kept and said); a failed copy is listed in `copied` and retried by the "
            "next `up`; a target taken out keeps its copies (deleted with their points, and by destroy)",
            rule=copies.targets_rule,
        ),
    ]
    timeout: Annotated[
        pulumi.Input[float],
        Field(
            "seconds to wait for each new snapshot to complete, 1 s to 7 days",
            rule=rules.timeout,
            default=DEFAULT_TIMEOUT,
            on_change="none",
        ),
    ]


SCHEMA = Schema.of(SnapshotSeriesArgs, URN_FIELD)


# The inputs whose change takes a new snapshot.
TAKES = Schema({name: f for name, f in SCHEMA.fields.items() if f.on_change == "snapshot"}, SCHEMA.types)


SOURCES = ("volume_id", "instance_id")


def source_failures(news: Mapping[str, Any]) -> list[Failure]:
    given = [name for name in SOURCES if news.get(name) is not None]
    if len(given) == 1:
        return []
    if not given:
        return [
            Failure("volume_id", "is required: set volume_id (a volume's series) or instance_id (an instance's sets)")
        ]
    return [
        Failure("instance_id", "and volume_id are both set: a series is of one volume or of one instance; keep one")
    ]


def policy_failures(news: Mapping[str, Any]) -> list[Failure]:
    archive, max_age = news.get("archive_after_days"), news.get("max_age_days")
    if _number(archive) and _number(max_age) and archive >= max_age:
        return [
            Failure(
                "archive_after_days",
                f"is {archive:g}, not less than max_age_days={max_age:g}: snapshots would be deleted before they are "
                "archived; lower it, or unset it",
            )
        ]
    return []


def copies_failures(news: Mapping[str, Any]) -> list[Failure]:
    given = news.get("copies")
    found = [Failure("copies", r) for r in copies.home_failures(given, news.get("region"), news.get("role_arn"))]
    if copies.known(given):  # each copy is waited for within the series' timeout
        timeout = news.get("timeout", DEFAULT_TIMEOUT)
        for index, target in enumerate(given or []):
            if short := copies.timeout_reason(target.get("completion_duration_minutes"), timeout):
                found.append(Failure("timeout", f"{short} (copies[{index}])"))
    tags = news.get("tags")
    room = rules.MAX_TAGS - COPY_TAG_COUNT
    if given and isinstance(tags, Mapping) and len(tags) > room:
        found.append(
            Failure(
                "tags",
                f"has {len(tags)} tags: a copy carries them and {COPY_TAG_COUNT} of the provider's, and EC2 allows "
                f"{rules.MAX_TAGS} per snapshot; keep at most {room}",
            )
        )
    return found


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def failures(news: Mapping[str, Any], olds: Mapping[str, Any] | None = None) -> list[Failure]:
    paused = [Failure(name, reason) for name, reason in consistency.problems(news, managed=SERIES_TAG_COUNT)]
    return SCHEMA.failures(news, olds) + source_failures(news) + policy_failures(news) + copies_failures(news) + paused


def parse(props: Mapping[str, Any]) -> dict[str, Any]:
    found = failures(props)
    if found:
        raise InvalidInputs(found)
    return SCHEMA.stored(props)
