"""A local EC2 endpoint: moto's server on 127.0.0.1 with the emulator's EBS model, faults, a call log and a control API,
and STS on a port of its own.

Used by the README's run command, the end-to-end tests (from another process, through the `/_emulator/` control
API: `POST /_emulator/<name>` with a JSON body of keyword arguments) and the unit tests (in process, through
`Ec2Emulator`). Each control endpoint is the method of the same name, dashes for underscores.

Every request goes through `_serve`: which account (the credentials), region and service (the signature's scope) it is
for; then, in order, the refusals EC2 would answer before acting (wrong endpoint, expired credentials, an injected
fault, an empty token bucket, a resource not yet visible), then moto. Its server-side time lands in the call log.
"""

from __future__ import annotations

import contextlib
import http
import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import botocore.session
from moto.backends import get_backend
from moto.core.exceptions import ServiceException
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from emulator import consistency, guest, models, patch, strict, throttling, tiers
from emulator.accounts import CREDENTIALS, DEFAULT_ACCOUNT_ID
from emulator.calls import Call, CallLog
from emulator.exceptions import ExpiredToken, InvalidAction, RequestLimitExceeded, status_of
from emulator.faults import DROP, Ec2Error, FaultInjector, Faults, error_for
from emulator.world import World, export_world, seed_instance, seed_volumes, seed_world, snapshot_summaries

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/_emulator/"
# A SigV4 Authorization header: Credential=<key>/<date>/<region>/<service>/aws4_request
CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
SSM_TARGET = "AmazonSSM."  # awsJson1_1: the action is the X-Amz-Target header's, the request a JSON body
STS_ACTIONS = frozenset(botocore.session.get_session().get_service_model("sts").operation_names)

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Caller:
    """Who a request comes from and what it is for: its access key, account, region and service (the signature's
    scope: `ec2`, `sts`, `iam`...)."""

    access_key_id: str | None
    account_id: str
    region: str
    service: str


class Ec2Emulator:
    """moto's server on 127.0.0.1 with the EBS behaviour of `emulator.models`, the faults of `Faults` and the strict
    EC2 mode of `emulator.strict`; STS on a second port (`sts_url`).

    moto keeps its state per process, so emulators in one process share resources, settings, credentials and the
    record behind `pending_intervals`; each has its own call log and faults.
    """

    def __init__(self, port: int = 0, region: str = "us-east-1", sts_port: int = 0) -> None:
        patch.install()
        self.region = region
        self.injector = FaultInjector()
        self.log = CallLog()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            LOOPBACK, port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._sts_server: BaseWSGIServer = make_server(
            LOOPBACK, sts_port, self._sts_app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._threads: list[threading.Thread] = []

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The EC2 endpoint (and, unless `sts_separate_endpoint`, STS's too)."""
        return f"http://{LOOPBACK}:{self._server.server_port}"

    @property
    def sts_url(self) -> str:
        """STS's own endpoint: point botocore at it with `AWS_ENDPOINT_URL_STS`."""
        return f"http://{LOOPBACK}:{self._sts_server.server_port}"

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    def start(self) -> Ec2Emulator:
        for name, server in (("ec2-emulator", self._server), ("sts-emulator", self._sts_server)):
            thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._server, self._sts_server):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Ec2Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- settings ---------------------------------------------------------------------------------------------
    def configure(self, **settings: Any) -> None:
        """Set snapshot behaviour (`models.SnapshotBehaviour` fields), faults (`Faults` fields), archiving time
        (`tiers.TierTimes` fields) and the strict EC2 mode (`strict=True/False`, then any `strict.StrictSettings` field)
        by name. The strict fields are checked whole first: an unknown name or a bad value raises ValueError and
        changes nothing."""
        behaviour_settings = {f.name for f in fields(models.SnapshotBehaviour)}
        fault_settings = {f.name for f in fields(Faults)}
        tier_settings = {f.name for f in fields(tiers.TierTimes)}
        strict_settings = strict.SETTING_NAMES | {"strict"}
        known_settings = behaviour_settings | fault_settings | tier_settings | strict_settings | guest.GUEST_SETTINGS
        unknown = sorted(set(settings) - known_settings)
        if unknown:
            raise ValueError(f"unknown emulator setting {unknown[0]!r} (known: {', '.join(sorted(known_settings))})")
        strict.apply({k: v for k, v in settings.items() if k in strict_settings})
        guest.configure(**{k: v for k, v in settings.items() if k in guest.GUEST_SETTINGS})
        for name, value in settings.items():
            if name == "seed":  # one seed for every random choice: faults, failing snapshots, delays
                self.injector.reseed(value)
                models.BEHAVIOUR.reseed(value)
                consistency.VISIBILITY.reseed(value)
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
        return {
            **behaviour,
            **asdict(self.faults),
            **asdict(tiers.TIMES),
            **strict.SETTINGS.as_plain(),
            **asdict(guest.BEHAVIOUR),
        }

    def reset(self) -> None:
        """Forget every resource, account, credential, call and setting (the strict mode goes back to off)."""
        for service in ("ec2", "sts", "iam", "kms"):
            get_backend(service).reset()
        models.reset()
        strict.reset()
        throttling.THROTTLE.clear()
        CREDENTIALS.clear()
        tiers.reset()
        guest.GUEST.reset()
        self.injector = FaultInjector()
        self.log.clear()

    def settle(self) -> None:
        """End every eventual-consistency delay now: new resources and tag changes visible, deleted ones gone."""
        consistency.VISIBILITY.settle()

    def advance_clock(self, seconds: float) -> None:
        """Move the strict behaviours' clock forward (delays, per-volume interval, buckets, restores, sessions)."""
        strict.CLOCK.advance(float(seconds))

    # --- the instances: Run Command, freezes, stop and start (`emulator.guest`) ------------------------------------
    def timeline(self) -> list[dict[str, Any]]:
        """In order: commands sent and finished, CreateSnapshot(s) requests (with their HTTP status), snapshots created
        and completed, instance state changes. Each event: `event`, `at` (`time.monotonic()`) and its details."""
        return guest.GUEST.timeline(models.CREATED.lifetimes())

    def frozen_instances(self) -> list[str]:
        """Instances a successful `fsfreeze -f` command froze and no later `fsfreeze -u` command thawed."""
        return guest.GUEST.frozen_instances()

    def stopped_instances(self, *, account_id: str | None = None, region: str | None = None) -> list[str]:
        """Instances that are `stopping` or `stopped`."""
        return guest.GUEST.stopped_instances(self.ec2_backend(region, account_id))

    def command_invocations(self) -> list[dict[str, Any]]:
        """Every Run Command invocation, as GetCommandInvocation answers it now."""
        invocations: list[dict[str, Any]] = guest.GUEST.list_command_invocations({})["CommandInvocations"]
        return invocations

    # --- the call log -----------------------------------------------------------------------------------------
    def calls(self, action: str | None = None) -> list[Call]:
        return self.log.calls(action)

    def mutating_calls(self, action: str | None = None) -> list[Call]:
        """The calls that changed something (see `Call.mutating`)."""
        return [c for c in self.log.calls(action) if c.mutating]

    def clear_calls(self) -> None:
        self.log.clear()

    def call_stats(self) -> dict[str, Any]:
        """The emulator's own time per action (count, total and mean seconds, CPU seconds) and its process CPU time."""
        return self.log.stats()

    def throttled(self) -> dict[str, int]:
        """How many calls of each action the token buckets refused (`RequestLimitExceeded`; not `throttle_rate`'s)."""
        return throttling.THROTTLE.throttled()

    def buckets(self, actions: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The token buckets' effective sizes: each class, each published action and each action in `actions`."""
        return throttling.effective_sizes(actions)

    # --- accounts and credentials -----------------------------------------------------------------------------
    def credentials(self, account_id: str) -> dict[str, str]:
        """Static keys acting in `account_id`: `aws_access_key_id`, `aws_secret_access_key`, `account_id`."""
        return CREDENTIALS.credentials_for(account_id)

    def expire_credentials(self, access_key_id: str) -> None:
        """Every later call signed with this key (static or session) fails ExpiredToken."""
        CREDENTIALS.expire(access_key_id)

    def sessions(self) -> list[dict[str, Any]]:
        """The sessions STS gave out: key, account, role, `expires_at` (epoch seconds), chained, expired."""
        return CREDENTIALS.sessions()

    def accounts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per account and region with anything in it: how many volumes, snapshots (not AMIs') and own images."""
        held: dict[str, dict[str, dict[str, int]]] = {}
        for account_id, regions in list(get_backend("ec2").items()):
            for region, backend in list(regions.items()):
                counts = {
                    "volumes": len(backend.volumes),
                    "snapshots": sum(1 for s in backend.snapshots.values() if not s.from_ami),
                    "images": sum(1 for i in backend.amis.values() if i.owner_id == account_id),
                }
                if any(counts.values()):
                    held.setdefault(account_id, {})[region] = counts
        return held

    # --- the account's resources --------------------------------------------------------------------------------
    def seed_volumes(
        self,
        count: int = 1,
        size: int = 8,
        zone: str | None = None,
        tags: dict[str, str] | None = None,
        *,
        account_id: str | None = None,
        region: str | None = None,
    ) -> list[str]:
        """Create `count` available volumes and return their ids."""
        return seed_volumes(self.ec2_backend(region, account_id), count, size, zone, tags)

    def seed_instance(
        self,
        data_volumes: int = 2,
        size: int = 8,
        *,
        windows: bool = False,
        account_id: str | None = None,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Launch an instance (Linux, or Windows) with a root volume and `data_volumes` attached data volumes, each
        tagged."""
        return seed_instance(self.ec2_backend(region, account_id), data_volumes, size, windows)

    def seed_world(self, world: World, *, account_id: str | None = None, region: str | None = None) -> None:
        """Create volumes, instances and snapshots with the given ids (the shape: `emulator.world`'s docstring).

        Raises ValueError listing every problem, having created nothing, when the world cannot be seeded as given.
        """
        seed_world(self.ec2_backend(region, account_id), world)

    def export_world(self, *, account_id: str | None = None, region: str | None = None) -> World:
        """The account's volumes, instances and snapshots, in the shape `seed_world` takes."""
        return export_world(self.ec2_backend(region, account_id))

    def snapshots(self, *, account_id: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
        """Every snapshot the account holds, as plain data (for counting orphans and duplicates)."""
        return snapshot_summaries(self.ec2_backend(region, account_id))

    def age_snapshot(
        self,
        snapshot_id: str,
        start_time: datetime | None = None,
        *,
        seconds_ago: float | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> datetime:
        """Set a snapshot's StartTime in the past (a datetime, naive = UTC, or `seconds_ago`); returns it.

        As much time passes for its pending state: a pending snapshot aged past its pending time is completed. Aging
        never makes a snapshot pending again, nor lowers its progress.
        """
        return models.age_snapshot(self.ec2_backend(region, account_id), snapshot_id, start_time, seconds_ago)

    def pending_intervals(self) -> dict[str, tuple[float, float]]:
        """Per snapshot the emulator created (deleted ones too): (created_at, completed_at), `time.monotonic()`."""
        return models.CREATED.pending_intervals()

    def peak_pending(self) -> int:
        """The most snapshots that were pending at the same moment."""
        return models.peak_pending(self.pending_intervals().values())

    def ec2_backend(self, region: str | None = None, account_id: str | None = None) -> Any:
        """moto's EC2 state of one account (default `DEFAULT_ACCOUNT_ID`) and region (default the emulator's)."""
        account = account_id or DEFAULT_ACCOUNT_ID
        if not (len(account) == 12 and account.isdigit()):
            raise ValueError(f"account_id must be 12 digits (got {account!r})")
        tiers.settle()  # archiving follows the clock
        try:
            return get_backend("ec2")[account][region or self.region]
        except KeyError:
            raise ValueError(f"no region {region!r} in EC2 (expected a region name such as 'eu-west-1')") from None

    # --- WSGI -------------------------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        return self._serve(environ, start_response, endpoint="ec2")

    def _sts_app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self._serve(environ, start_response, endpoint="sts")

    def _serve(self, environ: dict[str, Any], start_response: StartResponse, endpoint: str) -> Iterable[bytes]:
        started, cpu_started = time.perf_counter(), time.thread_time()
        body = _read_body(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        ssm_request = _json_body(body) if target.startswith(SSM_TARGET) else None
        if ssm_request is not None:
            action = target[len(SSM_TARGET) :]
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in ssm_request.items()}
        else:
            params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            action = params.get("Action", "")
        tiers.settle()  # archiving follows the clock: settled before the request sees the snapshots
        guest.GUEST.observe()  # stop/start transitions and commands follow the clock too
        caller = self._caller(environ, params)
        fault = self.injector.choose(action, params)
        call = self.log.record(
            action, params, fault, service=caller.service, account_id=caller.account_id, region=caller.region
        )
        try:
            refusal = self._refusal(endpoint, caller, action, params, fault)
            if refusal is not None:
                call.status = refusal.status_code
                payload = refusal.body()
                start_response(refusal.status, [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
                return [payload]
            if fault == DROP:
                with consistency.request_scope(action):
                    b"".join(self._moto_app(environ, lambda *_args: None))  # carried out, answer thrown away
                _drop_connection(environ)
                call.status = 0
                return []

            def recording_start_response(status: str, headers: list[Any], *args: Any) -> Any:
                call.status = int(status.split()[0])
                return start_response(status, headers, *args)

            if ssm_request is not None and action in guest.ACTIONS:
                status, answer = guest.answer(action, self.ec2_backend(caller.region, caller.account_id), ssm_request)
                call.status = status
                payload = json.dumps(answer).encode()
                headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))]
                start_response(f"{status} {http.HTTPStatus(status).phrase}", headers)
                return [payload]
            with consistency.request_scope(action):
                return [b"".join(self._moto_app(environ, recording_start_response))]
        finally:
            if action in ("CreateSnapshot", "CreateSnapshots"):
                volume = params.get("VolumeId") or params.get("InstanceSpecification.InstanceId")
                guest.GUEST.events.add("create-snapshot-request", action=action, target=volume, status=call.status)
            call.seconds = time.perf_counter() - started
            call.cpu_seconds = time.thread_time() - cpu_started

    def _caller(self, environ: dict[str, Any], params: dict[str, str]) -> Caller:
        scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key_id = scope.group(1) if scope else params.get("AWSAccessKeyId")
        region = scope.group(2) if scope else self.region
        unsigned_service = "sts" if params.get("Action") in STS_ACTIONS else "ec2"  # AssumeRoleWithWebIdentity...
        service = scope.group(3) if scope else unsigned_service
        return Caller(access_key_id, CREDENTIALS.account_of(access_key_id), region, service)

    def _refusal(
        self, endpoint: str, caller: Caller, action: str, params: dict[str, str], fault: str | None
    ) -> Ec2Error | None:
        """The error EC2 (or STS) answers before acting on this request, if any; None to serve it."""
        try:
            served_apart = caller.service == "sts" and strict.SETTINGS.sts_separate_endpoint
            if action and (caller.service != "sts" if endpoint == "sts" else served_apart):
                raise InvalidAction(action)
            if CREDENTIALS.expired(caller.access_key_id):
                raise ExpiredToken(status=403 if caller.service == "sts" else 400)
            injected = error_for(fault, action, caller.account_id, caller.service, params)
            if injected is not None:
                return injected
            if caller.service == "ec2" and action:
                # Made outside the request scope, so that moto's default AMIs of a new region are not "new".
                self.ec2_backend(caller.region, caller.account_id)
                if not throttling.THROTTLE.admit(caller.account_id, caller.region, action, params):
                    raise RequestLimitExceeded()
                consistency.refuse_unseen_targets(action, params)
        except ValueError:
            return None  # an unknown region: moto answers it
        except ServiceException as error:
            status = status_of(error)
            return Ec2Error(f"{status} {http.HTTPStatus(status).phrase}", error.code, error.message)
        return None

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        name = environ["PATH_INFO"][len(CONTROL_PREFIX) :]
        body = _read_body(environ)
        if name not in CONTROL_ENDPOINTS:
            return _json(start_response, "404 Not Found", {"error": f"no control endpoint {name!r}"})
        try:
            args = json.loads(body) if body else {}
            if name == "seed-world":  # the body is the world itself, with the account and region beside it
                where = {k: args.pop(k) for k in ("account_id", "region") if k in args}
                args = {"world": args, **where}
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
        "call-stats",
        "configure",
        "settings",
        "reset",
        "settle",
        "advance-clock",
        "throttled",
        "buckets",
        "credentials",
        "expire-credentials",
        "sessions",
        "accounts",
        "seed-volumes",
        "seed-instance",
        "seed-world",
        "export-world",
        "snapshots",
        "age-snapshot",
        "pending-intervals",
        "peak-pending",
        "timeline",
        "frozen-instances",
        "stopped-instances",
        "command-invocations",
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


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _drop_connection(environ: dict[str, Any]) -> None:
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
