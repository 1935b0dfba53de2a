"""What the emulator's tests share: boto3 clients without retries (any account, region or endpoint), the control API,
the error code of a refused call, and waiting with a deadline."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from emulator import Ec2Emulator
from testbed import REGION

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
T = TypeVar("T")


def client(emulator: Ec2Emulator, config: Config = NO_RETRIES) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url, config=config)


def client_as(
    emulator: Ec2Emulator,
    credentials: dict[str, str],
    service: str = "ec2",
    region: str = REGION,
    endpoint_url: str | None = None,
) -> Any:
    """A client signing with these credentials (the emulator's `credentials()` or STS's `Credentials`)."""
    key_id = credentials.get("aws_access_key_id") or credentials["AccessKeyId"]
    secret = credentials.get("aws_secret_access_key") or credentials["SecretAccessKey"]
    default_url = emulator.sts_url if service == "sts" else emulator.url
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url or default_url,
        config=NO_RETRIES,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=credentials.get("SessionToken"),
    )


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    """The AWS error code and HTTP status a call is refused with (AssertionError if it is not refused)."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call was not refused")


def control(emulator: Ec2Emulator, path: str, body: Any = None) -> Any:
    """POST /_emulator/<path> with a JSON body; the JSON answer (urllib.error.HTTPError on 4xx)."""
    data = json.dumps({} if body is None else body).encode()
    request = urllib.request.Request(f"{emulator.url}/_emulator/{path}", data=data)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def wait_until(look: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0) -> list[T]:
    """Look until `done` holds for what was seen, or fail at the deadline; returns every look, in order.

    Generous deadlines: they only bound a failing test, a passing one returns as soon as `done` holds.
    """
    deadline = time.monotonic() + timeout
    seen = [look()]
    while not done(seen[-1]):
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {timeout}s; last seen: {seen[-1]!r}")
        time.sleep(0.02)  # a poll interval, not synchronization: the condition decides
        seen.append(look())
    return seen


class LosesAnswers:
    """A boto3 client whose answers to `action` are lost on the way back (a read timeout): the emulator got and carried
    out the request, the caller never hears so. `times`: how many answers are lost (None: all of them)."""

    def __init__(self, inner: Any, action: str, times: int | None = None) -> None:
        self.inner, self.action, self.left = inner, action, times

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name != self.action:
            return method

        def lost(**kwargs: Any) -> Any:
            answer = method(**kwargs)
            if self.left is not None:
                if self.left == 0:
                    return answer
                self.left -= 1
            raise ReadTimeoutError(endpoint_url=self.inner.meta.endpoint_url)

        return lost


class LosesAnswersUnlisted(LosesAnswers):
    """`LosesAnswers` for SSM, whose ListCommandInvocations does not list the command (yet): nothing to find it by."""

    def list_command_invocations(self, **kwargs: Any) -> dict[str, Any]:
        return {"CommandInvocations": []}
