"""VolumeRemoval: delete an unattached EBS volume once its snapshot is completed, and restore it on delete (undo).

The front door of the `pulumi-python:dynamic` route: the resource class a program declares, and its dynamic provider
under the name every stack's state records. What a removal does is in `core/removal/` (its guarantees are in that
package's docstring); its inputs are declared in `inputs/volume_removal.py`.
"""

from __future__ import annotations

from typing import Any, Unpack, overload

import pulumi

from snapshot_provider.core.removal.operations import VolumeRemovalOperations, VolumeRemovalOutputs
from snapshot_provider.dynamic.program import DynamicResource

# Re-exported: `snapshot_provider` exports the args; scripts and tests read the schema here.
from snapshot_provider.inputs.volume_removal import SCHEMA, VolumeRemovalArgs

__all__ = ["SCHEMA", "VolumeRemoval", "VolumeRemovalArgs", "VolumeRemovalProvider"]


class VolumeRemovalProvider(VolumeRemovalOperations):
    """Dynamic provider for VolumeRemoval. Defined here, not imported: the SDK pickles it by reference, so
    `snapshot_provider.volume_removal.VolumeRemovalProvider` is in every stack's state (keep both names)."""


class VolumeRemoval(DynamicResource, VolumeRemovalOutputs, module="ebs-snapshots", name="VolumeRemoval"):
    """Deletes an unattached volume after its snapshot completed; `pulumi destroy` brings it back from the snapshot
    (its outputs: `VolumeRemovalOutputs`)."""

    schema = SCHEMA
    provider = VolumeRemovalProvider

    @overload
    def __init__(
        self, resource_name: str, args: VolumeRemovalArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None: ...

    @overload
    def __init__(
        self, resource_name: str, *, opts: pulumi.ResourceOptions | None = None, **inputs: Unpack[VolumeRemovalArgs]
    ) -> None: ...

    def __init__(
        self,
        resource_name: str,
        args: VolumeRemovalArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        self._construct(resource_name, args, opts, **inputs)
