"""Shared fixtures: one local EC2 emulator per test session, reset before each test that uses it."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator import Ec2Emulator
from snapshot_provider.core import pacing, waiting

REGION = "us-east-1"
URN_PREFIX = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:EbsSnapshot::"

# Filled by the reliability suite; printed at the end of the run.
RELIABILITY_FIGURES: list[dict[str, Any]] = []
BAD_INPUT_FIGURES: list[dict[str, Any]] = []


@dataclass
class ModelFigures:
    """Filled by a model-based test (test_lifecycle_model.py, test_stack_model.py): state machines run, rules executed,
    what they led to."""

    examples: int = 0
    seconds: float = 0.0
    steps: Counter[str] = field(default_factory=Counter)
    step_milliseconds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


# Per machine, printed at the end of the run.
MODEL_FIGURES: dict[str, ModelFigures] = {}
LIFECYCLE_MODEL_FIGURES = MODEL_FIGURES.setdefault("lifecycle model", ModelFigures())

# Fake credentials for the emulator: the standard chain finds them, and tests grep state and logs for them.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAEMULATORTESTKEY1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator-secret-key-never-in-state")
os.environ.pop("AWS_PROFILE", None)
# The lenient emulator lists new snapshots and tags at once: a short consistency window keeps lookups after a lost
# answer, and second looks at leftovers, quick. Tests under the strict mode set one longer than its delays.
os.environ.setdefault("SNAPSHOT_CONSISTENCY_WINDOW", "1")
# Nor does it refuse a second snapshot of a volume within 15 s: no spacing (strict tests set EC2's 15 s).
os.environ.setdefault("SNAPSHOT_VOLUME_INTERVAL", "0")


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Ec2Emulator]:
    with Ec2Emulator(region=REGION) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ec2Emulator]:
    emulator_server.reset()
    pacing.reset()  # each test starts with EC2's buckets full, as a new provider process does
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_server.url)
    # STS on its own port, as AWS serves it (botocore's service-specific endpoint): what strict mode requires.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator_server.sts_url)
    monkeypatch.setenv("AWS_REGION", REGION)
    yield emulator_server


@pytest.fixture
def volume_id(emulator: Ec2Emulator) -> str:
    return emulator.seed_volumes(1, tags={"team": "storage"})[0]


def snapshot_props(volume_id: str, **overrides: Any) -> dict[str, Any]:
    """Inputs as the engine hands them to the provider after check."""
    props: dict[str, Any] = {
        "volume_id": volume_id,
        "region": REGION,
        "tags": {"purpose": "test"},
        "timeout": 30,
        "storage_tier": "standard",
        "copy_volume_tags": False,
        "resource_urn": URN_PREFIX + "snapshot-of-" + volume_id,
    }
    props.update(overrides)
    return {k: v for k, v in props.items() if v is not None}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RELIABILITY_FIGURES:
        terminalreporter.section("reliability figures")
        terminalreporter.write_line(
            "| scenario | API calls | faults injected | snapshots left | orphaned | duplicated |"
        )
        terminalreporter.write_line("|---|---|---|---|---|---|")
        for f in RELIABILITY_FIGURES:
            terminalreporter.write_line(
                f"| {f['scenario']} | {f['calls']} | {f['faults']} | {f['snapshots']} | "
                f"{f['orphaned']} | {f['duplicated']} |"
            )
        terminalreporter.write_line(
            f"scenarios: {len(RELIABILITY_FIGURES)}; faults injected: "
            f"{sum(f['faults'] for f in RELIABILITY_FIGURES)}; orphaned: "
            f"{sum(f['orphaned'] for f in RELIABILITY_FIGURES)}; duplicated: "
            f"{sum(f['duplicated'] for f in RELIABILITY_FIGURES)}"
        )
    if BAD_INPUT_FIGURES:
        refused_at = {}
        for f in BAD_INPUT_FIGURES:
            refused_at[f["stage"]] = refused_at.get(f["stage"], 0) + 1
        stages = ", ".join(f"{n} at {stage}" for stage, n in sorted(refused_at.items()))
        terminalreporter.section("bad-input figures")
        terminalreporter.write_line(
            f"bad inputs tried: {len(BAD_INPUT_FIGURES)} ({stages}); changes made in the "
            f"emulator: {sum(f['changes'] for f in BAD_INPUT_FIGURES)}"
        )
    for machine, model in MODEL_FIGURES.items():
        if not model.examples:
            continue
        terminalreporter.section(f"{machine} figures")
        terminalreporter.write_line(
            f"state machines run (examples): {model.examples}; rules executed (steps): {model.steps.total()}; "
            f"{model.seconds:.0f} s"
        )
        terminalreporter.write_line(
            "by rule (steps, seconds): "
            + ", ".join(
                f"{rule} {n} ({model.step_milliseconds[rule] / 1000:.0f} s)" for rule, n in sorted(model.steps.items())
            )
        )
        terminalreporter.write_line("outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(model.outcomes.items())))


def told_of(emulator: Ec2Emulator, margin: float = 3.0) -> dict[str, str]:
    """What the provider is told of the emulator's EC2 (its environment): a consistency window `margin` seconds longer
    than the longest of EC2's delays, and EC2's spacing of one volume's snapshots."""
    now = emulator.settings()
    longest = max(now["listing_delay"][1], now["tag_delay"][1], now["deleted_listing_delay"][1])
    return {
        "SNAPSHOT_CONSISTENCY_WINDOW": str(longest + margin),
        "SNAPSHOT_VOLUME_INTERVAL": str(now["snapshot_interval_per_volume"]),
    }


@dataclass
class StrictEc2:
    """The emulator in its strict EC2 mode, and the provider (in this process) told EC2's delays and limits."""

    emulator: Ec2Emulator
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, **settings: Any) -> Ec2Emulator:
        """Strict, with `settings` changed (e.g. `listing_delay=(5, 20)`); the consistency window the provider
        uses is longer than the longest delay, its per-volume spacing the emulator's."""
        self.emulator.configure(strict=True, **settings)
        for name, value in told_of(self.emulator).items():
            self.monkeypatch.setenv(name, value)
        return self.emulator


@pytest.fixture
def strict_ec2(emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> StrictEc2:
    return StrictEc2(emulator, monkeypatch)


@pytest.fixture
def fresh_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider process that has not been cancelled yet (`waiting.cancel_waits` is process-wide and one-way)."""
    monkeypatch.setattr(waiting, "_pollers", {})
    monkeypatch.setattr(waiting, "_cancelled", threading.Event())


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException | Any]]:
    """`call` started in a thread of its own (an operation of the engine's), and the list that will hold what it
    returned or raised."""
    outcome: list[BaseException | Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # the test looks at what the operation ended with
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome
