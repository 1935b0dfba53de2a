"""The one place that makes AWS clients: region, profile, assumed role, endpoint and retry policy.

Credentials come only from the standard chain (environment, shared config/credentials files and profiles, SSO,
container and instance roles), optionally through an assumed role; never from resource inputs, so they never reach
Pulumi state. `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_EC2` are honoured by botocore itself; `endpoint_url` overrides.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

from snapshot_provider.errors import AccountNotAllowed, aws_errors
from snapshot_provider.inputs import AccountSelection

# botocore's standard retries: throttling (RequestLimitExceeded), 5xx and dropped connections are retried with
# exponential backoff and jitter, for every call. 20 attempts ride out even 60% throttling (0.6^20 < 1e-4).
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 20},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="pulumi-ebs-snapshot-provider",
)

# The non-idempotent calls (CreateSnapshot, CreateSnapshots) must not be retried blindly: a retry after a lost
# response would take a second snapshot. They use this config, and `snapshots.create_once` retries them only
# after checking that the first attempt left nothing behind.
SINGLE_ATTEMPT_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

DEFAULT_SESSION_NAME = "pulumi-ebs-snapshot"

_lock = threading.Lock()
_sessions: dict[AccountSelection, boto3.Session] = {}
_account_ids: dict[AccountSelection, str] = {}


def session_for(account: AccountSelection) -> boto3.Session:
    """A boto3 session for this account selection, shared within the process (boto3 sessions are costly)."""
    with _lock:
        session = _sessions.get(account)
        if session is None:
            session = _new_session(account)
            _sessions[account] = session
        return session


def client(account: AccountSelection, service: str = "ec2", *, single_attempt: bool = False) -> Any:
    make_client: Any = session_for(account).client
    with _lock:  # creating clients from one session is not thread-safe
        return make_client(
            service,
            region_name=account.region,
            endpoint_url=account.endpoint_url,
            config=SINGLE_ATTEMPT_CONFIG if single_attempt else RETRY_CONFIG,
        )


def _new_session(account: AccountSelection) -> boto3.Session:
    with aws_errors("loading AWS credentials", profile=account.profile):
        base = botocore.session.Session(profile=account.profile)
        if account.role_arn is None:
            return boto3.Session(botocore_session=base, region_name=account.region)
        # Refreshable assumed-role credentials: a multi-hour wait outlives the role session's default hour.
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=_sts_client_creator(base, account),
            source_credentials=base.get_credentials(),
            role_arn=account.role_arn,
            extra_args=_assume_role_args(account),
        )
        assumed = botocore.session.Session(profile=account.profile)
        # botocore has no public setter for refreshable credentials; this is how its own providers install them.
        assumed._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
            method="assume-role", refresh_using=fetcher.fetch_credentials
        )
        return boto3.Session(botocore_session=assumed, region_name=account.region)


def _assume_role_args(account: AccountSelection) -> dict[str, str]:
    args = {"RoleSessionName": account.role_session_name or DEFAULT_SESSION_NAME}
    if account.external_id:
        args["ExternalId"] = account.external_id
    return args


def _sts_client_creator(base: botocore.session.Session, account: AccountSelection) -> Any:
    def create(service_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("region_name", account.region)
        if account.endpoint_url:
            kwargs["endpoint_url"] = account.endpoint_url
        kwargs["config"] = RETRY_CONFIG
        return base.create_client(service_name, **kwargs)

    return create


def caller_account_id(account: AccountSelection) -> str:
    """The account the credentials act in (STS GetCallerIdentity), once per process and selection."""
    with _lock:
        cached = _account_ids.get(account)
    if cached:
        return cached
    sts = client(account, "sts")
    with aws_errors("identifying the AWS account (sts:GetCallerIdentity)", region=account.region):
        account_id = str(sts.get_caller_identity()["Account"])
    with _lock:
        _account_ids[account] = account_id
    return account_id


def ensure_allowed_account(account: AccountSelection) -> str:
    """Refuse before any change when the credentials act in an account outside `allowed_account_ids`."""
    account_id = caller_account_id(account)
    if account.allowed_account_ids and account_id not in account.allowed_account_ids:
        raise AccountNotAllowed(account_id, account.allowed_account_ids)
    return account_id


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def snapshot_arn(region: str, snapshot_id: str) -> str:
    return f"arn:{partition(region)}:ec2:{region}::snapshot/{snapshot_id}"


def forget_sessions() -> None:
    """Drop cached sessions and account ids (tests switch environments between cases)."""
    with _lock:
        _sessions.clear()
        _account_ids.clear()
