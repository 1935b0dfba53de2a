"""The one place that makes AWS clients (region, profile, assumed role, endpoints, retry policy), and that decides
which account the provider acts in.

Credentials come only from the standard chain (environment, shared config/credentials files and profiles, SSO,
container and instance roles), optionally through an assumed role; never from resource inputs, so they never reach
Pulumi state. Endpoints: `endpoint_url` is EC2's alone; STS (GetCallerIdentity, AssumeRole) is another service with
its own endpoint, `sts_endpoint_url`, else what botocore's configuration says (`AWS_ENDPOINT_URL_STS`, the shared
config's `services` section, `AWS_ENDPOINT_URL`). A VPC endpoint for EC2 does not serve STS.

Accounts: a snapshot lives in one account and never moves. State records it (`account_id`); every operation on an
existing resource first checks with STS that the credentials act there (`ensure_recorded_account`), so that another
account's "not found" is never taken for "deleted", and new access settings are an update in place, never a reason to
take the snapshots again.

A provider process serves many resources at once (one thread each), so sessions, clients and the caller's account
id are made once per account selection and shared: boto3 clients are thread-safe once built, building them is not.
They are keyed by the AWS_* environment too, since that is where the credential chain starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, NoCredentialsError

from snapshot_provider.ec2 import pacing
from snapshot_provider.ec2.errors import AccountMismatch, AccountNotAllowed, aws_errors
from snapshot_provider.inputs import rules
from snapshot_provider.inputs.declarations import AccountSelection

# botocore's standard retries: throttling (RequestLimitExceeded), 5xx and dropped connections are retried with
# exponential backoff and jitter, for every call. 20 attempts ride out even 60% throttling (0.6^20 < 1e-4).
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 20},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=64,  # many resources wait in one process
    user_agent_extra="pulumi-ebs-snapshot-provider",
)

# The non-idempotent calls (CreateSnapshot, CreateSnapshots) must not be retried blindly: a retry after a lost
# response would take a second snapshot. They use this config, and `snapshots.create_once` retries them only
# after checking that the first attempt left nothing behind.
SINGLE_ATTEMPT_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

# A preview's DryRuns (`permissions`) ask a question, whose answer can wait for the next preview: an endpoint that
# cannot be reached fails them in seconds, where 20 attempts with backoff would hold the preview for minutes.
PREVIEW_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 3}))

DEFAULT_SESSION_NAME = "pulumi-ebs-snapshot"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OncePerKey(Generic[K, V]):
    """Values made once per key. Concurrent callers for one key wait for the first maker; other keys proceed. A
    failed make is not remembered (the next caller tries again)."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._key_locks: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()

    def peek(self, key: K) -> V | None:
        """The value made for `key`, or None if none was made yet."""
        return self._values.get(key)

    def get(self, key: K, make: Callable[[], V]) -> V:
        if key in self._values:
            return self._values[key]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._values[key] = value

    def forget(self, matching: Callable[[K], bool]) -> None:
        """Drop the values whose key matches: the next `get` makes them again."""
        with self._lock:
            for key in [k for k in self._values if matching(k)]:
                del self._values[key]


_sessions: OncePerKey[tuple[AccountSelection, Any], boto3.Session] = OncePerKey()
_clients: OncePerKey[tuple[AccountSelection, Any, str, Config], Any] = OncePerKey()
_account_ids: OncePerKey[tuple[AccountSelection, Any], str] = OncePerKey()
_base_methods: dict[tuple[AccountSelection, Any], str | None] = {}


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


def session_for(account: AccountSelection) -> boto3.Session:
    """A boto3 session for this account selection, shared within the process (boto3 sessions are costly)."""
    return _sessions.get((account, _environment()), lambda: _new_session(account))


def client(account: AccountSelection, service: str = "ec2", *, single_attempt: bool = False) -> Any:
    """The process's client for this account selection and service (thread-safe to share once built). EC2 clients
    are paced by the process's token buckets (`pacing`)."""
    return _client(account, service, SINGLE_ATTEMPT_CONFIG if single_attempt else RETRY_CONFIG)


def preview_client(account: AccountSelection) -> Any:
    """The process's EC2 client for a preview's DryRuns: as `client`, with few attempts (PREVIEW_CONFIG)."""
    return _client(account, "ec2", PREVIEW_CONFIG)


def _client(account: AccountSelection, service: str, config: Config) -> Any:
    environment = _environment()

    def make() -> Any:
        made = session_for(account).client(
            service,  # type: ignore[call-overload]
            region_name=account.region,
            endpoint_url=endpoint_for(account, service),
            config=config,
        )
        if service == "ec2":
            pacing.install(made, lambda: _pacing_account(account, environment))
        return made

    return _clients.get((account, environment, service, config), make)


def _pacing_account(account: AccountSelection, environment: Any) -> tuple[Any, str]:
    """Whose EC2 buckets a request spends: the account's, once STS named it (every create, update and delete asks
    first), else the account selection's."""
    return (_account_ids.peek((account, environment)) or account, account.region)


def resolve_credentials(account: AccountSelection) -> None:
    """Resolve this account selection's credentials now, before any call made with them (for `role_arn`: the role
    assumed), so that a problem with them is told apart from the calls': NoCredentialsError when there are none (a
    SnapshotProviderError saying so when a role has none to be assumed with), STS's ClientError when the role cannot
    be assumed."""
    credentials = session_for(account).get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    credentials.get_frozen_credentials()


def renew_credentials(account: AccountSelection) -> bool:
    """Resolve the credential chain again, after the credentials in use stopped working: True when it yields others
    that work (a shared credentials file rewritten, an SSO login, a credential process, a role assumed again), which
    later calls then use. Static keys in the environment are the same keys: False."""
    key = (account, _environment())
    current = _frozen(session_for(account))
    try:
        fresh = _new_session(account)
        renewed = _frozen(fresh)
    except Exception:  # still expired, no credentials: nothing better to offer
        return False
    if renewed is None or renewed == current:
        return False
    _sessions.put(key, fresh)
    _clients.forget(lambda k: k[:2] == key)
    return True


def _frozen(session: boto3.Session) -> tuple[str | None, str | None, str | None] | None:
    credentials = session.get_credentials()
    if credentials is None:
        return None
    try:
        frozen = credentials.get_frozen_credentials()
    except Exception:  # expired and not renewable
        return None
    return (frozen.access_key, frozen.secret_key, frozen.token)


def credentials_expire_at(account: AccountSelection) -> datetime | None:
    """When the credentials stop working for good, if they cannot be renewed and say when: session keys in the
    environment with `AWS_CREDENTIAL_EXPIRATION` (what botocore reads; CI recipes can export it). For `role_arn`, the
    role's session is renewed, but only while those base keys last. None otherwise (renewable, or no expiry known)."""
    session_for(account)  # resolves the chain once per process, noting where the base credentials came from
    expiry = os.environ.get("AWS_CREDENTIAL_EXPIRATION")
    if _base_methods.get((account, _environment())) != "env" or not expiry:
        return None
    try:
        moment = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def endpoint_for(account: AccountSelection, service: str) -> str | None:
    """The endpoint input for `service`, or None: botocore then follows its own configuration for that service."""
    return {"ec2": account.get("endpoint_url"), "sts": account.get("sts_endpoint_url")}.get(service)


def _new_session(account: AccountSelection) -> boto3.Session:
    profile = account.get("profile")
    with aws_errors("loading AWS credentials", profile=profile):
        base = botocore.session.Session(profile=profile)
        base_credentials = base.get_credentials()
        # Where they came from: session keys from the environment are the ones nothing can renew.
        _base_methods[(account, _environment())] = getattr(base_credentials, "method", None)
        if account.get("role_arn") is None:
            return boto3.Session(botocore_session=base, region_name=account.region)
        if base_credentials is None:  # botocore's fetcher would fail on them later with an AttributeError
            raise NoCredentialsError()
        # Refreshable assumed-role credentials: a multi-hour wait outlives the role session's default hour.
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=_sts_client_creator(base, account),
            source_credentials=base_credentials,
            role_arn=account.get("role_arn"),
            extra_args=_assume_role_args(account),
        )
        assumed = botocore.session.Session(profile=profile)
        # botocore has no public setter for refreshable credentials; this is how its own providers install them.
        assumed._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        return boto3.Session(botocore_session=assumed, region_name=account.region)


def _assume_role_args(account: AccountSelection) -> dict[str, str]:
    args = {"RoleSessionName": account.get("role_session_name") or DEFAULT_SESSION_NAME}
    if account.get("external_id"):
        args["ExternalId"] = account.get("external_id")
    return args


def _sts_client_creator(base: botocore.session.Session, account: AccountSelection) -> Any:
    def create(service_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("region_name", account.region)
        if endpoint_for(account, service_name):
            kwargs["endpoint_url"] = endpoint_for(account, service_name)
        kwargs["config"] = RETRY_CONFIG
        return base.create_client(service_name, **kwargs)

    return create


def caller_account_id(account: AccountSelection) -> str:
    """The account the credentials act in (STS GetCallerIdentity): once per process and account selection."""

    def identify() -> str:
        with aws_errors("identifying the AWS account (sts:GetCallerIdentity)", region=account.region):
            return str(client(account, "sts").get_caller_identity()["Account"])

    return _account_ids.get((account, _environment()), identify)


def ensure_allowed_account(account: AccountSelection) -> str:
    """Refuse before any change when the credentials act in an account outside `allowed_account_ids`."""
    account_id = caller_account_id(account)
    allowed = account.get("allowed_account_ids") or ()
    if allowed and account_id not in allowed:
        raise AccountNotAllowed(account_id, tuple(allowed))
    return account_id


def partition(region: str) -> str:
    """The ARN partition of a region, from botocore's data (see `rules.partition_of`)."""
    return rules.partition_of(region) or "aws"


def snapshot_arn(region: str, snapshot_id: str) -> str:
    return f"arn:{partition(region)}:ec2:{region}::snapshot/{snapshot_id}"


# --- the account a resource's snapshots live in -------------------------------------------------------------------
def recorded_account(props: Mapping[str, Any]) -> str | None:
    """The account state records for a resource's snapshots; for older state without `account_id`, the account of
    its role, if any."""
    recorded = props.get("account_id")
    return str(recorded) if recorded else rules.role_account(props.get("role_arn"))


def refuse_account_change(olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """At diff, so at preview and without credentials: refuse new access settings that are known, from the inputs
    alone, to act in another account than the one state records (a role ARN names its account). Settings only STS
    can place (a profile, other credentials) are checked when the update runs (`ensure_recorded_account`)."""
    recorded = recorded_account(olds)
    if recorded is None:
        return
    role = news.get("role_arn")
    role_account = None if rules.is_unknown(role) else rules.role_account(role)
    if role_account is not None and role_account != recorded:
        raise AccountMismatch(_refused("update", recorded, role_account, f"role_arn {role}"))
    allowed = news.get("allowed_account_ids") or []
    known = not rules.is_unknown(allowed) and not any(rules.is_unknown(a) for a in allowed)
    if allowed and known and recorded not in allowed:
        raise AccountNotAllowed(recorded, tuple(allowed))


def ensure_recorded_account(account: AccountSelection, recorded: str | None, action: Action) -> str:
    """The account the credentials act in, once checked (STS) to be allowed and the one state records; else refuse
    before anything is changed or concluded. `recorded` None (state older than `account_id`): allowed is enough."""
    account_id = ensure_allowed_account(account)
    if recorded is not None and account_id != recorded:
        raise AccountMismatch(_refused(action, recorded, account_id, credentials_in_use(account)))
    return account_id


def credentials_in_use(account: AccountSelection) -> str:
    """Which credentials act, in words: the role, the profile, or the standard chain (with AWS_PROFILE if set)."""
    if account.get("role_arn"):
        return f"role_arn {account.get('role_arn')}"
    if account.get("profile"):
        return f"profile {account.get('profile')}"
    if os.environ.get("AWS_PROFILE"):
        return f"the credentials of AWS_PROFILE={os.environ['AWS_PROFILE']}"
    return "the credentials in use (the standard chain: AWS_* variables, shared files, instance or container role)"


def chain_role(account: AccountSelection) -> str | None:
    """The role the standard chain itself assumes, when its configuration names one: the profile's `role_arn` in the
    shared config (with source_profile or credential_source), else AWS_ROLE_ARN (a web identity)."""
    try:
        config = botocore.session.Session(profile=account.get("profile")).get_scoped_config()
    except BotoCoreError:  # no such profile: resolving the credentials says so
        config = {}
    return config.get("role_arn") or os.environ.get("AWS_ROLE_ARN")


Action = Literal["update", "refresh", "delete"]
CREDENTIALS_FOR = "AWS_PROFILE or AWS_* variables for that account, or the resource's profile / role_arn"


def _refused(action: Action, recorded: str, actual: str, credentials: str) -> str:
    where = (
        f"this resource's snapshots are in AWS account {recorded} (as state records), and {credentials} act in "
        f"account {actual}"
    )
    if action == "update":
        return (
            f"refusing the new access settings: {where}. A snapshot cannot move between accounts, so nothing was "
            f"changed. Set profile / role_arn (or the credentials) back to ones that act in account {recorded}; to "
            f"take snapshots in account {actual} instead, declare a new resource with these settings (and `pulumi "
            f"destroy` this one with credentials for account {recorded})."
        )
    if action == "refresh":
        return (
            f"refusing to refresh: {where}, where the snapshots cannot be seen and would look deleted. Nothing was "
            f"changed in state. Run `pulumi refresh` (or `pulumi up --refresh`) again with credentials for account "
            f"{recorded} ({CREDENTIALS_FOR})."
        )
    return (
        f"refusing to delete: {where}. Nothing was deleted: the snapshots are still in account {recorded}. Run "
        f"`pulumi destroy` again with credentials for account {recorded} ({CREDENTIALS_FOR})."
    )
