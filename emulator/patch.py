"""Everything the emulator changes in moto, in one place: its snapshot class and the actions it answers itself.

moto's state is per process, so these patches are too; `install()` is idempotent and `Ec2Emulator()` calls it.
"""

from __future__ import annotations

from moto.ec2.models import elastic_block_store
from moto.ec2.responses.elastic_block_store import ElasticBlockStore

from emulator import models, responses

_installed = False


def install() -> None:
    """Patch moto's EBS model and responses in this process (idempotent)."""
    global _installed
    if _installed:
        return
    # Classes moto instantiates by their module-level name.
    elastic_block_store.Snapshot = models.EmulatedSnapshot  # type: ignore[misc]
    ElasticBlockStore.create_snapshots = responses.create_snapshots  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_tier = responses.modify_snapshot_tier  # type: ignore[attr-defined]
    _installed = True
