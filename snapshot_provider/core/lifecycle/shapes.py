"""What every part of the lifecycle speaks of: the tags that tie a snapshot to its resource, the state shape and
`Kind` a resource supplies, the records of one create (`Requests`, `Taken`, `Leftover(s)`), and `say`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core.sources import Member, Source
from snapshot_provider.ec2 import snapshots
from snapshot_provider.inputs.schema import Schema
from snapshot_provider.process.engine_log import engine_log

RESOURCE_TAG = "pulumi-snapshot:resource"
ATTEMPT_TAG = "pulumi-snapshot:attempt"
RECORDED = "recorded"
# A SnapshotSeries' id on each of its snapshots (see `series`); declared here, where every resource can see it.
SERIES_TAG = "pulumi-snapshot:series"


class StateShape(Protocol):
    """How a snapshot resource keeps its snapshots in state: its schema, its id, its outputs."""

    schema: Schema

    def members_in_state(self, props: Mapping[str, Any]) -> list[Member]: ...

    def snapshot_ids(self, id_: str, props: Mapping[str, Any]) -> list[str]: ...

    def resource_id(self, inputs: Mapping[str, Any], snapshot_ids: list[str]) -> str: ...

    def outputs(
        self,
        props: Mapping[str, Any],
        members: list[Member],
        found: Mapping[str, Mapping[str, Any]],
        account_id: str,
    ) -> dict[str, Any]:
        """State from the inputs and the snapshots as described now (create, update and read all end here)."""
        ...


class Kind(Source, StateShape, Protocol):
    """A snapshot resource: what it snapshots and how (`Source`), and how it keeps that in state (`StateShape`).
    Taking and waiting need only the source; create, read, update and delete need both."""


@dataclass
class Requests:
    """The CreateSnapshot(s) requests of one take, each with its own attempt id, so that what one request made can
    be told from what another made."""

    sent: dict[str, dict[str, str]] = field(default_factory=dict)  # attempt id -> the tags its request carried
    lost: list[str] = field(default_factory=list)  # requests whose answer was lost: they may have made snapshots
    lost_at: float = -1.0  # monotonic time the last answer was lost
    answered: str | None = None
    first_at: float = field(default_factory=time.monotonic)  # when this take began asking
    # The last refusal, when it said the source does not exist (yet): what a take that runs out of time reports, as
    # the volume's limits are then not what stopped it.
    not_found: ClientError | BotoCoreError | None = None

    def may_have_made(self) -> list[str]:
        return [*self.lost, *([self.answered] if self.answered else [])]


@dataclass
class Taken:
    """The snapshots a create waits for, when their request was made (wall clock), and what it knows it wrote."""

    snapshots: list[dict[str, Any]]
    started_at: float
    # Snapshot id -> tags this create set on it; with `exact`, they are all its tags but AWS's and the provider's.
    written: dict[str, dict[str, str]] = field(default_factory=dict)
    exact: bool = False
    requests: Requests | None = None
    gated: list[str] = field(default_factory=list)  # volumes counted as pending in the gate until the wait ends
    # The user's own snapshot, recorded through import_snapshot_id: a wait that ends leaves it as theirs. Those this
    # resource made or adopted (its own interrupted create's, a series' take) are left tagged as its own.
    imported: bool = False

    @property
    def ids(self) -> list[str]:
        return [s["SnapshotId"] for s in self.snapshots]


@dataclass
class Leftover:
    """Snapshots one interrupted request of this resource left, that this create does not adopt, and why."""

    snapshots: list[dict[str, Any]]
    attempt: str
    reason: str
    seen_at: float  # monotonic: when a look found it not recorded

    @property
    def settled(self) -> bool:
        """Seen pending: never handed over (see the module docstring), so no second look is needed."""
        return all(s["State"] == "pending" for s in self.snapshots)


@dataclass
class Leftovers:
    """What a create found of this resource's interrupted creates: one adopted, the others to go once the new
    snapshot is handed over; and the ones a second look found recorded after all."""

    adopted: Taken | None = None
    discard: list[Leftover] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)
    others: Callable[[Mapping[str, Any]], bool] = lambda _snapshot: False
    # Which leftovers are provably this resource's: only those are ever deleted (see the module docstring).
    ours: Callable[[Mapping[str, Any]], bool] = lambda _snapshot: False


def resource_token(urn: str) -> str:
    return hashlib.sha256(urn.encode()).hexdigest()[:32]


def say(urn: str | None, line: str) -> None:
    """A line next to the resource in the CLI's output."""
    engine_log().info(urn, line)


def managed_tags_now(managed: Mapping[str, str], aws_tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """The current values of the tags this resource manages (a missing or changed one is drift)."""
    current = snapshots.tags_of(list(aws_tags or []))
    return {k: current[k] for k in managed if k in current}
