"""The dynamic provider over a `Kind`: each operation is the lifecycle's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from snapshot_provider.core.lifecycle.create import create
from snapshot_provider.core.lifecycle.existing import delete, read, update
from snapshot_provider.core.lifecycle.shapes import Kind
from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs import lock


class SnapshotProvider(ResourceProvider):
    """A dynamic provider over a `Kind`. Stateless, so that its pickled form in state stays a reference."""

    kind: Kind

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return self.kind.schema.check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        refuse_lock_shortening(olds, news)
        return self.kind.schema.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return create(self.kind, props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read(self.kind, id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return update(self.kind, id_, olds, news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        delete(self.kind, id_, props)


def refuse_lock_shortening(olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """At diff (preview), a lock change EC2 would refuse, judged with the lock's end as state recorded it: `check`
    has the old inputs only, which do not say when a `duration_days` lock ends."""
    if reason := lock.lock_change_in_state(olds, news):
        raise SnapshotProviderError(f"lock: {reason}")
