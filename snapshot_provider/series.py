"""SnapshotSeries: a rolling series of snapshots of one volume (or one instance's set), pruned by a retention policy.

The dynamic front door: the resource class and its provider (whose module path and name are in every stack's state).
What a series does is in `snapshot_provider.core.series` (its operations in `operations.py`); its inputs in
`snapshot_provider.inputs.series`.
"""

from __future__ import annotations

from typing import Any, Unpack, overload

import pulumi

from snapshot_provider.core.series.operations import SnapshotSeriesOperations, SnapshotSeriesOutputs
from snapshot_provider.dynamic.program import DynamicResource

# Re-exported: `snapshot_provider` exports the args; scripts and tests read the schema here.
from snapshot_provider.inputs.series import SCHEMA, SnapshotSeriesArgs

__all__ = ["SCHEMA", "SnapshotSeries", "SnapshotSeriesArgs", "SnapshotSeriesProvider"]


class SnapshotSeriesProvider(SnapshotSeriesOperations):
    """Dynamic provider for SnapshotSeries. Defined here, not imported: the SDK pickles it by reference, so
    `snapshot_provider.series.SnapshotSeriesProvider` is in every stack's state (keep both names)."""


class SnapshotSeries(DynamicResource, SnapshotSeriesOutputs, module="ebs-snapshots", name="SnapshotSeries"):
    """A rolling series of snapshots of one volume (or one instance's set), kept by a retention policy (its outputs:
    `SnapshotSeriesOutputs`)."""

    schema = SCHEMA
    provider = SnapshotSeriesProvider

    @overload
    def __init__(
        self, resource_name: str, args: SnapshotSeriesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[SnapshotSeriesArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: SnapshotSeriesArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
