"""The provider plugin behind the dynamic provider's interface, for the model-based tests: each call goes through
the plugin's own request translation (camelCase names, property values, the URN as the request's) and back, so the
model's invariants are checked through the plugin's front door as well as through the dynamic one."""

from __future__ import annotations

import asyncio
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.provider.experimental import provider as p

from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.plugin.provider import DOORS, EbsSnapshotsProvider, plain_map, wire


class PluginAsDynamic(ResourceProvider):  # type: ignore[misc]
    """Serves one plugin type token through `plugin`, keeping the model's URNs (their resource tags name them)."""

    def __init__(self, plugin: EbsSnapshotsProvider, token: str) -> None:
        self._plugin, self._token, self._door = plugin, token, DOORS[token]
        self.kind = self._door.core.kind  # what the model asks of state's shape (snapshot ids)
        self._urns: dict[str, str] = {}  # resource id -> URN: outputs do not repeat it, the engine's requests do

    def __reduce__(self) -> tuple[Any, ...]:
        # The model's host process (its interrupted creates) runs the dynamic provider: a plugin is no pickle.
        return (type(self._door.core), ())

    def _wire(self, props: dict[str, Any]) -> dict[str, Any]:
        return {self._door.names.to_wire.get(k, k): wire(v) for k, v in props.items() if k != URN_INPUT}

    def _core(self, values: dict[str, Any]) -> dict[str, Any]:
        return self._door.names.core(plain_map(values))

    def _request(self, cls: type, urn: str, *args: Any) -> Any:
        token = self._token
        typed = type(cls.__name__, (cls,), {"type": property(lambda _self: token)})
        return typed(urn, *args)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        urn = news[URN_INPUT]
        response = self._run(
            self._plugin.check(self._request(p.CheckRequest, urn, self._wire(olds), self._wire(news), b""))
        )
        inputs = {**self._core(response.inputs or {}), URN_INPUT: urn}
        return CheckResult(inputs, [CheckFailure(f.property, f.reason) for f in response.failures or []])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        urn = news[URN_INPUT]
        response = self._run(
            self._plugin.diff(self._request(p.DiffRequest, urn, id_, self._wire(olds), self._wire(news), []))
        )
        replaces = list(self._door.names.core({k: None for k in response.replaces or []}))
        return DiffResult(changes=response.changes, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        urn = props[URN_INPUT]
        response = self._run(self._plugin.create(self._request(p.CreateRequest, urn, self._wire(props), 0, False)))
        self._urns[response.resource_id] = urn
        return CreateResult(response.resource_id, self._core(response.properties))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        response = self._run(
            self._plugin.read(self._request(p.ReadRequest, self._urns[id_], id_, self._wire(props), {}))
        )
        return ReadResult(response.resource_id or "", self._core(response.properties) if response.resource_id else {})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        urn = news[URN_INPUT]
        request = self._request(p.UpdateRequest, urn, id_, self._wire(olds), self._wire(news), 0, [], False)
        return UpdateResult(self._core(self._run(self._plugin.update(request)).properties))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self._run(self._plugin.delete(self._request(p.DeleteRequest, self._urns[id_], id_, self._wire(props), 0)))
