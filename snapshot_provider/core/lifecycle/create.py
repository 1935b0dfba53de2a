"""A create: finish this resource's interrupted create (adopt a leftover) or take new snapshots, wait, hand over,
then tidy what earlier creates left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CreateResult

from snapshot_provider.core.lifecycle.completion import as_written, hand_over, wait
from snapshot_provider.core.lifecycle.existing import with_locks
from snapshot_provider.core.lifecycle.leftovers import survey, tidy
from snapshot_provider.core.lifecycle.shapes import Kind, Leftovers, Taken
from snapshot_provider.core.lifecycle.taking import take
from snapshot_provider.core.sources import Member, Source
from snapshot_provider.ec2 import snapshots
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs import lock
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.process.engine_log import engine_log


def create(kind: Kind, props: Mapping[str, Any]) -> CreateResult:
    inputs = kind.schema.parse(props)
    refuse_ended_lock(inputs)
    conn = Connection.to_create(inputs)
    ec2 = conn.ec2
    members = kind.members(ec2, inputs)
    urn = inputs.get(URN_INPUT)
    deadline = time.monotonic() + float(inputs["timeout"])
    taken, leftovers = start_or_finish(conn.account, ec2, kind, inputs, members, urn, deadline)
    statuses = wait(conn.account, kind, inputs, taken, members, delete_on_failure=made_here(taken), deadline=deadline)
    found = as_written(taken, {sid: status.details for sid, status in statuses.items()})
    ec2 = conn.ec2  # the client now: the wait may have renewed the credentials
    locked = hand_over(ec2, inputs, found, adopted=not made_here(taken))
    for line in locked.lines:
        engine_log().warning(urn, line)
    found = with_locks(ec2, inputs, found, locked.owned)
    tidy(ec2, urn, taken, leftovers)
    outs = kind.outputs(inputs, members, found, conn.account_id)
    outs["wait_time"] = snapshots.wait_seconds(max(s.observed_at for s in statuses.values()), taken.started_at)
    return CreateResult(kind.resource_id(inputs, taken.ids), outs)


def refuse_ended_lock(inputs: Mapping[str, Any]) -> None:
    """Before anything is taken: a lock whose expires_at has passed cannot be applied. `check` lets an unchanged one
    through (the lock it recorded has simply ended), so a replace, which takes a new snapshot, is refused here."""
    if reason := lock.ended(inputs.get("lock")):
        raise SnapshotProviderError(f"lock: {reason}. Nothing was taken: set a later expires_at, or duration_days")


def _nobody(_snapshot: Mapping[str, Any]) -> bool:
    return False


def made_here(taken: Taken) -> bool:
    """Whether this create's own requests made the snapshots (not adopted): only those may it delete when one fails."""
    return taken.requests is not None


def start_or_finish(
    account: AccountSelection,
    ec2: Any,
    kind: Source,
    inputs: Mapping[str, Any],
    members: list[Member],
    urn: str | None,
    deadline: float,
    *,
    extra_tags: Mapping[str, str] | None = None,
    others: Callable[[Mapping[str, Any]], bool] | None = None,
    recorded: frozenset[str] = frozenset(),
    announce_recorded: bool = True,
    ours: Callable[[Mapping[str, Any]], bool] | None = None,
) -> tuple[Taken, Leftovers]:
    """Adopt what an interrupted create of this resource left, or take new snapshots; and what else it left.

    `extra_tags` go on new snapshots besides the resource's and the attempt's (a series' id). `others` says which of
    this resource's unrecorded snapshots belong to someone else all the same (another series of the same name), to be
    left alone. `recorded` are ids state records (never leftovers). `announce_recorded=False` for a resource whose
    recorded snapshots are its own history (SnapshotSeries), where "left as they are" would not be true. `ours` says
    which leftovers are provably this resource's (the only ones ever deleted)."""
    leftovers = (
        survey(ec2, kind, inputs, members, urn, others or _nobody, recorded, announce_recorded, ours or _nobody)
        if urn
        else Leftovers()
    )
    return leftovers.adopted or take(account, kind, inputs, members, urn, deadline, extra_tags), leftovers
