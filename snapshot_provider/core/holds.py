"""Holds: a snapshot a VolumeRemoval restores from outlives the removal's undo, whatever deletes snapshots.

Before a VolumeRemoval deletes its volume it tags the snapshot its undo restores from, and reads the tags back:

- `pulumi-snapshot:undo-for` = the removed volume's id: the hold;
- `pulumi-snapshot:undo-record:<i>/<n>`: the restore record (zone, size, type, performance, encryption, tags), as
  compact JSON cut into `n` values of at most 256 characters (EC2's limit for a tag value), so that the volume can be
  brought back even when Pulumi's state never heard of the removal (a create killed after DeleteVolume). The record also
  names the holding resource's URN: only a replacement of that resource (same URN) may take the undo over;
- `pulumi-snapshot:undo-owner`: which create of that resource holds it (`hold_owner` in its state), and
  `pulumi-snapshot:undo-taken-over`: set to the owner once a replacement's take-over is done.

The undo removes both once the restored volume is `available`; the restored volume carries `pulumi-snapshot:undo-of`
= the removed volume's id. Every path of this provider that deletes or archives a snapshot honours a hold: a series'
prune and archive skip the snapshot and say so; a resource's delete waits for the hold to go (in a `pulumi destroy`
of both, the removal's undo is restoring the volume right then), up to `SNAPSHOT_HOLD_WAIT_SECONDS` (15 minutes by
default), then fails, naming the removal; archiving a held snapshot (`storage_tier`) is refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from snapshot_provider.core import waiting
from snapshot_provider.ec2 import clients, find
from snapshot_provider.ec2.batching import Batched
from snapshot_provider.ec2.errors import SnapshotHeld, SnapshotProviderError, aws_errors, error_code
from snapshot_provider.ec2.undo_tags import HOLD_TAG, RESTORED_TAG, held_in, holder_of, managed_keys, record_of
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.rules import MAX_FILTER_VALUES
from snapshot_provider.process.engine_log import duration, engine_log

HOLD_WAIT_ENV = "SNAPSHOT_HOLD_WAIT_SECONDS"
DEFAULT_HOLD_WAIT = 900.0  # longer than an undo takes: its own wait for `available` is 10 minutes
LOOK_EVERY = 2.0
SAY_EVERY = 60.0


# --- placing, confirming and releasing a hold ----------------------------------------------------------------------
def place(ec2: Any, snapshot: Mapping[str, Any], wanted: Mapping[str, str]) -> None:
    """Set the hold and record; a record left by an earlier attempt in other pieces goes first."""
    snapshot_id = snapshot["SnapshotId"]
    stale = [k for k in managed_keys(snapshot.get("Tags")) if k not in wanted]
    with aws_errors("holding the snapshot for the undo (ec2:CreateTags)", snapshot_id=snapshot_id):
        if stale:
            ec2.delete_tags(Resources=[snapshot_id], Tags=[{"Key": k} for k in stale])
        ec2.create_tags(Resources=[snapshot_id], Tags=[{"Key": k, "Value": v} for k, v in sorted(wanted.items())])


def confirm(ec2: Any, snapshot_id: str, wanted: Mapping[str, str]) -> dict[str, Any]:
    """The snapshot, once its tags read back as `wanted` (EC2 shows new tags within its consistency window)."""

    def look() -> dict[str, Any] | None:
        try:
            with aws_errors("reading the hold back (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
                return dict(find.snapshot(ec2, snapshot_id))
        except find.NotFound:
            return None  # said below, once the window is over

    def visible(snapshot: dict[str, Any] | None) -> bool:
        tags = {t["Key"]: t["Value"] for t in (snapshot or {}).get("Tags") or []}
        return snapshot is not None and all(tags.get(k) == v for k, v in wanted.items())

    window = waiting.consistency_window()
    found = waiting.until(look, visible, window, what=f"for {snapshot_id} to show its hold", every=1.0)
    if found is None or not visible(found):
        gone = "no longer exists" if found is None else f"does not show them after {window:g}s"
        raise SnapshotProviderError(f"tagged snapshot {snapshot_id} as held for the undo, but it {gone}")
    return found


def release(ec2: Any, snapshot_id: str, volume_id: str) -> None:
    """Remove this volume's hold and record from the snapshot (nothing when another volume's hold, or none, is
    there, or the snapshot is gone)."""
    try:
        with aws_errors("reading the snapshot's hold (ec2:DescribeSnapshots)", snapshot_id=snapshot_id):
            snapshot = find.snapshot(ec2, snapshot_id)
    except find.NotFound:
        return  # gone: no hold left to release
    if holder_of(snapshot.get("Tags")) != volume_id:
        return
    records = [k for k in managed_keys(snapshot.get("Tags")) if k != HOLD_TAG]
    with aws_errors("releasing the snapshot's hold (ec2:DeleteTags)", snapshot_id=snapshot_id):
        # The hold with its value: DeleteTags then removes it only if it is still this volume's.
        ec2.delete_tags(
            Resources=[snapshot_id],
            Tags=[{"Key": HOLD_TAG, "Value": volume_id}, *({"Key": k} for k in records)],
        )


# --- what deletes and archives honour -----------------------------------------------------------------------------
def held(ec2: Any, snapshot_ids: Sequence[str]) -> dict[str, str]:
    """Among `snapshot_ids`, the held ones -> the removed volume holding each. Lookups made at once (every delete of
    a `pulumi destroy` starts with one) share DescribeSnapshots calls (see `batching`)."""
    ids = tuple(dict.fromkeys(snapshot_ids))
    if not ids:
        return {}
    lookup = _held_lookups.get(
        ec2, lambda: Batched(lambda groups: _held_groups(ec2, groups), MAX_FILTER_VALUES, weight=len)
    )
    return lookup(ids)


_held_lookups: clients.OncePerKey[Any, Batched[tuple[str, ...], dict[str, str]]] = clients.OncePerKey()


def _held_groups(ec2: Any, groups: list[tuple[str, ...]]) -> dict[tuple[str, ...], dict[str, str]]:
    found = _held(ec2, list(dict.fromkeys(sid for group in groups for sid in group)))
    return {group: {sid: found[sid] for sid in group if sid in found} for group in groups}


def _held(ec2: Any, snapshot_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with aws_errors("checking whether a VolumeRemoval holds the snapshots (ec2:DescribeSnapshots)"):
        for start in range(0, len(snapshot_ids), MAX_FILTER_VALUES):
            batch = snapshot_ids[start : start + MAX_FILTER_VALUES]
            pages = ec2.get_paginator("describe_snapshots").paginate(
                OwnerIds=["self"],
                Filters=[{"Name": "snapshot-id", "Values": batch}, {"Name": "tag-key", "Values": [HOLD_TAG]}],
            )
            for page in pages:
                found.update(held_in(page.get("Snapshots", [])))
    return found


def hold_wait() -> float:
    """Seconds a delete waits for a hold to go: `SNAPSHOT_HOLD_WAIT_SECONDS`, else 15 minutes."""
    return float(os.environ.get(HOLD_WAIT_ENV, DEFAULT_HOLD_WAIT))


def wait_until_released(account: AccountSelection, ec2: Any, snapshot_ids: Sequence[str], urn: str | None) -> None:
    """Return once none of the snapshots is held; raises SnapshotHeld after `hold_wait()` seconds."""
    holding = held(ec2, snapshot_ids)
    if not holding:
        return
    started = time.monotonic()
    timeout = hold_wait()
    said = [-SAY_EVERY]
    ids = list(holding)

    def still_held() -> dict[str, str]:
        return _held(ec2, ids)

    def tell(_holding: dict[str, str], elapsed: float) -> None:
        if elapsed - said[0] >= SAY_EVERY:
            said[0] = elapsed
            engine_log().info(urn, _waiting_line(holding, elapsed, timeout))

    tell(holding, 0.0)
    holding = waiting.until(
        still_held,
        lambda h: not h,
        timeout,
        what=f"for the undo to release {', '.join(ids)} (nothing was deleted)",
        every=LOOK_EVERY,
        on_look=tell,
        started=started,
    )
    if holding:
        raise SnapshotHeld(_held_message(account, ec2, holding, timeout))


def _waiting_line(holding: Mapping[str, str], elapsed: float, timeout: float) -> str:
    what = ", ".join(f"{sid} (held by the removal of {vol})" for sid, vol in sorted(holding.items()))
    return (
        f"waiting to delete {what}: the removal's undo restores the volume from it and then releases it "
        f"({duration(elapsed)} of at most {duration(timeout)})"
    )


def _held_message(account: AccountSelection, ec2: Any, holding: Mapping[str, str], timeout: float) -> str:
    where = f"account {clients.caller_account_id(account)}, {account.region}"
    parts = []
    for sid, vol in sorted(holding.items()):
        parts.append(
            f"cannot delete snapshot {sid} ({where}): it is held by the removal of {vol} (tag "
            f"{HOLD_TAG}={vol}), whose undo restores the volume from it, and the hold was not released within "
            f"{duration(timeout)}."
        )
    parts.append(
        "Destroy that VolumeRemoval first (`pulumi destroy`, or `pulumi destroy --target <its URN>` in its stack: it "
        "restores the volume, then releases the hold), or point it at another snapshot of the volume (its "
        "snapshot_id), then run this again. Nothing was deleted."
    )
    parts += [_if_no_removal_is_left(ec2, sid, vol) for sid, vol in sorted(holding.items())]
    return " ".join(parts) + f" {HOLD_WAIT_ENV} sets how long a delete waits."


def _if_no_removal_is_left(ec2: Any, snapshot_id: str, volume_id: str) -> str:
    """What to do when no VolumeRemoval of the volume exists any more (a `pulumi up` killed after DeleteVolume,
    `retain_on_delete`): releasing the hold lets the next delete take the snapshot, so while the volume is gone and
    was never restored, it must be brought back first, or its last copy goes."""
    release = f"aws ec2 delete-tags --resources {snapshot_id} --tags Key={HOLD_TAG}"
    try:
        there = _volume_or_copy(ec2, volume_id)
        record = record_of(find.snapshot(ec2, snapshot_id).get("Tags"))
    except find.NotFound:
        record = None  # gone: no record to restore from
    except SnapshotProviderError:
        there, record = None, None  # unknown: the safe advice, restore first
    if there:
        return f"If no VolumeRemoval of {volume_id} exists any more: {there}, so the hold can go: {release}."
    return (
        f"If no VolumeRemoval of {volume_id} exists any more, volume {volume_id} is deleted and {snapshot_id} is its "
        f"only copy: bring it back first ({restore_command(snapshot_id, volume_id, record)}), and only then remove "
        f"the hold ({release}); the next delete of the snapshot then deletes it."
    )


def _volume_or_copy(ec2: Any, volume_id: str) -> str | None:
    """Where the removed volume's data is besides the snapshot, in words, or None: the volume itself, or a volume an
    undo restored (tagged `RESTORED_TAG`)."""
    with aws_errors("looking for the held volume (ec2:DescribeVolumes)", volume_id=volume_id):
        try:
            volumes = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except ClientError as error:
            if error_code(error) != "InvalidVolume.NotFound":
                raise
            volumes = []
        if [v for v in volumes if v["State"] not in _NO_DATA]:
            return f"volume {volume_id} exists"
        copies = ec2.describe_volumes(Filters=[{"Name": f"tag:{RESTORED_TAG}", "Values": [volume_id]}])["Volumes"]
    alive = [v["VolumeId"] for v in copies if v["State"] not in _NO_DATA]
    return f"volume {volume_id} was restored as {', '.join(alive)}" if alive else None


_NO_DATA = ("deleting", "deleted", "error")


def restore_performance(record: Mapping[str, Any]) -> dict[str, int]:
    """CreateVolume's Iops and Throughput for the restored volume (pure): EC2 takes Iops only for io1, io2 and gp3,
    Throughput only for gp3 (EC2 API reference, CreateVolume), though DescribeVolumes reports a gp2 volume's
    baseline Iops. The undo's request and the by-hand command both use this, so they cannot disagree."""
    volume_type = record.get("volume_type")
    found: dict[str, int] = {}
    if volume_type in ("io1", "io2", "gp3") and record.get("iops"):
        found["Iops"] = int(record["iops"])
    if volume_type == "gp3" and record.get("throughput"):
        found["Throughput"] = int(record["throughput"])
    return found


def restore_command(snapshot_id: str, volume_id: str, record: Mapping[str, Any] | None) -> str:
    """The AWS CLI command that restores the removed volume from its restore record (pure), tagged as an undo's
    restore would be, so that a VolumeRemoval's undo run later finds it instead of making another."""
    record = record or {}
    args = [f"aws ec2 create-volume --snapshot-id {snapshot_id}"]
    args.append(f"--availability-zone {record.get('availability_zone') or '<its zone>'}")
    if record.get("size"):
        args.append(f"--size {int(record['size'])}")
    args.append(f"--volume-type {record.get('volume_type') or '<its type>'}")
    performance = restore_performance(record)
    args += [f"--iops {performance['Iops']}"] if "Iops" in performance else []
    args += [f"--throughput {performance['Throughput']}"] if "Throughput" in performance else []
    if record.get("encrypted"):
        args.append("--encrypted" + (f" --kms-key-id {record['kms_key_id']}" if record.get("kms_key_id") else ""))
    args += ["--multi-attach-enabled"] if record.get("multi_attach_enabled") else []
    args.append(
        f"--tag-specifications 'ResourceType=volume,Tags=[{{Key={RESTORED_TAG},Value={volume_id}}},"
        f"{{Key=restored-from,Value={volume_id}}}]'"
    )
    tags = record.get("volume_tags") or {}
    mine = f"; its own tags, to add: {', '.join(f'{k}={v}' for k, v in sorted(tags.items()))}" if tags else ""
    return " ".join(args) + mine


def refuse_if_held(ec2: Any, snapshot_ids: Sequence[str], doing: str) -> None:
    """Refuse `doing` (e.g. "archive") to a held snapshot: a volume cannot be made from an archived one for days."""
    holding = held(ec2, snapshot_ids)
    if holding:
        what = "; ".join(f"{sid} is held by the removal of {vol}" for sid, vol in sorted(holding.items()))
        raise SnapshotHeld(
            f"refusing to {doing} {', '.join(sorted(holding))}: {what} (its undo restores the volume from it, and "
            "no volume can be made from an archived snapshot for 24 to 72 hours). Destroy the VolumeRemoval first, "
            "or keep storage_tier standard."
        )
