"""The package schema of the `ebs-snapshots` provider plugin, derived from the same declarations as `check`, `diff`
and the README tables: each resource's `*Args` (inputs, required, secret, what a change means, docs) and its
`Outputs` declaration in the core (`pulumi.Output[...]` annotations; the dynamic classes inherit the same). No second
list of fields.

Property names are camelCase on the wire, as in every Pulumi package (the SDK generators turn them back into
snake_case for Python); `WireNames` translates at the plugin's boundary, top-level keys only.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import types
import typing
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import pulumi

from snapshot_provider.core.lifecycle.ebs_snapshot import EBS_SNAPSHOT
from snapshot_provider.core.lifecycle.instance_snapshots import INSTANCE_SNAPSHOTS
from snapshot_provider.core.removal.operations import VOLUME_REMOVAL
from snapshot_provider.core.resource_types import ResourceType
from snapshot_provider.core.series.operations import SNAPSHOT_SERIES
from snapshot_provider.core.snapshot_copy import SNAPSHOT_COPY
from snapshot_provider.inputs.schema import Schema

PACKAGE = "ebs-snapshots"
RESOURCES = (EBS_SNAPSHOT, INSTANCE_SNAPSHOTS, SNAPSHOT_SERIES, VOLUME_REMOVAL, SNAPSHOT_COPY)


def type_token(resource: ResourceType) -> str:
    """`ebs-snapshots:index:EbsSnapshot`: the plugin's type token of a resource class."""
    return f"{PACKAGE}:index:{resource.name}"


def camel(name: str) -> str:
    """`volume_id` -> `volumeId`, `sts_endpoint_url` -> `stsEndpointUrl`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """`volumeId` -> `volume_id` (a snake_case name stays as it is)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class WireNames:
    """One resource's top-level property names: snake_case in the core, camelCase on the wire."""

    to_wire: Mapping[str, str]

    @classmethod
    def of(cls, resource: ResourceType) -> WireNames:
        names = [*resource.schema.fields, *sorted(resource.output_names())]
        return cls({name: camel(name) for name in names})

    def wire(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {self.to_wire.get(k, k): v for k, v in props.items()}

    def core(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Names the schema does not know are turned into snake_case too, so that the core's checks see them
        (`awsSecretAccessKey` is refused as the credential it is)."""
        back = {wire: name for name, wire in self.to_wire.items()}
        return {back.get(k, snake(k)): v for k, v in props.items()}


def package_schema(version: str) -> dict[str, Any]:
    """The package schema as a JSON-ready dict (see `schema.json`, generated from it)."""
    return {
        "name": PACKAGE,
        "displayName": "EBS snapshots",
        "version": version,
        "description": "Safe, reversible EBS snapshots from infrastructure code: EC2 CreateSnapshot and "
        "CreateSnapshots, waited for until completed, rolling series with retention, volume removal with undo, "
        "copies to another region or account.",
        "keywords": ["aws", "ebs", "snapshots", "backup", "category/cloud"],
        "license": "Apache-2.0",
        "language": {
            "python": {"packageName": "pulumi_ebs_snapshots_sdk"},
            "nodejs": {"packageName": "@pulumi-ebs-snapshots/ebs-snapshots"},
        },
        "config": {
            "variables": {
                "region": {
                    "type": "string",
                    "description": "the region of resources whose `region` is unset; unset: `AWS_REGION` / "
                    "`AWS_DEFAULT_REGION` of the plugin's environment",
                }
            }
        },
        "provider": {
            "inputProperties": {"region": {"type": "string", "description": "as the `region` config variable"}}
        },
        "resources": {type_token(r): resource_spec(r) for r in RESOURCES},
    }


def schema_json(version: str) -> str:
    """The bytes of `schema.json`: sorted nowhere (declaration order is the docs' order), two-space indent."""
    return json.dumps(package_schema(version), indent=2, ensure_ascii=False) + "\n"


def resource_spec(resource: ResourceType) -> dict[str, Any]:
    """One resource: its inputs from the `*Args` declaration, its outputs from the class's annotations."""
    schema = resource.schema
    inputs = {camel(name): input_spec(schema, name) for name, _ in schema.public()}
    hints = resource.outputs.output_hints()
    outputs: dict[str, Any] = {}
    for name in output_order(resource):
        spec = input_spec(schema, name) if name in schema.fields else {}
        spec.pop("willReplaceOnChanges", None)
        spec.pop("default", None)
        outputs[camel(name)] = {**type_spec(output_type(hints[name])), **_without_type(spec)}
    for name in echoed_inputs(resource):
        spec = input_spec(schema, name)
        spec.pop("willReplaceOnChanges", None)
        spec.pop("default", None)
        outputs.setdefault(camel(name), spec)
    return {
        "description": _doc(resource),
        "properties": outputs,
        "inputProperties": inputs,
        "requiredInputs": required_inputs(schema),
    }


def output_order(resource: ResourceType) -> list[str]:
    """Outputs in the order they are declared."""
    return list(resource.outputs.output_hints())


def required_inputs(schema: Schema) -> list[str]:
    """Required inputs a program must give: one with a default the plugin fills in (region) is not."""
    return [camel(name) for name, f in schema.public() if f.required and f.program_default is None]


def echoed_inputs(resource: ResourceType) -> list[str]:
    """Public inputs that the outputs repeat (`Schema.echoed`): state holds them, so the SDKs offer them."""
    return [name for name in resource.schema.echoed({n: True for n, _ in resource.schema.public()})]


def input_spec(schema: Schema, name: str) -> dict[str, Any]:
    f = schema.fields[name]
    spec: dict[str, Any] = {**type_spec(schema.types[name]), "description": f.doc}
    if f.secret:
        spec["secret"] = True
    if f.on_change == "replace":
        # Documentation only: the plugin's diff decides (with `compared_as`, which the engine's own
        # replaceOnChanges would not know).
        spec["willReplaceOnChanges"] = True
    if f.default is not None and isinstance(f.default, (str, bool, int, float)):
        spec["default"] = f.default
    return spec


def output_type(hint: Any) -> Any:
    """`pulumi.Output[T]` -> T."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is pulumi.Output else hint


_ANY = {"$ref": "pulumi.json#/Any"}


def type_spec(hint: Any) -> dict[str, Any]:
    """The schema type of a Python annotation (inputs are `pulumi.Input[T]`, outputs plain)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        plain = [a for a in args if a is not type(None) and typing.get_origin(a) not in (pulumi.Output, Awaitable)]
        plain = [a for a in plain if a is not pulumi.Output]
        return type_spec(plain[0]) if len(plain) == 1 else _ANY
    if origin is Literal:
        return {"type": "string"}
    if origin in (list, tuple, Sequence) or (origin and getattr(origin, "__name__", "") == "Sequence"):
        return {"type": "array", "items": type_spec(args[0]) if args else _ANY}
    if origin in (dict, Mapping) or (origin and getattr(origin, "__name__", "") == "Mapping"):
        return {"type": "object", "additionalProperties": type_spec(args[1]) if len(args) == 2 else _ANY}
    return dict(_PRIMITIVES.get(hint, _ANY))


_PRIMITIVES: dict[Any, dict[str, str]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
}


def _without_type(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in ("type", "items", "additionalProperties", "$ref")}


def _doc(resource: ResourceType) -> str:
    return re.sub(r"\s+", " ", resource.description.strip())


SCHEMA_FILE = Path(__file__).with_name("schema.json")


def version() -> str:
    return importlib.metadata.version("pulumi-ebs-snapshots")


if __name__ == "__main__":
    # python -m snapshot_provider.plugin.package_schema: regenerate schema.json (tests compare it byte for byte).
    SCHEMA_FILE.write_text(schema_json(version()))
