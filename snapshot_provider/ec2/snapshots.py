"""EC2 snapshot operations, each a small function over a boto3 client: create once, find, describe, tag,
archive, delete. What they mean for a resource's lifecycle is decided in `lifecycle`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.parsers import ResponseParserError

from snapshot_provider.ec2 import clients, find, undo_tags
from snapshot_provider.ec2.batching import Batched
from snapshot_provider.ec2.errors import (
    SnapshotInUse,
    SnapshotProviderError,
    ami_in_message,
    aws_errors,
    error_code,
    explain,
    is_throttling,
)
from snapshot_provider.inputs.rules import MANAGED_TAG_PREFIX, MAX_FILTER_VALUES, MAX_TAGS

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

log = logging.getLogger("snapshot_provider.snapshots")  # the name users filter on since 0.1.0, kept through the move

MAX_TAGGED_PER_CALL = 200  # CreateTags takes up to 1000 resources, and AWS advises smaller batches

Snapshots = list[dict[str, Any]]


def tag_specifications(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    if not tags:
        return []
    return [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]


def tags_of(aws_tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """Tags as a dict, without the ones this provider manages and the ones AWS owns."""
    return {
        t["Key"]: t["Value"]
        for t in aws_tags or []
        if not t["Key"].startswith(MANAGED_TAG_PREFIX) and not t["Key"].lower().startswith("aws:")
    }


def tag_value(snapshot: Mapping[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in snapshot.get("Tags") or [] if t["Key"] == key), None)


def is_ambiguous(error: BaseException) -> bool:
    """The request may have been carried out although no answer says so: a 5xx (not throttling), a connection
    dropped or timed out while the answer was awaited, an answer that could not be read."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status) >= 500 and not is_throttling(error)
    return isinstance(error, (HTTPClientError, ResponseParserError))


def never_sent(error: BaseException) -> bool:
    """No connection was made (refused, connect timeout, TLS): nothing reached EC2, so the request can go again."""
    return isinstance(error, BotocoreConnectionError)


def find_tagged(ec2: EC2Client, key: str, value: str) -> Snapshots:
    """This account's snapshots tagged `key`=`value` exactly, newest first.

    Lookups of one tag key made at once (every create of a big stack starts with one) share a DescribeSnapshots
    call, each answered by a call made after it was asked (see `batching`)."""
    lookup = _tag_lookups.get(
        (ec2, key), lambda: Batched(lambda values: _find_tagged(ec2, key, values), MAX_FILTER_VALUES)
    )
    return lookup(value)


_tag_lookups: clients.OncePerKey[tuple[EC2Client, str], Batched[str, Snapshots]] = clients.OncePerKey()


def _find_tagged(ec2: EC2Client, key: str, values: list[str]) -> dict[str, Snapshots]:
    found: dict[str, Snapshots] = {value: [] for value in values}
    with aws_errors("looking for snapshots by tag (ec2:DescribeSnapshots)", tag=f"{key}={','.join(values)}"):
        pages = ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{key}", "Values": values}]
        )
        for page in pages:
            for snapshot in page.get("Snapshots", []):
                found.get(tag_value(snapshot, key) or "", []).append({**snapshot})
    return {value: sorted(group, key=lambda s: aware(s["StartTime"]), reverse=True) for value, group in found.items()}


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def existing(ec2: EC2Client, snapshot_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Those of `snapshot_ids` that exist, by id: for callers that tell a missing one from a present one themselves
    (a poller that waits for EC2 to list it, a second look before calling it gone)."""
    try:
        found = find.snapshots(ec2, snapshot_ids)
    except find.NotFound as missing:
        found = missing.found
    return {sid: {**snapshot} for sid, snapshot in found.items()}


def which_exist(ec2: EC2Client, snapshot_ids: list[str], doing: str) -> dict[str, dict[str, Any]]:
    """Those of `snapshot_ids` that exist, by id (as `existing`), an AWS failure explained as `doing` (what the
    caller was doing: "reading the copy")."""
    with aws_errors(doing, snapshot_ids=",".join(snapshot_ids)):
        return existing(ec2, snapshot_ids)


def volume_tags(ec2: EC2Client, volume_ids: list[str], region: str) -> dict[str, dict[str, str]]:
    """Each volume's tags (without AWS's own), to copy onto its snapshot."""
    with aws_errors("reading the volumes' tags (ec2:DescribeVolumes)", volume_ids=",".join(volume_ids), region=region):
        volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    return {v["VolumeId"]: tags_of(v.get("Tags")) for v in volumes}


def set_tags(ec2: EC2Client, snapshot_ids: list[str], tags: Mapping[str, str]) -> None:
    """Set `tags` on the snapshots. Requests for the same tags made at once (every create of a big stack ends by
    marking its snapshots `recorded`) share a CreateTags call; each returns once its own snapshots are tagged."""
    if not tags or not snapshot_ids:
        return
    wanted = tuple(sorted(tags.items()))
    tagging = _taggings.get(
        (ec2, wanted),
        lambda: Batched(lambda groups: _set_tags(ec2, groups, wanted), MAX_TAGGED_PER_CALL, weight=len),
    )
    tagging(tuple(snapshot_ids))


_taggings: clients.OncePerKey[tuple[EC2Client, tuple[tuple[str, str], ...]], Batched[tuple[str, ...], None]] = (
    clients.OncePerKey()
)


def _set_tags(
    ec2: EC2Client, groups: list[tuple[str, ...]], tags: tuple[tuple[str, str], ...]
) -> dict[tuple[str, ...], None]:
    snapshot_ids = list(dict.fromkeys(sid for group in groups for sid in group))
    with aws_errors("tagging snapshots (ec2:CreateTags)", snapshot_ids=",".join(snapshot_ids)):
        ec2.create_tags(Resources=snapshot_ids, Tags=[{"Key": k, "Value": v} for k, v in tags])
    return dict.fromkeys(groups)


def update_tags(ec2: EC2Client, snapshot_ids: list[str], old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Remove the tags dropped from the inputs, then set the new or changed ones (in that order, so that a renamed
    tag fits on a snapshot at EC2's limit); leave every other tag alone."""
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    removed = [k for k in old if k not in new]
    with aws_errors("updating snapshot tags", snapshot_ids=",".join(snapshot_ids)):
        if removed:
            ec2.delete_tags(Resources=snapshot_ids, Tags=[{"Key": k} for k in sorted(removed)])
        if changed:
            try:
                ec2.create_tags(
                    Resources=snapshot_ids, Tags=[{"Key": k, "Value": v} for k, v in sorted(changed.items())]
                )
            except ClientError as error:
                if error_code(error) != "TagLimitExceeded":
                    raise
                raise SnapshotProviderError(no_room_for_tags(ec2, snapshot_ids, changed)) from error


def no_room_for_tags(ec2: EC2Client, snapshot_ids: list[str], wanted: Mapping[str, str]) -> str:
    """Why EC2 refused `wanted` (TagLimitExceeded), counted on the snapshot that has no room: its own tags, this
    provider's, and the hold of a VolumeRemoval's undo, which the inputs' limit cannot foresee."""
    for snapshot in existing(ec2, snapshot_ids).values():
        tags = {t["Key"] for t in snapshot.get("Tags") or [] if not t["Key"].lower().startswith("aws:")}
        total = len(tags | set(wanted))
        if total <= MAX_TAGS:
            continue
        ours = {k for k in tags if k.startswith(MANAGED_TAG_PREFIX)}
        holder = undo_tags.holder_of(snapshot.get("Tags"))
        hold = len(undo_tags.managed_keys(snapshot.get("Tags")))
        held = (
            f", {hold} of them the hold of the removal of {holder}, whose undo restores the volume from it (gone "
            "once the undo has run)"
            if holder
            else ""
        )
        fix = f"; or destroy the VolumeRemoval of {holder} first" if holder else ""
        return (
            f"cannot tag snapshot {snapshot['SnapshotId']}: EC2 allows {MAX_TAGS} tags per snapshot, and with the "
            f"`tags` given it would have {total}: {total - len(ours)} of the `tags` and {len(ours)} of this "
            f"provider's{held}. Remove {total - MAX_TAGS} of the `tags`{fix}. The tags were not added."
        )
    return (
        f"EC2 refused the tags (TagLimitExceeded: at most {MAX_TAGS} per snapshot, counting this provider's) on "
        f"{', '.join(snapshot_ids)}; remove some of the `tags`"
    )


def as_updated(snapshot: Mapping[str, Any], old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, Any]:
    """The snapshot as `update_tags(old, new)` leaves it, whatever a look right after the write showed."""
    tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags") or [] if t["Key"] not in old or t["Key"] in new}
    tags |= new
    return {**snapshot, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def archive(ec2: EC2Client, snapshot_id: str) -> None:
    with aws_errors("moving the snapshot to the archive tier (ec2:ModifySnapshotTier)", snapshot_id=snapshot_id):
        ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")


def delete_snapshot(ec2: EC2Client, snapshot_id: str) -> None:
    """Delete; find.NotFound if it does not exist (any more), SnapshotInUse if an AMI uses it."""
    try:
        with find.missing_raised(snapshot_id):
            ec2.delete_snapshot(SnapshotId=snapshot_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidSnapshot.InUse":
            ami = ami_in_message(error) or next(
                iter((images_using(ec2, [snapshot_id]) or {}).get(snapshot_id, [])), "an AMI"
            )
            raise SnapshotInUse(
                f"cannot delete snapshot {snapshot_id}: it is used by {ami}. Deregister {ami} first "
                f"(aws ec2 deregister-image --image-id {ami}), or keep the snapshot with retain_on_delete."
            ) from error
        raise SnapshotProviderError(explain(error, "deleting the snapshot", snapshot_id=snapshot_id)) from error
    except BotoCoreError as error:
        raise SnapshotProviderError(explain(error, "deleting the snapshot", snapshot_id=snapshot_id)) from error


def images_using(ec2: EC2Client, snapshot_ids: list[str]) -> dict[str, list[str]] | None:
    """This account's AMIs (disabled and deprecated ones too) that use each snapshot; None when EC2 could not say
    (then a delete refused with InvalidSnapshot.InUse is how the caller finds out)."""
    used: dict[str, list[str]] = {}
    try:
        for start in range(0, len(snapshot_ids), MAX_FILTER_VALUES):
            batch = snapshot_ids[start : start + MAX_FILTER_VALUES]
            pages = ec2.get_paginator("describe_images").paginate(
                Owners=["self"],
                IncludeDeprecated=True,
                IncludeDisabled=True,
                Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": batch}],
            )
            for image in (i for page in pages for i in page.get("Images", [])):
                for mapping in image.get("BlockDeviceMappings", []):
                    sid = mapping.get("Ebs", {}).get("SnapshotId")
                    if sid in batch:
                        used.setdefault(sid, []).append(image["ImageId"])
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        log.info("DescribeImages failed: %s", error)
        return None
    return used


def iso(moment: datetime | None) -> str | None:
    return aware(moment).isoformat() if moment else None


def wait_seconds(observed_at: float, started_at: float) -> float:
    return round(max(0.0, observed_at - started_at), 3)
