"""A local EC2 endpoint: moto's server on 127.0.0.1 with the emulator's EBS model, faults, a call log and a control API.

Used by the README's run command, the end-to-end tests (from another process, through the `/_emulator/` control
API: `POST /_emulator/<name>` with a JSON body of keyword arguments) and the unit tests (in process, through
`Ec2Emulator`). Each control endpoint is the method of the same name, dashes for underscores.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator import models, patch, strict, tiers
from emulator.calls import Call, CallLog
from emulator.faults import DROP, FaultInjector, Faults, error_for
from emulator.world import World, export_world, seed_instance, seed_volumes, seed_world, snapshot_summaries

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_emulator/"

StartResponse = Callable[..., Any]


class Ec2Emulator:
    """moto's server on 127.0.0.1 with the EBS behaviour of `emulator.models` and the faults of `Faults`.

    moto keeps its state per process, so emulators in one process share resources, snapshot settings and the record
    behind `pending_intervals`; each has its own call log and faults.
    """

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        patch.install()
        self.region = region
        self.injector = FaultInjector()
        self.log = CallLog()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_port}"

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    def start(self) -> Ec2Emulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="ec2-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Ec2Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- settings ---------------------------------------------------------------------------------------------
    def configure(self, **settings: Any) -> None:
        """Set snapshot behaviour (`models.SnapshotBehaviour` fields), faults (`Faults` fields), tiering times
        (`tiers.TierTimes` fields) and the strict EC2 mode (`strict=True/False`, then any `strict.StrictSettings` field)
        by name. Checked whole first: an unknown name or a bad value raises ValueError and changes nothing."""
        behaviour_settings = {f.name for f in fields(models.SnapshotBehaviour)}
        fault_settings = {f.name for f in fields(Faults)}
        tier_settings = {f.name for f in fields(tiers.TierTimes)}
        strict_settings = strict.SETTING_NAMES | {"strict"}
        unknown = sorted(set(settings) - behaviour_settings - fault_settings - tier_settings - strict_settings)
        if unknown:
            known = ", ".join(sorted(behaviour_settings | fault_settings | tier_settings | strict_settings))
            raise ValueError(f"unknown emulator setting {unknown[0]!r} (known: {known})")
        strict.apply({k: v for k, v in settings.items() if k in strict_settings})
        for name, value in settings.items():
            if name == "seed":  # one seed for every random choice: faults, failing snapshots, delays
                self.injector.reseed(value)
                models.BEHAVIOUR.reseed(value)
            elif name in tier_settings:
                setattr(tiers.TIMES, name, value)
            elif name in behaviour_settings:
                setattr(models.BEHAVIOUR, name, set(value) if name == "fail_volume_ids" else value)
            elif name in fault_settings:
                setattr(self.faults, name, value)

    def settings(self) -> dict[str, Any]:
        """Every setting's current value: snapshot behaviour, faults and the strict mode's knobs, as JSON-ready data."""
        behaviour = {f.name: getattr(models.BEHAVIOUR, f.name) for f in fields(models.SnapshotBehaviour)}
        behaviour["fail_volume_ids"] = sorted(behaviour["fail_volume_ids"])
        return {**behaviour, **asdict(self.faults), **asdict(tiers.TIMES), **strict.SETTINGS.as_plain()}

    def reset(self) -> None:
        """Forget every resource, call and setting."""
        get_backend("ec2").reset()
        get_backend("sts").reset()
        models.reset()
        strict.reset()
        tiers.reset()
        self.injector = FaultInjector()
        self.log.clear()

    # --- the call log -----------------------------------------------------------------------------------------
    def calls(self, action: str | None = None) -> list[Call]:
        return self.log.calls(action)

    def mutating_calls(self, action: str | None = None) -> list[Call]:
        """The calls that changed something (see `Call.mutating`)."""
        return [c for c in self.log.calls(action) if c.mutating]

    def clear_calls(self) -> None:
        self.log.clear()

    # --- the account ------------------------------------------------------------------------------------------
    def seed_volumes(
        self, count: int = 1, size: int = 8, zone: str | None = None, tags: dict[str, str] | None = None
    ) -> list[str]:
        """Create `count` available volumes and return their ids."""
        return seed_volumes(self.ec2_backend(), count, size, zone, tags)

    def seed_instance(self, data_volumes: int = 2, size: int = 8) -> dict[str, Any]:
        """Launch an instance with a root volume and `data_volumes` attached data volumes, each tagged."""
        return seed_instance(self.ec2_backend(), data_volumes, size)

    def seed_world(self, world: World) -> None:
        """Create volumes, instances and snapshots with the given ids (the shape: `emulator.world`'s docstring).

        Raises ValueError listing every problem, having created nothing, when the world cannot be seeded as given.
        """
        seed_world(self.ec2_backend(), world)

    def export_world(self) -> World:
        """The account's volumes, instances and snapshots, in the shape `seed_world` takes."""
        return export_world(self.ec2_backend())

    def snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot the account holds, as plain data (for counting orphans and duplicates)."""
        return snapshot_summaries(self.ec2_backend())

    def age_snapshot(
        self, snapshot_id: str, start_time: datetime | None = None, *, seconds_ago: float | None = None
    ) -> datetime:
        """Set a snapshot's StartTime in the past (a datetime, naive = UTC, or `seconds_ago`); returns it.

        As much time passes for its pending state: a pending snapshot aged past its pending time is completed. Aging
        never makes a snapshot pending again, nor lowers its progress.
        """
        return models.age_snapshot(self.ec2_backend(), snapshot_id, start_time, seconds_ago)

    def pending_intervals(self) -> dict[str, tuple[float, float]]:
        """Per snapshot the emulator created (deleted ones too): (created_at, completed_at), `time.monotonic()`."""
        return models.CREATED.pending_intervals()

    def peak_pending(self) -> int:
        """The most snapshots that were pending at the same moment."""
        return models.peak_pending(self.pending_intervals().values())

    def ec2_backend(self, region: str | None = None) -> Any:
        backend = get_backend("ec2")[DEFAULT_ACCOUNT_ID][region or self.region]
        tiers.settle(backend)  # tiering follows the clock
        return backend

    # --- WSGI -------------------------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        body = _read_body(environ)
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        action = params.get("Action", "")
        self.ec2_backend()  # settles the snapshots' tiers before the request sees them
        fault = self.injector.choose(action)
        call = self.log.record(action, params, fault)
        error = error_for(fault, action)
        if error is not None:
            call.status = error.status_code
            payload = error.body()
            start_response(error.status, [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
            return [payload]
        if fault == DROP:
            response = self._moto_app(environ, lambda *_args: None)  # carried out, answer thrown away
            b"".join(response)
            _drop_connection(environ)
            call.status = 0
            return []

        def recording_start_response(status: str, headers: list[Any], *args: Any) -> Any:
            call.status = int(status.split()[0])
            return start_response(status, headers, *args)

        served: Iterable[bytes] = self._moto_app(environ, recording_start_response)
        return served

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        name = environ["PATH_INFO"][len(CONTROL_PREFIX) :]
        body = _read_body(environ)
        if name not in CONTROL_ENDPOINTS:
            return _json(start_response, "404 Not Found", {"error": f"no control endpoint {name!r}"})
        try:
            args = json.loads(body) if body else {}
            if name == "seed-world":  # the body is the world itself
                args = {"world": args}
            if name == "age-snapshot" and args.get("start_time") is not None:
                args["start_time"] = models.parse_time(args["start_time"])
            result = getattr(self, name.replace("-", "_"))(**args)
        except (TypeError, ValueError) as error:
            return _json(start_response, "400 Bad Request", {"error": str(error)})
        return _json(start_response, "200 OK", _plain(result))


# Each is the method of the same name, dashes for underscores, called with the JSON body as keyword arguments.
CONTROL_ENDPOINTS = frozenset(
    {
        "calls",
        "mutating-calls",
        "clear-calls",
        "configure",
        "settings",
        "reset",
        "seed-volumes",
        "seed-instance",
        "seed-world",
        "export-world",
        "snapshots",
        "age-snapshot",
        "pending-intervals",
        "peak-pending",
    }
)


def _plain(result: Any) -> Any:
    """A method's result as JSON: calls as dicts (with `mutating`), times as ISO 8601, nothing as {}."""
    if result is None:
        return {}
    if isinstance(result, datetime):
        return models.format_time(result)
    if isinstance(result, list) and result and isinstance(result[0], Call):
        return [asdict(c) | {"mutating": c.mutating} for c in result]
    return result


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, *_args: Any) -> None:
        # The call log records requests; werkzeug's per-request lines would only bury test output.
        pass


def _json(start_response: StartResponse, status: str, result: Any) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(result, default=str).encode()]


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _drop_connection(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
