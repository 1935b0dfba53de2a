"""The call log: every EC2/STS request the emulator served, with the fault it injected, the status it answered and
the time it took the emulator (wall and CPU, server side: what a benchmark needs to tell when the emulator limits it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

# Calls that change something in the account; everything else only reads.
MUTATING_PREFIXES = (
    "Create",
    "Delete",
    "Modify",
    "Attach",
    "Detach",
    "Stop",
    "Start",
    "Terminate",
    "Run",
    "Copy",
    "Lock",
    "Unlock",
)


@dataclass
class Call:
    """One API request the emulator served."""

    action: str
    params: dict[str, str]
    at: float
    fault: str | None = None
    status: int = 200
    service: str = "ec2"
    account_id: str = ""
    region: str = ""
    # Server-side time of the request, from its first byte read to its answer built (CPU: the serving thread's).
    seconds: float = 0.0
    cpu_seconds: float = 0.0

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

    def record(self, action: str, params: dict[str, str], fault: str | None, **context: Any) -> Call:
        call = Call(action=action, params=loggable(params), at=time.time(), fault=fault, **context)
        with self._lock:
            self._calls.append(call)
        return call

    def calls(self, action: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if action is None or c.action == action]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def stats(self) -> dict[str, Any]:
        """Per action: count, total and mean server-side seconds, CPU seconds; and the emulator process's CPU time."""
        per_action: dict[str, dict[str, float]] = {}
        for call in self.calls():
            entry = per_action.setdefault(call.action, {"count": 0, "total_seconds": 0.0, "cpu_seconds": 0.0})
            entry["count"] += 1
            entry["total_seconds"] += call.seconds
            entry["cpu_seconds"] += call.cpu_seconds
        for entry in per_action.values():
            entry["mean_seconds"] = entry["total_seconds"] / entry["count"]
        return {
            "actions": per_action,
            "total_seconds": sum(e["total_seconds"] for e in per_action.values()),
            "cpu_seconds": sum(e["cpu_seconds"] for e in per_action.values()),
            "process_cpu_seconds": time.process_time(),
        }


def loggable(params: dict[str, str]) -> dict[str, str]:
    # The call log keeps request fields, never signatures or credentials.
    return {k: v for k, v in params.items() if not k.startswith(("X-Amz", "AWSAccessKeyId", "Signature"))}
