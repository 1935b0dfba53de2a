"""Fault injection: which calls fail, and with which EC2 error.

A fault is chosen per call: throttling (`RequestLimitExceeded`), a server error (`InternalError`), or a drop (the call
is carried out, then the connection closes before the answer: the client cannot tell whether it happened). Expired
credentials (`ExpiredToken`) and denied actions (`UnauthorizedOperation`; STS's own `AccessDenied` for an STS action)
override the random choice. A create that tags at creation (`TagSpecifications`) is refused when `CreateTags` is
denied, as IAM authorizes the tagging apart.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from moto.core.models import DEFAULT_ACCOUNT_ID

THROTTLE = "throttle"
SERVER_ERROR = "server_error"
DROP = "drop"
EXPIRED_CREDENTIALS = "expired_credentials"
DENIED = "denied"
DENIED_TAGGING = "denied_tagging"  # a create carrying TagSpecifications while ec2:CreateTags is denied
TAGGED_AT_CREATION = "TagSpecification"  # the query parameters' prefix: TagSpecification.1.Tag.1.Key=...


@dataclass
class Faults:
    """Which calls fail and how. Rates are fractions of the calls whose Action is in `actions` (all when empty)."""

    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    # The request is carried out, then the connection drops before the response: the client cannot tell.
    drop_rate: float = 0.0
    actions: list[str] = field(default_factory=list)
    seed: int = 0
    # Every call is refused with ExpiredToken (credentials that expired mid-run).
    credentials_expired: bool = False
    # Calls (and their DryRun) refused with UnauthorizedOperation (STS: AccessDenied): a missing IAM permission.
    denied_actions: list[str] = field(default_factory=list)
    # With CreateTags denied: a policy that still allows it at creation (the condition ec2:CreateAction), so only
    # direct CreateTags calls are refused, and a create's TagSpecifications are not.
    tagging_allowed_at_creation: bool = False


@dataclass(frozen=True)
class Ec2Error:
    """An error answer in EC2's XML shape."""

    status: str
    code: str
    message: str

    @property
    def status_code(self) -> int:
        return int(self.status.split()[0])

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            "</Error></Errors><RequestID>emulated-fault</RequestID></Response>"
        ).encode()


@dataclass(frozen=True)
class StsError(Ec2Error):
    """An error answer in STS's XML shape (the query protocol's `ErrorResponse`)."""

    def body(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
            "<RequestId>emulated-fault</RequestId></ErrorResponse>"
        ).encode()


class FaultInjector:
    """Chooses each call's fault from `faults`, with one seeded random sequence (thread-safe)."""

    def __init__(self) -> None:
        self.faults = Faults()
        self._rng = random.Random(0)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.faults.seed = seed
            self._rng = random.Random(seed)

    def choose(self, action: str, params: Mapping[str, str] | None = None) -> str | None:
        """The fault for one call of `action` (with its query `params`), or None to serve it."""
        # Rolled for every eligible call, even one refused below, so a seed gives the same sequence either way.
        rolled = self._roll(action)
        if self.faults.credentials_expired and action:
            return EXPIRED_CREDENTIALS
        if action in self.faults.denied_actions:
            return DENIED
        if self.refuses_tags_at_creation(action, params or {}):
            return DENIED_TAGGING
        return rolled

    def refuses_tags_at_creation(self, action: str, params: Mapping[str, str]) -> bool:
        """A request that tags what it creates (CreateSnapshot, CreateSnapshots, CopySnapshot with TagSpecifications)
        while ec2:CreateTags is denied. EC2 user guide, "Grant permission to tag Amazon EC2 resources during
        creation": if tags are specified in the resource-creating action, AWS performs additional authorization on
        ec2:CreateTags, so the whole request (and its DryRun) is refused; without tags, CreateTags is not evaluated."""
        return (
            "CreateTags" in self.faults.denied_actions
            and not self.faults.tagging_allowed_at_creation
            and action != "CreateTags"
            and any(key.startswith(TAGGED_AT_CREATION) for key in params)
        )

    def _roll(self, action: str) -> str | None:
        f = self.faults
        if not action or (f.actions and action not in f.actions):
            return None
        with self._lock:
            roll = self._rng.random()
        for name, rate in ((THROTTLE, f.throttle_rate), (SERVER_ERROR, f.server_error_rate), (DROP, f.drop_rate)):
            if roll < rate:
                return name
            roll -= rate
        return None


def error_for(
    fault: str | None,
    action: str,
    account_id: str = DEFAULT_ACCOUNT_ID,
    service: str = "ec2",
    params: Mapping[str, str] | None = None,
) -> Ec2Error | None:
    """The error a call with this fault is answered with; None when it is served (or, for a drop, carried out).
    `service` is whose API was called ("ec2", "sts"), `params` its query parameters."""
    if fault == EXPIRED_CREDENTIALS:
        return Ec2Error("400 Bad Request", "ExpiredToken", "The security token included in the request is expired")
    if fault == DENIED and service == "sts":
        return _sts_denied(action, account_id, (params or {}).get("RoleArn"))
    if fault in (DENIED, DENIED_TAGGING):
        refused = "CreateTags" if fault == DENIED_TAGGING else action  # the action IAM refused, as AWS names it
        return Ec2Error(
            "403 Forbidden",
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. User: arn:aws:iam::{account_id}:user/emulator"
            f" is not authorized to perform: ec2:{refused}",
        )
    if fault == THROTTLE:
        return Ec2Error("503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded.")
    if fault == SERVER_ERROR:
        return Ec2Error("500 Internal Server Error", "InternalError", "An internal error has occurred.")
    return None


def _sts_denied(action: str, account_id: str, role_arn: str | None) -> StsError:
    # STS refuses a role it may not give with HTTP 403 AccessDenied, naming the caller, the action and the role (IAM
    # user guide, "Troubleshooting IAM roles": I can't assume a role; AWS Knowledge Center, "iam-assume-role-error":
    # "An error occurred (AccessDenied) when calling the AssumeRole operation: User: ... is not authorized to perform:
    # sts:AssumeRole on resource: arn:aws:iam::...:role/...").
    on = f" on resource: {role_arn}" if role_arn else ""
    return StsError(
        "403 Forbidden",
        "AccessDenied",
        f"User: arn:aws:iam::{account_id}:user/emulator is not authorized to perform: sts:{action}{on}",
    )
