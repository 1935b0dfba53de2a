"""What the emulator's tests share: a boto3 client without retries, the control API, and waiting with a deadline."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from conftest import REGION
from emulator import Ec2Emulator

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
T = TypeVar("T")


def client(emulator: Ec2Emulator, config: Config = NO_RETRIES) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url, config=config)


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
