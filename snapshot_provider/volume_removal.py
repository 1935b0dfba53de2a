"""VolumeRemoval: delete an unattached EBS volume once its snapshot is completed, and restore it on delete (undo).

Creating the resource deletes the volume; deleting the resource (`pulumi destroy`) re-creates the volume from the
snapshot with its original size, type, performance, encryption (and KMS key), zone and tags. Guarded hard: only
`available` volumes, only with `confirm_delete_volume` equal to the volume id, only when the snapshot of that volume
completed and stays usable (not archived, not being archived, not restored from the archive for a while only).

The undo must work whatever happens around it:

- The snapshot outlives the undo: before DeleteVolume the removal holds it, with the restore record on it, and reads
  that back (see `holds`); every path of this provider that deletes or archives snapshots honours the hold.
- DeleteVolume is never retried blindly: after an ambiguous failure the volume is looked up (gone, or `deleting`: the
  delete went through). A create interrupted after DeleteVolume is finished by the next `up` from the record on the
  snapshot, instead of being refused for good.
- The undo restores exactly one volume, however often it runs: CreateVolume carries a client token derived from the
  removal, and the restored volume is tagged `pulumi-snapshot:undo-of` and looked for first (for when EC2 has
  forgotten the token). It waits until the volume is `available` (a just-created one may be missing from listings
  for a while), and only then releases the hold.
- An undo source archived since (by hand) cannot be restored from for 24-72 h: the undo starts a temporary tier
  restore and fails, saying so; the next `destroy` after it finished restores the volume.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Required, TypeVar, Unpack, overload

import pulumi
from botocore.exceptions import BotoCoreError, ClientError
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider.core import holds, progress, waiting
from snapshot_provider.dynamic.program import ProviderResource
from snapshot_provider.ec2 import clients, find, snapshots, undo_tags
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
    WaitEnded,
    aws_errors,
    error_code,
    explain,
    is_throttling,
)
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import URN_FIELD, URN_INPUT, AccountArgs, AccountSelection
from snapshot_provider.inputs.schema import Failure, Field, InvalidInputs, Schema


class VolumeRemovalArgs(AccountArgs, total=False):
    """The inputs of a VolumeRemoval."""

    volume_id: Required[
        Annotated[
            pulumi.Input[str],
            Field("the unattached volume to delete", rule=rules.volume_id, required=True, on_change="replace"),
        ]
    ]
    snapshot_id: Required[
        Annotated[
            pulumi.Input[str],
            Field(
                "a completed snapshot of that volume, in the standard tier: the undo restores from it; a new one is "
                "checked and takes over the hold in place",
                rule=rules.snapshot_id,
                required=True,
            ),
        ]
    ]
    confirm_delete_volume: Required[
        Annotated[
            pulumi.Input[str],
            Field("must repeat `volume_id`: deleting a volume is an explicit opt-in", required=True, on_change="state"),
        ]
    ]


T = TypeVar("T")
SCHEMA = Schema.of(VolumeRemovalArgs, URN_FIELD)
# What is needed to bring the volume back, recorded before it is deleted (in state, and on the snapshot).
RESTORE_KEYS = (
    "availability_zone",
    "size",
    "volume_type",
    "iops",
    "throughput",
    "encrypted",
    "kms_key_id",
    "multi_attach_enabled",
    "volume_tags",
)
RESTORE_WAIT_SECONDS = 600.0
# A snapshot seen before is looked for again this long before it counts as gone.
MISSING_SNAPSHOT_GRACE_SECONDS = 10.0
TIER_RESTORE_DAYS = 7
SAY_EVERY = 60.0
# The restored volume carries `restored-from` and the managed tag besides the original's tags.
ADDED_VOLUME_TAGS = 2
VOLUME_NOT_FOUND = "InvalidVolume.NotFound"
ONCE_ATTEMPTS = 20  # as many as botocore's retries (clients.RETRY_CONFIG)
# A deleted volume is listed as `deleting` for a while, then as `deleted` or not at all.
GONE = ("deleting", "deleted")


def failures(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """The schema's rules, the confirmation, and changes no replace could carry out (the volume is gone)."""
    found = SCHEMA.failures(news, olds)
    volume_id, confirm = news.get("volume_id"), news.get("confirm_delete_volume")
    if not rules.is_unknown(volume_id) and not rules.is_unknown(confirm) and confirm != volume_id:
        found.append(
            Failure(
                "confirm_delete_volume",
                f"must be exactly the volume id ({volume_id!r}) to allow deleting it, got {confirm!r}: "
                "deleting a volume is an explicit opt-in",
            )
        )
    if olds:
        found += _moves(olds, news)
    return found


def _moves(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[Failure]:
    """A removed volume cannot follow a change of region: a replacement would look for it there. (Nor of account:
    new access settings are checked at diff and update to act in the account state records, as for every
    resource.)"""
    found = []
    if olds.get("region") != news.get("region") and not rules.is_unknown(news.get("region")):
        found.append(Failure("region", _MOVE.format(what="region", old=olds.get("region"))))
    return found


_MOVE = (
    "the volume was removed in {what} {old}, and a removed volume cannot follow a change of {what}: "
    "`pulumi destroy` this resource (which restores the volume) before pointing it elsewhere"
)


def _parse(olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
    found = failures(olds, news)
    if found:
        raise InvalidInputs(found)
    return SCHEMA.stored(news)


class VolumeRemovalProvider(ResourceProvider):
    """Dynamic provider for VolumeRemoval. Its module path and name are in every stack's state: keep them."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(SCHEMA.stored(news), [CheckFailure(f.property, f.reason) for f in failures(olds, news)])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        found = SCHEMA.diff(olds, news)
        if not found.changes and _predates_holds(olds):
            # Nothing holds its snapshot: a destroy could delete it before the undo ran. An update holds it.
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        return found

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _parse({}, props)
        conn = Connection.to_create(inputs)
        ec2 = conn.ec2
        volume_id, snapshot_id = inputs["volume_id"], inputs["snapshot_id"]
        owner = secrets.token_hex(8)  # this create's: the hold names it, state records it
        volume = _describe_volume(ec2, volume_id)
        if volume is None or volume["State"] in GONE:
            record = _take_over(ec2, conn.account, volume_id, snapshot_id, owner, _urn(inputs))
            say(
                inputs,
                f"volume {volume_id} was removed earlier (by a run of this resource that was cut short, or by the "
                f"resource this one replaces): this resource takes over its undo, from {snapshot_id}",
            )
            return CreateResult(
                f"removed-{volume_id}", _outputs(inputs, record, conn.account_id, record.get("at"), owner)
            )
        snapshot = _refuse_unless_safe(ec2, volume, snapshot_id)
        record = _restore_record(volume)
        _refuse_if_tags_do_not_fit(volume_id, record)
        _hold(ec2, snapshot, volume_id, record, owner, _urn(inputs))
        try:
            _delete_volume(conn.account, volume_id)
        except SnapshotProviderError:
            holds.release(ec2, snapshot_id, volume_id)
            raise
        pulumi.log.info(f"deleted volume {volume_id}; `pulumi destroy` restores it from {snapshot_id}")
        return CreateResult(f"removed-{volume_id}", _outputs(inputs, record, conn.account_id, time.time(), owner))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The volume is gone by design; what matters is that the snapshot needed to undo is still there (asked of the
        # account the volume was removed in: elsewhere it would look gone).
        conn = Connection.to_existing(props, "refresh", clients.recorded_account(props))
        restorable = _find_snapshot(conn.ec2, props["snapshot_id"]) is not None
        return ReadResult(
            id_, {**props, "restorable": restorable, **_account_learned(props, conn.account_id, restorable)}
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Access settings are state only (an unset one is gone from state); a new snapshot id becomes the undo's
        source once it is checked to be a usable snapshot of the removed volume: the hold moves to it. A removal from
        before holds (0.1.0 state) gets its hold here, and records the account its snapshot was seen in."""
        inputs = _parse(olds, news)
        conn = Connection.to_existing(inputs, "update", _recorded_account(olds))
        volume_id, snapshot_id, old_snapshot_id = inputs["volume_id"], inputs["snapshot_id"], olds.get("snapshot_id")
        kept = {k: olds[k] for k in (*RESTORE_KEYS, "deleted_at", "account_id", "hold_owner") if k in olds}
        owner = olds.get("hold_owner") or secrets.token_hex(8)
        ec2 = conn.ec2
        if snapshot_id != old_snapshot_id:
            prefix = f"cannot restore volume {volume_id} from {snapshot_id}"
            snapshot = _require_undo_source(ec2, volume_id, snapshot_id, prefix)
            _hold(ec2, snapshot, volume_id, _record_from_state(olds) or {}, owner, _urn(inputs))
            if old_snapshot_id:
                holds.release(ec2, old_snapshot_id, volume_id)
        elif _predates_holds(olds):
            declared = _recorded_account(inputs) == conn.account_id
            _hold_upgraded(ec2, conn.account_id, olds, owner, _urn(inputs), declared=declared)
        # The snapshot was seen in this account (the hold read back): that is where the volume was removed.
        return UpdateResult({**inputs, "account_id": conn.account_id, **kept, "hold_owner": owner})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undo: the volume comes back from the snapshot, as it was (with a new id: EC2 never reuses one), once."""
        recorded = _recorded_account(props)
        conn = Connection.to_existing(props, "delete", recorded)
        ec2 = conn.ec2
        volume_id, snapshot_id = props["volume_id"], props["snapshot_id"]
        successor = _taken_over_by(ec2, props)
        if successor:
            say(
                props,
                f"not restoring volume {volume_id}: its undo was taken over by the resource that replaced this one "
                f"(hold on {snapshot_id}, {undo_tags.OWNER_TAG}={successor}), whose own delete restores it",
            )
            return
        restored = _find_restored(ec2, volume_id)
        if restored is None:
            snapshot = _undo_source(ec2, conn.account, conn.account_id, props, account_known=recorded is not None)
            record = _record_from_state(props) or complete(undo_tags.record_of(snapshot.get("Tags")))
            if record is None:
                raise SnapshotProviderError(
                    f"cannot restore volume {volume_id}: neither the state nor snapshot {snapshot_id} has its restore "
                    "record (zone, size, type). Nothing was changed: restore it by hand (aws ec2 create-volume "
                    f"--snapshot-id {snapshot_id} ...), then remove this resource with `pulumi state delete`."
                )
            restored = _create_restored(conn.account, volume_id, snapshot_id, record)
            try:
                _wait_available(ec2, restored, props)
            except _RestoredVolumeGone:
                # The token's volume was deleted since (by hand, between two runs): EC2 keeps answering the token
                # with it. A token of its own, derived from the dead volume, makes one new volume, once.
                say(props, f"{restored}, restored earlier for volume {volume_id}, was deleted since: restoring again")
                restored = _create_restored(conn.account, volume_id, snapshot_id, record, after=restored)
                _wait_available(ec2, restored, props)
        else:
            say(props, f"found {restored}, restored for volume {volume_id} by an earlier run: not creating another")
            _wait_available(ec2, restored, props)
        holds.release(ec2, snapshot_id, volume_id)
        pulumi.log.info(f"restored volume {volume_id} from {snapshot_id} as {restored}")


def _account_learned(props: Mapping[str, Any], account_id: str, restorable: bool) -> dict[str, Any]:
    """State from before `account_id` was recorded: the account where its undo snapshot is seen is the one."""
    return {"account_id": account_id} if restorable and not props.get("account_id") else {}


def say(props: Mapping[str, Any], line: str) -> None:
    """A line next to the resource (through the engine, as the lifecycle's progress lines)."""
    urn = props.get(URN_INPUT)
    progress.engine_log().info(urn if isinstance(urn, str) and not rules.is_unknown(urn) else None, line)


def _outputs(
    inputs: Mapping[str, Any], record: Mapping[str, Any], account_id: str, deleted_at: float | None, owner: str
) -> dict[str, Any]:
    kept = {k: record.get(k) for k in RESTORE_KEYS}
    kept["encrypted"], kept["multi_attach_enabled"] = bool(kept["encrypted"]), bool(kept["multi_attach_enabled"])
    kept["volume_tags"] = dict(kept["volume_tags"] or {})
    return {**inputs, **kept, "deleted_at": deleted_at, "account_id": account_id, "hold_owner": owner}


def _urn(props: Mapping[str, Any]) -> str | None:
    urn = props.get(URN_INPUT)
    return urn if isinstance(urn, str) and not rules.is_unknown(urn) else None


def _predates_holds(olds: Mapping[str, Any]) -> bool:
    """State made before removals held their snapshot (0.1.0): it records no `hold_owner`."""
    return bool(olds) and not olds.get("hold_owner")


def _recorded_account(props: Mapping[str, Any]) -> str | None:
    """The account the volume was removed in, as state records it; for 0.1.0 state, which does not, the one account
    `allowed_account_ids` names, if it names one: the user's word for it."""
    allowed = props.get("allowed_account_ids") or []
    return clients.recorded_account(props) or (str(allowed[0]) if len(allowed) == 1 else None)


# --- create -------------------------------------------------------------------------------------------------------
def _describe_volume(ec2: Any, volume_id: str) -> dict[str, Any] | None:
    with aws_errors("reading the volume (ec2:DescribeVolumes)", volume_id=volume_id):
        try:
            volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except Exception as error:
            if error_code(error) == VOLUME_NOT_FOUND:
                return None
            raise
    return volumes[0] if volumes else None


def _refuse_unless_safe(ec2: Any, volume: Mapping[str, Any], snapshot_id: str) -> dict[str, Any]:
    """The undo source, once the volume and it are found fit for a removal that can be undone."""
    volume_id = volume["VolumeId"]
    if volume["State"] != "available":
        attached = ", ".join(a.get("InstanceId", "?") for a in volume.get("Attachments", [])) or "unknown"
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it is {volume['State']} (attached to {attached}); only "
            "unattached (available) volumes are cleaned up"
        )
    return _require_undo_source(ec2, volume_id, snapshot_id, f"refusing to delete volume {volume_id}")


def _require_undo_source(ec2: Any, volume_id: str, snapshot_id: str, prefix: str) -> dict[str, Any]:
    """The snapshot, if the undo can restore the volume from it now and later; else a refusal starting `prefix`."""
    snapshot = _find_snapshot(ec2, snapshot_id)
    if snapshot is None or snapshot["VolumeId"] != volume_id:
        raise SnapshotProviderError(f"{prefix}: {snapshot_id} is not a snapshot of it")
    if snapshot["State"] != "completed":
        raise SnapshotProviderError(f"{prefix}: its snapshot {snapshot_id} is {snapshot['State']}, not completed")
    unusable = _archive_problem(ec2, snapshot)
    if unusable:
        raise SnapshotProviderError(
            f"{prefix}: its snapshot {snapshot_id} {unusable}, so the undo could not bring the volume back when asked "
            "(no volume can be made from an archived snapshot until it is restored to the standard tier, which "
            f"takes 24 to 72 hours). Restore it for good first (aws ec2 restore-snapshot-tier --snapshot-id "
            f"{snapshot_id} --permanent-restore), or use a snapshot in the standard tier."
        )
    return snapshot


def _archive_problem(ec2: Any, snapshot: Mapping[str, Any]) -> str | None:
    """Why an archive makes the snapshot unfit as an undo source, or None."""
    if snapshot.get("StorageTier") == "archive":
        return "is in the archive tier"
    if snapshot.get("RestoreExpiryTime"):
        return f"is restored from the archive only until {snapshot['RestoreExpiryTime']}, then archived again"
    status = _tier_status(ec2, snapshot["SnapshotId"])
    if status.get("LastTieringOperationStatus") == "archival-in-progress":
        return f"is being archived (since {status.get('LastTieringStartTime')})"
    return None


def _tier_status(ec2: Any, snapshot_id: str) -> dict[str, Any]:
    """EC2 says `standard` while a snapshot is being archived; only DescribeSnapshotTierStatus tells."""
    with aws_errors("reading the snapshot's tier (ec2:DescribeSnapshotTierStatus)", snapshot_id=snapshot_id):
        found = ec2.describe_snapshot_tier_status(Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}])
    return next(iter(found.get("SnapshotTierStatuses") or []), {})


def _restore_record(volume: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "availability_zone": volume["AvailabilityZone"],
        "size": volume["Size"],
        "volume_type": volume.get("VolumeType", "gp3"),
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
        "encrypted": bool(volume.get("Encrypted")),
        "kms_key_id": volume.get("KmsKeyId"),
        "multi_attach_enabled": bool(volume.get("MultiAttachEnabled")),
        "volume_tags": snapshots.tags_of(volume.get("Tags")),
    }


def _refuse_if_tags_do_not_fit(volume_id: str, record: Mapping[str, Any]) -> None:
    count = len(record["volume_tags"]) + ADDED_VOLUME_TAGS
    if count > rules.MAX_TAGS:
        raise SnapshotProviderError(
            f"refusing to delete volume {volume_id}: it has {len(record['volume_tags'])} tags, and the restored volume "
            f"would carry {ADDED_VOLUME_TAGS} more (restored-from, {undo_tags.RESTORED_TAG}): {count}, over EC2's "
            f"{rules.MAX_TAGS}. Nothing was changed: remove {count - rules.MAX_TAGS} of its tags first."
        )


def _hold(
    ec2: Any,
    snapshot: Mapping[str, Any],
    volume_id: str,
    record: Mapping[str, Any],
    owner: str,
    urn: str | None,
    *,
    release_on_failure: bool = True,
) -> None:
    """Hold the snapshot for `owner`, of the resource `urn`, with the record, visibly, before anything is deleted;
    refuse, changing nothing, if the tags cannot fit. `release_on_failure=False` where the volume is already gone:
    its hold must stay."""
    snapshot_id = snapshot["SnapshotId"]
    wanted = undo_tags.hold_tags(volume_id, {"at": round(time.time(), 3), **record, "urn": urn}, owner)
    problem = undo_tags.no_room(snapshot_id, snapshot.get("Tags"), wanted)
    if problem:
        raise SnapshotProviderError(
            f"refusing to hold {snapshot_id} for the undo of volume {volume_id}: {problem}. Nothing was changed."
        )
    holds.place(ec2, snapshot, wanted)
    try:
        holds.confirm(ec2, snapshot_id, wanted)
    except SnapshotProviderError:
        if release_on_failure:
            holds.release(ec2, snapshot_id, volume_id)
        raise


def _hold_upgraded(
    ec2: Any, account_id: str, olds: Mapping[str, Any], owner: str, urn: str | None, *, declared: bool
) -> None:
    """Hold the snapshot of a removal made before holds existed (its volume is gone already: no release on
    failure), with the record from state. A snapshot missing from the account the user declared (the one
    `allowed_account_ids` names) is said, not refused: there is nothing to hold, and `pulumi destroy` then says what
    can be done."""
    volume_id, snapshot_id = olds["volume_id"], olds["snapshot_id"]
    snapshot = _find_snapshot(ec2, snapshot_id)
    if snapshot is None and declared:
        pulumi.log.warn(
            f"snapshot {snapshot_id}, from which `pulumi destroy` would restore the removed volume {volume_id}, does "
            f"not exist in account {account_id}: nothing to hold; `pulumi destroy` says what can be done"
        )
        return
    if snapshot is None or snapshot["VolumeId"] != volume_id:
        what = "is a snapshot of another volume" if snapshot else f"does not exist in account {account_id}"
        raise SnapshotProviderError(
            f"cannot hold snapshot {snapshot_id} for the undo of removed volume {volume_id} (state from before "
            f"removals held their snapshot): it {what}. Nothing was changed. If the volume was removed in another "
            f"account, run this with credentials for that account ({clients.CREDENTIALS_FOR}); `pulumi destroy` of "
            "this VolumeRemoval says what can be done otherwise."
        )
    _hold(ec2, snapshot, volume_id, _record_from_state(olds) or {}, owner, urn, release_on_failure=False)


def _delete_volume(account: AccountSelection, volume_id: str) -> None:
    """DeleteVolume, once: after an ambiguous failure (5xx, dropped connection) the volume is looked up, and a volume
    gone or `deleting` means the delete went through (it was `available` just before)."""
    once = clients.client(account, single_attempt=True)
    ec2 = clients.client(account)

    def delete() -> bool:
        try:
            once.delete_volume(VolumeId=volume_id)
        except Exception as error:
            if error_code(error) != VOLUME_NOT_FOUND:  # gone already: deleted by another hand meanwhile
                raise
        return True

    def gone() -> bool | None:
        volume = _describe_volume(ec2, volume_id)
        return True if volume is None or volume["State"] in GONE else None

    _once(delete, gone, "deleting the volume (ec2:DeleteVolume)", volume_id=volume_id)


def _once(call: Callable[[], T], find_done: Callable[[], T | None], doing: str, **context: Any) -> T:
    """A call that must not be repeated blindly (CreateVolume, DeleteVolume), made with a client without retries, as
    the lifecycle makes CreateSnapshot(s): throttled requests, and ones never sent, go again; after an ambiguous
    failure (`snapshots.is_ambiguous`: a 5xx, a dropped connection) the call may have been carried out, so
    `find_done` looks first, and its result is the call's. Any other failure is the answer."""
    for attempt in range(1, ONCE_ATTEMPTS + 1):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            ambiguous = snapshots.is_ambiguous(error)
            again = ambiguous or is_throttling(error) or snapshots.never_sent(error)
            if not again or attempt == ONCE_ATTEMPTS:
                raise SnapshotProviderError(explain(error, doing, **context)) from error
            done = find_done() if ambiguous else None
            if done is not None:
                return done
            time.sleep(min(10.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def _take_over(
    ec2: Any, account: AccountSelection, volume_id: str, snapshot_id: str, owner: str, urn: str | None
) -> dict[str, Any]:
    """The record of a removal whose volume is already gone, its hold now `owner`'s: an earlier create of this
    resource that was cut short after DeleteVolume, or the resource this one replaces (same URN), whose delete then
    finds the take-over done and restores nothing. Else a refusal: another resource's undo is never taken."""
    snapshot = _find_snapshot(ec2, snapshot_id)
    tags = (snapshot or {}).get("Tags")
    record = complete(undo_tags.record_of(tags)) if undo_tags.holder_of(tags) == volume_id else None
    if snapshot is None or record is None:
        raise SnapshotProviderError(f"volume {volume_id} does not exist in {account.region}: nothing to delete")
    holder = undo_tags.holding_resource(tags)
    if holder is None or holder != urn:
        raise SnapshotProviderError(
            f"refusing to remove volume {volume_id}: it was removed already by another VolumeRemoval "
            f"({holder or 'one that did not record its URN'}), whose `pulumi destroy` restores it from {snapshot_id} "
            f"(hold {undo_tags.HOLD_TAG}={volume_id} on it). Nothing was changed. Only that resource, or its "
            "replacement, can hold the undo: remove this VolumeRemoval from this program, or destroy that one first "
            "(which brings the volume back) and run this again."
        )
    restored = _find_restored(ec2, volume_id)
    if restored is not None:
        raise SnapshotProviderError(
            f"volume {volume_id} was removed and already restored as {restored}: nothing to delete. To remove the "
            f"restored volume, use volume_id={restored}."
        )
    _hold(ec2, snapshot, volume_id, record, owner, urn, release_on_failure=False)
    _mark_taken_over(ec2, snapshot_id, owner)
    return record


def _mark_taken_over(ec2: Any, snapshot_id: str, owner: str) -> None:
    """The take-over's last step: only now may the replaced resource's delete stand down. If this fails (or its
    answer is lost), the mark is taken back where it can be: the old delete then restores, which is safe."""
    mark = {"Key": undo_tags.TAKEN_OVER_TAG, "Value": owner}
    try:
        with aws_errors("marking the undo taken over (ec2:CreateTags)", snapshot_id=snapshot_id):
            ec2.create_tags(Resources=[snapshot_id], Tags=[mark])
    except BaseException:
        with contextlib.suppress(Exception):
            ec2.delete_tags(Resources=[snapshot_id], Tags=[mark])
        raise


def _taken_over_by(ec2: Any, props: Mapping[str, Any]) -> str | None:
    """The owner of the hold on this removal's snapshot, when a replacement of this resource (same URN) finished
    taking the undo over (`_take_over`), which it marks last. None when the hold is this resource's, another
    resource's, or a take-over that was cut short (its mark never shows within EC2's consistency window)."""
    snapshot_id = props["snapshot_id"]

    def look() -> undo_tags.Tags | None:
        try:
            with aws_errors("reading the snapshot's hold (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
                return find.snapshot(ec2, snapshot_id).get("Tags") or []
        except find.NotFound:
            return []  # no snapshot, no hold: nothing taken over

    def successor(tags: undo_tags.Tags | None) -> str | None:
        owner = undo_tags.owner_of(tags) if undo_tags.holder_of(tags) == props["volume_id"] else None
        urn = _urn(props)
        ours = urn is not None and undo_tags.holding_resource(tags) == urn  # a replacement of this very resource
        return owner if owner and owner != props.get("hold_owner") and ours else None

    tags = look()
    owner = successor(tags)
    if owner is None or undo_tags.taken_over_by(tags) == owner:
        return owner
    tags = waiting.until(
        look,
        lambda t: successor(t) != owner or undo_tags.taken_over_by(t) == owner,
        waiting.consistency_window(),
        what=f"for {snapshot_id} to show whether its undo was taken over",
        every=1.0,
    )
    return owner if successor(tags) == owner and undo_tags.taken_over_by(tags) == owner else None


# --- the undo -----------------------------------------------------------------------------------------------------
def _record_from_state(props: Mapping[str, Any]) -> dict[str, Any] | None:
    return complete({k: props.get(k) for k in RESTORE_KEYS})


def complete(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record, if it says at least where, how big and of which type the volume was."""
    if record is None or not all(record.get(k) for k in ("availability_zone", "size", "volume_type")):
        return None
    return dict(record)


def _find_snapshot(ec2: Any, snapshot_id: str) -> dict[str, Any] | None:
    """The snapshot, looked for again for a few seconds before it counts as gone (EC2's listings lag)."""

    def look() -> dict[str, Any] | None:
        try:
            with aws_errors("reading the snapshot (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
                return dict(find.snapshot(ec2, snapshot_id))
        except find.NotFound:
            return None  # looked for again until the grace ends

    return waiting.until(
        look, lambda s: s is not None, MISSING_SNAPSHOT_GRACE_SECONDS, what=f"for EC2 to list {snapshot_id}"
    )


def _undo_source(
    ec2: Any, account: AccountSelection, account_id: str, props: Mapping[str, Any], *, account_known: bool
) -> dict[str, Any]:
    """The snapshot to restore from, usable now; else an error that says what happened and what to do."""
    volume_id, snapshot_id = props["volume_id"], props["snapshot_id"]
    snapshot = _find_snapshot(ec2, snapshot_id)
    if snapshot is None and not account_known:
        raise SnapshotProviderError(_not_in_this_account(account, account_id, volume_id, snapshot_id))
    if snapshot is None:
        was = f" (it was {props['size']:g} GiB {props.get('volume_type')} in {props.get('availability_zone')})"
        raise SnapshotProviderError(
            f"cannot restore volume {volume_id}: its snapshot {snapshot_id} no longer exists in account {account_id}, "
            f"{account.region}: it was deleted outside this removal, although it carried the hold "
            f"{undo_tags.HOLD_TAG}={volume_id}. Nothing was changed. If a Recycle Bin retention rule covers snapshots, "
            f"recover it (aws rbin list-resources --resource-type EBS_SNAPSHOT; aws ec2 "
            f"restore-snapshot-from-recycle-bin --snapshot-id {snapshot_id}) and run `pulumi destroy` again. If it "
            f"cannot be recovered, the volume's data is lost{was if props.get('size') else ''}: `pulumi state delete "
            f"{props.get(URN_INPUT) or '<this resource URN>'}` lets the stack be destroyed."
        )
    if snapshot.get("StorageTier") == "archive":
        status = _tier_status(ec2, snapshot_id)
        if not _restored_for_now(status):
            _restore_tier(ec2, volume_id, snapshot_id, status)
    return snapshot


def _not_in_this_account(account: AccountSelection, account_id: str, volume_id: str, snapshot_id: str) -> str:
    """State from 0.1.0 does not say which account the volume was removed in: a snapshot missing here may be fine in
    another account, so nothing is concluded from its absence."""
    return (
        f"cannot restore volume {volume_id}: its snapshot {snapshot_id} is not in account {account_id}, "
        f"{account.region}, where {clients.credentials_in_use(account)} act, and this resource's state (made before "
        "removals recorded their account) does not say which account the volume was removed in. Nothing was "
        f"changed. Run `pulumi destroy` again with credentials for that account ({clients.CREDENTIALS_FOR}). If it is "
        f'account {account_id} after all, say so: set allowed_account_ids=["{account_id}"] on this VolumeRemoval '
        "and run `pulumi up`, then `pulumi destroy` again, which then says what can be done about the snapshot."
    )


def _restored_for_now(status: Mapping[str, Any]) -> bool:
    """An archived snapshot whose restore finished and has not expired: a volume can be made from it."""
    if status.get("LastTieringOperationStatus") not in ("temporary-restore-completed", "permanent-restore-completed"):
        return False
    expiry = status.get("RestoreExpiryTime")
    return expiry is None or snapshots.aware(expiry) > datetime.now(UTC)


def _restore_tier(ec2: Any, volume_id: str, snapshot_id: str, status: Mapping[str, Any]) -> None:
    """The undo source was archived by hand: start a temporary restore (unless one runs) and say when to come back."""
    running = str(status.get("LastTieringOperationStatus") or "").endswith("restore-in-progress")
    if running:
        started = f"a restore from the archive tier has been running since {status.get('LastTieringStartTime')}"
    else:
        with aws_errors(
            "restoring the snapshot from the archive tier (ec2:RestoreSnapshotTier)", snapshot_id=snapshot_id
        ):
            ec2.restore_snapshot_tier(SnapshotId=snapshot_id, TemporaryRestoreDays=TIER_RESTORE_DAYS)
        started = (
            f"this destroy started a temporary restore of it for {TIER_RESTORE_DAYS} days (ec2:RestoreSnapshotTier)"
        )
    raise SnapshotProviderError(
        f"cannot restore volume {volume_id} yet: its snapshot {snapshot_id} is in the archive tier, and no volume can "
        f"be made from it until it is back in the standard tier, which takes 24 to 72 hours; {started}. Nothing else "
        f"was changed. Run `pulumi destroy` again once `aws ec2 describe-snapshot-tier-status --filters "
        f"Name=snapshot-id,Values={snapshot_id}` says temporary-restore-completed (within {TIER_RESTORE_DAYS} days "
        "of that, before it is archived again)."
    )


def _find_restored(ec2: Any, volume_id: str) -> str | None:
    """The volume an earlier undo of this removal made (tagged with it), if any."""
    with aws_errors("looking for a volume restored earlier (ec2:DescribeVolumes)", volume_id=volume_id):
        volumes = ec2.describe_volumes(Filters=[{"Name": f"tag:{undo_tags.RESTORED_TAG}", "Values": [volume_id]}])
    usable = [v for v in volumes.get("Volumes", []) if v["State"] not in (*GONE, "error")]
    failed = [v["VolumeId"] for v in volumes.get("Volumes", []) if v["State"] == "error"]
    if not usable and failed:
        raise SnapshotProviderError(
            f"the volume restored for {volume_id} ({', '.join(failed)}) ended in state error: EC2 could not create "
            f"it. Delete it (aws ec2 delete-volume --volume-id {failed[0]}), then run `pulumi destroy` again."
        )
    return str(usable[0]["VolumeId"]) if usable else None


def client_token(volume_id: str, snapshot_id: str, after: str | None = None) -> str:
    """The same for every attempt of one removal's undo (at most 64 ASCII characters); `after` a restored volume
    deleted since, another one, the same every time."""
    key = f"{volume_id}/{snapshot_id}" + (f"/after/{after}" if after else "")
    return "undo-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def restore_request(
    volume_id: str, snapshot_id: str, record: Mapping[str, Any], after: str | None = None
) -> dict[str, Any]:
    """CreateVolume's parameters for the restored volume (pure)."""
    tags = {**(record.get("volume_tags") or {}), "restored-from": volume_id, undo_tags.RESTORED_TAG: volume_id}
    request: dict[str, Any] = {
        "SnapshotId": snapshot_id,
        "AvailabilityZone": record["availability_zone"],
        "Size": int(record["size"]),  # numbers come back from Pulumi state as floats
        "VolumeType": record["volume_type"],
        "ClientToken": client_token(volume_id, snapshot_id, after),
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
        ],
    }
    request.update(holds.restore_performance(record))
    if record.get("encrypted"):
        # EC2 refuses KmsKeyId without Encrypted (InvalidParameterDependency).
        request["Encrypted"] = True
        if record.get("kms_key_id"):
            request["KmsKeyId"] = record["kms_key_id"]
    if record.get("multi_attach_enabled"):
        request["MultiAttachEnabled"] = True
    return request


def _create_restored(
    account: AccountSelection, volume_id: str, snapshot_id: str, record: Mapping[str, Any], after: str | None = None
) -> str:
    """CreateVolume with the removal's client token: a retry after a lost answer returns the same volume, and one
    that finds it by its tag first makes none."""
    request = restore_request(volume_id, snapshot_id, record, after)
    once = clients.client(account, single_attempt=True)
    ec2 = clients.client(account)
    return _once(
        lambda: str(once.create_volume(**request)["VolumeId"]),
        lambda: _find_restored(ec2, volume_id),
        "restoring the volume from its snapshot (ec2:CreateVolume)",
        snapshot_id=snapshot_id,
        region=account.region,
    )


def _wait_available(ec2: Any, restored: str, props: Mapping[str, Any]) -> None:
    """Until the restored volume is `available`; missing from listings for a while at first is normal."""
    volume_id = props["volume_id"]
    say(props, f"restoring volume {volume_id} as {restored}: waiting until it is available")
    said = [0.0]

    def look() -> str | None:
        volume = _describe_volume(ec2, restored)
        return None if volume is None else str(volume["State"])

    def settled(state: str | None, elapsed: float) -> bool:
        return state in ("available", "in-use", "error", "deleting", "deleted") or (
            state is None and elapsed >= waiting.consistency_window()
        )

    started = time.monotonic()

    def tell(state: str | None, elapsed: float) -> None:
        if elapsed - said[0] >= SAY_EVERY:
            said[0] = elapsed
            say(props, f"restored volume {restored} is {state or 'not listed yet'} after {progress.duration(elapsed)}")

    again = "Run `pulumi destroy` again: the restored volume is found by its tag and waited for, not made again."
    try:
        state = waiting.until(
            look,
            lambda s: settled(s, time.monotonic() - started),
            RESTORE_WAIT_SECONDS,
            what=f"for restored volume {restored} to be available",
            on_look=tell,
            started=started,
        )
    except waiting.LookCancelled as cancelled:
        raise WaitEnded(f"{cancelled}; the snapshot stays held for the undo. {again}") from None
    if state in ("available", "in-use"):
        return
    if state is None or state in GONE:
        raise _RestoredVolumeGone(restored)
    if state == "creating":
        raise SnapshotProviderError(
            f"restored volume {restored} of {volume_id} is still creating after "
            f"{progress.duration(RESTORE_WAIT_SECONDS)}. {again}"
        )
    raise SnapshotProviderError(
        f"restored volume {restored} of {volume_id} is {state}: EC2 could not create it. Delete it if it is still "
        f"there (aws ec2 delete-volume --volume-id {restored}), then run `pulumi destroy` again."
    )


class _RestoredVolumeGone(SnapshotProviderError):
    def __init__(self, restored: str) -> None:
        super().__init__(
            f"restored volume {restored} is gone (deleted, or never listed by EC2 within "
            f"{progress.duration(waiting.consistency_window())}). Run `pulumi destroy` again: a volume it finds by its "
            "tag is waited for, not made again."
        )


class VolumeRemoval(ProviderResource, module="ebs-snapshots", name="VolumeRemoval"):
    """Deletes an unattached volume after its snapshot completed; `pulumi destroy` brings it back from the snapshot.

    The snapshot is held (tagged `pulumi-snapshot:undo-for`, with the restore record) until the undo restored the
    volume: this provider's snapshot resources and series do not delete or archive it meanwhile.

    Outputs the volume's recorded attributes (`availability_zone`, `size`, `volume_type`, ... `volume_tags`).
    """

    schema = SCHEMA
    provider = VolumeRemovalProvider

    availability_zone: pulumi.Output[str]
    size: pulumi.Output[int]
    volume_type: pulumi.Output[str]
    iops: pulumi.Output[int | None]
    throughput: pulumi.Output[int | None]
    encrypted: pulumi.Output[bool]
    kms_key_id: pulumi.Output[str | None]
    multi_attach_enabled: pulumi.Output[bool]
    volume_tags: pulumi.Output[dict[str, str]]
    deleted_at: pulumi.Output[float]
    restorable: pulumi.Output[bool]
    account_id: pulumi.Output[str]

    @overload
    def __init__(
        self, resource_name: str, args: VolumeRemovalArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[VolumeRemovalArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: VolumeRemovalArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
