"""Shared fixtures: one local EC2 emulator per test session, reset before each test that uses it."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

# Hypothesis's pytest plugin imports hypothesis lazily in its summary hook, and pytest's assertion rewriting then
# parses it; after Pulumi's mocks have run, CPython 3.11.7 can fail that parse with "AST constructor recursion depth
# mismatch" (python/cpython#106905, pytest-dev/pytest#10763), ending a passing run with an INTERNALERROR. Loaded here.
import hypothesis  # noqa: F401
import pytest

import suite_figures
from emulator import Ec2Emulator
from snapshot_provider.core import waiting
from snapshot_provider.ec2 import cancel, clients, pacing
from testbed import REGION, StrictEc2

# Fake credentials for the emulator: the standard chain finds them, and tests grep state and logs for them.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAEMULATORTESTKEY1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator-secret-key-never-in-state")
os.environ.pop("AWS_PROFILE", None)
# The lenient emulator lists new snapshots and tags at once: a short consistency window keeps lookups after a lost
# answer, and second looks at leftovers, quick. Tests under the strict mode set one longer than its delays.
os.environ.setdefault("SNAPSHOT_CONSISTENCY_WINDOW", "1")
# Nor does it refuse a second snapshot of a volume within 15 s: no spacing (strict tests set EC2's 15 s).
os.environ.setdefault("SNAPSHOT_VOLUME_INTERVAL", "0")


LONG_PROFILE = os.environ.get("TEST_PROFILE") == "long"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` (scenarios a lower-level or faster test already covers in CI, kept for the long profile)
    run with `TEST_PROFILE=long ./test.sh`; CI runs the rest, well under its hour."""
    if LONG_PROFILE:
        return
    skip = pytest.mark.skip(reason="long profile only (CI time): TEST_PROFILE=long ./test.sh runs it")
    for item in items:
        if item.get_closest_marker("long"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def current_event_loop() -> None:
    """`asyncio.run` (the plugin's tests call its async provider so) leaves the main thread without a current event
    loop, and Pulumi's mocks (`@pulumi.runtime.test`, `pulumi.runtime.set_mocks`) take the current one: every test
    starts with one, whatever ran before it."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Ec2Emulator]:
    with Ec2Emulator(region=REGION) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ec2Emulator]:
    emulator_server.reset()
    pacing.reset()  # each test starts with EC2's buckets full, as a new provider process does
    # The reset forgot every credential STS issued: a role's session kept from an earlier test would act as nobody.
    # Only those: a fresh session per test for every account kept each test's botocore models alive (~10 MB a test,
    # 14 GB over the suite).
    for cache in (clients._sessions, clients._clients, clients._account_ids):
        cache.forget(lambda key: bool(key[0].get("role_arn")))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_server.url)
    # STS on its own port, as AWS serves it (botocore's service-specific endpoint): what strict mode requires.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator_server.sts_url)
    monkeypatch.setenv("AWS_REGION", REGION)
    yield emulator_server


@pytest.fixture
def volume_id(emulator: Ec2Emulator) -> str:
    return emulator.seed_volumes(1, tags={"team": "storage"})[0]


@pytest.fixture
def strict_ec2(emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> StrictEc2:
    return StrictEc2(emulator, monkeypatch)


@pytest.fixture
def fresh_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider process that has not been cancelled yet (`cancel.cancel_waits` is process-wide and one-way)."""
    monkeypatch.setattr(waiting, "_pollers", {})
    monkeypatch.setattr(cancel, "_cancelled", threading.Event())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    suite_figures.write_summary(terminalreporter)


# Under pytest-xdist (./test.sh runs the suite on every core) the tests run in workers: each hands its figures to the
# controller, which prints them all.
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["suite_figures"] = json.dumps(suite_figures.collected())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    figures = getattr(node, "workeroutput", {}).get("suite_figures")
    if figures:
        suite_figures.add(json.loads(figures))
