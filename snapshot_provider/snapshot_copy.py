"""SnapshotCopy: a completed copy of a snapshot in another region and/or account (EC2 CopySnapshot), made by a call
in the destination (`region`, and `role_arn` there for another account), waited for with the shared poller.

The front door of the `pulumi-python:dynamic` route: the resource class a program declares, and its dynamic provider
under the name every stack's state records. What a copy does is in `core/snapshot_copy.py` and `core/copying.py`;
its inputs are declared in `inputs/snapshot_copy.py`.
"""

from __future__ import annotations

from typing import Any, Unpack, overload

import pulumi

from snapshot_provider.core.snapshot_copy import SnapshotCopyOperations, SnapshotCopyOutputs
from snapshot_provider.dynamic.program import DynamicResource

# Re-exported: `snapshot_provider` exports the args; scripts and tests read the schema here.
from snapshot_provider.inputs.snapshot_copy import SCHEMA, SnapshotCopyArgs

__all__ = ["SCHEMA", "SnapshotCopy", "SnapshotCopyArgs", "SnapshotCopyProvider"]


class SnapshotCopyProvider(SnapshotCopyOperations):
    """Dynamic provider for SnapshotCopy. Defined here, not imported: the SDK pickles it by reference, so
    `snapshot_provider.snapshot_copy.SnapshotCopyProvider` is in every stack's state (keep both names)."""


class SnapshotCopy(DynamicResource, SnapshotCopyOutputs, module="ebs-snapshots", name="SnapshotCopy"):
    """A completed copy of a snapshot in `region` (and the account of `role_arn`) (its outputs:
    `SnapshotCopyOutputs`)."""

    schema = SCHEMA
    provider = SnapshotCopyProvider

    @overload
    def __init__(
        self, resource_name: str, args: SnapshotCopyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[SnapshotCopyArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: SnapshotCopyArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
