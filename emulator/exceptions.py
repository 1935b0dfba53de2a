"""EC2 errors the emulator answers with, each carrying AWS's code and message (moto's where it has one)."""

from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse

__all__ = ["IncorrectState", "InvalidParameterValue", "InvalidSnapshotInUse", "InvalidSnapshotNotFound"]


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class IncorrectState(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("IncorrectState", message)


class InvalidSnapshotNotFound(EC2ClientError):
    # moto's InvalidSnapshotIdError has an empty message; RegisterImage names the snapshot it could not find.
    def __init__(self, snapshot_id: str):
        super().__init__("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
