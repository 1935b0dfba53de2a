"""What both front doors serve of a resource, declared once: its inputs (`schema`), its outputs (an `Outputs` class)
and its operations (the dynamic provider class the core implements). The dynamic resource classes inherit their
outputs from here, so that a Python program's types and the plugin's package schema come from one declaration."""

from __future__ import annotations

import functools
import sys
import typing
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import ResourceProvider

from snapshot_provider.inputs.schema import Schema


class Outputs:
    """A resource's outputs: each class attribute annotated `pulumi.Output[T]` (in a subclass) is one, in the order
    annotated. The subclass's docstring describes the resource (the plugin's package schema shows it)."""

    @classmethod
    @functools.cache
    def output_hints(cls) -> dict[str, Any]:
        """Each output's `pulumi.Output[T]` annotation, evaluated in the module that declares it (`from __future__
        import annotations` keeps them as strings); other annotations (class variables) are not outputs."""
        hints: dict[str, Any] = {}
        for declaring in reversed(cls.__mro__):
            namespace = vars(sys.modules[declaring.__module__])
            for name, hint in vars(declaring).get("__annotations__", {}).items():
                if isinstance(hint, str) and not hint.startswith("pulumi.Output["):
                    continue
                value = eval(hint, namespace) if isinstance(hint, str) else hint
                if typing.get_origin(value) is pulumi.Output:
                    hints[name] = value
        return hints

    @classmethod
    def output_names(cls) -> frozenset[str]:
        """What the provider returns."""
        return frozenset(cls.output_hints())


@dataclass(frozen=True)
class ResourceType:
    """One resource as both front doors serve it (see the module docstring)."""

    name: str
    schema: Schema
    outputs: type[Outputs]
    operations: type[ResourceProvider]

    def output_names(self) -> frozenset[str]:
        return self.outputs.output_names()

    @property
    def description(self) -> str:
        return self.outputs.__doc__ or ""
