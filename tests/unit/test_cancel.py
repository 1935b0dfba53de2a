"""The engine's Cancel (the first Ctrl-C) as the provider process hears it: `cancel_waits`, its hooks, `pause`."""

from __future__ import annotations

import threading
import time

import pytest

from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import WaitEnded
from testbed import in_thread

BOUND = 30.0  # seconds: only a failing test gets near it (a wait that Cancel did not end)


class WatchedCancel(threading.Event):
    """The process's cancel flag, telling when someone starts waiting on it (a `pause` under way)."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waited_on.set()
        return super().wait(timeout)


@pytest.fixture
def own_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks a test registers are forgotten after it (the process's own, the pollers' and the volume gate's, stay)."""
    monkeypatch.setattr(cancel, "_on_cancel", list(cancel._on_cancel))


def test_a_process_is_not_cancelled_until_the_engine_cancels(fresh_cancel: None) -> None:
    assert not cancel.cancelled()
    cancel.cancel_waits()
    assert cancel.cancelled()


def test_a_pause_under_way_ends_at_the_cancel_naming_what_it_waited_for(
    fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backoff or a look again later (minutes, in a big stack) must not hold the run after Ctrl-C."""
    flag = WatchedCancel()
    monkeypatch.setattr(cancel, "_cancelled", flag)
    thread, outcome = in_thread(lambda: cancel.pause(3600, "to look at snap-1 again"))
    assert flag.waited_on.wait(timeout=BOUND), "the pause never started"

    cancel.cancel_waits()
    thread.join(timeout=BOUND)

    assert not thread.is_alive(), "the pause went on after the engine's Cancel"
    [ended] = outcome
    assert isinstance(ended, cancel.LookCancelled)
    assert isinstance(ended, WaitEnded)  # the provider's error for a wait ended early: left as it is, adopted later
    assert str(ended) == "the operation was cancelled (Ctrl-C) while waiting to look at snap-1 again"


def test_a_pause_after_the_cancel_ends_at_once(fresh_cancel: None) -> None:
    cancel.cancel_waits()

    thread, outcome = in_thread(lambda: cancel.pause(3600, "for a turn"))
    thread.join(timeout=BOUND)

    assert not thread.is_alive(), "a pause that started after the engine's Cancel waited"
    [ended] = outcome
    assert isinstance(ended, cancel.LookCancelled)
    assert "while waiting for a turn" in str(ended)


def test_a_pause_without_cancel_waits_its_time(fresh_cancel: None) -> None:
    """A backoff that did not wait would press on EC2 at once."""
    started = time.monotonic()
    cancel.pause(0.05, "for nothing")
    assert time.monotonic() - started >= 0.05


def test_cancel_waits_calls_every_hook_once_the_cancel_is_visible(fresh_cancel: None, own_hooks: None) -> None:
    """A hook wakes a wait blocked on a condition of its own (the snapshot poller, the volume gate). The flag is set
    before any hook runs: what the hook does not reach (a poller made meanwhile) sees the flag instead."""
    heard: list[tuple[str, bool]] = []
    cancel.on_cancel(lambda: heard.append(("poller", cancel.cancelled())))
    cancel.on_cancel(lambda: heard.append(("gate", cancel.cancelled())))

    cancel.cancel_waits()

    assert heard == [("poller", True), ("gate", True)]


def test_a_hook_registered_after_the_cancel_is_called_at_once(fresh_cancel: None, own_hooks: None) -> None:
    """A wait that registers late (its resource's operation began just as Ctrl-C came) must still be woken."""
    cancel.cancel_waits()
    heard: list[bool] = []

    cancel.on_cancel(lambda: heard.append(cancel.cancelled()))

    assert heard == [True]


def test_a_failing_hook_does_not_keep_the_others_from_waking_their_waits(fresh_cancel: None, own_hooks: None) -> None:
    heard: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook failed")

    cancel.on_cancel(broken)
    cancel.on_cancel(lambda: heard.append("gate"))

    with pytest.raises(RuntimeError, match="hook failed"):
        cancel.cancel_waits()
    assert heard == ["gate"]
