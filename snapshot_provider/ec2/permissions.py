"""Permission checks at preview, without side effects: EC2's DryRun answers whether a create would be allowed.

Opt-in per resource (`permission_check=True`): previews then need credentials able to call the DryRun, which a
pull-request pipeline with read-only credentials would be refused. Each function asks about one step of a create's
plan, with the request that step sends where it is known at preview (the caller, in `core`, builds it with the same
function the create uses), reads included. SSM's SendCommand (`consistency: frozen`) has no DryRun: it is not asked.
They are asked through `clients.preview_client` (few attempts), and an answer every call would get (credentials
refused, no endpoint reached) ends the check with one failure (`check_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore import exceptions, xform_name
from botocore.exceptions import BotoCoreError, ClientError

from snapshot_provider.ec2 import clients
from snapshot_provider.ec2.errors import CREDENTIAL_CODES, STILL_EXPIRED, SnapshotProviderError, explain
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.schema import Failure

ALLOWED = "DryRunOperation"  # EC2's answer to a DryRun that would have succeeded
DENIED = ("UnauthorizedOperation", "AccessDenied")
REFUSED = CREDENTIAL_CODES - set(DENIED)
"""EC2's answers to credentials it does not accept (expired, unknown): every other call would get the same."""
UNANSWERED = (exceptions.ConnectionError, exceptions.HTTPClientError)
"""botocore's errors for a request that got no answer (endpoint not reached, connection dropped, timed out)."""


# EC2 user guide, "Grant permission to tag Amazon EC2 resources during creation": a create that tags what it makes
# (TagSpecifications) is authorized on ec2:CreateTags too, and refused whole without it.
TAGGING_AT_CREATION = (
    "the request tags the snapshot at creation, so it needs ec2:CreateTags too (a policy may allow it for the create "
    "alone, with the condition ec2:CreateAction)"
)


class Unanswered(Exception):
    """An answer that every other call of the plan would get too (the credentials refused, the endpoint not reached):
    the check stops there, with this one failure (`failure`)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.reason)
        self.failure = failure


def check_plan(props: Mapping[str, Any], plan: Callable[[], list[Failure]]) -> list[Failure]:
    """The failures of a create's `plan` (its checks, run in order), once its credentials resolved
    (`check_credentials`); only the first when it would be every call's (`Unanswered`)."""
    if credentials := check_credentials(props):
        return credentials  # no call of the plan can be asked
    try:
        return plan()
    except Unanswered as stop:
        return [stop.failure]


def check_credentials(props: Mapping[str, Any]) -> list[Failure]:
    """The credentials every DryRun is asked with, resolved once before them (for `role_arn`, the role assumed): a
    problem with them is one failure that says so, not one per call blaming an EC2 action."""
    account = AccountSelection.from_props(props)
    try:
        clients.resolve_credentials(account)
    except ClientError as error:  # only assuming a role calls AWS here: STS refused it
        if account.get("role_arn"):
            return [Failure("role_arn", _unassumable(str(account.get("role_arn")), account.get("external_id"), error))]
        return [Failure("permission_check", _chain_role_refused(account, error))]
    except (BotoCoreError, SnapshotProviderError) as error:
        reason = str(error) if isinstance(error, SnapshotProviderError) else explain(error, "loading AWS credentials")
        return [Failure("permission_check", f"{reason} They are needed to ask EC2 at preview{SKIP}")]
    except RuntimeError as error:
        if STILL_EXPIRED not in str(error):
            raise
        return [_expired(account)]
    return []


SKIP = "; or set permission_check=False to skip this check"


def _refused(why: str) -> Failure:
    return Failure(
        "permission_check",
        f"{why}, so no permission could be asked. Renew them (new session keys, `aws sso login`, or the profile or "
        f"AWS_* variables of valid ones) and preview again{SKIP}",
    )


def _expired(account: AccountSelection) -> Failure:
    """botocore's "refreshed credentials are still expired" (STILL_EXPIRED): session keys past their expiration."""
    why = f"{clients.credentials_in_use(account)} expired (session keys whose AWS_CREDENTIAL_EXPIRATION has passed)"
    return _refused(why)


def _chain_role_refused(account: AccountSelection, error: ClientError) -> str:
    """STS refused the role the standard chain assumes by itself (a profile's role_arn, AWS_ROLE_ARN): not the
    resource's role_arn, which is not set."""
    role = clients.chain_role(account)
    asked = f"sts:{error.operation_name}" + (f" on {role}" if role else "")
    credentials = clients.credentials_in_use(account)
    code = error.response.get("Error", {}).get("Code")
    if code not in DENIED:
        return f"{explain(error, f'resolving {credentials}, which assume a role ({asked})')}{SKIP}"
    return (
        f"{credentials} assume a role themselves (the profile's role_arn in the shared config, or AWS_ROLE_ARN), and "
        f"{asked} was denied ({code}: {error.response.get('Error', {}).get('Message', '')}). The role's trust policy "
        f"must allow the credentials it is assumed with (source_profile, credential_source or the web identity), and "
        f"their own policy must allow {asked}{SKIP}"
    )


def _unassumable(role: str, external_id: str | None, error: ClientError) -> str:
    assuming = f"assuming role_arn {role} (sts:AssumeRole)"
    code = error.response.get("Error", {}).get("Code")
    if code not in DENIED:
        return explain(error, assuming)
    condition = " with the condition sts:ExternalId equal to external_id" if external_id else ""
    return (
        f"{assuming} was denied ({code}: {error.response.get('Error', {}).get('Message', '')}). The role's trust "
        f"policy must name the credentials in use (their account or ARN) as a Principal allowed sts:AssumeRole"
        f'{condition}, and their own policy must allow sts:AssumeRole on {role} (IAM user guide, "Troubleshooting '
        f'IAM roles"){SKIP}'
    )


CREATES = {"CreateSnapshot": "volume_id", "CreateSnapshots": "instance_id"}
"""The calls that start a resource's snapshots, with the input naming what they snapshot."""


def check_reads(props: Mapping[str, Any], prop: str, actions: Sequence[str]) -> list[Failure]:
    """The Describe calls (`actions`: "DescribeSnapshots"...) the create reads with. EC2 authorizes them on no
    resource (Service Authorization Reference: their resource type is `*`), so they are asked without ids."""
    return [failure for action in actions for failure in _dry_run(props, prop, f"ec2:{action}", _describe(action))]


def _describe(action: str) -> Callable[[Any], Any]:
    return lambda ec2: getattr(ec2, xform_name(action))(DryRun=True)


def check_create(props: Mapping[str, Any], action: str, request: Mapping[str, Any]) -> list[Failure]:
    """CreateSnapshot or CreateSnapshots (`action`) as the create sends it (`request`: with its TagSpecifications)."""
    prop = CREATES[action]
    return _dry_run(
        props,
        prop,
        f"ec2:{action} on {props[prop]}",
        lambda ec2: getattr(ec2, xform_name(action))(**request, DryRun=True),
        fix=TAGGING_AT_CREATION if request.get("TagSpecifications") else "",
    )


PLACEHOLDER_SNAPSHOT = "snap-00000000000000000"
"""LockSnapshot and UnlockSnapshot need a snapshot, which a create's preview does not have yet: they are asked about
this id, and only a denial (UnauthorizedOperation) is taken as an answer (a NotFound says nothing of permissions)."""


def check_lock(props: Mapping[str, Any]) -> list[Failure]:
    """For a resource that declares `lock`: DescribeLockedSnapshots, LockSnapshot, and UnlockSnapshot when the lock
    can ever be removed (governance, or compliance with a cooling-off period)."""
    lock = props.get("lock")
    if not isinstance(lock, Mapping):
        return []
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("ec2:DescribeLockedSnapshots", lambda ec2: ec2.describe_locked_snapshots(DryRun=True)),
        (
            "ec2:LockSnapshot",
            lambda ec2: ec2.lock_snapshot(
                SnapshotId=PLACEHOLDER_SNAPSHOT, LockMode=str(lock.get("mode")), LockDuration=1, DryRun=True
            ),
        ),
    ]
    if lock.get("mode") == "governance" or lock.get("cool_off_hours"):
        calls.append(
            ("ec2:UnlockSnapshot", lambda ec2: ec2.unlock_snapshot(SnapshotId=PLACEHOLDER_SNAPSHOT, DryRun=True))
        )
    return [failure for action, call in calls for failure in _dry_run(props, "lock", action, call, unknown_ok=True)]


def check_tagging_snapshot(props: Mapping[str, Any], prop: str, tags: Mapping[str, str]) -> list[Failure]:
    """CreateTags on the new snapshot once made (`tags`: what the create writes then, e.g. `recorded`), asked about
    PLACEHOLDER_SNAPSHOT: only a denial is an answer."""
    return _dry_run(
        props,
        prop,
        "ec2:CreateTags on the new snapshot",
        lambda ec2: ec2.create_tags(Resources=[PLACEHOLDER_SNAPSHOT], Tags=_tag_list(tags), DryRun=True),
        unknown_ok=True,
    )


def check_archive(props: Mapping[str, Any]) -> list[Failure]:
    """ModifySnapshotTier, for a resource whose `storage_tier` is `archive` (asked about PLACEHOLDER_SNAPSHOT)."""
    if props.get("storage_tier") != "archive":
        return []
    return _dry_run(
        props,
        "storage_tier",
        "ec2:ModifySnapshotTier on the new snapshot",
        lambda ec2: ec2.modify_snapshot_tier(SnapshotId=PLACEHOLDER_SNAPSHOT, StorageTier="archive", DryRun=True),
        unknown_ok=True,
    )


def check_stopping(
    props: Mapping[str, Any], instance_id: str, holder_tag: tuple[str, str], starts_again: bool
) -> list[Failure]:
    """For `consistency: stopped`: the calls on the instance, in the order the create makes them: its stopped-by
    tag written (`holder_tag`), StopInstances, StartInstances (unless it is left stopped), the tag removed. Only a
    denial is an answer (EC2 may refuse a DryRun for the instance's state, which says nothing of permissions)."""
    tag = [{"Key": holder_tag[0], "Value": holder_tag[1]}]
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("ec2:CreateTags", lambda ec2: ec2.create_tags(Resources=[instance_id], Tags=tag, DryRun=True)),
        ("ec2:StopInstances", lambda ec2: ec2.stop_instances(InstanceIds=[instance_id], DryRun=True)),
    ]
    if starts_again:
        calls.append(("ec2:StartInstances", lambda ec2: ec2.start_instances(InstanceIds=[instance_id], DryRun=True)))
    calls.append(("ec2:DeleteTags", lambda ec2: ec2.delete_tags(Resources=[instance_id], Tags=tag, DryRun=True)))
    return [
        failure
        for action, call in calls
        for failure in _dry_run(props, "consistency", f"{action} on {instance_id}", call, unknown_ok=True)
    ]


def check_copy(props: Mapping[str, Any], request: Mapping[str, Any]) -> list[Failure]:
    """For a SnapshotCopy: CopySnapshot of its source as the create sends it (`request`: with its
    TagSpecifications), asked in the destination (its region and account)."""
    return _dry_run(
        props,
        "source_snapshot_id",
        f"ec2:CopySnapshot of {props['source_snapshot_id']}",
        lambda ec2: ec2.copy_snapshot(**request, DryRun=True),
        fix=TAGGING_AT_CREATION if request.get("TagSpecifications") else "",
    )


def check_sharing(
    props: Mapping[str, Any], source: AccountSelection, permission: Mapping[str, Any], holder_key: str
) -> list[Failure]:
    """For another account's copy of the source account's own snapshot: the calls on the source, with the source
    account's credentials (`source`): the holder tag written (CreateTags), the share added and removed
    (ModifySnapshotAttribute, `permission` its parameters), the holder tag deleted (DeleteTags)."""
    snapshot_id = permission["SnapshotId"]
    tag, key = [{"Key": holder_key, "Value": "preview"}], [{"Key": holder_key}]
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("ec2:CreateTags", lambda ec2: ec2.create_tags(Resources=[snapshot_id], Tags=tag, DryRun=True)),
        (
            "ec2:ModifySnapshotAttribute",
            lambda ec2: ec2.modify_snapshot_attribute(OperationType="add", **permission, DryRun=True),
        ),
        ("ec2:DeleteTags", lambda ec2: ec2.delete_tags(Resources=[snapshot_id], Tags=key, DryRun=True)),
    ]
    return [
        failure
        for action, call in calls
        for failure in _dry_run(
            props, "role_arn", f"{action} on the source {snapshot_id}", call, account=source, fix=SOURCE_CREDENTIALS
        )
    ]


SOURCE_CREDENTIALS = (
    "asked with the source account's credentials (the provider's own, without role_arn): they share the source with "
    "the destination account for the copy and record that on it"
)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _dry_run(
    props: Mapping[str, Any],
    prop: str,
    action: str,
    call: Callable[[Any], Any],
    unknown_ok: bool = False,
    *,
    account: AccountSelection | None = None,
    fix: str = "",
) -> list[Failure]:
    """A failure if `action` would be denied. `unknown_ok`: asked about a placeholder resource, so any answer but a
    denial says nothing. `account`: whose credentials ask (default: the resource's). `fix`: what the denial may
    need besides the action, said with it."""
    account = account or AccountSelection.from_props(props)
    where = f"{action} in {account.region}"
    doing = f"checking permissions with DryRun: {where}"
    try:
        call(clients.preview_client(account))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        message = error.response.get("Error", {}).get("Message", "")
        if code == ALLOWED:
            return []
        if code in REFUSED:
            refused = _refused(f"EC2 refused {clients.credentials_in_use(account)}: {code} ({message})")
            raise Unanswered(refused) from error
        if code in DENIED:
            return [
                Failure(
                    prop,
                    f"{where} would be denied ({code}: {message}). Grant it to the credentials in use"
                    + (f" ({fix})" if fix else "")
                    + ", or set permission_check=False to skip this check",
                )
            ]
        if unknown_ok:
            return []
        return [Failure(prop, explain(error, doing))]
    except UNANSWERED as error:
        unreached = Failure("permission_check", f"{explain(error, doing)} No other call could be asked{SKIP}")
        raise Unanswered(unreached) from error
    except BotoCoreError as error:
        return [Failure(prop, explain(error, doing))]
    except RuntimeError as error:  # the credentials expired since they were resolved
        if STILL_EXPIRED not in str(error):
            raise
        raise Unanswered(_expired(account)) from error
    return [Failure(prop, f"{where}: EC2 carried out a DryRun request; this should not happen")]
