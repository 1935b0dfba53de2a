"""A series' state: its inputs and its snapshots as they are now (create, update and read all end here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from snapshot_provider.core import pruning
from snapshot_provider.core.lifecycle.shapes import SERIES_TAG
from snapshot_provider.core.series.survey import POINT_TAG, planner_snapshots, tier_of
from snapshot_provider.ec2 import snapshots
from snapshot_provider.inputs.series import SCHEMA


def outputs(
    props: Mapping[str, Any],
    series_id: str,
    listing: Sequence[Mapping[str, Any]],
    archived: set[str],
    images: Mapping[str, list[str]] | None,
    account_id: str,
) -> dict[str, Any]:
    """State from the inputs and the series' snapshots as they are now (create, update and read all end here)."""
    entries = [_entry(s, archived, images) for s in listing]
    newest = _newest_completed(listing)
    sizes: dict[str, float] = {"standard": 0, "archive": 0}
    full: dict[str, float | None] = {"standard": 0.0, "archive": 0.0}
    for e in entries:
        sizes[e["tier"]] += e["size_gib"] or 0
        full_tier = full[e["tier"]]
        full[e["tier"]] = None if full_tier is None or e["full_size_gib"] is None else full_tier + e["full_size_gib"]
    outs = {k: v for k, v in props.items() if k in SCHEMA.fields}
    outs.update(
        snapshot_id=newest[0]["SnapshotId"] if newest and props.get("volume_id") else None,
        snapshot_ids={s["VolumeId"]: s["SnapshotId"] for s in newest},
        snapshots=entries,
        size_gib=sizes,
        full_size_gib={tier: None if v is None else round(v, 3) for tier, v in full.items()},
        series_tag={"key": SERIES_TAG, "value": series_id},
        account_id=account_id,
        region=props.get("region"),
    )
    return outs


def _entry(s: Mapping[str, Any], archived: set[str], images: Mapping[str, list[str]] | None) -> dict[str, Any]:
    full_bytes = s.get("FullSnapshotSizeInBytes")
    return {
        "snapshot_id": s["SnapshotId"],
        "volume_id": s.get("VolumeId"),
        "point": snapshots.tag_value(s, POINT_TAG),
        "start_time": snapshots.iso(s.get("StartTime")),
        "state": s.get("State"),
        "tier": tier_of(s, archived),
        "size_gib": s.get("VolumeSize"),
        # What the archive tier bills (all blocks written when it was taken); None when EC2 does not report it.
        "full_size_gib": round(full_bytes / 2**30, 3) if isinstance(full_bytes, int) else None,
        "used_by": None if images is None else images.get(s["SnapshotId"], []),
    }


def _newest_completed(listing: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The members of the newest completed point."""
    completed = [p for p in pruning.points(planner_snapshots(listing, set(), {})) if p.state == "completed"]
    if not completed:
        return []
    members = set(completed[0].snapshot_ids)
    return [s for s in listing if s["SnapshotId"] in members]
