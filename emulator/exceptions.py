"""EC2 errors the emulator answers with, each carrying AWS's code and message."""

from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class IncorrectState(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("IncorrectState", message)
