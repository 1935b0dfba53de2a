"""What a snapshot resource snapshots and how it starts it: a volume (CreateSnapshot) or an instance's volumes at one
instant (CreateSnapshots). How a resource keeps its snapshots in state is its own (`lifecycle.StateShape`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from snapshot_provider.core.quiesce import pausing
from snapshot_provider.ec2 import clients, pacing, snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError, aws_errors
from snapshot_provider.inputs import consistency
from snapshot_provider.inputs.declarations import AccountSelection


@dataclass(frozen=True)
class Member:
    """A volume a create snapshots, and where it is attached (None for a lone volume)."""

    volume_id: str
    device_name: str | None = None


class Source(Protocol):
    """What a snapshot resource snapshots, and the one EC2 call that starts it."""

    noun: str  # "snapshot", "snapshot set": for messages
    action: str  # the EC2 call that starts it: "CreateSnapshot", "CreateSnapshots"

    def source(self, inputs: Mapping[str, Any]) -> str:
        """What is snapshotted, for messages: 'volume vol-...', 'instance i-...'."""
        ...

    def members(self, ec2: Any, inputs: Mapping[str, Any]) -> list[Member]:
        """The volumes a create will snapshot (may call AWS; raises clear errors for inputs that cannot work)."""
        ...

    def copies_volume_tags(self, inputs: Mapping[str, Any]) -> bool:
        """Whether the inputs ask for each volume's tags on its snapshot."""
        ...

    def request_tags(self, inputs: Mapping[str, Any], desired: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        """The tags the starting request sets, from each volume's `desired` tags (EC2 may copy the volumes' own)."""
        ...

    def request(self, inputs: Mapping[str, Any], tags: Mapping[str, str], got: str) -> dict[str, Any]:
        """`action`'s parameters, tagged `tags` and the consistency `got` (the one declaration of the request: `start`
        sends it, a preview's permission check asks EC2 about it with DryRun)."""
        ...

    def start(
        self,
        ec2: Any,
        once: Any,
        inputs: Mapping[str, Any],
        members: list[Member],
        tags: Mapping[str, str],
        by: str,
    ) -> list[dict[str, Any]]:
        """The one EC2 call that starts the snapshots, tagged `tags`, on `once` (single attempt: called once per
        attempt, never retried blindly); what surrounds it (stopping, starting an instance) on `ec2` (retrying).
        `by` names the resource and attempt asking (an instance's stopped-by tag)."""
        ...


class VolumeSource:
    """One snapshot of one volume (CreateSnapshot)."""

    noun = "snapshot"
    action = "CreateSnapshot"

    def source(self, inputs: Mapping[str, Any]) -> str:
        return f"volume {inputs['volume_id']}"

    def members(self, ec2: Any, inputs: Mapping[str, Any]) -> list[Member]:
        return [Member(inputs["volume_id"])]

    def copies_volume_tags(self, inputs: Mapping[str, Any]) -> bool:
        return bool(inputs.get("copy_volume_tags"))

    def request_tags(self, inputs: Mapping[str, Any], desired: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        return dict(desired[inputs["volume_id"]])  # CreateSnapshot copies nothing itself

    def request(self, inputs: Mapping[str, Any], tags: Mapping[str, str], got: str) -> dict[str, Any]:
        return {"VolumeId": inputs["volume_id"], **_described_and_tagged(inputs, tags, got)}

    def start(
        self,
        ec2: Any,
        once: Any,
        inputs: Mapping[str, Any],
        members: list[Member],
        tags: Mapping[str, str],
        by: str,
    ) -> list[dict[str, Any]]:
        def create_snapshot(got: str) -> list[dict[str, Any]]:
            return [once.create_snapshot(**self.request(inputs, tags, got))]

        asking = _asking(once, self.action, by)
        plan = consistency.Plan.of(inputs)
        return pausing.around(ec2, _ssm(inputs), plan, inputs["volume_id"], create_snapshot, asking)


def _described_and_tagged(inputs: Mapping[str, Any], tags: Mapping[str, str], got: str) -> dict[str, Any]:
    """What CreateSnapshot and CreateSnapshots requests share: description, Outpost, tags (with the consistency)."""
    request: dict[str, Any] = {}
    if inputs.get("description") is not None:
        request["Description"] = inputs["description"]
    if inputs.get("outpost_arn"):
        request["OutpostArn"] = inputs["outpost_arn"]
    tagged = _with_consistency(consistency.Plan.of(inputs), tags, got)
    return {**request, "TagSpecifications": snapshots.tag_specifications(tagged)}


class InstanceSetSource:
    """One snapshot per chosen volume of an instance, all taken at the same instant (CreateSnapshots)."""

    noun = "snapshot set"
    action = "CreateSnapshots"

    def source(self, inputs: Mapping[str, Any]) -> str:
        return f"instance {inputs['instance_id']}"

    def members(self, ec2: Any, inputs: Mapping[str, Any]) -> list[Member]:
        instance_id = inputs["instance_id"]
        with aws_errors(
            "reading the instance's volumes (ec2:DescribeInstances)", instance_id=instance_id, region=inputs["region"]
        ):
            instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        mappings = {
            m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m
        }
        return plan_members(
            mappings,
            instance.get("RootDeviceName"),
            bool(inputs.get("exclude_boot_volume")),
            list(inputs.get("exclude_data_volume_ids") or []),
            instance_id,
        )

    def copies_volume_tags(self, inputs: Mapping[str, Any]) -> bool:
        return inputs.get("copy_tags_from_source") == "volume"

    def request_tags(self, inputs: Mapping[str, Any], desired: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        return dict(inputs["tags"])  # EC2 copies the volumes' own (CopyTagsFromSource)

    def request(self, inputs: Mapping[str, Any], tags: Mapping[str, str], got: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "InstanceId": inputs["instance_id"],
            "ExcludeBootVolume": bool(inputs.get("exclude_boot_volume")),
        }
        if inputs.get("exclude_data_volume_ids"):
            spec["ExcludeDataVolumeIds"] = list(inputs["exclude_data_volume_ids"])
        request: dict[str, Any] = {"InstanceSpecification": spec}
        if inputs.get("copy_tags_from_source"):
            request["CopyTagsFromSource"] = inputs["copy_tags_from_source"]
        return {**request, **_described_and_tagged(inputs, tags, got)}

    def start(
        self,
        ec2: Any,
        once: Any,
        inputs: Mapping[str, Any],
        members: list[Member],
        tags: Mapping[str, str],
        by: str,
    ) -> list[dict[str, Any]]:
        def create_snapshots(got: str) -> list[dict[str, Any]]:
            return list(once.create_snapshots(**self.request(inputs, tags, got))["Snapshots"])

        volumes = [(m.volume_id, m.device_name or "") for m in members]
        asking = _asking(once, self.action, by)
        plan = consistency.Plan.of(inputs)
        return pausing.around_instance(
            ec2, _ssm(inputs), plan, inputs["instance_id"], volumes, create_snapshots, asking
        )


def _with_consistency(plan: consistency.Plan, tags: Mapping[str, str], got: str) -> Mapping[str, str]:
    # Tagged whenever more than crash was asked for, so a fallback says so on the snapshot too.
    return {**tags, consistency.CONSISTENCY_TAG: got} if plan.consistency != consistency.CRASH else tags


def _asking(once: Any, action: str, by: str) -> pausing.Asker:
    """Who asks for the snapshot, and how the request takes its turn at EC2's API rate ahead of a pause."""
    return pausing.Asker(by=by, turn=lambda: pacing.turn_taken(once, action))


def _ssm(inputs: Mapping[str, Any]) -> Any:
    """SSM's client for these inputs' account, made only when a command is sent."""
    return lambda: clients.client(AccountSelection.from_props(inputs), "ssm")


def plan_members(
    mappings: Mapping[str, str], root_device: str | None, exclude_boot: bool, excluded: Sequence[str], instance_id: str
) -> list[Member]:
    """The volumes CreateSnapshots will snapshot, or a clear error for exclusions that cannot work. Pure."""
    attached = {volume: device for device, volume in mappings.items()}
    for volume_id in excluded:
        if volume_id not in attached:
            listing = ", ".join(f"{v} ({d})" for v, d in sorted(attached.items())) or "none"
            raise SnapshotProviderError(
                f"exclude_data_volume_ids: {volume_id} is not attached to {instance_id} (attached: {listing}); "
                "remove it from the list"
            )
        if attached[volume_id] == root_device:
            raise SnapshotProviderError(
                f"exclude_data_volume_ids: {volume_id} is the root volume of {instance_id}; use "
                "exclude_boot_volume=True to leave it out"
            )
    members = [
        Member(volume, device)
        for device, volume in sorted(mappings.items())
        if volume not in excluded and not (exclude_boot and device == root_device)
    ]
    if not members:
        raise SnapshotProviderError(
            f"nothing to snapshot: every volume of {instance_id} is excluded (exclude_boot_volume and "
            "exclude_data_volume_ids); keep at least one"
        )
    return members


VOLUME_SOURCE = VolumeSource()
INSTANCE_SET_SOURCE = InstanceSetSource()
