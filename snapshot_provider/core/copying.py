"""A copy of a snapshot in another region and/or account (EC2 CopySnapshot), made so that a lost answer never makes two.

CopySnapshot has no ClientToken (EC2 API reference; botocore's model has none), so EC2 cannot tell a retry from a new
request. Instead every copy is tagged at creation (`TagSpecifications`, one request) with this resource's token and
`pulumi-snapshot:attempt=pending`, and marked `recorded` once completed: before asking EC2 for a copy, and after an
answer that was lost, the provider looks for a copy of this resource not yet recorded, and adopts it. A replace finds
the old copy recorded and leaves it to the engine's delete, after the new one completed (the new copy first).

A left copy is adopted only if it is what the inputs ask for now: each copy is tagged with a digest of the request
that shapes it (source, encryption, key, description, time-based duration; the destination is where it is looked
for), and one with another digest, or one EC2 failed (`error`), is never adopted. Such a copy of the same source is
this resource's own (its token, never recorded), so it is deleted; one EC2 will not delete yet stays tagged and is
named in a warning.

Another account copies a snapshot only once it is shared with it (EBS user guide, "Copy an Amazon EBS snapshot"):
the copy shares the source (createVolumePermission) with the destination account when the source is the source
account's own and not shared with it by its user, records that on the source (a holder tag per resource,
`copy_shares`), and removes the share, and only one of ours, once no copy of ours needs it: after the copy completed
or failed; a copy still pending when the create gave up keeps it until the next run adopts the copy, or the
resource's delete. A source encrypted with the default EBS key cannot be shared (EC2 API reference,
ModifySnapshotAttribute): that is refused before anything is changed, saying what to do instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.core import copy_shares, waiting
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED, RESOURCE_TAG, resource_token, say
from snapshot_provider.ec2 import cancel, clients, find, permissions, snapshots
from snapshot_provider.ec2.errors import SnapshotFailed, SnapshotProviderError, SnapshotTimedOut, error_code, explain
from snapshot_provider.inputs.declarations import ACCOUNT_FIELDS, URN_INPUT, AccountSelection
from snapshot_provider.inputs.rules import contains_unknown
from snapshot_provider.inputs.schema import Failure
from snapshot_provider.inputs.snapshot_copy import parse
from snapshot_provider.process.engine_log import engine_log

PENDING = "pending"
SOURCE_TAG = "pulumi-snapshot:copy-of"
REQUEST_TAG = "pulumi-snapshot:copy-request"
"""A digest of the CopySnapshot parameters that shape the copy: a left copy is adopted only when it matches."""


def copy_request(inputs: Mapping[str, Any], token: str) -> dict[str, Any]:
    """CopySnapshot's parameters for the inputs (sent to the destination region's endpoint)."""
    request = _shaping_request(inputs)
    request["TagSpecifications"] = snapshots.tag_specifications(
        {
            **(inputs.get("tags") or {}),
            RESOURCE_TAG: token,
            ATTEMPT_TAG: PENDING,
            SOURCE_TAG: inputs["source_snapshot_id"],
            REQUEST_TAG: request_digest(inputs),
        }
    )
    return request


def request_digest(inputs: Mapping[str, Any]) -> str:
    """The digest of what shapes the copy (tags do not: they are changed in place)."""
    shaping = json.dumps(_shaping_request(inputs), sort_keys=True)
    return hashlib.sha256(shaping.encode()).hexdigest()[:32]


def _shaping_request(inputs: Mapping[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "SourceRegion": inputs.get("source_region") or inputs["region"],
        "SourceSnapshotId": inputs["source_snapshot_id"],
    }
    if inputs.get("description"):
        request["Description"] = inputs["description"]
    if inputs.get("encrypted") or inputs.get("kms_key_id"):
        request["Encrypted"] = True
    if inputs.get("kms_key_id"):
        request["KmsKeyId"] = inputs["kms_key_id"]
    if inputs.get("completion_duration_minutes"):
        request["CompletionDurationMinutes"] = int(inputs["completion_duration_minutes"])
    return request


def unrecorded_copy(ec2: Any, token: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy an earlier create of this resource asked for with these inputs and never recorded (the newest), if EC2
    lists one that has not failed."""
    return next((copy for copy in _unrecorded(ec2, token, inputs) if _adoptable(copy, inputs)), None)


def _unrecorded(ec2: Any, token: str, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """This resource's copies of the same source never recorded. Another source's are left alone: a series copies
    many points under one token, each adopting its own."""
    found = snapshots.find_tagged(ec2, RESOURCE_TAG, token)
    source = inputs["source_snapshot_id"]
    return [
        dict(s)
        for s in found
        if snapshots.tag_value(s, ATTEMPT_TAG) != RECORDED and snapshots.tag_value(s, SOURCE_TAG) == source
    ]


def _adoptable(copy: Mapping[str, Any], inputs: Mapping[str, Any]) -> bool:
    # A failed copy is never adopted (EC2 API reference, Snapshot: `error` is final): a retry would only fail again.
    return copy.get("State") != "error" and snapshots.tag_value(copy, REQUEST_TAG) == request_digest(inputs)


def left_copy(ec2: Any, token: str, inputs: Mapping[str, Any], urn: Any) -> dict[str, Any] | None:
    """The copy to adopt (as `unrecorded_copy`), after deleting this resource's unrecorded copies of the same source
    that will never be adopted (failed, or made for other inputs): they are its own, never in state. One EC2 will not
    delete now stays tagged (the next create tries again) and is named in a warning."""
    left = _settled(ec2, token, inputs, _unrecorded(ec2, token, inputs), urn)
    for copy in left:
        if _adoptable(copy, inputs):
            continue
        copy_id = copy["SnapshotId"]
        why = "EC2 failed it" if copy.get("State") == "error" else "it was made for other inputs than these"
        try:
            with contextlib.suppress(find.NotFound):  # gone already
                snapshots.delete_snapshot(ec2, copy_id)
        except (SnapshotProviderError, ClientError, BotoCoreError) as error:
            engine_log().warning(
                urn,
                f"copy {copy_id}, left by an earlier run of this resource, is not used ({why}) and could not be "
                f"deleted now ({error}); it stays tagged {RESOURCE_TAG} and the next `pulumi up` deletes it",
            )
            continue
        say(urn, f"deleted copy {copy_id}, left by an earlier run of this resource: {why}")
    return next((copy for copy in left if _adoptable(copy, inputs)), None)


def _settled(
    ec2: Any, token: str, inputs: Mapping[str, Any], left: list[dict[str, Any]], urn: Any
) -> list[dict[str, Any]]:
    """`left` as it really is. A completed copy not tagged `recorded` may have been recorded moments ago (a replace
    right after its create: EC2 shows a new tag only after a delay, "Eventual consistency in the Amazon EC2 API"), so
    it is looked at again a full consistency window later; adopting or deleting it would take a copy state records
    (MODEL-LC1). A pending or failed copy was never recorded: `recorded` is written once a copy completed."""
    completed = {c["SnapshotId"] for c in left if c.get("State") == "completed"}
    if not completed:
        return left
    window = waiting.consistency_window()
    ids = ", ".join(sorted(completed))
    say(
        urn,
        f"looking at copy {ids} again in {window:g}s: completed and not recorded as EC2 lists it now, it may "
        "have been recorded moments ago",
    )
    cancel.pause(window, f"to look at copy {ids} again")
    again = {c["SnapshotId"]: c for c in _unrecorded(ec2, token, inputs)}
    return [again[c["SnapshotId"]] for c in left if c["SnapshotId"] in again]


def source_account(inputs: Mapping[str, Any]) -> AccountSelection:
    """Where a SnapshotCopy's source is: its base credentials (without the destination's role) in `source_region`."""
    values = {name: inputs.get(name) for name in ACCOUNT_FIELDS}
    values.update(region=inputs.get("source_region") or inputs["region"], role_arn=None, external_id=None)
    return AccountSelection.from_props({**values, "allowed_account_ids": None})


def create_copy(
    inputs: Mapping[str, Any], source: AccountSelection | None = None
) -> tuple[str, dict[str, Any], str, float]:
    """Copy (or adopt the copy an interrupted create left), wait until `completed`, mark it recorded; the source is
    shared with the destination account for the copy when it is another (`source`: where the source snapshot is;
    unset: `source_account(inputs)`).

    Returns the copy's id, its DescribeSnapshots entry, the destination account and the seconds waited."""
    account = AccountSelection.from_props(inputs)
    account_id = clients.ensure_allowed_account(account)
    if source is None and not inputs.get("role_arn"):  # the same credentials: the same account, nothing to share
        return _copy_and_wait(inputs, account, account_id)
    with shared_for_copy(source or source_account(inputs), account_id, inputs):
        return _copy_and_wait(inputs, account, account_id)


def _copy_and_wait(
    inputs: Mapping[str, Any], account: AccountSelection, account_id: str
) -> tuple[str, dict[str, Any], str, float]:
    ec2 = clients.client(account)
    urn = inputs.get(URN_INPUT)
    token = resource_token(str(urn))
    started_at, asked_at = time.monotonic(), time.time()
    left = left_copy(ec2, token, inputs, urn)
    if left is not None:
        copy_id = left["SnapshotId"]
        asked_at = snapshots.aware(left["StartTime"]).timestamp() if left.get("StartTime") else asked_at
        say(urn, f"adopting copy {copy_id}, asked for by an earlier run of this resource that did not record it")
    else:
        # One attempt: botocore's own retry of a request whose answer was lost would make a second copy.
        copy_id = _ask_for_copy(clients.client(account, single_attempt=True), ec2, inputs, token, urn)
    say(urn, f"waiting for copy {copy_id} of {inputs['source_snapshot_id']} to complete in {account.region}")
    try:
        statuses = waiting.wait_for(account, [copy_id], float(inputs["timeout"]), started_at, _progress(urn, copy_id))
    except waiting.WaitTimedOut as error:
        raise timed_out(copy_id, error) from error
    ec2 = clients.client(account)  # the wait may have renewed the credentials
    status = statuses[copy_id]
    if status.state != "completed":
        raise SnapshotFailed(
            f"copy {copy_id} of {inputs['source_snapshot_id']} ended in state {status.state}: "
            f"{status.state_message or 'EC2 gave no reason'}. {_discard_failed(ec2, copy_id)} run `pulumi up` again "
            "to retry (a retry makes a fresh copy; a failed one is never adopted)."
        )
    snapshots.set_tags(ec2, [copy_id], {ATTEMPT_TAG: RECORDED})
    found = snapshots.which_exist(ec2, [copy_id], "reading the copy").get(copy_id, {"SnapshotId": copy_id})
    return copy_id, found, account_id, snapshots.wait_seconds(status.observed_at, asked_at)


@contextmanager
def shared_for_copy(source: AccountSelection, destination_id: str, inputs: Mapping[str, Any]) -> Iterator[None]:
    """Share the source snapshot with the destination account for the copy, if it is another account's copy of the
    source account's own snapshot not shared with it by its user (`copy_shares`: the share recorded on the source by
    this resource's holder tag); end that holding once the copy ended (completed, failed, or never asked for). A copy
    still pending (the create gave up at its timeout, was cancelled, or lost track of its request) keeps it: the next
    `up` adopts the copy and ends it, or the resource's delete does. A snapshot of another owner is its owner's to
    share (CopySnapshot says it is not found until then)."""
    planned = planned_share(source, destination_id, inputs)
    if planned is None:
        yield
        return
    share, snapshot = planned
    try:
        held = copy_shares.hold(share, snapshot)
    except copy_shares.ShareRefused as refused:
        raise SnapshotProviderError(_share_refused(refused.cause, snapshot, destination_id)) from refused.cause
    if not held:
        yield
        return
    try:
        yield
    except (SnapshotFailed, CopyRefused):  # no copy of ours pending: the holding ends
        copy_shares.release_or_warn(share)
        raise
    except SnapshotTimedOut as cut:  # pending: the share stays, and the user is told, as they may never run again
        raise SnapshotTimedOut(f"{cut}. {_stays_shared(share)}") from cut
    copy_shares.release_or_warn(share)


def planned_share(
    source: AccountSelection, destination_id: str, inputs: Mapping[str, Any]
) -> tuple[copy_shares.Share, dict[str, Any]] | None:
    """The share of the source a copy into `destination_id` needs, with the source's DescribeSnapshots entry; None
    when it needs none: the same account, or a snapshot of another owner (its owner's to share)."""
    source_id, urn = inputs["source_snapshot_id"], inputs.get(URN_INPUT)
    owner_id = clients.caller_account_id(source)
    if owner_id == destination_id:
        return None
    ec2 = clients.client(source)
    snapshot = snapshots.which_exist(ec2, [source_id], "reading the source snapshot").get(source_id)
    if snapshot is None or snapshot.get("OwnerId") != owner_id:
        return None
    share = copy_shares.Share(source, source_id, destination_id, inputs["region"], resource_token(str(urn)), urn)
    return share, dict(snapshot)


def denied_at_preview(props: Mapping[str, Any]) -> list[Failure]:
    """`permission_check=True`: every call of the create's plan EC2 can answer with DryRun (`ec2.permissions`), with
    the requests the create sends: DescribeSnapshots, CopySnapshot tagged at creation, the `recorded` tag on the copy;
    for another account's copy, the share of the source and its holder tag, asked with the source's credentials."""
    if contains_unknown(props):
        return []  # depends on resources not created yet (at any depth): checked at the preview where they are known
    inputs = parse(props)
    return permissions.check_plan(inputs, lambda: _copy_asked(inputs))


def _copy_asked(inputs: Mapping[str, Any]) -> list[Failure]:
    """Every call of the copy's plan, in its order."""
    token = resource_token(str(inputs.get(URN_INPUT)))
    found = [
        *permissions.check_reads(inputs, "source_snapshot_id", ["DescribeSnapshots"]),  # the wait, in the destination
        *permissions.check_copy(inputs, copy_request(inputs, token)),
        *permissions.check_tagging_snapshot(inputs, "source_snapshot_id", {ATTEMPT_TAG: RECORDED}),
    ]
    if not inputs.get("role_arn"):
        return found
    try:
        destination_id = clients.caller_account_id(AccountSelection.from_props(inputs))
        planned = planned_share(source_account(inputs), destination_id, inputs)
        shared = planned is not None and copy_shares.shared_by_user(planned[0], planned[1])
    except SnapshotProviderError as error:
        return [*found, Failure("role_arn", f"checking the share of the source with the destination account: {error}")]
    if planned is None or shared:
        return found  # no share of ours: the copy touches the source not at all
    share = planned[0]
    return [*found, *permissions.check_sharing(inputs, share.source, share.permission, share.key)]


def _stays_shared(share: copy_shares.Share) -> str:
    return (
        f"{share.source_id} stays shared with account {share.destination_id} until the copy ends: the next `pulumi "
        f"up` or `pulumi destroy` of this resource ends that share (recorded on the source as {share.key}); if the "
        f"resource is taken out of the program instead, end it by hand: {copy_shares.ending_by_hand(share)}"
    )


class CopyRefused(SnapshotProviderError):
    """EC2 refused CopySnapshot: no copy was made."""


def end_holding(
    inputs: Mapping[str, Any],
    destination_id: str,
    token: str,
    *,
    unless_pending: bool,
    source: AccountSelection | None = None,
) -> None:
    """End this resource's holding of its source's share with the destination account, if a create cut short left
    one (its holder tag on the source): at the resource's delete, at an update once no copy of it is pending
    (`unless_pending`), or once a series target is taken out (`source`: as `create_copy`'s). Whatever fails is said
    in a warning: the copy itself is not at stake."""
    if not inputs.get("role_arn"):
        return
    urn = inputs.get(URN_INPUT)
    share = copy_shares.Share(
        source or source_account(inputs), inputs["source_snapshot_id"], destination_id, inputs["region"], token, urn
    )
    try:
        if not copy_shares.held_by(share):
            return
        if unless_pending:
            ec2 = clients.client(AccountSelection.from_props(inputs))
            if any(c.get("State") == PENDING for c in _unrecorded(ec2, token, inputs)):
                return
    except SnapshotProviderError as error:
        engine_log().warning(urn, f"could not look whether this copy still holds its source's share: {error}")
        return
    copy_shares.release_or_warn(share)


def _share_refused(error: BaseException, snapshot: Mapping[str, Any], account_id: str) -> str:
    source_id = snapshot["SnapshotId"]
    said = explain(error, "sharing the source with the destination account (ec2:ModifySnapshotAttribute)")
    if not snapshot.get("Encrypted") or error_code(error) not in ("OperationNotPermitted", "InvalidParameter"):
        return f"{said}. Nothing was copied."
    return (
        f"cannot copy {source_id} to account {account_id}: it is encrypted with {snapshot.get('KmsKeyId')}, and EC2 "
        f"refused to share it ({said}): a snapshot encrypted with the account's default EBS key (aws/ebs, AWS "
        "managed) cannot be shared with another account (EC2 API reference, ModifySnapshotAttribute). Nothing was "
        "changed. Re-encrypt it with a customer managed key (a SnapshotCopy in its own account and region with "
        f"kms_key_id), let account {account_id} use that key (its key policy: kms:Decrypt, kms:DescribeKey, "
        "kms:CreateGrant), and copy that snapshot."
    )


def _discard_failed(ec2: Any, copy_id: str) -> str:
    """Delete a copy EC2 failed (this resource's own, never recorded): what happened, as a sentence."""
    try:
        with contextlib.suppress(find.NotFound):
            snapshots.delete_snapshot(ec2, copy_id)
    except (SnapshotProviderError, ClientError, BotoCoreError) as error:
        return f"It could not be deleted now ({error}); the next `pulumi up` deletes it first, then"
    return "It was deleted (it cannot be used);"


def _ask_for_copy(once: Any, ec2: Any, inputs: Mapping[str, Any], token: str, urn: Any) -> str:
    try:
        return str(once.copy_snapshot(**copy_request(inputs, token))["SnapshotId"])
    except (ClientError, BotoCoreError) as error:
        if not snapshots.is_ambiguous(error):
            raise CopyRefused(
                explain(error, "copying the snapshot (ec2:CopySnapshot)", snapshot_id=inputs["source_snapshot_id"])
            ) from error
        # The request may have made a copy: look for it (EC2 lists it after a delay) instead of asking again.
        found = waiting.until(
            lambda: unrecorded_copy(ec2, token, inputs),
            lambda copy: copy is not None,
            waiting.consistency_window(),
            what="for EC2 to list the copy a lost CopySnapshot answer may have made",
            every=1.0,
            most=10.0,
        )
        if found is None:
            raise SnapshotProviderError(
                explain(error, "copying the snapshot (ec2:CopySnapshot)", snapshot_id=inputs["source_snapshot_id"])
                + " EC2 lists no copy made by it; run `pulumi up` again (a copy that appears later is adopted, never "
                "made twice)."
            ) from error
        say(urn, f"CopySnapshot's answer was lost; found the copy it made: {found['SnapshotId']}")
        return str(found["SnapshotId"])


def _progress(urn: Any, copy_id: str) -> Any:
    def report(progress: dict[str, int]) -> None:
        say(urn, f"copy {copy_id}: {progress.get(copy_id, 0)}%")

    return report


def timed_out(copy_id: str, error: BaseException) -> SnapshotTimedOut:
    return SnapshotTimedOut(
        f"copy {copy_id} was still pending when the timeout ran out ({error}); it was left as it is, tagged as this "
        "resource's: the next `pulumi up` adopts it instead of copying again (if the inputs that shape the copy "
        "changed meanwhile, it deletes it and copies again)"
    )
