"""EbsSnapshot: one EBS volume's snapshot (EC2 CreateSnapshot), waited for until `completed`.

The front door of the `pulumi-python:dynamic` route: the resource class a program declares, and its dynamic provider
under the name every stack's state records. What an EbsSnapshot is and does is in `core/lifecycle/ebs_snapshot.py`;
its inputs are declared in `inputs/ebs_snapshot.py`.
"""

from __future__ import annotations

from typing import Any, Unpack, overload

import pulumi

from snapshot_provider.core.lifecycle.ebs_snapshot import EbsSnapshotOperations, EbsSnapshotOutputs
from snapshot_provider.dynamic.program import DynamicResource

# Re-exported: `snapshot_provider` exports the args; scripts and tests read the schema here.
from snapshot_provider.inputs.ebs_snapshot import SCHEMA, EbsSnapshotArgs

__all__ = ["SCHEMA", "EbsSnapshot", "EbsSnapshotArgs", "EbsSnapshotProvider"]


class EbsSnapshotProvider(EbsSnapshotOperations):
    """Dynamic provider for EbsSnapshot. Defined here, not imported: the SDK pickles it by reference, so
    `snapshot_provider.ebs_snapshot.EbsSnapshotProvider` is in every stack's state (keep both names)."""


class EbsSnapshot(DynamicResource, EbsSnapshotOutputs, module="ebs-snapshots", name="EbsSnapshot"):
    """A completed snapshot of one EBS volume (its outputs: `EbsSnapshotOutputs`)."""

    schema = SCHEMA
    provider = EbsSnapshotProvider

    @overload
    def __init__(
        self, resource_name: str, args: EbsSnapshotArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[EbsSnapshotArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: EbsSnapshotArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
