"""The `ebs-snapshots` provider plugin: the resources' operations (`core.resource_types.ResourceType`), served over
the engine's provider protocol by the Python SDK's `pulumi.provider.experimental` server.

Every operation calls the same method the `pulumi-python:dynamic` route calls (`check`, `diff`, `create`, `read`,
`update`, `delete`; each dynamic provider class is a thin subclass of these operations): one core, two front doors. What
only this door does is translate at its edge: camelCase wire names, property values to plain ones and back (a secret in
is a secret out; unknowns are the core's `UNKNOWN`), the URN as the core's `resource_urn` input, defaults a program
would fill in, and two things the dynamic host cannot do: answer a preview with what is already known, and `pulumi
import` (a read without state).

The SDK's server is `grpc.aio`: requests are coroutines, never queued behind a worker pool. The core is blocking
(boto3, waits of hours), so each operation runs in this module's own thread pool, sized like the dynamic host's
widened one, so that every operation the engine sends runs at once.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from pulumi.dynamic import ResourceProvider
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import Computed, PropertyValue

from snapshot_provider.core.lifecycle.ebs_snapshot import EBS_SNAPSHOT
from snapshot_provider.core.progress import DEFAULT_WORKERS, WORKERS_ENV
from snapshot_provider.core.resource_types import ResourceType
from snapshot_provider.ec2 import cancel, find
from snapshot_provider.ec2 import clients as aws
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.ec2.snapshots import tags_of
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.inputs.rules import UNKNOWN, is_unknown
from snapshot_provider.inputs.schema import CREDENTIAL_KEYS
from snapshot_provider.plugin.package_schema import RESOURCES, SCHEMA_FILE, WireNames, camel, type_token

T = TypeVar("T")

# Only an EbsSnapshot can record a snapshot it did not take (as the user's, never deleted); the others manage what
# they make (a set, a series, a removal, a copy), so an existing one has nothing for them to adopt.
_NOT_IMPORTABLE_BECAUSE = (
    "only an EbsSnapshot can be imported (`pulumi import ebs-snapshots:index:EbsSnapshot <name> <snapshot id>`, "
    "recorded as yours and never deleted by this provider); the other resources manage only what they make"
)


@dataclass(frozen=True)
class FrontDoor:
    """One resource as the plugin serves it: its declaration (schema, outputs) and its operations (the core)."""

    resource: ResourceType
    core: ResourceProvider
    names: WireNames

    @classmethod
    def of(cls, resource: ResourceType) -> FrontDoor:
        return cls(resource, resource.operations(), WireNames.of(resource))

    @property
    def secret_fields(self) -> set[str]:
        return {name for name, f in self.resource.schema.fields.items() if f.secret}


DOORS = {type_token(r): FrontDoor.of(r) for r in RESOURCES}


class EbsSnapshotsProvider(p.Provider):
    """The provider plugin's operations (see the module docstring)."""

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or workers_wanted(), thread_name_prefix="operation")
        self._region: str | None = None  # the provider's `region` config
        self._replacing: dict[str, str] = {}  # URN -> the id Diff said is replaced, until its replacement exists

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    # --- the package ------------------------------------------------------------------------------------------
    async def get_schema(self, request: p.GetSchemaRequest) -> p.GetSchemaResponse:
        return p.GetSchemaResponse(schema=SCHEMA_FILE.read_text())

    async def configure(self, request: p.ConfigureRequest) -> p.ConfigureResponse:
        self._region = configured_region(request)
        return await super().configure(request)

    async def cancel(self) -> None:
        # The first Ctrl-C: every wait ends now, its snapshots left as they are (as in the dynamic host).
        cancel.cancel_waits()

    # --- the operations ---------------------------------------------------------------------------------------
    async def check(self, request: p.CheckRequest) -> p.CheckResponse:
        door = door_of(request.type)
        news = self._defaulted(door.names.core(plain_map(request.new_inputs)), request.urn)
        olds = door.names.core(plain_map(request.old_inputs))
        olds = with_urn(door, olds, request.urn) if olds else {}  # no olds: a create, as the core tells it
        result = await self._run(door.core.check, olds, with_urn(door, news, request.urn))
        inputs = without_urn(result.inputs or {})
        secrets = secret_names(door, request.new_inputs)
        failures = [p.CheckFailure(camel(f.property), f.reason) for f in result.failures or []]
        failures += [p.CheckFailure(camel(name), not_an_input(door)) for name in unknown_inputs(door, news)]
        return p.CheckResponse(inputs=wire_map(door, inputs, secrets), failures=failures)

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        door = door_of(request.type)
        olds = door.names.core(plain_map(request.old_state))
        news = door.names.core(plain_map(request.new_inputs))
        result = await self._run(door.core.diff, request.resource_id, olds, news)
        _, updates = door.resource.schema.changes(olds, news)
        replaces = list(result.replaces or [])
        if replaces:
            self._replacing[request.urn] = request.resource_id
        detailed = {camel(n): p.PropertyDiff(p.PropertyDiffKind.UPDATE, True) for n in updates if n not in replaces}
        detailed |= {camel(n): p.PropertyDiff(p.PropertyDiffKind.UPDATE_REPLACE, True) for n in replaces}
        return p.DiffResponse(
            changes=bool(result.changes),
            replaces=[camel(n) for n in replaces],
            delete_before_replace=False,  # the new snapshot completes before the old one goes
            diffs=list(detailed),
            detailed_diff=detailed,
        )

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        door = door_of(request.type)
        props = with_urn(door, door.names.core(plain_map(request.properties)), request.urn)
        secrets = secret_names(door, request.properties)
        if request.preview:
            return p.CreateResponse(properties=wire_map(door, preview_outputs(door, props), secrets))
        result = await self._run(door.core.create, within_timeout(props, request.timeout))
        self._replacing.pop(request.urn, None)
        return p.CreateResponse(result.id, wire_map(door, without_urn(result.outs or {}), secrets))

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        door = door_of(request.type)
        olds = with_urn(door, door.names.core(plain_map(request.olds)), request.urn)
        news = with_urn(door, door.names.core(plain_map(request.news)), request.urn)
        secrets = secret_names(door, request.news) | secret_names(door, request.olds)
        if request.preview:
            return p.UpdateResponse(wire_map(door, preview_update(door, olds, news), secrets))
        result = await self._run(door.core.update, request.resource_id, olds, within_timeout(news, request.timeout))
        return p.UpdateResponse(wire_map(door, without_urn(result.outs or {}), secrets))

    async def read(self, request: p.ReadRequest) -> p.ReadResponse:
        door = door_of(request.type)
        if not request.properties:
            return await self._read_without_state(door, request)
        props = with_urn(door, door.names.core(plain_map(request.properties)), request.urn)
        secrets = secret_names(door, request.properties)
        result = await self._run(door.core.read, request.resource_id, props)
        if not result.id:
            return p.ReadResponse()  # gone: refresh drops it from state
        return p.ReadResponse(result.id, wire_map(door, without_urn(result.outs or {}), secrets), request.inputs)

    async def delete(self, request: p.DeleteRequest) -> None:
        door = door_of(request.type)
        if self._replacing.get(request.urn) == request.resource_id:
            raise SnapshotProviderError(delete_before_replace(door, request.resource_id))
        props = with_urn(door, door.names.core(plain_map(request.properties)), request.urn)
        await self._run(door.core.delete, request.resource_id, props)

    # --- what only this front door does -----------------------------------------------------------------------
    def _defaulted(self, news: dict[str, Any], urn: str) -> dict[str, Any]:
        """The defaults a Python program fills in (`Field.program_default`), from what a plugin has: its config,
        its environment, and the URN (which names the project and stack)."""
        if news.get("region") is None:
            region = self._region or AccountSelection.from_props({}).region
            if region:
                news["region"] = region
        if news.get("role_arn") is not None and news.get("role_session_name") is None:
            project, stack = project_and_stack(urn)
            name = f"pulumi-{project}-{stack}"
            news["role_session_name"] = "".join(c if c.isalnum() or c in "+=,.@-" else "-" for c in name)[:64]
        return news

    async def _read_without_state(self, door: FrontDoor, request: p.ReadRequest) -> p.ReadResponse:
        """A Read with no state: `pulumi import ebs-snapshots:index:EbsSnapshot name snap-...` and a program's `get`
        (`EbsSnapshot.get`, YAML `get:`) send the same request. Either way the snapshot is described as it is, now:
        nothing is changed and nothing waited for (a `get` runs in previews too). It is recorded as the dynamic
        route's `import_snapshot_id` records it: the user's, never deleted by a replace or destroy."""
        if door.resource is not EBS_SNAPSHOT:
            raise SnapshotProviderError(f"{door.resource.name} cannot be imported: {_NOT_IMPORTABLE_BECAUSE}")
        inputs = await self._run(import_inputs, request.resource_id, self._defaulted({}, request.urn))
        state = with_urn(door, {**inputs, "imported": True}, request.urn)
        result = await self._run(door.core.read, request.resource_id, state)
        if not result.id:
            raise SnapshotProviderError(f"{request.resource_id} was not found in region {inputs['region']}")
        inputs = {k: v for k, v in inputs.items() if k != "import_snapshot_id"}
        return p.ReadResponse(
            result.id, wire_map(door, without_urn(result.outs or {}), Secrets()), wire_map(door, inputs, Secrets())
        )


def delete_before_replace(door: FrontDoor, resource_id: str) -> str:
    """The engine deletes what Diff said it replaces before the replacement exists only under the resource option
    `deleteBeforeReplace`, which wins over Diff's answer (pkg/resource/deploy/step_generator.go) and reaches no
    request: refused, so that no snapshot is gone while its replacement may still fail."""
    return (
        f"{door.resource.name} {resource_id} would be deleted before its replacement exists (the resource option "
        "deleteBeforeReplace): this provider takes the new snapshot first and deletes the old one after. Nothing "
        "was deleted. Remove deleteBeforeReplace from this resource's options and run `pulumi up` again."
    )


def configured_region(request: p.ConfigureRequest) -> str | None:
    """`pulumi config set ebs-snapshots:region ...`: the engine sends it by name in `args`, and in `variables` as
    '<pkg>:config:<key>' (the spelling older engines send alone: sdk/go/common/resource/plugin/provider_plugin.go)."""
    given = request.args.get("region")
    value = given.value if given is not None else request.variables.get("ebs-snapshots:config:region")
    return value if isinstance(value, str) and value else None


def import_inputs(snapshot_id: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs that record this existing snapshot as it is: its volume, description and own tags."""
    region = defaults.get("region")
    if not region:
        raise SnapshotProviderError(
            "importing needs a region: set AWS_REGION, or the provider's region "
            "(pulumi config set ebs-snapshots:region)"
        )
    try:
        found = find.snapshot(aws.client(AccountSelection.from_props(defaults)), snapshot_id)
    except find.NotFound:
        message = f"{snapshot_id} was not found in region {region}: check the id and region"
        raise SnapshotProviderError(message) from None
    tags = {k: v for k, v in tags_of(found.get("Tags")).items() if not k.startswith(("aws:", "pulumi-snapshot:"))}
    inputs: dict[str, Any] = {"region": region, "volume_id": found["VolumeId"], "import_snapshot_id": snapshot_id}
    if found.get("Description"):
        inputs["description"] = found["Description"]
    if tags:
        inputs["tags"] = tags
    return inputs


def preview_outputs(door: FrontDoor, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A create's outputs during a preview: every output an input gives is known; the rest (ids, times, sizes) are
    unknown until EC2 answers."""
    outs: dict[str, Any] = {name: UNKNOWN for name in door.resource.output_names()}
    schema = door.resource.schema
    known = schema.echoed(schema.stored(inputs)) | {k: v for k, v in inputs.items() if k in outs}
    outs.update({k: v for k, v in known.items() if k != URN_INPUT})
    if "imported" in outs:
        outs["imported"] = inputs.get("import_snapshot_id") is not None
    return outs


# What an update can change besides its inputs: the tags EC2 holds (tags), or a new snapshot (SnapshotSeries).
_FOLLOWS_TAGS = ("all_tags",)


def preview_update(door: FrontDoor, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
    """An update's outputs during a preview: the old outputs with the new inputs; what the update recomputes is
    unknown."""
    schema = door.resource.schema
    outs = {k: v for k, v in olds.items() if k != URN_INPUT}
    outs.update(schema.echoed(schema.stored(news)))
    _, updates = schema.changes(olds, news)
    if any(schema.fields[n].on_change == "snapshot" for n in updates):
        outs.update({n: UNKNOWN for n in door.resource.output_names() if n not in schema.fields})
    elif "tags" in updates:
        outs.update({n: UNKNOWN for n in _FOLLOWS_TAGS if n in outs})
    return outs


def unknown_inputs(door: FrontDoor, news: Mapping[str, Any]) -> list[str]:
    """Names that are no input of the resource (a Python program is refused them in the constructor); credentials
    are the core's to refuse, with their own reason."""
    return sorted(set(news) - set(door.resource.schema.fields) - set(CREDENTIAL_KEYS))


def not_an_input(door: FrontDoor) -> str:
    inputs = ", ".join(camel(name) for name, _ in door.resource.schema.public())
    return f"is not an input of {door.resource.name}: its inputs are {inputs}"


def door_of(token: str) -> FrontDoor:
    try:
        return DOORS[token]
    except KeyError:
        raise SnapshotProviderError(f"unknown resource type {token}: this plugin serves {', '.join(DOORS)}") from None


def with_urn(door: FrontDoor, props: Mapping[str, Any], urn: str) -> dict[str, Any]:
    """The core names a resource's snapshots by its URN (`resource_urn`, set by a Python program)."""
    return {**props, URN_INPUT: urn} if URN_INPUT in door.resource.schema.fields else dict(props)


def without_urn(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != URN_INPUT}


def within_timeout(props: Mapping[str, Any], engine_timeout: float) -> dict[str, Any]:
    """The engine's `customTimeouts` (0: none) shorten the resource's own `timeout`, never lengthen it."""
    timeout = props.get("timeout")
    if engine_timeout and engine_timeout > 0 and not is_unknown(timeout):
        props = {**props, "timeout": min(float(timeout), engine_timeout) if timeout is not None else engine_timeout}
    return dict(props)


def project_and_stack(urn: str) -> tuple[str, str]:
    """`urn:pulumi:<stack>::<project>::<type>::<name>`."""
    head, project, *_ = urn.split("::")
    return project, head.split(":")[-1]


def workers_wanted() -> int:
    """As the dynamic host: SNAPSHOT_PROVIDER_HOST_WORKERS, else DEFAULT_WORKERS (threads start only when used)."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_WORKERS


# --- property values --------------------------------------------------------------------------------------------
def plain(value: PropertyValue) -> Any:
    """A property value as the core takes it: plain Python, an unknown as `UNKNOWN` (what the dynamic host sends)."""
    inner = value.value
    if isinstance(inner, Computed):
        return UNKNOWN
    if isinstance(inner, Mapping):
        return {k: plain(v) for k, v in inner.items()}
    if isinstance(inner, tuple):
        return [plain(v) for v in inner]
    return inner


def plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


@dataclass(frozen=True)
class Secrets:
    """What came in secret: top-level names (core names) and the plain values under them, so that a secret is a
    secret wherever the core copies it (a secret tag value under `tags` and again under `allTags`)."""

    names: frozenset[str] = frozenset()
    values: frozenset[Any] = frozenset()

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.names | other.names, self.values | other.values)

    def hide(self, name: str, value: Any) -> bool:
        return name in self.names or bool(self.values & leaves(value))


def secret_names(door: FrontDoor, values: Mapping[str, PropertyValue]) -> Secrets:
    """The top-level properties that came in secret (core names), and the values that were secret in them."""
    names = door.names.core({k: None for k, v in values.items() if v.contains_secret()})
    return Secrets(frozenset(names), frozenset().union(*(secret_leaves(v) for v in values.values())))


def secret_leaves(value: PropertyValue) -> set[Any]:
    """The plain scalar values inside `value` that are secret (or under a secret)."""
    if value.is_secret:
        return leaves(plain(value))
    inner = value.value
    if isinstance(inner, Mapping):
        return set().union(*(secret_leaves(v) for v in inner.values()))
    if isinstance(inner, tuple):
        return set().union(*(secret_leaves(v) for v in inner))
    return set()


def leaves(value: Any) -> set[Any]:
    """The scalar values in a plain value (strings and numbers: what a secret can be that the core copies)."""
    if isinstance(value, Mapping):
        return set().union(*(leaves(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(leaves(v) for v in value))
    return {value} if isinstance(value, (str, int, float)) and not isinstance(value, bool) else set()


def wire(value: Any) -> PropertyValue:
    if is_unknown(value):
        # The engine's own unknown (the SDK's PropertyValue.marshal cannot send a Computed, pulumi 3.259).
        return PropertyValue(UNKNOWN)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return PropertyValue(value)
    if isinstance(value, (int, float)):
        return PropertyValue(float(value))
    if isinstance(value, Mapping):
        return PropertyValue({str(k): wire(v) for k, v in value.items()})
    if isinstance(value, Iterable):
        return PropertyValue([wire(v) for v in value])
    raise TypeError(f"cannot send a {type(value).__name__} to the engine: {value!r}")


def wire_map(door: FrontDoor, props: Mapping[str, Any], secrets: Secrets) -> dict[str, PropertyValue]:
    """Plain properties as the engine takes them: camelCase, a secret in (or declared) a secret out, wherever the
    core put it."""
    hidden = secrets | Secrets(frozenset(door.secret_fields))
    return {
        door.names.to_wire.get(k, k): wire(v).with_secret(True) if hidden.hide(k, v) else wire(v)
        for k, v in props.items()
    }
