"""What the tests share about the world they run in: the region, a provider's inputs as the engine hands them, the
strict EC2 mode with the provider told its delays, and an engine operation in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from emulator import Ec2Emulator

REGION = "us-east-1"
URN_PREFIX = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:EbsSnapshot::"


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


def at_once(work: Callable[[int], Any], count: int) -> list[Any]:
    """`work(i)` for i in range(count), each in its own thread, all released together."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
