"""The engine's Cancel (the first Ctrl-C), as every wait and every EC2 request of the provider process hears it.

Cancel ends every wait in the process at once, and any later one as soon as it starts, leaving what it waited for as
it is (tagged, for the next `up` to adopt); nothing that starts something is requested after it. The provider host
calls `cancel_waits` when the engine sends Cancel (see `dynamic/host.py`, `plugin/provider.py`); waits that block on
a condition of their own (the snapshot poller, the volume gate) hear of it through `on_cancel`.

Here, in the EC2 adapter next to its errors, because EC2's request queue (`pacing`) stops on it as well as the core's
waits: it is the lowest place both reach.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from snapshot_provider.ec2.errors import WaitEnded

_lock = threading.Lock()
_cancelled = threading.Event()  # set once by the engine's Cancel: never cleared (the process ends with the run)
_on_cancel: list[Callable[[], object]] = []


class LookCancelled(WaitEnded):
    """A wait (`pause`, `waiting.until`, a turn in EC2's request queue) ended by the engine's Cancel."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the operation was cancelled (Ctrl-C) while waiting {what}")


def cancel_waits() -> None:
    """The engine cancelled (the first Ctrl-C): every wait in this process ends now, and any later one at once (the
    poller's waits raising `waiting.WaitCancelled` with their snapshots left as they are; an `until`, a `pause`:
    LookCancelled). The provider process ends with the engine's run."""
    with _lock:
        _cancelled.set()
        wake = list(_on_cancel)
    failures = [error for callback in wake if (error := _called(callback)) is not None]
    if failures:  # every wait was woken first: one failing hook leaves no other wait blocked
        raise failures[0]


def on_cancel(callback: Callable[[], object]) -> None:
    """Call `callback` when the engine cancels (a wait that blocks on a condition of its own, to wake it up); at once
    if it already has (a wait registered after the Cancel would otherwise never hear of it)."""
    with _lock:
        _on_cancel.append(callback)
        already = _cancelled.is_set()
    if already:
        callback()


def _called(callback: Callable[[], object]) -> Exception | None:
    try:
        callback()
    except Exception as error:  # raised by cancel_waits once every hook ran
        return error
    return None


def cancelled() -> bool:
    """Whether the engine cancelled: nothing new is to be started, and no wait goes on."""
    return _cancelled.is_set()


def pause(seconds: float, what: str) -> None:
    """Sleep `seconds`, unless the engine cancels before or meanwhile: LookCancelled then, at once, naming `what` was
    waited for."""
    if _cancelled.wait(max(0.0, seconds)):
        raise LookCancelled(what)
