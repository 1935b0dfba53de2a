"""The share of a copy's source with the destination account (createVolumePermission), recorded on the source so that
the next run finds it: one holder tag per copying resource and destination region,
`pulumi-snapshot:copy-share:<account>:<region>:<token>` (the resource's token, as its copies carry it; 87 characters,
within EC2's 128 per tag key). A series copies each point to several targets under one token: with the region in the
key, one target's copy that completes does not end the holding another target's pending copy needs. The previous
build wrote `<account>:<token>`: such a tag is still read as a holder and released as this resource's.

EC2 keeps no record of who added a share. Without one, a run killed during an hours-long copy, a lost
ModifySnapshotAttribute answer or a failed unshare left the share for good, and the next run took it for the user's.
So:
- holding: the holder tag is written first, then the share added (a lost answer is recorded still);
- releasing: the own tag deleted, the source's tags read again, and the share removed only when no holder of ours
  remains (two resources copying one source into one account: the last one removes it);
- a share found with no holder of ours is the user's: nothing is recorded and it is never removed.
Limits EC2 leaves (docs/lock-and-copy.md): a share the user adds between our look and our add is taken for ours, and a
holder tag written within EC2's tag delay (eventual consistency) before another resource's release may be unseen by it.

The tags are written with the source account's credentials: a snapshot's tags are its owner's, and the account it is
shared with does not see them (a copy does not copy them either: EBS user guide, "Copy an Amazon EBS snapshot").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core.lifecycle.shapes import say
from snapshot_provider.ec2 import clients, snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError, error_code, explain
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.rules import MAX_TAGS
from snapshot_provider.process.engine_log import engine_log

HOLDER_PREFIX = "pulumi-snapshot:copy-share"


def holder_key(destination_id: str, region: str, token: str) -> str:
    """The tag a resource (its token) holds the source's share with `destination_id` by, for its copy to `region`."""
    return f"{HOLDER_PREFIX}:{destination_id}:{region}:{token}"


def earlier_holder_key(destination_id: str, token: str) -> str:
    """The holder tag the previous build wrote (no region): still this resource's to release."""
    return f"{HOLDER_PREFIX}:{destination_id}:{token}"


def token_of(key: str) -> str:
    """The resource token a holder key (either form) ends with."""
    return key.rsplit(":", 1)[-1]


def holders(snapshot: Mapping[str, Any], destination_id: str) -> set[str]:
    """The holder tags of this provider's resources on the snapshot for its share with `destination_id`."""
    prefix = earlier_holder_key(destination_id, "")
    return {t["Key"] for t in snapshot.get("Tags") or [] if t["Key"].startswith(prefix)}


@dataclass(frozen=True)
class Share:
    """A source snapshot's share with a destination account, as one resource (its token) holds it."""

    source: AccountSelection  # the source's account (its own credentials) and region
    source_id: str
    destination_id: str
    region: str  # the copy's destination region
    token: str
    urn: Any

    @property
    def key(self) -> str:
        return holder_key(self.destination_id, self.region, self.token)

    @property
    def keys(self) -> set[str]:
        """This holding's tag, and the one the previous build wrote for it."""
        return {self.key, earlier_holder_key(self.destination_id, self.token)}

    @property
    def permission(self) -> dict[str, Any]:
        return {"SnapshotId": self.source_id, "Attribute": "createVolumePermission", "UserIds": [self.destination_id]}


def hold(share: Share, snapshot: Mapping[str, Any]) -> bool:
    """Share the source (its DescribeSnapshots entry `snapshot`) with the destination for this resource's copy, unless
    it is the user's share already. True: the share is this provider's and this resource holds it (release it once
    the copy ended); False: the user's, left alone. A refused share raises ShareRefused, its holding released."""
    ec2 = clients.client(share.source)
    shared = shared_already(ec2, share.source_id, share.destination_id)
    if shared and not holders(snapshot, share.destination_id):
        return False
    try:
        ec2.create_tags(Resources=[share.source_id], Tags=[{"Key": share.key, "Value": _now()}])
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(
            explain(error, "recording the copy's share on the source (ec2:CreateTags)", snapshot_id=share.source_id)
            + f". Nothing was shared or copied: the share with account {share.destination_id} is recorded on the "
            "source before it is added, so that a run cut short never leaves it unknown."
            + (_way_out_of_tag_limit(share) if error_code(error) == "TagLimitExceeded" else "")
        ) from error
    if shared:
        say(share.urn, f"{share.source_id} is shared with account {share.destination_id} by another copy: held too")
        return True
    try:
        ec2.modify_snapshot_attribute(OperationType="add", **share.permission)
    except (ClientError, BotoCoreError) as error:
        with _said_if_failing(share):  # a lost answer may have shared it: released like any other holding
            release(share)
        raise ShareRefused(error) from error
    say(share.urn, f"shared {share.source_id} with account {share.destination_id} for its copy (removed once it ended)")
    return True


class ShareRefused(SnapshotProviderError):
    """ModifySnapshotAttribute refused the share: nothing was copied (`cause` says why)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def release(share: Share) -> None:
    """End this resource's holding: its tag deleted, then the share removed if no other holder of ours remains. If
    the removal fails, the tag is written back (the next run, or the resource's delete, removes the share) and the
    error raised."""
    ec2 = clients.client(share.source)
    try:
        ec2.delete_tags(Resources=[share.source_id], Tags=[{"Key": key} for key in sorted(share.keys)])
        snapshot = snapshots.existing(ec2, [share.source_id]).get(share.source_id)
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(
            explain(error, "ending the copy's holding of the share (ec2:DeleteTags, ec2:DescribeSnapshots)")
        ) from error
    if snapshot is None:
        return  # the source is gone, and its share with it
    others = holders(snapshot, share.destination_id) - share.keys
    if others:  # our own tags may still show (EC2's tag delay): it is not another's
        say(share.urn, f"{share.source_id} stays shared with account {share.destination_id}: another copy holds it")
        return
    try:
        ec2.modify_snapshot_attribute(OperationType="remove", **share.permission)
    except (ClientError, BotoCoreError) as error:
        doing = "unsharing the source (ec2:ModifySnapshotAttribute)"
        try:
            ec2.create_tags(Resources=[share.source_id], Tags=[{"Key": share.key, "Value": _now()}])
        except (ClientError, BotoCoreError):
            raise SnapshotProviderError(f"{explain(error, doing)}; the share is no longer recorded") from error
        raise SnapshotProviderError(f"{explain(error, doing)}; the share stays recorded ({share.key})") from error
    say(share.urn, f"removed the share of {share.source_id} with account {share.destination_id} its copy needed")


def release_or_warn(share: Share) -> None:
    """`release`, a failure said in a warning with what to do (the copy itself is done: not fatal)."""
    with _said_if_failing(share):
        release(share)


def held_by(share: Share) -> bool:
    """Whether this resource holds the share (its tag on the source), as EC2 lists the source's tags now."""
    ec2 = clients.client(share.source)
    snapshot = snapshots.which_exist(ec2, [share.source_id], "reading the source snapshot").get(share.source_id)
    return snapshot is not None and bool(share.keys & holders(snapshot, share.destination_id))


def shared_by_user(share: Share, snapshot: Mapping[str, Any]) -> bool:
    """The source (its DescribeSnapshots entry `snapshot`) is shared with the destination and no holder of ours
    records it: the user's share, which `hold` leaves alone."""
    ec2 = clients.client(share.source)
    return shared_already(ec2, share.source_id, share.destination_id) and not holders(snapshot, share.destination_id)


def shared_already(ec2: Any, source_id: str, account_id: str) -> bool:
    """Whether the snapshot is shared with the account (or public)."""
    try:
        answer = ec2.describe_snapshot_attribute(SnapshotId=source_id, Attribute="createVolumePermission")
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(
            explain(
                error, "reading whom the source is shared with (ec2:DescribeSnapshotAttribute)", snapshot_id=source_id
            )
        ) from error
    granted = answer.get("CreateVolumePermissions", [])
    return any(p.get("UserId") == account_id or p.get("Group") == "all" for p in granted)


def ending_by_hand(share: Share) -> str:
    """The commands that end the share and its record by hand."""
    return (
        f"`aws ec2 modify-snapshot-attribute --snapshot-id {share.source_id} --attribute createVolumePermission "
        f"--operation-type remove --user-ids {share.destination_id}` and `aws ec2 delete-tags --resources "
        f"{share.source_id} --tags Key={share.key}`"
    )


@contextmanager
def _said_if_failing(share: Share) -> Iterator[None]:
    """A release's failure as a warning naming the commands that end the share by hand."""
    try:
        yield
    except SnapshotProviderError as error:
        engine_log().warning(
            share.urn,
            f"{share.source_id} may still be shared with account {share.destination_id}: {error}. The next `pulumi "
            f"up` or `pulumi destroy` of this resource removes it; by hand: {ending_by_hand(share)}",
        )


def _way_out_of_tag_limit(share: Share) -> str:
    """What lets a source at EC2's tag limit (50 per resource: EC2 user guide, "Tag restrictions") be copied."""
    return (
        f" {share.source_id} has no room for the holder tag ({share.key}): EC2 allows {MAX_TAGS} tags per "
        f"snapshot. Free one tag on {share.source_id}, or share it yourself: `aws ec2 modify-snapshot-attribute "
        f"--snapshot-id {share.source_id} --attribute createVolumePermission --operation-type add --user-ids "
        f"{share.destination_id}`; a share you add is left alone as yours (never removed by this provider)."
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
