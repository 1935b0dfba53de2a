"""Everything the emulator changes in moto, in one place: its model classes and the actions it answers itself.

moto's state is per process, so these patches are too; `install()` is idempotent and `Ec2Emulator()` calls it.
`MOTO_ORIGINALS` keeps what was replaced where a benchmark compares against moto's own path.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import amis, elastic_block_store
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.models.instances import Instance
from moto.ec2.models.tags import TagBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.responses.tags import TagResponse
from moto.sts.responses import TokenResponse

from emulator import copies, index, models, responses, strict
from emulator.consistency import VISIBILITY, in_request
from emulator.guest import GUEST, NOT_STARTABLE

MOTO_ORIGINALS: dict[str, Any] = {
    "TaggedEC2Resource.get_tags": TaggedEC2Resource.get_tags,
    "TagBackend.create_tags": TagBackend.create_tags,
    "TagBackend.delete_tags": TagBackend.delete_tags,
    "EBSBackend.describe_snapshots": elastic_block_store.EBSBackend.describe_snapshots,
    "ElasticBlockStore.describe_snapshots": ElasticBlockStore.describe_snapshots,
    "Instance.stop": Instance.stop,
    "EBSBackend.add_create_volume_permission": elastic_block_store.EBSBackend.add_create_volume_permission,
    "EBSBackend._create_default_encryption_key": elastic_block_store.EBSBackend._create_default_encryption_key,
    "Instance.start": Instance.start,
}
_installed = False


def install() -> None:
    """Patch moto's EBS, AMI, tag, instance state and STS models and responses in this process (idempotent)."""
    global _installed
    if _installed:
        return
    # Classes moto instantiates by their module-level name.
    elastic_block_store.Snapshot = models.EmulatedSnapshot  # type: ignore[misc]
    elastic_block_store.Volume = models.EmulatedVolume  # type: ignore[misc]
    amis.Ami = models.EmulatedAmi  # type: ignore[misc]
    # The backends' own methods, so that every caller (not only the API action) sees them.
    elastic_block_store.EBSBackend.delete_snapshot = _delete_snapshot  # type: ignore[method-assign]
    elastic_block_store.EBSBackend.delete_volume = _delete_volume  # type: ignore[method-assign]
    elastic_block_store.EBSBackend.add_create_volume_permission = _add_create_volume_permission  # type: ignore[method-assign]
    elastic_block_store.EBSBackend._create_default_encryption_key = _create_default_encryption_key  # type: ignore[method-assign]
    amis.AmiBackend.deregister_image = _deregister_image  # type: ignore[method-assign,assignment]
    Instance.stop = _stop_instance  # type: ignore[method-assign]
    Instance.start = _start_instance  # type: ignore[method-assign]
    TaggedEC2Resource.get_tags = _get_tags  # type: ignore[method-assign]
    TagBackend.create_tags = _create_tags  # type: ignore[method-assign]
    TagBackend.delete_tags = _delete_tags  # type: ignore[method-assign,assignment]
    # Actions answered by the emulator's own request parsing (`emulator.responses`).
    ElasticBlockStore.describe_snapshots = responses.describe_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.describe_volumes = responses.describe_volumes  # type: ignore[method-assign]
    ElasticBlockStore.create_snapshot = responses.create_snapshot  # type: ignore[method-assign]
    ElasticBlockStore.create_snapshots = responses.create_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.create_volume = responses.create_volume  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_tier = responses.modify_snapshot_tier  # type: ignore[attr-defined]
    ElasticBlockStore.describe_snapshot_tier_status = responses.describe_snapshot_tier_status  # type: ignore[attr-defined]
    ElasticBlockStore.restore_snapshot_tier = responses.restore_snapshot_tier  # type: ignore[attr-defined]
    ElasticBlockStore.lock_snapshot = responses.lock_snapshot  # type: ignore[attr-defined]
    ElasticBlockStore.unlock_snapshot = responses.unlock_snapshot  # type: ignore[attr-defined]
    ElasticBlockStore.describe_locked_snapshots = responses.describe_locked_snapshots  # type: ignore[attr-defined]
    ElasticBlockStore.copy_snapshot = responses.copy_snapshot  # type: ignore[method-assign]
    AmisResponse.register_image = responses.register_image  # type: ignore[method-assign]
    AmisResponse.describe_images = responses.describe_images  # type: ignore[method-assign]
    TagResponse.describe_tags = responses.describe_tags  # type: ignore[method-assign]
    TokenResponse.assume_role = responses.assume_role  # type: ignore[method-assign]
    TokenResponse.assume_role_with_web_identity = responses.assume_role_with_web_identity  # type: ignore[method-assign]
    _installed = True


def _delete_snapshot(self: Any, snapshot_id: str) -> models.EmulatedSnapshot:
    return models.delete_snapshot(self, snapshot_id)


def _add_create_volume_permission(self: Any, snapshot_id: str, user_ids: list[str], groups: list[str]) -> None:
    copies.refuse_default_key_share(self, snapshot_id, user_ids)
    MOTO_ORIGINALS["EBSBackend.add_create_volume_permission"](self, snapshot_id, user_ids=user_ids, groups=groups)


def _create_default_encryption_key(self: Any) -> str:
    arn = str(MOTO_ORIGINALS["EBSBackend._create_default_encryption_key"](self))
    copies.mark_default_key_aws_managed(self, arn)
    return arn


def _delete_volume(self: Any, volume_id: str) -> Any:
    return models.delete_volume(self, volume_id)


def _deregister_image(self: Any, image_id: str) -> None:
    models.deregister_image(self, image_id)


def _stop_instance(self: Any) -> Any:
    # EC2 user guide, "Amazon EC2 instance state changes": `stopping`, then `stopped` (moto: `stopped` at once).
    # Stopping a stopped or stopping instance changes nothing (EC2 API reference, StopInstances).
    if self._state.name in ("stopping", "stopped"):
        return copy.copy(self._state)
    previous = MOTO_ORIGINALS["Instance.stop"](self)
    GUEST.begin_transition(self, "stopping", "stopped")
    return previous


def _start_instance(self: Any) -> Any:
    # EC2 user guide, "Amazon EC2 instance state changes": `pending`, then `running` (moto: `running` at once).
    if self._state.name in NOT_STARTABLE:
        raise EC2ClientError(
            "IncorrectInstanceState",
            f"The instance '{self.id}' is not in a state from which it can be started.",
        )
    if self._state.name in ("pending", "running"):
        return copy.copy(self._state)
    previous = MOTO_ORIGINALS["Instance.start"](self)
    # EC2 API reference, Instance: LaunchTime is "the time that the instance was last launched" (a start of a stopped
    # instance launches it again; the first launch is the primary network interface's attachment time). Moto keeps
    # the first launch's: the provider tells its own stop from its owner's by this.
    self.launch_time = datetime.fromtimestamp(strict.CLOCK.wall(), tz=UTC).replace(tzinfo=None)
    GUEST.begin_transition(self, "pending", "running")
    return previous


def _get_tags(self: Any) -> list[dict[str, str]]:
    return models.resource_tags(self)


def _create_tags(self: Any, resource_ids: list[str], tags: dict[str, str]) -> bool:
    # Each change is recorded before it is made (readers in between see the previous value, which is the truth), and
    # indexed once moto accepted it.
    if in_request():
        models.check_tags(tags)  # a request's tags, before any is set (seeding is not a request)
    previous = {(r, k): self.tags.get(r, {}).get(k) for r in resource_ids for k in tags}
    for (resource_id, key), old in previous.items():
        VISIBILITY.tag_changing(resource_id, key, old)
    done: bool = MOTO_ORIGINALS["TagBackend.create_tags"](self, resource_ids, tags)
    tag_index = index.of(self)
    for (resource_id, key), old in previous.items():
        tag_index.tag_set(resource_id, key, old, tags[key])
    return done


def _delete_tags(self: Any, resource_ids: list[str], tags: dict[str, str | None]) -> bool:
    # moto removes a tag when the request names no value, or the tag's own value.
    removed = []
    for resource_id in resource_ids:
        held = self.tags.get(resource_id, {})
        for key, value in tags.items():
            if key in held and (value is None or value == held[key]):
                removed.append((resource_id, key, held[key]))
    for resource_id, key, old in removed:
        VISIBILITY.tag_changing(resource_id, key, old)
    done: bool = MOTO_ORIGINALS["TagBackend.delete_tags"](self, resource_ids, tags)
    tag_index = index.of(self)
    for resource_id, key, old in removed:
        tag_index.tag_set(resource_id, key, old, None)
    return done
