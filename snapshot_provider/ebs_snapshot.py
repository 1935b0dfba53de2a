"""EbsSnapshot: one EBS volume's snapshot (EC2 CreateSnapshot), waited for until `completed`."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
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
from snapshot_provider.errors import SnapshotFailed, SnapshotProviderError, SnapshotTimedOut, aws_errors
from snapshot_provider.inputs import (
    CREATION_TOKEN_TAG,
    DEFAULT_TIMEOUT,
    EbsSnapshotInputs,
    check_ebs_snapshot,
    parse_account,
    parse_ebs_snapshot,
    tier_change_failures,
)
from snapshot_provider.plan import ACCOUNT_INPUT_KEYS, SETTINGS_INPUT_KEYS, plan_diff, with_defaults
from snapshot_provider.program import common_props
from snapshot_provider.waiting import SnapshotStatus, WaitTimedOut

SOURCE_KEYS = ("volume_id",)
INPUT_KEYS = (*SOURCE_KEYS, *ACCOUNT_INPUT_KEYS, *SETTINGS_INPUT_KEYS, "copy_volume_tags", "import_snapshot_id")
OUTPUT_KEYS = (
    "snapshot_id",
    "wait_time",
    "state",
    "progress",
    "volume_size",
    "encrypted",
    "kms_key_id",
    "owner_id",
    "start_time",
    "storage_tier",
    "arn",
    "account_id",
    "region",
    "tags",
    "all_tags",
)
# Outputs that an in-place update never changes.
STABLE_KEYS = (
    "snapshot_id",
    "wait_time",
    "volume_id",
    "volume_size",
    "encrypted",
    "kms_key_id",
    "owner_id",
    "start_time",
    "arn",
    "account_id",
    "region",
)


def plan_ebs_diff(olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
    return plan_diff(olds, news, SOURCE_KEYS, STABLE_KEYS)


class EbsSnapshotProvider(ResourceProvider):
    """Dynamic provider for EbsSnapshot. Holds no state, so its pickled form in each resource stays tiny."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = check_ebs_snapshot(news) + tier_change_failures(olds, news)
        if not failures and not olds and news.get("permission_check") and not news.get("import_snapshot_id"):
            failures = permissions.check_create_snapshot(news)
        return CheckResult(
            with_defaults(news, copy_volume_tags=False), [CheckFailure(f.property, f.reason) for f in failures]
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return plan_ebs_diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = parse_ebs_snapshot(props)
        account_id = aws.ensure_allowed_account(inputs.account)
        ec2 = aws.client(inputs.account)
        if inputs.import_snapshot_id:
            snapshot, started_at = self._import(ec2, inputs), None
        else:
            snapshot, started_at = self._create_or_adopt(ec2, inputs)
        snapshot_id = snapshot["SnapshotId"]
        status = self._wait(inputs, snapshot_id, started_at or snapshot["StartTime"].timestamp())
        if inputs.settings.storage_tier == "archive" and snapshot.get("StorageTier") != "archive":
            snapshots.archive(ec2, snapshot_id)
        outs = _outputs(props, status.details, inputs.account.region, account_id)  # as last seen by the poller
        # An imported snapshot's wait was not observed by this provider: unknown rather than made up.
        outs["wait_time"] = snapshots.wait_seconds(status.observed_at, started_at) if started_at else None
        if inputs.settings.storage_tier == "archive":
            outs["storage_tier"] = "archive"  # tiering takes hours in AWS; the request is what state records
        return CreateResult(snapshot_id, outs)

    def _create_or_adopt(self, ec2: Any, inputs: EbsSnapshotInputs) -> tuple[dict[str, Any], float]:
        """The snapshot to wait for, and the wall-clock time its CreateSnapshot request was made."""
        token = inputs.settings.creation_token
        if token:
            existing = self._adoptable(ec2, inputs)
            if existing is not None:
                return existing, existing["StartTime"].timestamp()
        tags = dict(inputs.settings.tags)
        if inputs.copy_volume_tags:
            tags = {**self._volume_tags(ec2, inputs), **tags}
        if token:
            tags[CREATION_TOKEN_TAG] = token
        request: dict[str, Any] = {
            "VolumeId": inputs.volume_id,
            "TagSpecifications": snapshots.tag_specifications(tags),
        }
        if inputs.settings.description is not None:
            request["Description"] = inputs.settings.description
        if inputs.settings.outpost_arn:
            request["OutpostArn"] = inputs.settings.outpost_arn
        single = aws.client(inputs.account, single_attempt=True)
        started_at = time.time()
        snapshot = snapshots.create_once(
            lambda: single.create_snapshot(**request),
            (lambda: self._adoptable(ec2, inputs)) if token else (lambda: None),
            "creating the snapshot (ec2:CreateSnapshot)",
            volume_id=inputs.volume_id,
            region=inputs.account.region,
        )
        return snapshot, started_at

    @staticmethod
    def _import(ec2: Any, inputs: EbsSnapshotInputs) -> dict[str, Any]:
        """The existing snapshot named by import_snapshot_id, checked against volume_id, with the input tags set."""
        snapshot_id = inputs.import_snapshot_id
        assert snapshot_id
        found = snapshots.describe_snapshot(ec2, snapshot_id)
        if found is None:
            raise SnapshotProviderError(
                f"import_snapshot_id {snapshot_id} was not found in region {inputs.account.region} of this account: "
                "check the id, region and credentials"
            )
        if found["VolumeId"] != inputs.volume_id:
            raise SnapshotProviderError(
                f"import_snapshot_id {snapshot_id} is a snapshot of {found['VolumeId']}, not of volume_id "
                f"{inputs.volume_id}: set volume_id to {found['VolumeId']} to import it"
            )
        current = snapshots.tags_of(found.get("Tags"))
        snapshots.update_tags(
            ec2, [snapshot_id], {k: current[k] for k in current if k in inputs.settings.tags}, inputs.settings.tags
        )
        return found

    def _adoptable(self, ec2: Any, inputs: EbsSnapshotInputs) -> dict[str, Any] | None:
        """A snapshot an earlier run of this resource started (and did not record), if any; failed ones are removed."""
        token = inputs.settings.creation_token
        assert token
        candidates = snapshots.find_by_token(ec2, token, inputs.settings.timeout, volume_id=inputs.volume_id)
        for failed in (s for s in candidates if s["State"] == "error"):
            snapshots.delete_snapshot(ec2, failed["SnapshotId"])
        usable = [s for s in candidates if s["State"] != "error"]
        if usable:
            pulumi.log.info(
                f"adopting snapshot {usable[0]['SnapshotId']} started by an earlier run ({CREATION_TOKEN_TAG}={token})"
            )
        return usable[0] if usable else None

    @staticmethod
    def _volume_tags(ec2: Any, inputs: EbsSnapshotInputs) -> dict[str, str]:
        with aws_errors(
            "reading the volume's tags (ec2:DescribeVolumes)", volume_id=inputs.volume_id, region=inputs.account.region
        ):
            volumes = ec2.describe_volumes(VolumeIds=[inputs.volume_id])["Volumes"]
        return snapshots.tags_of(volumes[0].get("Tags") if volumes else [])

    @staticmethod
    def _wait(inputs: EbsSnapshotInputs, snapshot_id: str, started_at: float) -> SnapshotStatus:
        monotonic_start = time.monotonic() - max(0.0, time.time() - started_at)
        try:
            status = snapshots.wait_for(inputs.account, [snapshot_id], inputs.settings.timeout, monotonic_start)[
                snapshot_id
            ]
        except WaitTimedOut as timed_out:
            seen = timed_out.statuses.get(snapshot_id)
            progress = f"{seen.progress}%" if seen else "not yet listed"
            raise SnapshotTimedOut(
                f"snapshot {snapshot_id} of {inputs.volume_id} is still pending ({progress}) after the timeout of "
                f"{inputs.settings.timeout:g}s. It was left in place, tagged {CREATION_TOKEN_TAG}="
                f"{inputs.settings.creation_token}: run `pulumi up` again to adopt it and keep waiting (raise "
                f"timeout for big volumes), or delete it (aws ec2 delete-snapshot --snapshot-id {snapshot_id})."
            ) from None
        if status.state == "error":
            ec2 = aws.client(inputs.account)
            snapshots.delete_snapshot(ec2, snapshot_id)
            raise SnapshotFailed(
                f"snapshot {snapshot_id} of volume {inputs.volume_id} ended in state error: "
                f"{status.state_message or 'EC2 gave no reason'}. The failed snapshot was deleted (it cannot be "
                "used for anything); run `pulumi up` again to take a new one."
            )
        if status.state == "missing":
            raise SnapshotProviderError(
                f"snapshot {snapshot_id} of volume {inputs.volume_id} disappeared while pending: it was deleted "
                "outside Pulumi. Run `pulumi up` again to take a new one."
            )
        return status

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        importing = "snapshot_id" not in props
        region = props.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise SnapshotProviderError("reading the snapshot needs a region: set region or aws:region")
        account = parse_account({**props, "region": region})
        ec2 = aws.client(account)
        found = snapshots.describe_snapshot(ec2, id_)
        if found is None:
            return ReadResult("", {})  # gone: refresh drops it from state
        account_id = found.get("OwnerId") or aws.caller_account_id(account)
        base = dict(props)
        if importing:
            base.update(_inputs_from_snapshot(found, region))
        else:
            base["tags"] = _managed_tags_now(props.get("tags") or {}, found.get("Tags"))
        outs = _outputs(base, found, region, account_id)
        outs["wait_time"] = props.get("wait_time")
        if props.get("storage_tier") == "archive" and found.get("StorageTier", "standard") != "archive":
            outs["storage_tier"] = "archive"  # archiving requested and under way
        inputs = {k: outs[k] for k in INPUT_KEYS if outs.get(k) is not None} if importing else None
        return ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = parse_ebs_snapshot(news)
        account_id = aws.ensure_allowed_account(inputs.account)
        ec2 = aws.client(inputs.account)
        snapshots.update_tags(ec2, [id_], olds.get("tags") or {}, inputs.settings.tags)
        if inputs.settings.storage_tier == "archive" and olds.get("storage_tier") != "archive":
            snapshots.archive(ec2, id_)
        found = snapshots.describe_snapshot(ec2, id_)
        if found is None:
            raise SnapshotProviderError(f"snapshot {id_} no longer exists: run `pulumi refresh`, then `pulumi up`")
        outs = _outputs(news, found, inputs.account.region, account_id)
        outs["wait_time"] = olds.get("wait_time")
        outs["storage_tier"] = inputs.settings.storage_tier
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        inputs = parse_ebs_snapshot(props)
        aws.ensure_allowed_account(inputs.account)
        snapshots.delete_snapshot(aws.client(inputs.account), id_)


def _managed_tags_now(managed: Mapping[str, str], aws_tags: list[dict[str, str]] | None) -> dict[str, str]:
    """The current values of the tags this resource manages (a missing or changed one is drift)."""
    current = snapshots.tags_of(aws_tags)
    return {k: current[k] for k in managed if k in current}


def _inputs_from_snapshot(found: Mapping[str, Any], region: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "volume_id": found["VolumeId"],
        "region": region,
        "tags": snapshots.tags_of(found.get("Tags")),
        "storage_tier": found.get("StorageTier", "standard"),
        "timeout": DEFAULT_TIMEOUT,
        "copy_volume_tags": False,
    }
    if found.get("Description"):
        inputs["description"] = found["Description"]
    if found.get("OutpostArn"):
        inputs["outpost_arn"] = found["OutpostArn"]
    token = snapshots.creation_token_of(found.get("Tags"))
    if token:
        inputs["creation_token"] = token
    return inputs


def _outputs(inputs: Mapping[str, Any], found: Mapping[str, Any], region: str, account_id: str) -> dict[str, Any]:
    outs = {k: v for k, v in inputs.items() if k in INPUT_KEYS}
    snapshot_id = found["SnapshotId"]
    outs.update(
        snapshot_id=snapshot_id,
        state=found.get("State"),
        progress=found.get("Progress"),
        volume_size=found.get("VolumeSize"),
        encrypted=bool(found.get("Encrypted")),
        kms_key_id=found.get("KmsKeyId"),
        owner_id=found.get("OwnerId"),
        start_time=snapshots.iso(found.get("StartTime")),
        storage_tier=found.get("StorageTier", "standard"),
        arn=aws.snapshot_arn(region, snapshot_id),
        account_id=account_id,
        region=region,
        tags=dict(inputs.get("tags") or {}),
        all_tags=snapshots.tags_of(found.get("Tags")),
    )
    return outs


class EbsSnapshot(Resource):
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

    def __init__(
        self,
        resource_name: str,
        volume_id: pulumi.Input[str],
        region: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        copy_volume_tags: pulumi.Input[bool] | None = None,
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
        import_snapshot_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "volume_id": volume_id,
            "copy_volume_tags": copy_volume_tags,
            "import_snapshot_id": import_snapshot_id,
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
        super().__init__(EbsSnapshotProvider(), resource_name, props, opts)
