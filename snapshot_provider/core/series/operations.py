"""A SnapshotSeries' operations, whichever front door: check, diff (with its preview), create and update (a run:
take, then prune), read, delete; and its outputs."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from snapshot_provider.core.lifecycle import existing
from snapshot_provider.core.quiesce import pausing
from snapshot_provider.core.resource_types import Outputs, ResourceType
from snapshot_provider.core.series import copies
from snapshot_provider.core.series.lines import name_of, paused_instance, say, urn_of, warn
from snapshot_provider.core.series.outputs import outputs
from snapshot_provider.core.series.preview import preview
from snapshot_provider.core.series.run import run
from snapshot_provider.core.series.survey import survey, to_delete
from snapshot_provider.ec2 import clients, locks
from snapshot_provider.ec2.connection import Connection
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs import consistency, lock
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.series import SCHEMA, TAKES, failures, parse


class SnapshotSeriesOperations(ResourceProvider):
    """A SnapshotSeries' operations, whichever front door: each run takes (when its inputs ask) then prunes."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = failures(news, olds)
        if not found and olds and (ended := lock.for_new_points(news.get("lock"))[1]):
            say(news, f"{name_of(news)}: {ended}")  # from the inputs alone: said without credentials
        if not found and not olds:  # the first take; later ones are said by diff's preview
            pausing.announce(news.get(URN_INPUT), consistency.Plan.of(news), paused_instance(news))
            for line in copies.preview_lines({}, news, takes=True):
                say(news, f"creating {name_of(news)} {line}")
        return CheckResult(SCHEMA.stored(news), [CheckFailure(f.property, f.reason) for f in found])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        result = SCHEMA.diff(olds, news)
        if not result.changes and copies.missing(olds):
            # A copy an earlier run could not make: the next `up` makes it, without taking a new point.
            result = DiffResult(changes=True, replaces=[], stables=result.stables, delete_before_replace=False)
        if result.changes:
            preview(id_, olds, news, result)
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = parse(props)
        if not inputs.get(URN_INPUT):
            raise SnapshotProviderError("a SnapshotSeries needs its URN (resource_urn), which the program sets")
        conn = Connection.to_create(inputs)
        series_id = f"series-{secrets.token_hex(8)}"
        return CreateResult(series_id, run(conn, series_id, inputs, take_new=True, previous={}))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = parse(news)
        conn = Connection.to_existing(inputs, "update", clients.recorded_account(olds))
        take_new = bool(TAKES.diff(olds, news).changes)
        return UpdateResult(run(conn, id_, inputs, take_new=take_new, previous=olds))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        conn = Connection.to_read(props, clients.recorded_account(props), "the series")
        ec2 = conn.ec2
        has = survey(ec2, id_, props)
        outs = outputs(props, id_, has.listing, has.archived, has.images, conn.account_id)
        # What the last run did stays as it was: refresh only looks.
        for name in ("wait_time", "archived", "deleted", "pruned", "in_use", "failed", "locked", "copied"):
            outs[name] = props.get(name)
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Every snapshot tagged with this series' id, and every one its state records; only the ids and the account
        selection from state are used."""
        conn = Connection.to_existing(props, "delete", clients.recorded_account(props))
        ids = to_delete(conn.ec2, id_, props)
        _refuse_delete_if_locked(conn.ec2, ids, props)
        copied = copies.to_delete(id_, props)
        for account, copy_ids in copied:
            _refuse_delete_if_locked(clients.client(account), copy_ids, {**props, "lock": None})  # copies: no lock
        # No second look at a NotFound (listed_since 0): as before the delete was shared with the lifecycle's.
        existing.delete_snapshots(
            conn,
            ids,
            urn_of(props),
            listed_since=0.0,
            blocked_note=" The series' other snapshots were deleted; run `pulumi destroy` again once the AMIs are "
            "deregistered.",
        )
        for account, copy_ids in copied:  # once their points are gone: a copy never outlives its point's keeping
            existing.delete_snapshots(
                Connection.to_existing({**props, **dict(account.values)}, "delete", None),
                copy_ids,
                urn_of(props),
                listed_since=0.0,
            )


def _refuse_delete_if_locked(ec2: Any, ids: list[str], props: Mapping[str, Any]) -> None:
    """Fail before any deletion while a point is locked (taken with `lock`, or locked outside), naming each lock.
    Read whether or not the series declares `lock` now: a point keeps its lock after `lock` is taken out. Locks that
    cannot be read (no ec2:DescribeLockedSnapshots) are said, and the delete goes on: EC2 still refuses locked ones."""
    locks.refuse_delete_if_locked(
        ec2, ids, declared=bool(props.get("lock")), unread=lambda line: warn(props, line), urn=props.get(URN_INPUT)
    )


class SnapshotSeriesOutputs(Outputs):
    """A rolling series of snapshots of one volume (or one instance's set), kept by a retention policy.

    Outputs `snapshot_id` and `wait_time` of the newest snapshot, `snapshots` (the kept ones: id, start time, tier,
    size), what the last run `archived` and `deleted`, what the series deleted within the Recycle Bin's year
    (`pruned`: id -> day; one recovered from the Recycle Bin is let go of: its series tags removed, forgotten),
    snapshots kept because AMIs use them (`in_use`) or because they are locked (`locked`: id, lock_state,
    lock_expires_at; a locked point is never pruned), the series' size per tier (`size_gib`, `full_size_gib`), and its
    copies in other regions and accounts (`copied`: per point and target, the copy's id and state; see `copies`).
    """

    snapshot_id: pulumi.Output[str | None]
    snapshot_ids: pulumi.Output[dict[str, str]]
    wait_time: pulumi.Output[float]
    snapshots: pulumi.Output[list[dict[str, Any]]]
    archived: pulumi.Output[list[str]]
    deleted: pulumi.Output[list[str]]
    pruned: pulumi.Output[dict[str, str]]
    in_use: pulumi.Output[list[dict[str, Any]]]
    failed: pulumi.Output[list[str]]
    copied: pulumi.Output[list[dict[str, Any]]]
    locked: pulumi.Output[list[dict[str, Any]]]
    size_gib: pulumi.Output[dict[str, float]]
    full_size_gib: pulumi.Output[dict[str, float | None]]
    series_tag: pulumi.Output[dict[str, str]]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]


SNAPSHOT_SERIES = ResourceType("SnapshotSeries", SCHEMA, SnapshotSeriesOutputs, SnapshotSeriesOperations)
