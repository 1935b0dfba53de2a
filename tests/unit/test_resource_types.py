"""Each resource's inputs, outputs and operations, declared once in the core and served by both front doors."""

from __future__ import annotations

from typing import ClassVar

import pulumi
import pytest

from snapshot_provider import EbsSnapshot, InstanceSnapshots, SnapshotCopy, SnapshotSeries, VolumeRemoval
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.dynamic.program import DynamicResource
from snapshot_provider.plugin.package_schema import RESOURCES

DYNAMIC_CLASSES = (EbsSnapshot, InstanceSnapshots, SnapshotSeries, VolumeRemoval, SnapshotCopy)


def declaration_of(resource: type[DynamicResource]) -> ResourceType:
    [declared] = [r for r in RESOURCES if r.name == resource.__name__]
    return declared


@pytest.mark.parametrize("resource", DYNAMIC_CLASSES, ids=lambda r: r.__name__)
def test_the_dynamic_class_has_the_inputs_outputs_and_operations_the_plugin_serves(
    resource: type[DynamicResource],
) -> None:
    declared = declaration_of(resource)
    assert resource.schema is declared.schema
    assert resource.output_names() == declared.output_names()
    assert issubclass(resource.provider, declared.operations)


@pytest.mark.parametrize("resource", DYNAMIC_CLASSES, ids=lambda r: r.__name__)
def test_the_dynamic_provider_keeps_the_module_path_state_records(resource: type[DynamicResource]) -> None:
    # The SDK pickles the provider by reference: `snapshot_provider.ebs_snapshot.EbsSnapshotProvider` is in state.
    assert (resource.provider.__module__, resource.provider.__name__) == (
        resource.__module__,
        f"{resource.__name__}Provider",
    )


def test_only_output_annotations_are_outputs_in_the_order_declared() -> None:
    class Things(Outputs):
        """Things."""

        kind: ClassVar[str] = "things"
        second: pulumi.Output[int]
        first: pulumi.Output[str | None]
        note: str

    assert list(Things.output_hints()) == ["second", "first"]
    assert Things.output_hints()["first"] == pulumi.Output[str | None]
