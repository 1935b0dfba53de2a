"""The tags of a VolumeRemoval's undo on the snapshot it restores from: the hold (which removed volume, whose create
owns it, whether a replacement took it over) and the restore record, written in pieces under EC2's 256-character
value limit. Pure: reading and writing them on EC2 is `core.holds`'."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from snapshot_provider.inputs.rules import MANAGED_TAG_PREFIX, MAX_TAG_VALUE, MAX_TAGS

HOLD_TAG = f"{MANAGED_TAG_PREFIX}undo-for"
# Which VolumeRemoval (one create of one, recorded in its state as `hold_owner`) the undo belongs to: a replacement
# takes it over, and the replaced resource's delete then leaves the volume removed.
OWNER_TAG = f"{MANAGED_TAG_PREFIX}undo-owner"
# Set by a replacement once its take-over is otherwise done, to its owner: only then does the replaced resource's
# delete stand down. A take-over cut short (Ctrl-C while its hold shows) never sets it, and the old delete restores.
TAKEN_OVER_TAG = f"{MANAGED_TAG_PREFIX}undo-taken-over"
RECORD_TAG = f"{MANAGED_TAG_PREFIX}undo-record"
RESTORED_TAG = f"{MANAGED_TAG_PREFIX}undo-of"
_RECORD_KEY = re.compile(rf"^{re.escape(RECORD_TAG)}:(\d+)/(\d+)$")

Tags = Sequence[Mapping[str, Any]]  # as EC2 returns them: [{"Key": ..., "Value": ...}] (boto3 stubs: TagTypeDef)


# --- the tags ----------------------------------------------------------------------------------------------
def hold_tags(volume_id: str, record: Mapping[str, Any], owner: str | None = None) -> dict[str, str]:
    """The hold, its owner and the record, as tags (the record's unset fields left out)."""
    text = json.dumps(
        {k: v for k, v in record.items() if v not in (None, False, {})},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    chunks = [text[i : i + MAX_TAG_VALUE] for i in range(0, len(text), MAX_TAG_VALUE)]
    pieces = {f"{RECORD_TAG}:{i}/{len(chunks)}": c for i, c in enumerate(chunks, 1)}
    return {HOLD_TAG: volume_id} | ({OWNER_TAG: owner} if owner else {}) | pieces


def holder_of(tags: Tags | None) -> str | None:
    """The removed volume whose undo restores from the snapshot with these tags, or None."""
    return next((t["Value"] for t in tags or [] if t["Key"] == HOLD_TAG), None)


def owner_of(tags: Tags | None) -> str | None:
    """The `hold_owner` of the VolumeRemoval whose undo the hold on a snapshot with these tags is, or None."""
    return next((t["Value"] for t in tags or [] if t["Key"] == OWNER_TAG), None)


def taken_over_by(tags: Tags | None) -> str | None:
    """The owner whose take-over of the hold on a snapshot with these tags finished, or None."""
    return next((t["Value"] for t in tags or [] if t["Key"] == TAKEN_OVER_TAG), None)


def holding_resource(tags: Tags | None) -> str | None:
    """The URN of the VolumeRemoval whose undo the hold on a snapshot with these tags is (in its record), or None."""
    urn = (record_of(tags) or {}).get("urn")
    return urn if isinstance(urn, str) else None


def record_of(tags: Tags | None) -> dict[str, Any] | None:
    """The restore record these tags carry, or None when there is none, or not all of it is there (yet)."""
    parts: dict[int, dict[int, str]] = {}
    for t in tags or []:
        match = _RECORD_KEY.match(t["Key"])
        if match:
            parts.setdefault(int(match.group(2)), {})[int(match.group(1))] = t["Value"]
    for count, chunks in parts.items():
        if sorted(chunks) == list(range(1, count + 1)):
            try:
                record = json.loads("".join(chunks[i] for i in sorted(chunks)))
            except ValueError:
                continue
            if isinstance(record, dict):
                return record
    return None


def managed_keys(tags: Tags | None) -> list[str]:
    mine = (HOLD_TAG, OWNER_TAG, TAKEN_OVER_TAG)
    return [t["Key"] for t in tags or [] if t["Key"] in mine or _RECORD_KEY.match(t["Key"])]


def no_room(snapshot_id: str, tags: Tags | None, wanted: Mapping[str, str]) -> str | None:
    """Why `wanted` cannot be added to a snapshot with `tags` (EC2 allows 50 per resource), or None."""
    kept = {t["Key"] for t in tags or [] if not t["Key"].lower().startswith("aws:")} - set(managed_keys(tags))
    total = len(kept | set(wanted))
    if total <= MAX_TAGS:
        return None
    return (
        f"the hold and the restore record need {len(wanted)} tags on snapshot {snapshot_id}, which has "
        f"{len(kept)} of its own: {total} in all, and EC2 allows {MAX_TAGS} tags on a snapshot. Remove "
        f"{total - MAX_TAGS} of its tags (its resource's `tags`), or use another snapshot of the volume"
    )


def held_in(listing: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Snapshot id -> the removed volume holding it, among snapshots as DescribeSnapshots returns them."""
    return {s["SnapshotId"]: holder for s in listing if (holder := holder_of(s.get("Tags")))}
