"""The provider process's line to the Pulumi engine: messages attached to a resource by URN, shown by the CLI next to
it (progress, warnings), and how a line says a duration.

The provider host is started with the engine's address as its first argument (the SDK's dynamic-provider host: `python
-m pulumi.dynamic`); the provider plugin connects to the address the engine gives it (`connect_engine_log`). Anywhere
else (tests, a plain script) messages go to `logging`, logger `snapshot_provider.progress`.

At the bottom of the package, importing none of it: every layer tells the user something (the EC2 request queue that
waits for EC2's API rate, the core's waits and warnings, the front doors).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

log = logging.getLogger("snapshot_provider.progress")  # the name users filter on since 0.1.0, kept through the move

# The module `python -m pulumi.dynamic` runs: engine messages are sent only from inside the SDK's host.
HOST_MAIN_MODULE = "pulumi.dynamic.__main__"


def duration(seconds: float) -> str:
    """'45s', '12m 05s', '3h 07m'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class EngineLog:
    """Messages to the Pulumi engine, attached to a resource by URN. The provider host is started with the engine's
    address as its first argument; anywhere else (tests, a plain script) messages go to `logging`."""

    def __init__(self, address: str | None) -> None:
        self._engine: Any = None
        if address:
            import grpc
            from pulumi.runtime.proto import engine_pb2_grpc

            self._engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))

    def info(self, urn: str | None, message: str, *, ephemeral: bool = False) -> None:
        self._send(logging.INFO, urn, message, ephemeral)

    def warning(self, urn: str | None, message: str) -> None:
        self._send(logging.WARNING, urn, message, ephemeral=False)

    def _send(self, level: int, urn: str | None, message: str, ephemeral: bool) -> None:
        if self._engine is None:
            log.log(level, "%s%s", f"{urn}: " if urn else "", message)
            return
        from pulumi.runtime.proto import engine_pb2

        severity = engine_pb2.WARNING if level >= logging.WARNING else engine_pb2.INFO
        request = engine_pb2.LogRequest(severity=severity, message=message, urn=urn or "", ephemeral=ephemeral)
        try:
            self._engine.Log(request)
        except Exception as error:  # a message is never worth failing a create for
            log.warning("could not send a progress message to the engine: %s", error)


def is_dynamic_provider_host() -> bool:
    """Whether this process is the SDK's dynamic-provider host, i.e. was started as `python -m pulumi.dynamic`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == HOST_MAIN_MODULE


_engine_log: EngineLog | None = None
_engine_log_lock = threading.Lock()


def connect_engine_log(address: str) -> None:
    """Send this process's messages to the engine at `address` (the provider plugin's first argument)."""
    global _engine_log
    with _engine_log_lock:
        _engine_log = EngineLog(address)


def engine_log() -> EngineLog:
    """The process's engine logger (connected only inside the provider host)."""
    global _engine_log
    with _engine_log_lock:
        if _engine_log is None:
            address = sys.argv[1] if is_dynamic_provider_host() and len(sys.argv) > 1 else None
            _engine_log = EngineLog(address)
        return _engine_log
