"""What an InstanceSnapshots set is and does, whichever front door: an instance's volumes at one instant
(`InstanceSet`, an `InstanceSetSource` kept in state as one id for the set and its snapshots by volume), its
operations (the lifecycle's) and its outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult

from snapshot_provider.core.lifecycle import permission_check
from snapshot_provider.core.lifecycle.provider import SnapshotProvider, announce_lock_change, refuse_lock_shortening
from snapshot_provider.core.lifecycle.shapes import managed_tags_now
from snapshot_provider.core.quiesce import pausing
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.core.sources import InstanceSetSource, Member
from snapshot_provider.ec2 import clients, locks, snapshots
from snapshot_provider.inputs import consistency
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.instance_snapshots import SCHEMA


class InstanceSet(InstanceSetSource):
    """What an InstanceSnapshots set is (`lifecycle.shapes.Kind`): an instance's volumes at one instant
    (`InstanceSetSource`), kept in state as one id for the set and its snapshots by volume."""

    schema = SCHEMA

    def members_in_state(self, props: Mapping[str, Any]) -> list[Member]:
        return [Member(s["volume_id"], s.get("device_name")) for s in props.get("snapshots") or []]

    def snapshot_ids(self, id_: str, props: Mapping[str, Any]) -> list[str]:
        recorded = props.get("snapshot_ids")
        if recorded:
            return list(recorded.values())
        return [sid for sid in id_.partition(":")[2].split(",") if sid]  # the id lists them too

    def resource_id(self, inputs: Mapping[str, Any], snapshot_ids: list[str]) -> str:
        return f"{inputs['instance_id']}:{','.join(sorted(snapshot_ids))}"

    def outputs(
        self, props: Mapping[str, Any], members: list[Member], found: Mapping[str, Mapping[str, Any]], account_id: str
    ) -> dict[str, Any]:
        by_volume = {s["VolumeId"]: s for s in found.values()}
        recorded = props.get("snapshot_ids") or {}
        listed = [_member_now(m, by_volume.get(m.volume_id), recorded.get(m.volume_id)) for m in members]
        first = next(iter(found.values()), {})
        outs = SCHEMA.echoed(props)
        outs.update(
            snapshot_ids={s["volume_id"]: s["snapshot_id"] for s in listed if s["state"] != "missing"},
            snapshots=listed,
            account_id=account_id,
            region=props["region"],
            tags=managed_tags_now(props.get("tags") or {}, first.get("Tags")),
        )
        return outs


def _member_now(member: Member, snapshot: Mapping[str, Any] | None, recorded_id: str | None) -> dict[str, Any]:
    """A member as it is now; one deleted outside Pulumi stays listed as `missing` (drift the next `up` repairs)."""
    listed: dict[str, Any] = {"volume_id": member.volume_id, "device_name": member.device_name}
    if snapshot is None:
        return {**listed, "snapshot_id": recorded_id, "state": "missing"}
    return {
        **listed,
        "snapshot_id": snapshot["SnapshotId"],
        "size": snapshot.get("VolumeSize"),
        "encrypted": bool(snapshot.get("Encrypted")),
        "state": snapshot.get("State"),
        "start_time": snapshots.iso(snapshot.get("StartTime")),
        **locks.outputs(snapshot.get("Lock")),
        "lock_owned": bool(snapshot.get("LockOwned")),
        "consistency": snapshots.tag_value(snapshot, consistency.CONSISTENCY_TAG) or consistency.CRASH,
    }


INSTANCE_SET = InstanceSet()


class InstanceSnapshotsOperations(SnapshotProvider):
    """An InstanceSnapshots set's operations, whichever front door: the lifecycle's over `INSTANCE_SET`."""

    kind = INSTANCE_SET

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)  # the lifecycle's rules (a replace under an ended lock)
        result.failures.extend(CheckFailure(name, reason) for name, reason in consistency.problems(news))
        if not result.failures and not olds:
            pausing.announce(news.get(URN_INPUT), consistency.Plan.of(news), f"instance {news.get('instance_id')}")
        if not result.failures and not olds and news.get("permission_check"):
            denied = permission_check.denied(self.kind, news)
            result.failures = [CheckFailure(f.property, f.reason) for f in denied]
        return result

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        refuse_lock_shortening(olds, news)
        announce_lock_change(olds, news)
        # A member deleted outside Pulumi (seen by refresh) breaks the set's consistency: take a whole new set.
        missing = any(s.get("state") == "missing" for s in olds.get("snapshots") or [])
        return SCHEMA.diff(olds, news, *(["snapshot_ids"] if missing else []))


class InstanceSnapshotsOutputs(Outputs):
    """Crash-consistent snapshots of all (or some) volumes of an instance, waited for until every one is completed.

    Outputs `snapshot_ids` (volume id -> snapshot id), `snapshots` (volume, device, snapshot, size, encrypted, state,
    consistency)
    and `wait_time` (seconds until the whole set was completed).
    """

    snapshot_ids: pulumi.Output[dict[str, str]]
    snapshots: pulumi.Output[list[dict[str, Any]]]
    wait_time: pulumi.Output[float]
    instance_id: pulumi.Output[str]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]


INSTANCE_SNAPSHOTS = ResourceType("InstanceSnapshots", SCHEMA, InstanceSnapshotsOutputs, InstanceSnapshotsOperations)
