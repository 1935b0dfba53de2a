"""A local EC2 endpoint: moto's server with slow snapshots, fault injection, a call log and seeded volumes.

Used by the README's run command, the end-to-end tests (from another process, through the `/_emulator/` control
API) and the unit tests (in process, through `Ec2Emulator`). Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator import ebs

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_emulator/"

# Calls that change something in the account; everything else only reads.
MUTATING_PREFIXES = ("Create", "Delete", "Modify", "Attach", "Detach", "Stop", "Start", "Terminate", "Run", "Copy")

StartResponse = Callable[..., Any]


@dataclass
class Faults:
    """Which calls fail and how. Rates are fractions of the calls whose Action is in `actions` (all when empty)."""

    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    # The request is carried out, then the connection drops before the response: the client cannot tell.
    drop_rate: float = 0.0
    actions: list[str] = field(default_factory=list)
    seed: int = 0
    # Every call is refused with ExpiredToken (credentials that expired mid-run).
    credentials_expired: bool = False
    # Calls (and their DryRun) refused with UnauthorizedOperation: a missing IAM permission.
    denied_actions: list[str] = field(default_factory=list)


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


class Ec2Emulator:
    """moto's server on 127.0.0.1 with the EBS behaviour of `emulator.ebs` and the faults of `Faults`."""

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        ebs.install()
        self.region = region
        self.faults = Faults()
        self._rng = random.Random(0)
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_port}"

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

    # --- control ----------------------------------------------------------------------------------------------
    def configure(self, **settings: Any) -> None:
        """Set snapshot behaviour (`ebs.SnapshotBehaviour` fields) and faults (`Faults` fields) by name."""
        for name, value in settings.items():
            if name == "seed":  # one seed for both random choices: which calls fault, which snapshots fail
                self.faults.seed = value
                self._rng = random.Random(value)
                ebs.BEHAVIOUR.reseed(value)
            elif hasattr(ebs.BEHAVIOUR, name):
                if name == "fail_volume_ids":
                    value = set(value)
                setattr(ebs.BEHAVIOUR, name, value)
            elif hasattr(self.faults, name):
                setattr(self.faults, name, value)
            else:
                raise ValueError(f"unknown emulator setting {name!r}")

    def reset(self) -> None:
        """Forget every resource, call and setting."""
        get_backend("ec2").reset()
        get_backend("sts").reset()
        ebs.BEHAVIOUR.__init__()  # type: ignore[misc]
        self.faults = Faults()
        self._rng = random.Random(0)
        with self._lock:
            self._calls.clear()

    def calls(self, action: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if action is None or c.action == action]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def seed_volumes(
        self, count: int = 1, size: int = 8, zone: str | None = None, tags: dict[str, str] | None = None
    ) -> list[str]:
        """Create `count` available volumes and return their ids."""
        backend = self.ec2_backend()
        ids = []
        for _ in range(count):
            volume = backend.create_volume(size=size, zone_name=zone or f"{self.region}a")
            volume.add_tags({"Name": f"emulator-seed-{len(backend.volumes)}", **(tags or {})})
            ids.append(volume.id)
        return ids

    def seed_instance(self, data_volumes: int = 2, size: int = 8) -> dict[str, Any]:
        """Launch an instance with a root volume and `data_volumes` attached data volumes, each tagged."""
        backend = self.ec2_backend()
        reservation = backend.run_instances(
            "ami-12c6146b",
            1,
            None,
            [],
            instance_type="t3.micro",
            is_instance_type_default=True,
            placement=f"{self.region}a",
            region_name=self.region,
        )
        instance = reservation.instances[0]
        root_volume = instance.block_device_mapping[instance.root_device_name].volume_id
        backend.volumes[root_volume].add_tags({"Name": "root", "Role": "boot"})
        data = []
        for index in range(data_volumes):
            volume = backend.create_volume(size=size, zone_name=f"{self.region}a")
            volume.add_tags({"Name": f"data-{index}", "Role": "data"})
            device = f"/dev/sd{chr(ord('f') + index)}"
            backend.attach_volume(volume.id, instance.id, device)
            data.append({"volume_id": volume.id, "device": device})
        return {"instance_id": instance.id, "root_volume_id": root_volume, "data_volumes": data}

    def snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot the account holds, as plain data (for counting orphans and duplicates)."""
        return [
            {
                "snapshot_id": s.id,
                "volume_id": s.volume.id,
                "state": s.status,
                "progress": s.progress,
                "storage_tier": s.storage_tier,
                "tags": {
                    t["key"]: t["value"] for t in self.ec2_backend().describe_tags(filters={"resource-id": [s.id]})
                },
                "pending_seconds": s.pending_seconds,
            }
            for s in self.ec2_backend().snapshots.values()
            if not s.from_ami
        ]

    def ec2_backend(self, region: str | None = None) -> Any:
        return get_backend("ec2")[DEFAULT_ACCOUNT_ID][region or self.region]

    # --- WSGI -------------------------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        body = _read_body(environ)
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        action = params.get("Action", "")
        fault = self._pick_fault(action)
        call = Call(action=action, params=_loggable(params), at=time.time(), fault=fault)
        with self._lock:
            self._calls.append(call)
        if self.faults.credentials_expired and action:
            call.fault, call.status = "expired_credentials", 400
            return _ec2_error(
                start_response,
                "400 Bad Request",
                "ExpiredToken",
                "The security token included in the request is expired",
            )
        if action in self.faults.denied_actions:
            call.fault, call.status = "denied", 403
            return _ec2_error(
                start_response,
                "403 Forbidden",
                "UnauthorizedOperation",
                f"You are not authorized to perform this operation. User: arn:aws:iam::"
                f"{DEFAULT_ACCOUNT_ID}:user/emulator is not authorized to perform: ec2:{action}",
            )
        if fault == "throttle":
            call.status = 503
            return _ec2_error(
                start_response, "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."
            )
        if fault == "server_error":
            call.status = 500
            return _ec2_error(
                start_response, "500 Internal Server Error", "InternalError", "An internal error has occurred."
            )
        if fault == "drop":
            response = self._moto_app(environ, lambda *_args: None)  # carried out, answer thrown away
            b"".join(response)
            _drop_connection(environ)
            call.status = 0
            return []

        def recording_start_response(status: str, headers: list[Any], *args: Any) -> Any:
            call.status = int(status.split()[0])
            return start_response(status, headers, *args)

        return self._moto_app(environ, recording_start_response)

    def _pick_fault(self, action: str) -> str | None:
        f = self.faults
        if not action or (f.actions and action not in f.actions):
            return None
        with self._lock:
            roll = self._rng.random()
        for name, rate in (("throttle", f.throttle_rate), ("server_error", f.server_error_rate), ("drop", f.drop_rate)):
            if roll < rate:
                return name
            roll -= rate
        return None

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"][len(CONTROL_PREFIX) :]
        body = _read_body(environ)
        args = json.loads(body) if body else {}
        try:
            result: Any
            if path == "calls":
                result = [asdict(c) | {"mutating": c.mutating} for c in self.calls(args.get("action"))]
            elif path == "clear-calls":
                self.clear_calls()
                result = {}
            elif path == "configure":
                self.configure(**args)
                result = {}
            elif path == "reset":
                self.reset()
                result = {}
            elif path == "seed-volumes":
                result = self.seed_volumes(**args)
            elif path == "seed-instance":
                result = self.seed_instance(**args)
            elif path == "snapshots":
                result = self.snapshots()
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [json.dumps({"error": f"no control endpoint {path!r}"}).encode()]
        except (TypeError, ValueError) as error:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"error": str(error)}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(result, default=str).encode()]


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, *_args: Any) -> None:
        # The call log records requests; werkzeug's per-request lines would only bury test output.
        pass


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _loggable(params: dict[str, str]) -> dict[str, str]:
    # The call log keeps request fields, never signatures or credentials.
    return {k: v for k, v in params.items() if not k.startswith(("X-Amz", "AWSAccessKeyId", "Signature"))}


def _ec2_error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>emulated-fault</RequestID></Response>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _drop_connection(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
