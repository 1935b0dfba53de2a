"""InstanceSnapshots: a crash-consistent set of snapshots of an instance's volumes (EC2 CreateSnapshots)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider import aws, permissions, snapshots
from snapshot_provider.errors import (
    SnapshotFailed,
    SnapshotInUse,
    SnapshotProviderError,
    SnapshotTimedOut,
    aws_errors,
)
from snapshot_provider.inputs import (
    CREATION_TOKEN_TAG,
    Failure,
    InstanceSnapshotsInputs,
    check_instance_snapshots,
    parse_account,
    parse_instance_snapshots,
    tier_change_failures,
)
from snapshot_provider.plan import ACCOUNT_INPUT_KEYS, SETTINGS_INPUT_KEYS, plan_diff, with_defaults
from snapshot_provider.program import common_props
from snapshot_provider.waiting import SnapshotStatus, WaitTimedOut

SOURCE_KEYS = ("instance_id", "exclude_boot_volume", "exclude_data_volume_ids", "copy_tags_from_source")
INPUT_KEYS = (*SOURCE_KEYS, *ACCOUNT_INPUT_KEYS, *SETTINGS_INPUT_KEYS)
OUTPUT_KEYS = ("snapshot_ids", "snapshots", "wait_time", "instance_id", "account_id", "region", "tags")
STABLE_KEYS = ("snapshot_ids", "snapshots", "wait_time", "instance_id", "account_id", "region")


@dataclass(frozen=True)
class Member:
    """One volume of the set: where it is attached."""

    volume_id: str
    device_name: str


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


def plan_instance_diff(olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
    # A member deleted outside Pulumi (seen by refresh) breaks the set's consistency: take a whole new set.
    missing = any(s.get("state") == "missing" for s in olds.get("snapshots") or [])
    return plan_diff(olds, news, SOURCE_KEYS, STABLE_KEYS, extra_replaces=["snapshot_ids"] if missing else [])


class InstanceSnapshotsProvider(ResourceProvider):
    """Dynamic provider for InstanceSnapshots (stateless; pickled by reference)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = check_instance_snapshots(news)
        excluded = news.get("exclude_data_volume_ids")
        if isinstance(excluded, (list, tuple)) and len(set(excluded)) != len(excluded):
            failures.append(Failure("exclude_data_volume_ids", "lists a volume more than once"))
        failures += tier_change_failures(olds, news)
        if not failures and not olds and news.get("permission_check"):
            failures = permissions.check_create_snapshots(news)
        defaults = {"exclude_boot_volume": False, "exclude_data_volume_ids": []}
        return CheckResult(with_defaults(news, **defaults), [CheckFailure(f.property, f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return plan_instance_diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = parse_instance_snapshots(props)
        account_id = aws.ensure_allowed_account(inputs.account)
        ec2 = aws.client(inputs.account)
        members = self._members(ec2, inputs)
        created, started_at = self._create_or_adopt(ec2, inputs, members)
        ids = [s["SnapshotId"] for s in created]
        statuses = self._wait(ec2, inputs, members, created, started_at)
        if inputs.settings.storage_tier == "archive":
            for snapshot_id in ids:
                snapshots.archive(ec2, snapshot_id)
        last_seen = {sid: status.details for sid, status in statuses.items()}
        outs = _outputs(props, members, last_seen, inputs.account.region, account_id)
        outs["wait_time"] = snapshots.wait_seconds(max(s.observed_at for s in statuses.values()), started_at)
        return CreateResult(_set_id(inputs.instance_id, ids), outs)

    @staticmethod
    def _members(ec2: Any, inputs: InstanceSnapshotsInputs) -> list[Member]:
        with aws_errors(
            "reading the instance's volumes (ec2:DescribeInstances)",
            instance_id=inputs.instance_id,
            region=inputs.account.region,
        ):
            reservations = ec2.describe_instances(InstanceIds=[inputs.instance_id])["Reservations"]
        instance = reservations[0]["Instances"][0]
        mappings = {
            m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m
        }
        return plan_members(
            mappings,
            instance.get("RootDeviceName"),
            inputs.exclude_boot_volume,
            inputs.exclude_data_volume_ids,
            inputs.instance_id,
        )

    def _create_or_adopt(
        self, ec2: Any, inputs: InstanceSnapshotsInputs, members: list[Member]
    ) -> tuple[list[dict[str, Any]], float]:
        token = inputs.settings.creation_token
        if token:
            adopted = self._adoptable(ec2, inputs, members)
            if adopted:
                return adopted, min(s["StartTime"].timestamp() for s in adopted)
        tags = dict(inputs.settings.tags)
        if token:
            tags[CREATION_TOKEN_TAG] = token
        spec: dict[str, Any] = {"InstanceId": inputs.instance_id, "ExcludeBootVolume": inputs.exclude_boot_volume}
        if inputs.exclude_data_volume_ids:
            spec["ExcludeDataVolumeIds"] = list(inputs.exclude_data_volume_ids)
        request: dict[str, Any] = {
            "InstanceSpecification": spec,
            "TagSpecifications": snapshots.tag_specifications(tags),
        }
        if inputs.settings.description is not None:
            request["Description"] = inputs.settings.description
        if inputs.settings.outpost_arn:
            request["OutpostArn"] = inputs.settings.outpost_arn
        if inputs.copy_tags_from_source:
            request["CopyTagsFromSource"] = inputs.copy_tags_from_source
        single = aws.client(inputs.account, single_attempt=True)
        started_at = time.time()
        created = snapshots.create_once(
            lambda: single.create_snapshots(**request)["Snapshots"],
            (lambda: self._adoptable(ec2, inputs, members) or None) if token else (lambda: None),
            "creating the snapshot set (ec2:CreateSnapshots)",
            instance_id=inputs.instance_id,
            region=inputs.account.region,
        )
        return created, started_at

    @staticmethod
    def _adoptable(ec2: Any, inputs: InstanceSnapshotsInputs, members: list[Member]) -> list[dict[str, Any]]:
        """A whole set an earlier run started, if there is one; any other leftover of this resource is deleted."""
        token = inputs.settings.creation_token
        assert token
        found = snapshots.find_by_token(ec2, token, inputs.settings.timeout)
        if not found:
            return []
        start = found[0]["StartTime"]
        latest = [s for s in found if s["StartTime"] == start]
        complete = sorted(s["VolumeId"] for s in latest) == sorted(m.volume_id for m in members)
        if complete and all(s["State"] != "error" for s in latest):
            pulumi.log.info(
                f"adopting the snapshot set {', '.join(s['SnapshotId'] for s in latest)} started by an "
                f"earlier run ({CREATION_TOKEN_TAG}={token})"
            )
            return latest
        for leftover in found:  # partial, failed or for other volumes: not a crash-consistent set of these volumes
            snapshots.delete_snapshot(ec2, leftover["SnapshotId"])
        return []

    @staticmethod
    def _wait(
        ec2: Any,
        inputs: InstanceSnapshotsInputs,
        members: list[Member],
        created: list[dict[str, Any]],
        started_at: float,
    ) -> dict[str, SnapshotStatus]:
        ids = [s["SnapshotId"] for s in created]
        volume_of = {s["SnapshotId"]: s["VolumeId"] for s in created}
        device_of = {m.volume_id: m.device_name for m in members}
        monotonic_start = time.monotonic() - max(0.0, time.time() - started_at)
        try:
            statuses = snapshots.wait_for(inputs.account, ids, inputs.settings.timeout, monotonic_start)
        except WaitTimedOut as timed_out:
            pending = [sid for sid in ids if (timed_out.statuses.get(sid) or _PENDING).state == "pending"]
            raise SnapshotTimedOut(
                f"the snapshot set of {inputs.instance_id} is still pending after the timeout of "
                f"{inputs.settings.timeout:g}s ({', '.join(pending)}). The set was left in place, tagged "
                f"{CREATION_TOKEN_TAG}={inputs.settings.creation_token}: run `pulumi up` again to adopt it and keep "
                "waiting (raise timeout for big volumes)."
            ) from None
        failed = [s for s in statuses.values() if s.state != "completed"]
        if failed:
            for snapshot_id in ids:
                snapshots.delete_snapshot(ec2, snapshot_id)
            described = "; ".join(
                f"{s.snapshot_id} of {volume_of.get(s.snapshot_id)} ({device_of.get(volume_of.get(s.snapshot_id, ''))})"
                f" ended in state {s.state}: {s.state_message or 'EC2 gave no reason'}"
                for s in failed
            )
            raise SnapshotFailed(
                f"the snapshot set of {inputs.instance_id} failed: {described}. The whole set ({len(ids)} snapshots) "
                "was deleted, because a set with a failed member is not crash-consistent; run `pulumi up` again to "
                "take a new set."
            )
        return statuses

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not props.get("snapshot_ids"):
            raise SnapshotProviderError("InstanceSnapshots cannot be imported: declare it and let it take a set")
        account = parse_account(props)
        ec2 = aws.client(account)
        ids = list(props["snapshot_ids"].values())
        found = _describe_set(ec2, ids)
        if not found:
            return ReadResult("", {})  # every member is gone: refresh drops the set from state
        members = [Member(s["volume_id"], s["device_name"]) for s in props.get("snapshots") or []]
        outs = _outputs(
            props, members, found, account.region, props.get("account_id") or aws.caller_account_id(account)
        )
        outs["wait_time"] = props.get("wait_time")
        outs["snapshots"] = _members_now(props, found)
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = parse_instance_snapshots(news)
        account_id = aws.ensure_allowed_account(inputs.account)
        ec2 = aws.client(inputs.account)
        ids = list((olds.get("snapshot_ids") or {}).values())
        snapshots.update_tags(ec2, ids, olds.get("tags") or {}, inputs.settings.tags)
        if inputs.settings.storage_tier == "archive" and olds.get("storage_tier") != "archive":
            for snapshot_id in ids:
                snapshots.archive(ec2, snapshot_id)
        members = [Member(s["volume_id"], s["device_name"]) for s in olds.get("snapshots") or []]
        outs = _outputs(news, members, _describe_set(ec2, ids), inputs.account.region, account_id)
        outs["wait_time"] = olds.get("wait_time")
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        inputs = parse_instance_snapshots(props)
        aws.ensure_allowed_account(inputs.account)
        ec2 = aws.client(inputs.account)
        blocked = []
        for snapshot_id in (props.get("snapshot_ids") or {}).values():
            try:
                snapshots.delete_snapshot(ec2, snapshot_id)
            except SnapshotInUse as in_use:
                blocked.append(str(in_use))
        if blocked:
            raise SnapshotInUse("; ".join(blocked) + " (the other snapshots of the set were deleted)")


_PENDING = SnapshotStatus("", "pending", 0, 0.0)


def _set_id(instance_id: str, snapshot_ids: list[str]) -> str:
    return f"{instance_id}:{','.join(sorted(snapshot_ids))}"


def _describe_set(ec2: Any, snapshot_ids: list[str]) -> dict[str, dict[str, Any]]:
    with aws_errors("reading the snapshot set", snapshot_ids=",".join(snapshot_ids)):
        found = snapshots.describe_many(ec2, snapshot_ids)
    return {s["SnapshotId"]: s for s in found}


def _members_now(props: Mapping[str, Any], found: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded members as they are now; one deleted outside Pulumi stays listed as "missing" (drift that the
    next `up` repairs), not a crash."""
    return [
        {**s, **_member_fields(found[s["snapshot_id"]])} if s["snapshot_id"] in found else {**s, "state": "missing"}
        for s in props.get("snapshots") or []
    ]


def _member_fields(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "size": snapshot.get("VolumeSize"),
        "encrypted": bool(snapshot.get("Encrypted")),
        "state": snapshot.get("State"),
        "start_time": snapshots.iso(snapshot.get("StartTime")),
    }


def _outputs(
    inputs: Mapping[str, Any], members: list[Member], found: Mapping[str, dict[str, Any]], region: str, account_id: str
) -> dict[str, Any]:
    outs = {k: v for k, v in inputs.items() if k in INPUT_KEYS}
    by_volume = {s["VolumeId"]: s for s in found.values()}
    listed = [
        {"volume_id": m.volume_id, "device_name": m.device_name, **_member_fields(by_volume[m.volume_id])}
        for m in members
        if m.volume_id in by_volume
    ]
    managed = dict(inputs.get("tags") or {})
    current = snapshots.tags_of(next(iter(found.values())).get("Tags")) if found else {}
    outs.update(
        snapshot_ids={s["volume_id"]: s["snapshot_id"] for s in listed},
        snapshots=listed,
        account_id=account_id,
        region=region,
        tags={k: current[k] for k in managed if k in current},
    )
    return outs


class InstanceSnapshots(Resource):
    """Crash-consistent snapshots of all (or some) volumes of an instance, waited for until every one is completed.

    Outputs `snapshot_ids` (volume id -> snapshot id), `snapshots` (volume, device, snapshot, size, encrypted, state)
    and `wait_time` (seconds until the whole set was completed).
    """

    snapshot_ids: pulumi.Output[dict[str, str]]
    snapshots: pulumi.Output[list[dict[str, Any]]]
    wait_time: pulumi.Output[float]
    instance_id: pulumi.Output[str]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        resource_name: str,
        instance_id: pulumi.Input[str],
        exclude_boot_volume: pulumi.Input[bool] | None = None,
        exclude_data_volume_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
        copy_tags_from_source: pulumi.Input[str] | None = None,
        region: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        outpost_arn: pulumi.Input[str] | None = None,
        storage_tier: pulumi.Input[str] | None = None,
        timeout: pulumi.Input[float] | None = None,
        profile: pulumi.Input[str] | None = None,
        role_arn: pulumi.Input[str] | None = None,
        external_id: pulumi.Input[str] | None = None,
        role_session_name: pulumi.Input[str] | None = None,
        allowed_account_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
        endpoint_url: pulumi.Input[str] | None = None,
        permission_check: pulumi.Input[bool] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "instance_id": instance_id,
            "exclude_boot_volume": exclude_boot_volume,
            "exclude_data_volume_ids": exclude_data_volume_ids,
            "copy_tags_from_source": copy_tags_from_source,
            **common_props(
                resource_name,
                region=region,
                description=description,
                tags=tags,
                outpost_arn=outpost_arn,
                storage_tier=storage_tier,
                timeout=timeout,
                profile=profile,
                role_arn=role_arn,
                external_id=external_id,
                role_session_name=role_session_name,
                allowed_account_ids=allowed_account_ids,
                endpoint_url=endpoint_url,
                permission_check=permission_check,
            ),
        }
        props.update({k: None for k in OUTPUT_KEYS if k not in props})
        super().__init__(InstanceSnapshotsProvider(), resource_name, props, opts)
