"""The wire side of the EC2 and STS actions the emulator implements itself: read a request's parameters, call the
model (`emulator.models`, `emulator.accounts`), shape the result. Each function becomes a method of moto's response
class (`emulator.patch`).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.responses.tags import TagResponse
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
from moto.sts.responses import TokenResponse

from emulator import accounts, copies, exceptions, locks, models, strict, tiers
from emulator.consistency import VISIBILITY


def describe_snapshots(self: ElasticBlockStore) -> ActionResult:
    self.error_on_dryrun()  # EC2 API reference: DryRun answers DryRunOperation (or a denial); moto ignores it
    snapshots, next_token = models.describe_snapshots(
        self.ec2_backend,
        snapshot_ids=self._get_param("SnapshotIds", []),
        filters=self._filters_from_querystring(),
        owner_ids=self._get_param("OwnerIds", []),
        max_results=self._get_int_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    return ActionResult(_paged({"Snapshots": snapshots}, next_token))


def describe_volumes(self: ElasticBlockStore) -> ActionResult:
    self.error_on_dryrun()  # EC2 API reference: DryRun answers DryRunOperation (or a denial); moto ignores it
    volumes, next_token = models.describe_volumes(
        self.ec2_backend,
        volume_ids=self._get_param("VolumeIds", []),
        filters=self._filters_from_querystring(),
        max_results=self._get_int_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    return ActionResult(_paged({"Volumes": volumes}, next_token))


def describe_images(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    ami_ids = self._get_param("ImageIds", [])
    filters = self._filters_from_querystring()
    owners = self._get_param("Owners", [])
    exec_users = self._get_param("ExecutableUsers", [])
    images = self.ec2_backend.describe_images(ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
    return ActionResult({"Images": models.visible_images(self.ec2_backend, images, ami_ids, filters, owners)})


def describe_tags(self: TagResponse) -> ActionResult:
    """DescribeTags over the tags Describe* sees now (`emulator.consistency`), with moto's four filters."""
    filters = self._filters_from_querystring()
    self.error_on_dryrun()
    patterns = {name: [re.compile(fnmatch.translate(v)) for v in values] for name, values in filters.items()}

    def matches(name: str, value: str) -> bool:
        return name not in patterns or any(p.match(value) for p in patterns[name])

    tags = []
    for resource_id, resource_tags in self.ec2_backend.tags.copy().items():
        if VISIBILITY.hidden(resource_id):
            continue
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        if not (matches("resource-id", resource_id) and matches("resource-type", resource_type)):
            continue
        for key, value in VISIBILITY.visible_tags(resource_id, resource_tags).items():
            if matches("key", key) and matches("value", value):
                tags.append({"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type})
    return ActionResult({"Tags": tags})


def create_snapshot(self: ElasticBlockStore) -> ActionResult:
    volume_id = self._get_param("VolumeId")
    description = self._get_param("Description")
    tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    return ActionResult(models.create_snapshot(self.ec2_backend, volume_id, description, tags))


def create_volume(self: ElasticBlockStore) -> ActionResult:
    request = models.VolumeRequest(
        size=self._get_int_param("Size"),
        zone=self._get_param("AvailabilityZone"),
        snapshot_id=self._get_param("SnapshotId"),
        volume_type=self._get_param("VolumeType"),
        iops=self._get_int_param("Iops"),
        throughput=self._get_int_param("Throughput"),
        encrypted=self._get_bool_param("Encrypted", False),
        kms_key_id=self._get_param("KmsKeyId"),
        multi_attach_enabled=self._get_param("MultiAttachEnabled"),
        tags=tuple(sorted(self._parse_tag_specification().get("volume", {}).items())),
    )
    client_token = self._get_param("ClientToken")
    self.error_on_dryrun()
    return ActionResult(models.create_volume(self.ec2_backend, request, client_token))


def restore_snapshot_tier(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    days = self._get_int_param("TemporaryRestoreDays")
    permanent = self._get_bool_param("PermanentRestore", False)
    self.error_on_dryrun()
    snapshot, restore = models.restore_snapshot_tier(self.ec2_backend, snapshot_id, days, permanent)
    return ActionResult(
        {
            "SnapshotId": snapshot.id,
            "RestoreStartTime": datetime.fromtimestamp(restore.started_at, UTC),
            # The API reference: "The amount of time for the restore operation, in hours."
            "RestoreDuration": round(restore.seconds / 3600),
            "IsPermanentRestore": restore.permanent,
        }
    )


def create_snapshots(self: ElasticBlockStore) -> ActionResult:
    spec = self._get_param("InstanceSpecification", {})
    description = self._get_param("Description", "")
    copy_tags_from = self._get_param("CopyTagsFromSource")
    snapshot_tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshots = models.create_snapshots(
        self.ec2_backend,
        spec["InstanceId"],
        description=description,
        exclude_boot=_true(spec.get("ExcludeBootVolume", False)),
        exclude_data_volume_ids=list(spec.get("ExcludeDataVolumeIds") or []),
        copy_volume_tags=copy_tags_from == "volume",
        tags=snapshot_tags,
    )
    return ActionResult({"Snapshots": snapshots})


def modify_snapshot_tier(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    tier = self._get_param("StorageTier", "archive")
    self.error_on_dryrun()
    snapshot = models.modify_snapshot_tier(self.ec2_backend, snapshot_id, tier)
    return ActionResult({"SnapshotId": snapshot.id, "TieringStartTime": snapshot.start_time})


def describe_snapshot_tier_status(self: ElasticBlockStore) -> ActionResult:
    self.error_on_dryrun()
    statuses = tiers.describe_statuses(self.ec2_backend, self._filters_from_querystring())
    return ActionResult({"SnapshotTierStatuses": statuses})


def lock_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    expiration = self._get_param("ExpirationDate")
    request = locks.LockRequest(
        mode=self._get_param("LockMode"),
        duration_days=self._get_int_param("LockDuration"),
        expiration=models.parse_time(expiration).replace(tzinfo=UTC).timestamp() if expiration else None,
        cool_off_hours=self._get_int_param("CoolOffPeriod"),
    )
    self.error_on_dryrun()
    snapshot, lock = locks.lock_snapshot(self.ec2_backend, snapshot_id, request)
    info = locks.lock_info(self.ec2_backend, snapshot, lock)
    info.pop("OwnerId")
    return ActionResult(info)


def unlock_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    return ActionResult({"SnapshotId": locks.unlock_snapshot(self.ec2_backend, snapshot_id).id})


def describe_locked_snapshots(self: ElasticBlockStore) -> ActionResult:
    filters: dict[str, Any] = self._filters_from_querystring()
    unknown = sorted(set(filters) - {"lock-state"})
    if unknown:
        raise exceptions.InvalidParameterValue(f"The filter '{unknown[0]}' is invalid (expected lock-state)")
    self.error_on_dryrun()
    found = locks.describe_locked_snapshots(
        self.ec2_backend, self._get_param("SnapshotIds", []), filters.get("lock-state")
    )
    return ActionResult({"Snapshots": found})


def copy_snapshot(self: ElasticBlockStore) -> ActionResult:
    tags = self._parse_tag_specification().get("snapshot", {})
    minutes = self._get_int_param("CompletionDurationMinutes")
    self.error_on_dryrun()
    copy = copies.copy_snapshot(
        self.ec2_backend,
        source_region=self._get_param("SourceRegion"),
        source_snapshot_id=self._get_param("SourceSnapshotId"),
        description=self._get_param("Description"),
        encrypted=self._get_bool_param("Encrypted", False),
        kms_key_id=self._get_param("KmsKeyId"),
        completion_duration_minutes=minutes,
        tags=tags,
    )
    return ActionResult({"SnapshotId": copy.id, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def register_image(self: AmisResponse) -> ActionResult:
    name = self._get_param("Name")
    description = self._get_param("Description", "")
    root_device_name = self._get_param("RootDeviceName")
    mappings = [_block_device_mapping(m) for m in self._get_param("BlockDeviceMappings", [])]
    self.error_on_dryrun()
    image = models.register_image(
        self.ec2_backend, name=name, description=description, root_device_name=root_device_name, mappings=mappings
    )
    return ActionResult({"ImageId": image.id})


def _block_device_mapping(raw: dict[str, Any]) -> dict[str, Any]:
    """A request's BlockDeviceMapping with typed values and without empty fields, in DescribeImages' shape."""
    mapping: dict[str, Any] = {"DeviceName": raw.get("DeviceName")}
    ebs = raw.get("Ebs")
    if ebs:
        typed: dict[str, Any] = {}
        for key, value in ebs.items():
            if key in ("VolumeSize", "Iops", "Throughput"):
                typed[key] = int(value)
            elif key in ("DeleteOnTermination", "Encrypted"):
                typed[key] = _true(value)
            else:
                typed[key] = value
        mapping["Ebs"] = typed
    if "VirtualName" in raw:
        mapping["VirtualName"] = raw["VirtualName"]
    return mapping


def assume_role(self: TokenResponse) -> ActionResult:
    """AssumeRole with STS's session rules (`accounts.session_seconds`): chained from a session, capped at 1 h."""
    chained = accounts.CREDENTIALS.session(self.get_access_key()) is not None
    return _assume(self, self.backend.assume_role, chained)


def assume_role_with_web_identity(self: TokenResponse) -> ActionResult:
    return _assume(self, self.backend.assume_role_with_web_identity, chained=False)


def _assume(self: TokenResponse, assume: Any, chained: bool) -> ActionResult:
    role_arn = self._get_param("RoleArn")
    seconds = accounts.session_seconds(self._get_int_param("DurationSeconds"), role_arn, chained)
    role = assume(
        region_name=self.region,
        role_session_name=self._get_param("RoleSessionName"),
        role_arn=role_arn,
        policy=self._get_param("Policy"),
        duration=seconds,
        external_id=self._get_param("ExternalId"),
    )
    expires_at = strict.CLOCK.wall() + seconds
    role.expiration = datetime.fromtimestamp(expires_at, UTC).replace(tzinfo=None)
    accounts.CREDENTIALS.add_session(
        accounts.Session(role.access_key_id, role.account_id, role_arn, expires_at, chained)
    )
    return ActionResult(
        {
            "Credentials": role,
            "AssumedRoleUser": {"AssumedRoleId": role.user_id, "Arn": role.arn},
            "PackedPolicySize": 6,
        }
    )


def _paged(result: dict[str, Any], next_token: str | None) -> dict[str, Any]:
    return {**result, "NextToken": next_token} if next_token else result


def _true(value: Any) -> bool:
    # Query-protocol booleans may arrive as "true"/"false".
    return str(value).lower() == "true"
