"""Serves `EbsSnapshotsProvider` with the SDK's provider server (`pulumi.provider.experimental`)."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi.provider.experimental.server import main

from snapshot_provider import progress
from snapshot_provider.plugin.package_schema import version
from snapshot_provider.plugin.provider import EbsSnapshotsProvider


def serve(args: Sequence[str]) -> None:
    """Serve until the engine ends; `args` are the plugin's (the engine address first, then flags)."""
    address = next((a for a in args if not a.startswith("-")), None)
    if address:
        progress.connect_engine_log(address)  # progress lines next to each resource, as in the dynamic host
    main(list(args), version(), EbsSnapshotsProvider())
