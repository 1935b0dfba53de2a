"""InstanceSnapshots: a crash-consistent set of snapshots of an instance's volumes (EC2 CreateSnapshots).

The front door of the `pulumi-python:dynamic` route: the resource class a program declares, and its dynamic provider
under the name every stack's state records. What a set is and does is in `core/lifecycle/instance_snapshots.py`; its
inputs are declared in `inputs/instance_snapshots.py`.
"""

from __future__ import annotations

from typing import Any, Unpack, overload

import pulumi

from snapshot_provider.core.lifecycle.instance_snapshots import InstanceSnapshotsOperations, InstanceSnapshotsOutputs
from snapshot_provider.dynamic.program import DynamicResource

# Re-exported: `snapshot_provider` exports the args; scripts and tests read the schema here.
from snapshot_provider.inputs.instance_snapshots import SCHEMA, InstanceSnapshotsArgs

__all__ = ["SCHEMA", "InstanceSnapshots", "InstanceSnapshotsArgs", "InstanceSnapshotsProvider"]


class InstanceSnapshotsProvider(InstanceSnapshotsOperations):
    """Dynamic provider for InstanceSnapshots. Defined here, not imported: the SDK pickles it by reference, so
    `snapshot_provider.instance_snapshots.InstanceSnapshotsProvider` is in every stack's state (keep both names)."""


class InstanceSnapshots(DynamicResource, InstanceSnapshotsOutputs, module="ebs-snapshots", name="InstanceSnapshots"):
    """Crash-consistent snapshots of all (or some) volumes of an instance (its outputs: `InstanceSnapshotsOutputs`)."""

    schema = SCHEMA
    provider = InstanceSnapshotsProvider

    @overload
    def __init__(
        self, resource_name: str, args: InstanceSnapshotsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[InstanceSnapshotsArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: InstanceSnapshotsArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
