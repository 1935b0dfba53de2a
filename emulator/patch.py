"""Everything the emulator changes in moto, in one place: its model classes and the actions it answers itself.

moto's state is per process, so these patches are too; `install()` is idempotent and `Ec2Emulator()` calls it.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models import amis, elastic_block_store
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore

from emulator import models, responses

_installed = False


def install() -> None:
    """Patch moto's EBS and AMI models and responses in this process (idempotent)."""
    global _installed
    if _installed:
        return
    # Classes moto instantiates by their module-level name.
    elastic_block_store.Snapshot = models.EmulatedSnapshot  # type: ignore[misc]
    amis.Ami = models.EmulatedAmi  # type: ignore[misc]
    # The backend's own method, so that every caller (not only the DeleteSnapshot action) sees AMIs' snapshots in use.
    elastic_block_store.EBSBackend.delete_snapshot = _delete_snapshot  # type: ignore[method-assign]
    ElasticBlockStore.describe_snapshots = responses.describe_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.create_snapshots = responses.create_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_tier = responses.modify_snapshot_tier  # type: ignore[attr-defined]
    ElasticBlockStore.describe_snapshot_tier_status = responses.describe_snapshot_tier_status  # type: ignore[attr-defined]
    ElasticBlockStore.restore_snapshot_tier = responses.restore_snapshot_tier  # type: ignore[attr-defined]
    AmisResponse.register_image = responses.register_image  # type: ignore[method-assign]
    _installed = True


def _delete_snapshot(self: Any, snapshot_id: str) -> models.EmulatedSnapshot:
    return models.delete_snapshot(self, snapshot_id)
