"""Accounts, credentials and STS sessions: which account a request acts in, and when its credentials stop working.

moto already maps an access key to an account: a key its IAM holds acts in that key's account, any other key in
`DEFAULT_ACCOUNT_ID`, and `sts:AssumeRole` into `arn:aws:iam::<account>:role/...` makes a temporary key in that
account's IAM. The emulator adds static keys per account (`credentials_for`), session lifetimes as STS gives them
(AssumeRole `DurationSeconds`, role maximum, the 1 h cap of a chained role: STS API reference, AssumeRole; IAM user
guide, "Role chaining"), and expiry: `ExpiredToken` on every call with an expired session or a key told to expire.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from, iam_backends

from emulator import strict
from emulator.exceptions import StsValidationError

PARTITION = "aws"
STATIC_USER = "emulator"
MIN_SESSION_SECONDS = 900
DEFAULT_SESSION_SECONDS = 3600
CHAINED_MAX_SECONDS = 3600  # IAM user guide, "Role chaining": a chained session lasts at most one hour
ROLE_MAX_CEILING = 43200

__all__ = ["CREDENTIALS", "DEFAULT_ACCOUNT_ID", "Credentials", "Session", "session_seconds"]


@dataclass
class Session:
    """Temporary credentials STS gave out: the key, its account and role, and when they expire (`strict.CLOCK`)."""

    access_key_id: str
    account_id: str
    role_arn: str
    expires_at: float
    chained: bool

    def expired(self) -> bool:
        return strict.SETTINGS.session_expiry and strict.CLOCK.wall() >= self.expires_at


class Credentials:
    """Static keys per account, the sessions STS gave out, and the keys told to expire (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._static: dict[str, dict[str, str]] = {}
        self._sessions: dict[str, Session] = {}
        self._expired: set[str] = set()

    def credentials_for(self, account_id: str) -> dict[str, str]:
        """Static keys acting in `account_id` (an IAM user's, made once; the same on every call)."""
        if not (isinstance(account_id, str) and len(account_id) == 12 and account_id.isdigit()):
            raise ValueError(f"account_id must be 12 digits, such as '111122223333' (got {account_id!r})")
        with self._lock:
            if account_id not in self._static:
                iam = iam_backends[account_id][PARTITION]
                if STATIC_USER not in iam.users:
                    iam.create_user(region_name="us-east-1", user_name=STATIC_USER)
                key = iam.create_access_key(STATIC_USER)
                self._static[account_id] = {
                    "aws_access_key_id": key.access_key_id,
                    "aws_secret_access_key": key.secret_access_key,
                    "account_id": account_id,
                }
            return dict(self._static[account_id])

    def account_of(self, access_key_id: str | None) -> str:
        """The account a request signed with this key acts in (moto's mapping: unknown keys act in the default)."""
        if not access_key_id:
            return DEFAULT_ACCOUNT_ID
        return get_account_id_from(access_key_id)

    def add_session(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.access_key_id] = session

    def session(self, access_key_id: str | None) -> Session | None:
        with self._lock:
            return self._sessions.get(access_key_id or "")

    def expire(self, access_key_id: str) -> None:
        """Every later call with this key fails ExpiredToken, whatever the settings."""
        if not isinstance(access_key_id, str) or not access_key_id:
            raise ValueError(f"access_key_id must be a key id such as 'AKIA...' or 'ASIA...' (got {access_key_id!r})")
        with self._lock:
            self._expired.add(access_key_id)

    def expired(self, access_key_id: str | None) -> bool:
        """Whether calls signed with this key are refused with ExpiredToken."""
        if not access_key_id:
            return False
        with self._lock:
            if access_key_id in self._expired:
                return True
            session = self._sessions.get(access_key_id)
        return session is not None and session.expired()

    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            sessions = list(self._sessions.values())
            told = set(self._expired)
        return [asdict(s) | {"expired": s.expired() or s.access_key_id in told} for s in sessions]

    def clear(self) -> None:
        with self._lock:
            self._static.clear()
            self._sessions.clear()
            self._expired.clear()


CREDENTIALS = Credentials()


def session_seconds(requested: int | None, role_arn: str, chained: bool) -> float:
    """How long a session STS gives for this request lasts, in (scaled) seconds; StsValidationError when STS refuses.

    Without `session_expiry` the request is taken as moto takes it (any duration, default 1 h).
    """
    duration = DEFAULT_SESSION_SECONDS if requested is None else int(requested)
    settings = strict.SETTINGS
    if not settings.session_expiry:
        return float(duration)
    maximum = CHAINED_MAX_SECONDS if chained else role_max_seconds(role_arn)
    if duration < MIN_SESSION_SECONDS:
        raise StsValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_SESSION_SECONDS}"
        )
    if duration > maximum:
        if chained:
            raise StsValidationError(
                f"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                f" (requested {duration})"
            )
        raise StsValidationError(
            f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role. (requested {duration},"
            f" maximum {maximum})"
        )
    return duration * settings.session_duration_scale


def role_max_seconds(role_arn: str) -> int:
    """The role's MaxSessionDuration if moto's IAM holds the role, else `role_max_session_seconds`."""
    account_id = role_arn.split(":")[4] if role_arn.count(":") >= 5 else DEFAULT_ACCOUNT_ID
    try:
        role = iam_backends[account_id][PARTITION].get_role_by_arn(role_arn)
    except Exception:  # moto raises its own not-found error; any failure means the role is not known
        return min(int(strict.SETTINGS.role_max_session_seconds), ROLE_MAX_CEILING)
    return int(role.max_session_duration or DEFAULT_SESSION_SECONDS)
