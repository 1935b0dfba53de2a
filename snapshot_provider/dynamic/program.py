"""What runs in the user's Pulumi program rather than in the provider: the resource classes' common constructor,
defaults taken from the stack, and the resource's URN."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import Resource, ResourceProvider
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider

from snapshot_provider.core.resource_types import Outputs
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.schema import Schema

# The type every dynamic resource had before resources got their own type tokens (0.1.0): aliased, so that stacks
# created then keep their resources instead of replacing them.
UNTYPED_DYNAMIC_RESOURCE = "pulumi-python:dynamic:Resource"


class DynamicResource(Resource, Outputs):
    """The constructor the resources of this package share: `Resource(name, args, opts)` or
    `Resource(name, opts=opts, **inputs)`, as pulumi-aws resources accept both.

    Subclasses set `schema` (from their `*Args` declaration) and `provider`, inherit their outputs from the core's
    `Outputs` declaration (`pulumi.Output[...]` class attributes), and call `self._construct(...)` from their own
    `__init__`.

    What a big stack pays per resource is kept small here, since every output the program holds is awaited by the
    SDK once per finished registration (O(resources x outputs) over a run), and every byte in state is rewritten
    after every step by the engine:
    - unset inputs that are not outputs are not registered (the SDK sends nothing for them anyway);
    - the URN and the alias to the old type are plain strings for a resource whose parent is the stack;
    - the provider is pickled once per class and stored as is, not as a secret (it is a reference to a class, and
      holds no secret; Pulumi's own `serialize_as_secret_always=False`);
    - `pulumi.CustomResource.__init__` is called from here rather than through `pulumi.dynamic.Resource.__init__`
      (which does only the pickling above), so that the SDK's source position, which it takes below the third
      `__init__` on the stack, is the user's line rather than this module's.
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
        """For a subclass without an `__init__` of its own; one with its own calls `self._construct` (through
        `super().__init__` it works too, but the SDK's source position is then that `__init__`'s line)."""
        self._construct(resource_name, args, opts, **inputs)

    def _construct(
        self,
        resource_name: str,
        args: Mapping[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **inputs: Any,
    ) -> None:
        """What `pulumi.dynamic.Resource.__init__` does, with this package's inputs; called by each `__init__`."""
        given = {**(args or {}), **inputs}
        unknown = self.schema.unknown_names(given)
        if unknown:
            valid = ", ".join(name for name, _ in self.schema.public())
            raise TypeError(f"{type(self).__name__} has no input {', '.join(unknown)}; its inputs are: {valid}")
        outputs = self.output_names()
        props = {k: v for k, v in self.schema.program_props(given).items() if v is not None or k in outputs}
        parent = opts.parent if opts else None
        if URN_INPUT in self.schema.fields:
            props[URN_INPUT] = self._urn(resource_name, parent)
        props.update({name: None for name in outputs if name not in props})
        props[PROVIDER_KEY] = self.serialized_provider()
        options = self._options(resource_name, parent, opts)
        secret_copies = self.copies_of_possibly_secret_tags(given)
        if secret_copies:
            options = pulumi.ResourceOptions.merge(
                options, pulumi.ResourceOptions(additional_secret_outputs=secret_copies)
            )
        pulumi.CustomResource.__init__(self, self.type_token(), resource_name, props, options)

    @classmethod
    def copies_of_possibly_secret_tags(cls, given: Mapping[str, Any]) -> list[str]:
        """`all_tags` copies the `tags` input's values; the engine keeps secret only the output named like a secret
        input, and whether an Output is secret is known only once it resolves: given as an Output (or holding one),
        the tags may be secret, so their copy is kept secret too (at worst, a value shown as [secret] needlessly)."""
        tags = given.get("tags")
        may_be_secret = isinstance(tags, pulumi.Output) or (
            isinstance(tags, Mapping) and any(isinstance(value, pulumi.Output) for value in tags.values())
        )
        return [name for name in ("all_tags",) if may_be_secret and name in cls.output_names()]

    @classmethod
    @functools.cache
    def serialized_provider(cls) -> str:
        """The provider as state stores it: a pickled reference to its class, the same for every resource."""
        return str(serialize_provider(cls.provider()))

    def _urn(self, resource_name: str, parent: pulumi.Resource | None) -> pulumi.Input[str]:
        """This resource's URN, as an input that does not depend on the parent: depending on a component means
        waiting for all its children, this one included."""
        if parent is None:
            return root_urn(self.type_token(), resource_name)
        parent_urn = parent.urn
        type_token = self.type_token()

        async def text() -> str:
            urn = str(await parent_urn.future())
            return f"{urn[: urn.rfind('::')]}${type_token}::{resource_name}"

        return pulumi.Output.from_input(text())

    @classmethod
    def type_token(cls) -> str:
        return f"pulumi-python:{cls._resource_type_name}"

    def _options(
        self, resource_name: str, parent: pulumi.Resource | None, opts: pulumi.ResourceOptions | None
    ) -> pulumi.ResourceOptions:
        if opts is not None and opts.delete_before_replace:
            # The old snapshot must outlive the creation of its replacement, whatever the option says.
            pulumi.log.warn(
                f"{type(self).__name__}: delete_before_replace is ignored; a replacement is always created and "
                "completed before the resource it replaces is deleted"
            )
        # A URN string costs the SDK one output where an Alias costs it a dozen (it resolves them to URNs).
        alias: str | pulumi.Alias = (
            root_urn(UNTYPED_DYNAMIC_RESOURCE, resource_name)
            if parent is None
            else pulumi.Alias(type_=UNTYPED_DYNAMIC_RESOURCE)
        )
        fixed = pulumi.ResourceOptions(aliases=[alias], delete_before_replace=False)
        return pulumi.ResourceOptions.merge(opts, fixed)


def root_urn(type_token: str, resource_name: str) -> str:
    """The URN of a resource whose parent is the stack (the stack's own type is not part of its children's)."""
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_token}::{resource_name}"
