"""The operations of a VolumeRemoval: check, diff, create (the removal), read, update (the undo source moves),
delete (the undo); and its outputs."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider.core import holds
from snapshot_provider.core.removal import remove, source, stored, take_over, undo
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.ec2 import clients, undo_tags, volumes
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import (
    SnapshotProviderError,
)
from snapshot_provider.inputs import volume_removal as removal_inputs


class VolumeRemovalOperations(ResourceProvider):
    """What a VolumeRemoval does, operation by operation (the dynamic provider's methods, which the plugin calls
    too); `volume_removal.VolumeRemovalProvider` is this under the name stacks' state records."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(
            removal_inputs.SCHEMA.stored(news),
            [CheckFailure(f.property, f.reason) for f in removal_inputs.failures(olds, news)],
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        diff = removal_inputs.SCHEMA.diff(olds, news)
        if not diff.changes and stored.predates_holds(olds):
            # Nothing holds its snapshot: a destroy could delete it before the undo ran. An update holds it.
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        return diff

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = removal_inputs.parse({}, props)
        conn = Connection.to_create(inputs)
        ec2 = conn.ec2
        volume_id, snapshot_id = inputs["volume_id"], inputs["snapshot_id"]
        owner = secrets.token_hex(8)  # this create's: the hold names it, state records it
        volume = volumes.look_up(ec2, volume_id)
        if volume is None or volume["State"] in volumes.GONE:
            record = take_over.take_over(ec2, conn.account, volume_id, snapshot_id, owner, stored.urn(inputs))
            stored.say(
                inputs,
                f"volume {volume_id} was removed earlier (by a run of this resource that was cut short, or by the "
                f"resource this one replaces): this resource takes over its undo, from {snapshot_id}",
            )
            return CreateResult(
                f"removed-{volume_id}", stored.outputs(inputs, record, conn.account_id, record.get("at"), owner)
            )
        snapshot = remove.refuse_unless_safe(ec2, volume, snapshot_id)
        record = remove.restore_record(volume)
        remove.refuse_if_tags_do_not_fit(volume_id, record)
        remove.hold(ec2, snapshot, volume_id, record, owner, stored.urn(inputs))
        try:
            volumes.delete_once(conn.account, volume_id)
        except SnapshotProviderError:
            holds.release(ec2, snapshot_id, volume_id)
            raise
        pulumi.log.info(f"deleted volume {volume_id}; `pulumi destroy` restores it from {snapshot_id}")
        return CreateResult(f"removed-{volume_id}", stored.outputs(inputs, record, conn.account_id, time.time(), owner))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The volume is gone by design; what matters is that the snapshot needed to undo is still there (asked of the
        # account the volume was removed in: elsewhere it would look gone).
        conn = Connection.to_existing(props, "refresh", clients.recorded_account(props))
        restorable = source.find_snapshot(conn.ec2, props["snapshot_id"]) is not None
        return ReadResult(
            id_, {**props, "restorable": restorable, **stored.account_learned(props, conn.account_id, restorable)}
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Access settings are state only (an unset one is gone from state); a new snapshot id becomes the undo's
        source once it is checked to be a usable snapshot of the removed volume: the hold moves to it. A removal from
        before holds (0.1.0 state) gets its hold here, and records the account its snapshot was seen in."""
        inputs = removal_inputs.parse(olds, news)
        conn = Connection.to_existing(inputs, "update", stored.recorded_account(olds))
        volume_id, snapshot_id, old_snapshot_id = inputs["volume_id"], inputs["snapshot_id"], olds.get("snapshot_id")
        kept = {k: olds[k] for k in (*stored.RESTORE_KEYS, "deleted_at", "account_id", "hold_owner") if k in olds}
        owner = olds.get("hold_owner") or secrets.token_hex(8)
        ec2 = conn.ec2
        if snapshot_id != old_snapshot_id:
            prefix = f"cannot restore volume {volume_id} from {snapshot_id}"
            snapshot = source.require_undo_source(ec2, volume_id, snapshot_id, prefix)
            remove.hold(ec2, snapshot, volume_id, stored.record_from_state(olds) or {}, owner, stored.urn(inputs))
            if old_snapshot_id:
                holds.release(ec2, old_snapshot_id, volume_id)
        elif stored.predates_holds(olds):
            declared = stored.recorded_account(inputs) == conn.account_id
            remove.hold_upgraded(ec2, conn.account_id, olds, owner, stored.urn(inputs), declared=declared)
        # The snapshot was seen in this account (the hold read back): that is where the volume was removed.
        return UpdateResult({**inputs, "account_id": conn.account_id, **kept, "hold_owner": owner})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Undo: the volume comes back from the snapshot, as it was (with a new id: EC2 never reuses one), once."""
        recorded = stored.recorded_account(props)
        conn = Connection.to_existing(props, "delete", recorded)
        ec2 = conn.ec2
        volume_id, snapshot_id = props["volume_id"], props["snapshot_id"]
        successor = take_over.taken_over_by(ec2, props)
        if successor:
            stored.say(
                props,
                f"not restoring volume {volume_id}: its undo was taken over by the resource that replaced this one "
                f"(hold on {snapshot_id}, {undo_tags.OWNER_TAG}={successor}), whose own delete restores it",
            )
            return
        restored = undo.find_restored(ec2, volume_id)
        if restored is None:
            snapshot = undo.undo_source(ec2, conn.account, conn.account_id, props, account_known=recorded is not None)
            record = stored.record_from_state(props) or stored.complete(undo_tags.record_of(snapshot.get("Tags")))
            if record is None:
                raise SnapshotProviderError(
                    f"cannot restore volume {volume_id}: neither the state nor snapshot {snapshot_id} has its restore "
                    "record (zone, size, type). Nothing was changed: restore it by hand (aws ec2 create-volume "
                    f"--snapshot-id {snapshot_id} ...), then remove this resource with `pulumi state delete`."
                )
            restored = undo.create_restored(conn.account, volume_id, snapshot_id, record)
            try:
                undo.wait_available(ec2, restored, props)
            except undo.RestoredVolumeGone:
                # The token's volume was deleted since (by hand, between two runs): EC2 keeps answering the token
                # with it. A token of its own, derived from the dead volume, makes one new volume, once.
                stored.say(
                    props, f"{restored}, restored earlier for volume {volume_id}, was deleted since: restoring again"
                )
                restored = undo.create_restored(conn.account, volume_id, snapshot_id, record, after=restored)
                undo.wait_available(ec2, restored, props)
        else:
            stored.say(
                props, f"found {restored}, restored for volume {volume_id} by an earlier run: not creating another"
            )
            undo.wait_available(ec2, restored, props)
        holds.release(ec2, snapshot_id, volume_id)
        pulumi.log.info(f"restored volume {volume_id} from {snapshot_id} as {restored}")


class VolumeRemovalOutputs(Outputs):
    """Deletes an unattached volume after its snapshot completed; `pulumi destroy` brings it back from the snapshot.

    The snapshot is held (tagged `pulumi-snapshot:undo-for`, with the restore record) until the undo restored the
    volume: this provider's snapshot resources and series do not delete or archive it meanwhile.

    Outputs the volume's recorded attributes (`availability_zone`, `size`, `volume_type`, ... `volume_tags`).
    """

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


VOLUME_REMOVAL = ResourceType("VolumeRemoval", removal_inputs.SCHEMA, VolumeRemovalOutputs, VolumeRemovalOperations)
