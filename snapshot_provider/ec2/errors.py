"""The one place that turns AWS and botocore failures into messages that say what, where, and the fix."""

from __future__ import annotations

import contextlib
import re
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from snapshot_provider.inputs.schema import InvalidInputs


class SnapshotProviderError(Exception):
    """An error the provider reports to the user as is (Pulumi shows the message next to the resource)."""


class AccountNotAllowed(SnapshotProviderError):
    def __init__(self, account_id: str, allowed: tuple[str, ...]):
        super().__init__(
            f"refusing to act in AWS account {account_id}: allowed_account_ids is {', '.join(allowed)}. "
            "Check the credentials, profile or role_arn in use, or add the account to allowed_account_ids."
        )


class AccountMismatch(SnapshotProviderError):
    """The access settings act in another account than the one state records for the resource's snapshots."""


class WaitEnded(SnapshotProviderError):
    """A wait ended early (cancelled, credentials expired): what it waited for is left as it is (snapshots, for the
    next `up` to adopt)."""


class SnapshotFailed(SnapshotProviderError):
    """EC2 reported the snapshot in state `error`."""


class SnapshotTimedOut(SnapshotProviderError):
    """The snapshot was still pending when the resource's timeout ran out."""


class SnapshotInUse(SnapshotProviderError):
    """DeleteSnapshot refused because an AMI uses the snapshot."""


# Not here: SnapshotCreationPerVolumeRateExceeded and ConcurrentSnapshotLimitExceeded, per-volume limits that say
# something about earlier requests (see `volume_limits`), not that the account's request rate is too high.
class SnapshotHeld(SnapshotProviderError):
    """A VolumeRemoval's undo restores from the snapshot: it is not deleted or archived (see `holds`)."""


THROTTLING_CODES = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
}
NOT_FOUND_CODES = {"InvalidSnapshot.NotFound", "InvalidSnapshotID.NotFound"}
# Retrying cannot help: the credentials or permissions must change first.
CREDENTIAL_CODES = {
    "ExpiredToken",
    "RequestExpired",
    "AuthFailure",
    "UnauthorizedOperation",
    "AccessDenied",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredTokenException",
}
AMI_ID = re.compile(r"\bami-[0-9a-f]{8,17}\b")


def error_code(error: BaseException) -> str | None:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code"))
    return None


def is_throttling(error: BaseException) -> bool:
    return error_code(error) in THROTTLING_CODES


# What botocore raises (a RuntimeError) when credentials with a known expiry that cannot be renewed (session keys in the
# environment with AWS_CREDENTIAL_EXPIRATION) have expired: it refuses to sign the request at all.
STILL_EXPIRED = "refreshed credentials are still expired"


def is_credential_problem(error: BaseException) -> bool:
    return (
        error_code(error) in CREDENTIAL_CODES
        or isinstance(error, NoCredentialsError)
        or (isinstance(error, RuntimeError) and STILL_EXPIRED in str(error))
    )


def is_not_found(error: BaseException) -> bool:
    return error_code(error) in NOT_FOUND_CODES


def _where(context: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in context.items() if v is not None]
    return f" ({', '.join(parts)})" if parts else ""


def explain(error: BaseException, doing: str, **context: Any) -> str:
    """A one-paragraph message for `error`, raised while `doing` something, with the ids involved."""
    where = _where(context)
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        fix = _FIXES.get(code or "", "")
        return f"{doing}{where} failed: {code}: {message}{(' ' + fix) if fix else ''}"
    if isinstance(error, NoCredentialsError):
        return (
            f"{doing}{where} failed: no AWS credentials found. Set AWS_PROFILE or the profile input, export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance or container role is available."
        )
    if isinstance(error, ProfileNotFound):
        return f"{doing}{where} failed: {error}. Check ~/.aws/config or the profile input."
    if isinstance(error, RuntimeError) and STILL_EXPIRED in str(error):
        return f"{doing}{where} failed: the AWS credentials expired. {_FIXES['ExpiredToken']}"
    if isinstance(error, NoRegionError):
        return f"{doing}{where} failed: no region. Set the region input or aws:region."
    if isinstance(error, BotocoreConnectionError):  # refused, unknown host, connect timeout, proxy, TLS
        return (
            f"{doing}{where} failed: could not reach the AWS endpoint ({error}). Check the network, and the "
            "endpoint settings: endpoint_url or AWS_ENDPOINT_URL_EC2 for EC2, sts_endpoint_url or "
            "AWS_ENDPOINT_URL_STS for STS, AWS_ENDPOINT_URL for both."
        )
    return f"{doing}{where} failed: {error}"


_FIXES = {
    "InvalidVolume.NotFound": "Check volume_id, and that region and the account (profile/role_arn) are the volume's.",
    "InvalidInstanceID.NotFound": "Check instance_id, and that region and the account (profile/role_arn) are the "
    "instance's.",
    "InvalidInstanceID.Malformed": "Check instance_id.",
    "InvalidVolumeID.Malformed": "Check volume_id.",
    "UnauthorizedOperation": "Grant the missing EC2 permission to the credentials in use.",
    "AccessDenied": "Grant the missing permission to the credentials in use, or check role_arn and external_id.",
    "AuthFailure": "The credentials were rejected: check the profile, keys or role.",
    "ExpiredToken": "The credentials expired: refresh them (for example aws sso login) and run again; "
    "the next run adopts any snapshot already started.",
    "RequestExpired": "The credentials expired: refresh them and run again.",
    "IncorrectState": "Wait until the snapshot is completed, or check its state in the console.",
    "SnapshotCreationPerVolumeRateExceeded": "EC2 allows one snapshot of a volume every 15 seconds; run again shortly.",
    "ConcurrentSnapshotLimitExceeded": "The volume has as many pending snapshots as EC2 allows; raise timeout to "
    "wait for them, or run again once they completed.",
}


@contextlib.contextmanager
def aws_errors(doing: str, **context: Any) -> Iterator[None]:
    """Re-raise AWS/botocore errors as SnapshotProviderError with `explain`'s message."""
    try:
        yield
    except SnapshotProviderError:
        raise
    except (ClientError, BotoCoreError) as error:
        raise SnapshotProviderError(explain(error, doing, **context)) from error
    except RuntimeError as error:
        if not is_credential_problem(error):
            raise
        raise SnapshotProviderError(explain(error, doing, **context)) from error


def ami_in_message(error: ClientError) -> str | None:
    match = AMI_ID.search(error.response.get("Error", {}).get("Message", ""))
    return match.group(0) if match else None


def provider_error_or_traceback(limit: int | None = None, chain: bool = True) -> str:
    """`traceback.format_exc`, except for the error being handled when it is this package's own (a message that says
    what, where and the fix, for the user) or a rule its inputs broke: then the message alone."""
    error = sys.exc_info()[1]
    if isinstance(error, (SnapshotProviderError, InvalidInputs)):
        return str(error)
    return traceback.format_exc(limit, chain)
