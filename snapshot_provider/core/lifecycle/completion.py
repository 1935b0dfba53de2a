"""Waiting until the snapshots are completed, what the wait says when it ends otherwise, and the hand-over (the
`recorded` tag).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from snapshot_provider.core import progress, waiting
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, Taken
from snapshot_provider.core.sources import Member, Source
from snapshot_provider.core.volume_limits import GATE
from snapshot_provider.core.waiting import (
    SnapshotStatus,
    WaitCancelled,
    WaitInterrupted,
    WaitTimedOut,
)
from snapshot_provider.ec2 import clients, find, locks, snapshots
from snapshot_provider.ec2.errors import (
    SnapshotFailed,
    SnapshotTimedOut,
    WaitEnded,
    error_code,
    is_credential_problem,
)
from snapshot_provider.inputs.declarations import URN_INPUT, AccountSelection
from snapshot_provider.process.engine_log import engine_log


def as_written(taken: Taken, found: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The snapshots with the tags they carry once handed over: what this create wrote wins over what a look showed
    (EC2 shows tag changes after a delay, so a look right after a write may show the old ones)."""
    described = {}
    for sid, details in found.items():
        seen = {t["Key"]: t["Value"] for t in details.get("Tags") or []}
        if taken.exact:  # an adopted leftover: its user tags were brought to exactly these
            seen = {k: v for k, v in seen.items() if k not in snapshots.tags_of(details.get("Tags"))}
        tags = {**seen, **taken.written.get(sid, {}), ATTEMPT_TAG: RECORDED}
        described[sid] = {**details, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    return described


def wait(
    account: AccountSelection,
    kind: Source,
    inputs: Mapping[str, Any],
    taken: Taken,
    members: list[Member],
    *,
    delete_on_failure: bool,
    deadline: float | None = None,
) -> dict[str, SnapshotStatus]:
    """Until every snapshot is completed: `timeout` after their request, and not past the create's `deadline`
    (monotonic: time spent waiting for the volume's limits counts). One that fails or disappears fails the create;
    with `delete_on_failure` (snapshots this create made) the rest go too, since a set with a failed member is not
    crash-consistent."""
    monotonic_start = time.monotonic() - max(0.0, time.time() - taken.started_at)
    timeout = float(inputs["timeout"])
    if deadline is not None:
        timeout = max(0.0, min(timeout, deadline - monotonic_start))
    what = f"{kind.noun} {', '.join(taken.ids)} of {kind.source(inputs)}"
    warn_if_credentials_expire_first(account, inputs, what)
    reporter = progress.Reporter(inputs.get(URN_INPUT), what, monotonic_start)
    try:
        statuses = waiting.wait_for(account, taken.ids, timeout, monotonic_start, reporter)
    except WaitTimedOut as timed_out:
        raise SnapshotTimedOut(_timeout_message(kind, inputs, taken, timed_out.statuses)) from None
    except WaitInterrupted as ended:
        raise WaitEnded(_interrupted_message(kind, inputs, taken, ended)) from None
    finally:
        reporter.finish()
        GATE.release(taken.gated)  # no longer this create's to count, whatever became of them
        taken.gated = []
    failed = [s for s in statuses.values() if s.state != "completed"]
    if failed:
        if delete_on_failure:
            ec2 = clients.client(account)
            for sid in taken.ids:
                with contextlib.suppress(find.NotFound):  # gone already: deleted all the same
                    snapshots.delete_snapshot(ec2, sid)
        raise SnapshotFailed(_failure_message(kind, inputs, taken, failed, members, delete_on_failure))
    return statuses


def _progress_of(taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    return ", ".join(f"{sid} {seen[sid].progress}%" if sid in seen else f"{sid} not yet listed" for sid in taken.ids)


def warn_if_credentials_expire_first(account: AccountSelection, inputs: Mapping[str, Any], what: str) -> None:
    """Say so before a wait that the credentials, which the provider cannot renew, will not outlast: once per
    provider process and expiry, since every later wait of the run shares those credentials (a stack of a thousand
    snapshots gets one warning, not a thousand)."""
    expires = clients.credentials_expire_at(account)
    deadline = datetime.now(UTC) + timedelta(seconds=float(inputs["timeout"]))
    if expires is None or expires >= deadline:
        return
    with _expiry_warned_lock:
        if expires in _expiry_warned:
            return
        _expiry_warned.add(expires)
    engine_log().warning(
        inputs.get(URN_INPUT),
        f"the AWS credentials in use expire at {expires.isoformat(timespec='seconds')} (AWS_CREDENTIAL_EXPIRATION), "
        f"before the timeout of the wait for {what} ends (and of any other wait of this run with a timeout as long: "
        "said once), and session keys from the environment cannot be renewed. A snapshot still pending then is "
        "left, tagged as its resource's, for the next `pulumi up` with fresh credentials to adopt. For long waits, "
        "use longer sessions (role-duration-seconds, up to the role's maximum) or a profile or role_arn the provider "
        "can renew.",
    )


_expiry_warned: set[datetime] = set()


_expiry_warned_lock = threading.Lock()


def _interrupted_message(kind: Source, inputs: Mapping[str, Any], taken: Taken, ended: WaitInterrupted) -> str:
    """Why the wait ended and what becomes of the snapshots: this resource's (made or adopted) are adopted by the
    next `up`; an imported one is the user's, left as it is."""
    if isinstance(ended, WaitCancelled):
        why = "the update was cancelled (Ctrl-C)"
        then = "the next `pulumi up` adopts it and goes on waiting, instead of taking another"
    else:
        cause = ended.__cause__
        expired = cause is not None and is_credential_problem(cause)
        code = (error_code(cause) if cause else None) or ("expired" if expired else cause)
        why = f"the AWS credentials stopped working ({code}) and could not be renewed"
        then = (
            "refresh the credentials (for example `aws sso login`, or a new CI session) and run `pulumi up` again: "
            "it is adopted, not taken again, and waited for"
        )
    pending = (
        f"{why} while the {kind.noun} of {kind.source(inputs)} was pending ({_progress_of(taken, ended.statuses)})."
    )
    if taken.imported:
        return f"{pending} {_left_as_yours(taken)}"
    return (
        f"{pending} It was left in place, tagged as this resource's: {then} (or delete it: aws ec2 delete-snapshot "
        f"--snapshot-id {taken.ids[0]})."
    )


def _left_as_yours(taken: Taken) -> str:
    return (
        f"{', '.join(taken.ids)} is yours (import_snapshot_id): it was not recorded and is left as it is, nothing "
        "deleted; run `pulumi up` again to import it and wait for it."
    )


def _timeout_message(kind: Source, inputs: Mapping[str, Any], taken: Taken, seen: Mapping[str, SnapshotStatus]) -> str:
    pending = (
        f"the {kind.noun} of {kind.source(inputs)} is still pending ({_progress_of(taken, seen)}) after the timeout "
        f"of {float(inputs['timeout']):g}s."
    )
    if taken.imported:
        return f"{pending} {_left_as_yours(taken)} Raise timeout for big volumes."
    return (
        f"{pending} It was left in place, tagged as this resource's: run `pulumi up` again to adopt it and keep "
        f"waiting (raise timeout for big volumes), or delete it (aws ec2 delete-snapshot --snapshot-id "
        f"{taken.ids[0]})."
    )


def _failure_message(
    kind: Source,
    inputs: Mapping[str, Any],
    taken: Taken,
    failed: list[SnapshotStatus],
    members: list[Member],
    deleted: bool,
) -> str:
    volume_of = {s["SnapshotId"]: s["VolumeId"] for s in taken.snapshots}
    device_of = {m.volume_id: m.device_name for m in members}

    def describe(status: SnapshotStatus) -> str:
        volume = volume_of.get(status.snapshot_id, "?")
        where = f"volume {volume}" + (f" ({device_of[volume]})" if device_of.get(volume) else "")
        reason = "it was deleted outside Pulumi" if status.state == "missing" else status.state_message
        return (
            f"snapshot {status.snapshot_id} of {where} ended in state {status.state}: {reason or 'EC2 gave no reason'}"
        )

    what = "; ".join(describe(s) for s in failed)
    if not deleted:
        return f"{what}. It was left as it is."
    whole = f"the whole set ({len(taken.ids)} snapshots), since a set with a failed member is not crash-consistent"
    gone = whole if len(taken.ids) > 1 else "the failed snapshot (it cannot be used for anything)"
    return f"{what}. This create deleted {gone}; run `pulumi up` again to take a new {kind.noun}."


def hand_over(
    ec2: Any, inputs: Mapping[str, Any], found: Mapping[str, Mapping[str, Any]], *, adopted: bool = False
) -> locks.Changed:
    """Archive and lock if asked, then mark the snapshots `recorded`: from here on no create adopts them. The lock
    is read first: EC2 lets a pending snapshot be locked (EBS user guide, "Lock snapshots"), so another's lock (an
    organisation's automation) may be there already, and is extended only, never shortened, nor recorded as this
    resource's (`locks.adopt`). `adopted`: the snapshots are this resource's leftovers (an earlier hand-over may
    have locked them). Returns whose each lock is, and the lines to say."""
    if inputs.get("storage_tier") == "archive":
        for sid, snapshot in found.items():
            if snapshot.get("StorageTier") != "archive":
                snapshots.archive(ec2, sid)
    whose = "set by someone else while it was pending, before this provider locks a snapshot (once it completed)"
    locked = locks.adopt(ec2, list(found), inputs.get("lock"), whose, ours_if_as_asked=adopted, found=found)
    snapshots.set_tags(ec2, list(found), {ATTEMPT_TAG: RECORDED})
    return locked
