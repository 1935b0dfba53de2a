"""What an EbsSnapshot is and does, whichever front door: one volume's snapshot (`Volume`, a `VolumeSource` kept in
state under its snapshot id), its operations (the lifecycle's, and `import_snapshot_id`), and its outputs.

A snapshot recorded through `import_snapshot_id` is the user's: this provider never deletes it (not on destroy, not
as the old side of a replace, when the replacement imports it again) and says so. Import takes only a snapshot no
resource of this provider manages, whose description is the input's: EC2 cannot change a description, and state
must not claim one the snapshot does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, UpdateResult

from snapshot_provider.core.lifecycle import completion, existing, permission_check, shapes
from snapshot_provider.core.lifecycle.create import refuse_ended_lock
from snapshot_provider.core.lifecycle.provider import SnapshotProvider
from snapshot_provider.core.lifecycle.shapes import RESOURCE_TAG, SERIES_TAG, Taken, managed_tags_now
from snapshot_provider.core.quiesce import pausing
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.core.sources import Member, VolumeSource
from snapshot_provider.ec2 import clients, find, locks, snapshots
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs import consistency, rules
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.ebs_snapshot import SCHEMA
from snapshot_provider.process.engine_log import engine_log


class Volume(VolumeSource):
    """What an EbsSnapshot is (`lifecycle.shapes.Kind`): a volume's snapshot (`VolumeSource`), kept in state under its
    snapshot id."""

    schema = SCHEMA

    def members_in_state(self, props: Mapping[str, Any]) -> list[Member]:
        return [Member(props["volume_id"])]

    def snapshot_ids(self, id_: str, props: Mapping[str, Any]) -> list[str]:
        return [id_]

    def resource_id(self, inputs: Mapping[str, Any], snapshot_ids: list[str]) -> str:
        return snapshot_ids[0]

    def outputs(
        self, props: Mapping[str, Any], members: list[Member], found: Mapping[str, Mapping[str, Any]], account_id: str
    ) -> dict[str, Any]:
        [snapshot] = found.values()
        region = props["region"]
        outs = SCHEMA.echoed(props)
        outs.update(
            snapshot_id=snapshot["SnapshotId"],
            state=snapshot.get("State"),
            progress=snapshot.get("Progress"),
            volume_size=snapshot.get("VolumeSize"),
            encrypted=bool(snapshot.get("Encrypted")),
            kms_key_id=snapshot.get("KmsKeyId"),
            owner_id=snapshot.get("OwnerId"),
            start_time=snapshots.iso(snapshot.get("StartTime")),
            # Archiving takes hours in AWS: once requested, the request is what state records.
            storage_tier="archive"
            if props.get("storage_tier") == "archive"
            else snapshot.get("StorageTier", "standard"),
            arn=clients.snapshot_arn(region, snapshot["SnapshotId"]),
            account_id=account_id,
            region=region,
            tags=managed_tags_now(props.get("tags") or {}, snapshot.get("Tags")),
            all_tags=snapshots.tags_of(snapshot.get("Tags")),
            imported=is_imported(snapshot["SnapshotId"], props),
            **locks.outputs(snapshot.get("Lock")),
            lock_owned=bool(snapshot.get("LockOwned")),
            snapshot_consistency=snapshots.tag_value(snapshot, consistency.CONSISTENCY_TAG) or consistency.CRASH,
        )
        return outs


def is_imported(snapshot_id: str, props: Mapping[str, Any]) -> bool:
    """Recorded through `import_snapshot_id` (state written before `imported` existed says so by the id alone)."""
    return bool(props.get("imported")) or props.get("import_snapshot_id") == snapshot_id


VOLUME = Volume()


class EbsSnapshotOperations(SnapshotProvider):
    """An EbsSnapshot's operations, whichever front door: the lifecycle's over `VOLUME`, with import."""

    kind = VOLUME

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)  # the lifecycle's rules (a replace under an ended lock)
        if news.get("import_snapshot_id") is not None and news.get("triggers"):
            result.failures.append(CheckFailure("triggers", TRIGGERS_WITH_IMPORT))
        result.failures.extend(CheckFailure(name, reason) for name, reason in consistency.problems(news))
        if not result.failures and not olds and not news.get("import_snapshot_id"):
            pausing.announce(
                news.get(URN_INPUT),
                consistency.Plan.of(news),
                f"the instance that volume {news.get('volume_id')} is attached to",
            )
        if not result.failures and not olds and news.get("permission_check") and not news.get("import_snapshot_id"):
            denied = permission_check.denied(self.kind, news)
            result.failures = [CheckFailure(f.property, f.reason) for f in denied]
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        if props.get("import_snapshot_id"):
            return import_snapshot(props)
        return super().create(props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = dict(super().update(id_, olds, news).outs or {})
        # import_snapshot_id may be gone from the program (a change that does nothing): the snapshot stays the user's.
        outs["imported"] = is_imported(id_, olds)
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if is_imported(id_, props):
            engine_log().info(
                props.get(URN_INPUT),
                f"left {id_} in place: it was recorded through import_snapshot_id, so it is yours and this provider "
                f"never deletes it (aws ec2 delete-snapshot --snapshot-id {id_} when you no longer need it)",
            )
            return
        super().delete(id_, props)


# A trigger promises a new snapshot on every change; an import takes none, and a replace would import the same one.
TRIGGERS_WITH_IMPORT = (
    "cannot be used with import_snapshot_id: import_snapshot_id takes no snapshot, so a trigger change would only "
    "record the same snapshot again. Remove triggers to keep the imported snapshot, or remove import_snapshot_id to "
    "have this resource take a new snapshot on every trigger change"
)


def import_snapshot(props: Mapping[str, Any]) -> CreateResult:
    """Record an existing snapshot of `volume_id`, with the input tags set. It is the user's: nothing on this path
    deletes it, whatever state it is in."""
    inputs = SCHEMA.parse(props)
    refuse_ended_lock(inputs)
    conn = Connection.to_create(inputs)
    ec2 = conn.ec2
    snapshot_id = inputs["import_snapshot_id"]
    try:
        found: dict[str, Any] = {**find.snapshot(ec2, snapshot_id)}
    except find.NotFound as missing:
        raise SnapshotProviderError(
            f"import_snapshot_id {snapshot_id} was not found in region {conn.account.region} of account "
            f"{conn.account_id}: check the id, region and credentials"
        ) from missing
    refusal = import_refusal(found, inputs)
    if refusal:
        raise SnapshotProviderError(f"import_snapshot_id {snapshot_id} {refusal}")
    current = snapshots.tags_of(found.get("Tags"))
    snapshots.update_tags(ec2, [snapshot_id], {k: current[k] for k in current if k in inputs["tags"]}, inputs["tags"])
    members = VOLUME.members(ec2, inputs)
    taken = Taken([found], found["StartTime"].timestamp(), imported=True)  # the user's: a wait that ends says so
    statuses = completion.wait(conn.account, VOLUME, inputs, taken, members, delete_on_failure=False)
    described = {sid: status.details for sid, status in statuses.items()}
    ec2 = conn.ec2  # the client now: the wait may have renewed the credentials
    if inputs["storage_tier"] == "archive" and found.get("StorageTier") != "archive":
        snapshots.archive(ec2, snapshot_id)
    # As a create locks what it took; a lock the user's snapshot already holds is extended, never shortened nor
    # weakened (kept, and said): it is theirs, so this resource never removes it either (`lock_owned` false).
    adopted = locks.adopt(ec2, [snapshot_id], inputs.get("lock"), "the snapshot's own lock, kept at import")
    for line in adopted.lines:
        engine_log().warning(inputs.get(URN_INPUT), line)
    described = existing.with_locks(ec2, inputs, described, adopted.owned)
    outs = VOLUME.outputs(inputs, members, described, conn.account_id)
    outs["wait_time"] = None  # this provider did not watch it being taken: unknown rather than made up
    return CreateResult(snapshot_id, outs)


def import_refusal(found: Mapping[str, Any], inputs: Mapping[str, Any]) -> str | None:
    """Why this snapshot cannot be imported for these inputs, or None (pure)."""
    snapshot_id, volume_id = found["SnapshotId"], inputs["volume_id"]
    if found["VolumeId"] != volume_id:
        return (
            f"is a snapshot of {found['VolumeId']}, not of volume_id {volume_id}: set volume_id to "
            f"{found['VolumeId']} to import it"
        )
    if found["State"] == "error":
        return (
            f"is in state error ({found.get('StateMessage') or 'no reason given'}), so it cannot stand for a snapshot "
            "of the volume. It was left as it is; unset import_snapshot_id to take a new snapshot."
        )
    managed = _managed_by(found, inputs.get(URN_INPUT))
    if managed:
        release = " ".join(
            f"Key={t['Key']}" for t in found.get("Tags") or [] if t["Key"].startswith(rules.MANAGED_TAG_PREFIX)
        )
        return (
            f"{managed}, which may delete it, so importing it would let two owners delete one snapshot. Nothing was "
            "changed. Import another snapshot; or, if nothing manages it any more (it was kept by retain_on_delete), "
            f"release it first: aws ec2 delete-tags --resources {snapshot_id} --tags {release}"
        )
    description = inputs.get("description")
    if description is not None and (found.get("Description") or "") != description:
        return (
            f"cannot be recorded: its description is {found.get('Description') or ''!r} and the description input "
            f"says {description!r} (EC2 cannot change a snapshot's description). Nothing was changed: set description "
            "to the snapshot's, or remove it."
        )
    return None


def _managed_by(found: Mapping[str, Any], urn: str | None) -> str | None:
    """Whom this provider's tags on a snapshot name as its owner, in words; None for a snapshot no resource manages.

    A snapshot this same resource took is refused too: imported while state still records it (a replace that adds
    import_snapshot_id), the engine's delete of the old side would delete what the replacement recorded."""
    series = snapshots.tag_value(found, SERIES_TAG)
    if series:
        return f"belongs to SnapshotSeries {series}, which prunes it by its retention policy and deletes it on destroy"
    token = snapshots.tag_value(found, RESOURCE_TAG)
    if urn and token == shapes.resource_token(urn):
        return "was taken by this same resource, and state may still record it as the resource's own snapshot"
    if token or any(t["Key"].startswith(rules.MANAGED_TAG_PREFIX) for t in found.get("Tags") or []):
        return "is managed by another Pulumi resource of this provider (its pulumi-snapshot: tags say so)"
    return None


class EbsSnapshotOutputs(Outputs):
    """A completed snapshot of one EBS volume. Outputs `snapshot_id` and `wait_time` (seconds until completed)."""

    snapshot_id: pulumi.Output[str]
    wait_time: pulumi.Output[float]
    state: pulumi.Output[str]
    progress: pulumi.Output[str]
    volume_id: pulumi.Output[str]
    volume_size: pulumi.Output[int]
    encrypted: pulumi.Output[bool]
    kms_key_id: pulumi.Output[str | None]
    owner_id: pulumi.Output[str]
    start_time: pulumi.Output[str]
    storage_tier: pulumi.Output[str]
    arn: pulumi.Output[str]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]
    all_tags: pulumi.Output[dict[str, str]]
    imported: pulumi.Output[bool]
    lock_state: pulumi.Output[str | None]
    lock_expires_at: pulumi.Output[str | None]
    lock_owned: pulumi.Output[bool]
    snapshot_consistency: pulumi.Output[str]


EBS_SNAPSHOT = ResourceType("EbsSnapshot", SCHEMA, EbsSnapshotOutputs, EbsSnapshotOperations)
