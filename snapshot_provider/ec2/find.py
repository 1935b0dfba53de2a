"""Typed finders for EC2 snapshots and the one error for what is not there (Terraform's `find.go` and its
`NotFoundError`): a finder returns what it found or raises `NotFound`. A caller to which a missing snapshot is
fine says so, `except NotFound`, rather than testing for None, False or an id left out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2.errors import SnapshotProviderError, explain, is_not_found
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import SnapshotTypeDef


class NotFound(LookupError):
    """The snapshots `ids` do not exist (any more), or EC2 does not list them yet. `found` holds the others a lookup
    of several did find. Not a SnapshotProviderError: a caller catching those does not take a missing snapshot for a
    failure by accident."""

    def __init__(self, ids: Iterable[str], found: Mapping[str, SnapshotTypeDef] | None = None) -> None:
        self.ids = list(ids)
        self.found: dict[str, SnapshotTypeDef] = dict(found or {})
        super().__init__(f"snapshot not found: {', '.join(self.ids)}")


@contextmanager
def missing_raised(*snapshot_ids: str) -> Iterator[None]:
    """Around an EC2 call on snapshots (DeleteSnapshot, DeleteTags, ...): EC2's snapshot NotFound codes become
    NotFound(snapshot_ids); every other error goes on as it was."""
    try:
        yield
    except ClientError as error:
        if is_not_found(error):
            raise NotFound(snapshot_ids) from error
        raise


def snapshot(ec2: Any, snapshot_id: str) -> SnapshotTypeDef:
    """The snapshot `snapshot_id` (DescribeSnapshots by id); NotFound when EC2 has no such snapshot."""
    try:
        with missing_raised(snapshot_id):
            found = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    except ClientError as error:
        raise SnapshotProviderError(explain(error, "reading the snapshot", snapshot_id=snapshot_id)) from error
    except BotoCoreError as error:
        raise SnapshotProviderError(explain(error, "reading the snapshot", snapshot_id=snapshot_id)) from error
    if not found:
        raise NotFound([snapshot_id])
    snapshot: SnapshotTypeDef = found[0]
    return snapshot


def snapshots(ec2: Any, snapshot_ids: Iterable[str]) -> dict[str, SnapshotTypeDef]:
    """This account's snapshots `snapshot_ids`, by id, looked up by filter (MAX_FILTER_VALUES ids a call, so that
    one missing id does not fail the call). NotFound names the ids EC2 did not list and carries the others (`found`).
    AWS errors are raised as botocore raises them: the caller says what it was doing (`aws_errors`)."""
    wanted = list(dict.fromkeys(snapshot_ids))
    found: dict[str, SnapshotTypeDef] = {}
    for start in range(0, len(wanted), MAX_FILTER_VALUES):
        batch = wanted[start : start + MAX_FILTER_VALUES]
        pages = ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": "snapshot-id", "Values": batch}]
        )
        for page in pages:
            found |= {s["SnapshotId"]: s for s in page.get("Snapshots", [])}
    missing = [sid for sid in wanted if sid not in found]
    if missing:
        raise NotFound(missing, found)
    return found
