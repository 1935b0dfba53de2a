"""What runs in the user's Pulumi program rather than in the provider: the resource classes' common constructor,
defaults taken from the stack, and the resource's URN."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import Resource, ResourceProvider

from snapshot_provider.schema import Field, Schema

# The type every dynamic resource had before resources got their own type tokens (0.1.0): aliased, so that stacks
# created then keep their resources instead of replacing them.
UNTYPED_DYNAMIC_RESOURCE = "pulumi-python:dynamic:Resource"
# Set by the program: names the resource on its snapshots (see `lifecycle`) and in progress messages.
URN_INPUT = "resource_urn"
URN_FIELD = (URN_INPUT, Field("the resource's URN, set by the program", on_change="none", internal=True))


def default_region(_given: Mapping[str, Any]) -> str | None:
    """The stack's aws:region, then AWS_REGION, then AWS_DEFAULT_REGION (as the AWS provider resolves it)."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def default_session_name(given: Mapping[str, Any]) -> str | None:
    """Identifies the stack in CloudTrail when a role is assumed."""
    if given.get("role_arn") is None:
        return None
    name = f"pulumi-{pulumi.get_project()}-{pulumi.get_stack()}"
    return "".join(c if c.isalnum() or c in "+=,.@-" else "-" for c in name)[:64]


class ProviderResource(Resource):
    """The constructor the resources of this package share: `Resource(name, args, opts)` or
    `Resource(name, opts=opts, **inputs)`, as pulumi-aws resources accept both.

    Subclasses set `schema` (from their `*Args` declaration) and `provider`, and annotate their outputs as
    `pulumi.Output[...]` class attributes.
    """

    schema: ClassVar[Schema]
    provider: ClassVar[type[ResourceProvider]]

    def __init__(
        self,
        resource_name: str,
        args: Mapping[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        given = {**(args or {}), **inputs}
        unknown = self.schema.unknown_names(given)
        if unknown:
            valid = ", ".join(name for name, _ in self.schema.public())
            raise TypeError(f"{type(self).__name__} has no input {', '.join(unknown)}; its inputs are: {valid}")
        props = self.schema.program_props(given)
        if URN_INPUT in self.schema.fields:
            props[URN_INPUT] = self._urn(resource_name, opts.parent if opts else None)
        props.update({name: None for name in self.output_names() if name not in props})
        super().__init__(self.provider(), resource_name, props, self._options(opts))

    def _urn(self, resource_name: str, parent: pulumi.Resource | None) -> pulumi.Output[str]:
        """This resource's URN, as an input that does not depend on the parent: depending on a component means
        waiting for all its children, this one included."""
        urn = pulumi.resource.create_urn(resource_name, self.type_token(), parent=parent)

        async def text() -> str:
            return str(await urn.future())

        return pulumi.Output.from_input(text())

    @classmethod
    def type_token(cls) -> str:
        return f"pulumi-python:{cls._resource_type_name}"

    @classmethod
    def output_names(cls) -> list[str]:
        """The class attributes annotated `pulumi.Output[...]`: what the provider returns."""
        return [
            name
            for name, hint in vars(cls).get("__annotations__", {}).items()
            if (isinstance(hint, str) and hint.startswith("pulumi.Output[")) or typing.get_origin(hint) is pulumi.Output
        ]

    def _options(self, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
        if opts is not None and opts.delete_before_replace:
            # The old snapshot must outlive the creation of its replacement, whatever the option says.
            pulumi.log.warn(
                f"{type(self).__name__}: delete_before_replace is ignored; a replacement is always created and "
                "completed before the resource it replaces is deleted"
            )
        fixed = pulumi.ResourceOptions(
            aliases=[pulumi.Alias(type_=UNTYPED_DYNAMIC_RESOURCE)], delete_before_replace=False
        )
        return pulumi.ResourceOptions.merge(opts, fixed)
