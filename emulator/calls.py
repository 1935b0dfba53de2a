"""The call log: every EC2/STS request the emulator served, with the fault it injected and the status it answered."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

# Calls that change something in the account; everything else only reads.
MUTATING_PREFIXES = ("Create", "Delete", "Modify", "Attach", "Detach", "Stop", "Start", "Terminate", "Run", "Copy")


@dataclass
class Call:
    """One API request the emulator served."""

    action: str
    params: dict[str, str]
    at: float
    fault: str | None = None
    status: int = 200

    @property
    def mutating(self) -> bool:
        """True when the call changed something: a create/delete/modify that was carried out (a dropped one was)."""
        carried_out = self.status < 400 or self.fault == "drop"
        return self.action.startswith(MUTATING_PREFIXES) and self.params.get("DryRun") != "true" and carried_out


class CallLog:
    """Thread-safe: the server's request threads append while a test reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def record(self, action: str, params: dict[str, str], fault: str | None) -> Call:
        call = Call(action=action, params=loggable(params), at=time.time(), fault=fault)
        with self._lock:
            self._calls.append(call)
        return call

    def calls(self, action: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if action is None or c.action == action]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


def loggable(params: dict[str, str]) -> dict[str, str]:
    # The call log keeps request fields, never signatures or credentials.
    return {k: v for k, v in params.items() if not k.startswith(("X-Amz", "AWSAccessKeyId", "Signature"))}
