"""EC2 and STS errors the emulator answers with, each carrying AWS's code and message (moto's where it has one).

Codes are from the EC2 API reference, "Error codes for the Amazon EC2 API", unless a class says otherwise. `status` is
the HTTP status the emulator answers with when it refuses a request before moto sees it (`server.py`); errors raised
inside moto's actions are answered 400, as moto does.
"""

from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse
from moto.sts.exceptions import STSClientError

__all__ = [
    "ConcurrentSnapshotLimitExceeded",
    "ExpiredToken",
    "IdempotentParameterMismatch",
    "IncorrectState",
    "InvalidAction",
    "InvalidAmiNotFound",
    "InvalidNextToken",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidSnapshotInUse",
    "InvalidSnapshotLocked",
    "InvalidSnapshotNotFound",
    "InvalidVolumeNotFound",
    "MissingParameter",
    "OperationNotPermitted",
    "RequestLimitExceeded",
    "SnapshotCreationPerVolumeRateExceeded",
    "StsValidationError",
]


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class InvalidParameterCombination(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterCombination", message)


class InvalidNextToken(EC2ClientError):
    def __init__(self, token: str):
        super().__init__("InvalidNextToken", f"The specified NextToken is not valid: {token!r}")


class MissingParameter(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("MissingParameter", message)


class IncorrectState(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("IncorrectState", message)


class InvalidSnapshotNotFound(EC2ClientError):
    # moto's InvalidSnapshotIdError has an empty message; the emulator names the snapshot it could not find.
    def __init__(self, snapshot_id: str):
        super().__init__("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


class InvalidSnapshotLocked(EC2ClientError):
    # AWS publishes no code for DeleteSnapshot of a locked snapshot (EBS user guide, snapshot lock: it "can't be
    # deleted by any user"); the code is the emulator's choice, the message names the lock as the provider would.
    def __init__(self, snapshot_id: str, state: str, expires_on: str):
        super().__init__(
            "InvalidSnapshot.Locked",
            f"The snapshot '{snapshot_id}' is locked ({state}) until {expires_on} and cannot be deleted.",
        )


class InvalidVolumeNotFound(EC2ClientError):
    def __init__(self, volume_id: str):
        super().__init__("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.")


class InvalidAmiNotFound(EC2ClientError):
    def __init__(self, image_id: str):
        super().__init__("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")


class ConcurrentSnapshotLimitExceeded(EC2ClientError):
    # The message is the one EC2 answers with (seen in the field); the code and its meaning are in the error codes.
    def __init__(self, volume_id: str, limit: int):
        super().__init__(
            "ConcurrentSnapshotLimitExceeded",
            f"Maximum allowed in-progress snapshots for a single volume exceeded. ({volume_id}: {limit} pending)",
        )


class SnapshotCreationPerVolumeRateExceeded(EC2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "SnapshotCreationPerVolumeRateExceeded",
            "The maximum per volume CreateSnapshot request rate has been exceeded. Use an increasing or variable "
            "sleep interval between requests.",
        )


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, client_token: str):
        super().__init__(
            "IdempotentParameterMismatch",
            f"The client token '{client_token}' was used before with different parameters. Do not reuse a client "
            "token with different requests, unless the requests are identical.",
        )


class RequestLimitExceeded(EC2ClientError):
    status = 503

    def __init__(self) -> None:
        super().__init__("RequestLimitExceeded", "Request limit exceeded.")


class InvalidAction(EC2ClientError):
    # What an endpoint answers for an action it does not serve (an STS action sent to EC2's URL, and the reverse).
    def __init__(self, action: str):
        super().__init__("InvalidAction", f"The action {action} is not valid for this web service.")


class ExpiredToken(EC2ClientError):
    # EC2 answers expired session credentials with ExpiredToken (some SDK logs show RequestExpired instead); STS
    # answers ExpiredToken with HTTP 403.
    def __init__(self, status: int = 400) -> None:
        super().__init__("ExpiredToken", "The security token included in the request is expired")
        self.status = status


class OperationNotPermitted(EC2ClientError):
    # AWS documents the refusal, not its code: the code and message are those EC2 answered a ModifySnapshotAttribute
    # share of a default-key snapshot with (quoted in hashicorp/packer#7499).
    def __init__(self, message: str):
        super().__init__("OperationNotPermitted", message)


class StsValidationError(STSClientError):
    # STS API reference, AssumeRole: DurationSeconds over the role's maximum (or 1 h when chained) fails.
    def __init__(self, message: str):
        super().__init__("ValidationError", message)


def status_of(error: Exception) -> int:
    """The HTTP status an emulator error is answered with (400 unless its class says otherwise)."""
    status = getattr(error, "status", 400)
    return status if isinstance(status, int) else 400
