"""The dynamic provider over a `Kind`: each operation is the lifecycle's."""

from __future__ import annotations

from collections.abc import Mapping
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

from snapshot_provider.core.lifecycle import existing
from snapshot_provider.core.lifecycle.create import create
from snapshot_provider.core.lifecycle.existing import delete, read, update
from snapshot_provider.core.lifecycle.shapes import Kind
from snapshot_provider.ec2 import clients, locks
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs import lock
from snapshot_provider.inputs.declarations import URN_INPUT
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.process.engine_log import engine_log


class SnapshotProvider(ResourceProvider):
    """A dynamic provider over a `Kind`. Stateless, so that its pickled form in state stays a reference."""

    kind: Kind

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = self.kind.schema.check(olds, news)
        if reason := ended_lock_on_replace(self.kind, olds, news):
            result.failures.append(CheckFailure("lock", reason))
        return result

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        clients.refuse_account_change(olds, news)
        refuse_lock_shortening(olds, news)
        announce_lock_change(olds, news)
        return self.kind.schema.diff(olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return create(self.kind, props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read(self.kind, id_, props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return update(self.kind, id_, olds, news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        delete(self.kind, id_, props)


def ended_lock_on_replace(kind: Kind, olds: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
    """At preview: an unchanged `lock` whose expires_at has passed is valid (the lock did its job), but not for a
    change that replaces the resource: its new snapshot would need a lock EC2 refuses (LockSnapshot: ExpirationDate
    must be in the future). Refused here rather than taken unlocked, since a replacement left unlocked is a weaker
    guarantee than the program declares. A new or changed lock is refused by the input's own rule; a replacing
    input still unknown is judged at `up`, when `check` runs again with it known."""
    if not olds or not kind.schema.same("lock", olds.get("lock"), news.get("lock")):
        return None
    reason = lock.ended(news.get("lock"))
    replaced = [name for name in kind.schema.changes(olds, news)[0] if not is_unknown(news.get(name))]
    if not reason or not replaced:
        return None
    return (
        f"{reason}. The lock has ended, and this change replaces the snapshot ({', '.join(replaced)}): the new one "
        "cannot take it. Set a later expires_at, use duration_days, or take `lock` out (the new snapshot is then not "
        "locked)"
    )


def refuse_lock_shortening(olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """At diff (preview), a lock change EC2 would refuse, judged with the lock's end as state recorded it: `check`
    has the old inputs only, which do not say when a `duration_days` lock ends."""
    if reason := lock.lock_change_in_state(olds, news):
        raise SnapshotProviderError(f"lock: {reason}")


def announce_lock_change(olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """At preview, from state alone (said without credentials): what a removal or a shortening of `lock` does to
    each snapshot's lock, as only the lock this resource set is ever removed or shortened."""
    for line in lock_change_lines(olds, news):
        engine_log().info(news.get(URN_INPUT) or olds.get(URN_INPUT), line)


def lock_change_lines(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The preview's lines for a removal or a shortening (or weakening) of `lock` (pure)."""
    old, new = olds.get("lock"), news.get("lock")
    weakening = bool(old and new and (lock.weaker(old, new)))
    if not old or old == new or (new and not weakening):
        return []
    held = {sid: r for sid, r in existing.recorded_locks(olds).items() if r.get("lock_state") in locks.LOCKED_STATES}
    ours = sorted(sid for sid, r in held.items() if r["lock_owned"])
    doing = "removing `lock` unlocks" if not new else "the change shortens the lock of"
    lines = []
    if ours:
        recorded = "; ".join(f"{sid}: {_recorded(held[sid])}" for sid in ours)
        lines.append(
            f"{doing} {', '.join(ours)} only if each still holds the lock this resource set (as state records it: "
            f"{recorded}); a lock someone else set or changed since is "
            + ("left as it is, and said" if not new else "not shortened: the up then refuses, naming it")
        )
    for sid in sorted(set(held) - set(ours)):
        what = (
            "leaves it as it is"
            if not new
            else "is refused if it would end it earlier or make it governance: this provider never shortens or "
            "weakens it"
        )
        lines.append(
            f"snapshot {sid} holds a lock this resource did not set ({_recorded(held[sid])}, set outside Pulumi, "
            f"kept at import, or changed since): {'removing `lock`' if not new else 'the change'} {what}"
        )
    return lines


def _recorded(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('lock_state')} until {entry.get('lock_expires_at')}"
