"""The one place that makes AWS clients: region, profile, assumed role, endpoint and retry policy.

Credentials come only from the standard chain (environment, shared config/credentials files and profiles, SSO,
container and instance roles), optionally through an assumed role; never from resource inputs, so they never reach
Pulumi state. `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_EC2` are honoured by botocore itself; `endpoint_url` overrides.

A provider process serves many resources at once (one thread each), so sessions, clients and the caller's account
id are made once per account selection and shared: boto3 clients are thread-safe once built, building them is not.
They are keyed by the AWS_* environment too, since that is where the credential chain starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

from snapshot_provider import pacing
from snapshot_provider.args import AccountSelection
from snapshot_provider.errors import AccountNotAllowed, aws_errors

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


_sessions: OncePerKey[tuple[AccountSelection, Any], boto3.Session] = OncePerKey()
_clients: OncePerKey[tuple[AccountSelection, Any, str, bool], Any] = OncePerKey()
_account_ids: OncePerKey[tuple[AccountSelection, Any], str] = OncePerKey()


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


def session_for(account: AccountSelection) -> boto3.Session:
    """A boto3 session for this account selection, shared within the process (boto3 sessions are costly)."""
    return _sessions.get((account, _environment()), lambda: _new_session(account))


def client(account: AccountSelection, service: str = "ec2", *, single_attempt: bool = False) -> Any:
    """The process's client for this account selection and service (thread-safe to share once built). EC2 clients
    are paced by the process's token buckets (`pacing`)."""
    environment = _environment()

    def make() -> Any:
        made = session_for(account).client(
            service,  # type: ignore[call-overload]
            region_name=account.region,
            endpoint_url=account.get("endpoint_url"),
            config=SINGLE_ATTEMPT_CONFIG if single_attempt else RETRY_CONFIG,
        )
        if service == "ec2":
            pacing.install(made, lambda: _pacing_account(account, environment))
        return made

    return _clients.get((account, environment, service, single_attempt), make)


def _pacing_account(account: AccountSelection, environment: Any) -> tuple[Any, str]:
    """Whose EC2 buckets a request spends: the account's, once STS named it (every create, update and delete asks
    first), else the account selection's."""
    return (_account_ids.peek((account, environment)) or account, account.region)


def _new_session(account: AccountSelection) -> boto3.Session:
    profile = account.get("profile")
    with aws_errors("loading AWS credentials", profile=profile):
        base = botocore.session.Session(profile=profile)
        if account.get("role_arn") is None:
            return boto3.Session(botocore_session=base, region_name=account.region)
        # Refreshable assumed-role credentials: a multi-hour wait outlives the role session's default hour.
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=_sts_client_creator(base, account),
            source_credentials=base.get_credentials(),
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
        if account.get("endpoint_url"):
            kwargs["endpoint_url"] = account.get("endpoint_url")
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
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def snapshot_arn(region: str, snapshot_id: str) -> str:
    return f"arn:{partition(region)}:ec2:{region}::snapshot/{snapshot_id}"
