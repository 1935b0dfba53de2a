"""What the model-based tests (test_lifecycle_model.py, test_stack_model.py) stand on: the resources their programs
can declare, their inputs as the program passes them, AWS as the emulator holds it in its strict EC2 mode at the
models' pace, a provider process as each engine run starts one, a provider host process that can be killed or
cancelled (Ctrl-C) mid-call, one lost answer, accounts and access settings, and what a failure tells the user to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import pytest
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from emulator import Ec2Emulator
from emulator.accounts import DEFAULT_ACCOUNT_ID
from emulator.faults import DROP, FaultInjector
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
from snapshot_provider.core import holds, waiting
from snapshot_provider.core.lifecycle.provider import SnapshotProvider
from snapshot_provider.core.lifecycle.shapes import resource_token
from snapshot_provider.core.volume_limits import GATE
from snapshot_provider.ec2 import cancel, clients, pacing, snapshots
from testbed import REGION

ROOT = Path(__file__).resolve().parents[2]

Kind = Literal["ebs", "set"]
PROVIDERS: dict[Kind, SnapshotProvider] = {"ebs": EbsSnapshotProvider(), "set": InstanceSnapshotsProvider()}
CREATE_ACTIONS: dict[Kind, str] = {"ebs": "CreateSnapshot", "set": "CreateSnapshots"}


def urn(type_name: str, name: str, parent_type: str | None = None) -> str:
    """A resource's URN as the engine builds it: the parent's type is part of it, so the same name under another
    parent is another URN."""
    chain = f"{parent_type}$" if parent_type else ""
    return f"urn:pulumi:test::ebs-snapshots::{chain}pulumi-python:dynamic/ebs-snapshots:{type_name}::{name}"


@dataclass(frozen=True)
class Res:
    """A resource the model's program can declare, named in reproductions by its label."""

    label: str
    kind: Kind
    urn: str

    @property
    def token(self) -> str:
        return resource_token(self.urn)

    @property
    def provider(self) -> SnapshotProvider:
        return PROVIDERS[self.kind]


# Each name twice: at the top of the stack and under a component. Same name, two URNs, two resources.
RESOURCES = {
    r.label: r
    for r in (
        Res("s", "ebs", urn("EbsSnapshot", "s")),
        Res("app/s", "ebs", urn("EbsSnapshot", "s", "my:App")),
        Res("set", "set", urn("InstanceSnapshots", "set")),
        Res("app/set", "set", urn("InstanceSnapshots", "set", "my:App")),
    )
}

# What a resource snapshots. An EbsSnapshot: volume A or B. An InstanceSnapshots set of the seeded instance (root
# volume, data volumes d0 and d1): the volumes its exclusions leave.
SOURCES: dict[Kind, tuple[str, ...]] = {"ebs": ("A", "B"), "set": ("all", "no-boot", "no-d1", "d0-only")}
SET_EXCLUSIONS = {  # source -> (exclude_boot_volume, excluded data volumes)
    "all": (False, ()),
    "no-boot": (True, ()),
    "no-d1": (False, ("d1",)),
    "d0-only": (True, ("d1",)),
}


@dataclass(frozen=True)
class Inputs:
    """The inputs the model varies; everything else is fixed (region, no tag copying, standard tier)."""

    source: str
    description: str | None
    tags: tuple[tuple[str, str], ...]

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)

    def __str__(self) -> str:
        return f"source={self.source} description={self.description!r} tags={self.tag_dict}"


@dataclass(frozen=True)
class World:
    """The ids the emulator gave the seeded volumes and instance in this example."""

    volumes: Mapping[str, str]  # A, B (lone volumes); root, d0, d1 (the instance's)
    instance_id: str

    @classmethod
    def seed(cls, emulator: Ec2Emulator) -> World:
        a, b = emulator.seed_volumes(2)
        instance = emulator.seed_instance(data_volumes=2)
        d0, d1 = (d["volume_id"] for d in instance["data_volumes"])
        return cls({"A": a, "B": b, "root": instance["root_volume_id"], "d0": d0, "d1": d1}, instance["instance_id"])

    def members(self, res: Res, source: str) -> frozenset[str]:
        """The volumes a create of `res` with this source snapshots."""
        if res.kind == "ebs":
            return frozenset({self.volumes[source]})
        exclude_boot, excluded = SET_EXCLUSIONS[source]
        chosen = {"d0", "d1"} - set(excluded) | (set() if exclude_boot else {"root"})
        return frozenset(self.volumes[v] for v in chosen)

    def props(self, res: Res, inputs: Inputs, timeout: float) -> dict[str, Any]:
        """What the program registers (the engine passes these to check)."""
        props: dict[str, Any] = {
            "region": REGION,
            "tags": inputs.tag_dict,
            "timeout": timeout,
            "resource_urn": res.urn,
        }
        if inputs.description is not None:
            props["description"] = inputs.description
        if res.kind == "ebs":
            props["volume_id"] = self.volumes[inputs.source]
        else:
            exclude_boot, excluded = SET_EXCLUSIONS[inputs.source]
            props["instance_id"] = self.instance_id
            props["exclude_boot_volume"] = exclude_boot
            props["exclude_data_volume_ids"] = [self.volumes[v] for v in excluded]
        return props


@dataclass(frozen=True)
class Seen:
    """A snapshot as the emulator holds it."""

    snapshot_id: str
    volume_id: str
    description: str
    state: str
    tags: Mapping[str, str]


def aws_snapshots(emulator: Ec2Emulator) -> dict[str, Seen]:
    """Every snapshot in the emulator's account, read from its model (no API call, so the call log is the
    provider's alone)."""
    backend = emulator.ec2_backend()
    seen = {}
    for s in list(backend.snapshots.values()):
        if s.from_ami:
            continue
        tags = {t["key"]: t["value"] for t in backend.describe_tags(filters={"resource-id": [s.id]})}
        seen[s.id] = Seen(s.id, s.volume.id, s.description or "", s.status, tags)
    return seen


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.01)


# A provider host as the Pulumi SDK runs one: a fresh interpreter that decodes the provider from its serialized form
# (as pulumi.dynamic.__main__.get_provider does) and calls one of its methods, in a thread, as the SDK's gRPC server
# does. The slow part (imports, building the clients it will use) comes before "ready", so that a spare host started in
# advance makes a crash quick. No request before "ready": the spare starts while the test runs other steps, and resets
# the emulator between examples. The request carries the caller's AWS_* credentials (they may have changed since the
# spare started) and the model's pace (`PACE_CONSTANTS`). A line "cancel" after the request is the engine's Cancel
# (the first Ctrl-C): the host does what its Cancel hook does (`cancel.cancel_waits`, see
# `snapshot_provider.dynamic.host`), then answers with the call's outcome.
HOST = textwrap.dedent(
    """
    import base64, importlib, json, os, sys, threading
    import dill
    from snapshot_provider.ec2 import cancel, clients
    from snapshot_provider.core import waiting  # imported for its Cancel hook (the pollers hear cancel_waits)
    from snapshot_provider.inputs.declarations import AccountSelection
    account = AccountSelection.from_props({"region": sys.argv[1]})
    clients.client(account), clients.client(account, single_attempt=True), clients.client(account, "sts")
    print("ready", flush=True)
    request = json.loads(sys.stdin.readline())
    for name in [n for n in os.environ if n.startswith("AWS_") and n not in request["environ"]]:
        del os.environ[name]
    os.environ.update(request["environ"])
    for module, name, value in request["constants"]:
        setattr(importlib.import_module(module), name, value)
    provider = dill.loads(base64.b64decode(request["provider"]))
    outcome = {}
    def call():
        try:
            getattr(provider, request["method"])(*request["args"])
            outcome["returned"] = True
        except Exception as error:
            outcome["error"] = f"{type(error).__name__}: {error}"
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    if sys.stdin.readline().strip() == "cancel":
        cancel.cancel_waits()
        thread.join(60)
        print(json.dumps(outcome), flush=True)
    thread.join()
    """
)


@dataclass
class _Host:
    process: subprocess.Popen[str]
    stderr: IO[bytes]  # a file, read when the host fails

    @classmethod
    def spawn(cls, env: Mapping[str, str]) -> _Host:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (it lives as long as the process, closed by kill())
        process = subprocess.Popen(
            [sys.executable, "-c", HOST, REGION],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            env=env,
            text=True,
        )
        return cls(process, stderr)

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else ""

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


class ProviderHost:
    """Runs one provider call in a host process and, once `started()` says the call reached AWS, either kills the
    process (SIGKILL: nothing of the provider's runs after) or cancels it as the engine's first Ctrl-C does. One spare
    host is kept started, so an interruption costs no interpreter start."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = {**env, "PYTHONPATH": str(ROOT)}
        self._spare: _Host | None = None

    def call_and_kill(
        self,
        provider: ResourceProvider,
        method: str,
        args: list[Any],
        started: Callable[[], bool],
        timeout: float = 60.0,
    ) -> None:
        """`provider.method(*args)` in a host killed once `started()` holds."""
        with self._running(provider, method, args, started, timeout):
            pass

    def call_and_cancel(
        self,
        provider: ResourceProvider,
        method: str,
        args: list[Any],
        started: Callable[[], bool],
        timeout: float = 60.0,
    ) -> str | None:
        """`provider.method(*args)` in a host told to cancel (Ctrl-C) once `started()` holds: the call's error
        message, or None if it returned."""
        with self._running(provider, method, args, started, timeout) as host:
            host.send("cancel")
            answer = host.read_line(timeout)
            assert answer, f"the provider host did not answer after the cancel: {host.errors()}"
            outcome = json.loads(answer)
        return outcome.get("error")

    def create_and_kill(
        self, provider: ResourceProvider, props: dict[str, Any], started: Callable[[], bool], timeout: float = 60.0
    ) -> None:
        self.call_and_kill(provider, "create", [props], started, timeout)

    @contextlib.contextmanager
    def _running(
        self, provider: ResourceProvider, method: str, args: list[Any], started: Callable[[], bool], timeout: float
    ) -> Iterator[_Host]:
        host, self._spare = self._spare or _Host.spawn(self._env), None
        try:
            line = host.read_line(timeout)
            assert line.strip() == "ready", f"the provider host did not start: {host.errors()}"
            request = {
                "provider": serialize_provider(provider),
                "method": method,
                "args": args,
                "environ": {k: v for k, v in os.environ.items() if k.startswith("AWS_")},
                "constants": PACE_CONSTANTS,
            }
            host.send(json.dumps(request))
            wait_until(
                f"the host's {method} to reach AWS", lambda: started() or host.process.poll() is not None, timeout
            )
            assert host.process.poll() is None, f"the provider host exited before it was interrupted: {host.errors()}"
            yield host
        finally:
            host.kill()
            self._spare = _Host.spawn(self._env)

    def close(self) -> None:
        if self._spare is not None:
            self._spare.kill()
            self._spare = None


def environment_for(emulator: Ec2Emulator) -> dict[str, str]:
    # The crashing host keeps the production poll schedule (its first look a second after the request), so the kill
    # lands mid-wait; only this process's pollers are made fast.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSHOT_POLL_")}
    return {**inherited, "AWS_ENDPOINT_URL": emulator.url, "AWS_REGION": REGION}


# --- EC2 at the models' pace ----------------------------------------------------------------------------------------
# The strict mode's behaviours (listing and tag delays, per-volume limits, throttling buckets, accounts, STS on its own
# endpoint, expiring sessions, parameter rules) with EC2's delays scaled down, so that a sequence of twenty engine runs
# takes seconds; and the provider told the same scaled numbers, as it is told EC2's own: through its settings, and
# through the constants that have none (the seconds it allows EC2 for what AWS gives no number for). Each line says
# what it stands for. The 24-72 h of an archive restore and the hour of a session stay as EC2 has them: the models
# move the strict clock over them (`advance_clock`).
DELAYS = (
    0.0,
    0.3,
)  # a new snapshot, volume or tag unseen, a deleted one still listed: EC2 publishes none; strict 1-5 s
VOLUME_INTERVAL = 0.5  # between two CreateSnapshot of one volume: EC2's 15 s
MODEL_EC2: dict[str, Any] = {
    "strict": True,
    "listing_delay": DELAYS,
    "tag_delay": DELAYS,
    "deleted_listing_delay": DELAYS,
    "snapshot_interval_per_volume": VOLUME_INTERVAL,
}
PACE_ENVIRONMENT = {
    "SNAPSHOT_CONSISTENCY_WINDOW": "0.8",  # 120 s: longer than the longest delay
    "SNAPSHOT_VOLUME_INTERVAL": str(VOLUME_INTERVAL),
    "SNAPSHOT_HOLD_WAIT_SECONDS": "3",  # 15 min: longer than an undo takes
    # The production poller looks first after a second; the models' snapshots are pending for a fraction of that.
    "SNAPSHOT_POLL_MIN_DELAY": "0.05",
    "SNAPSHOT_POLL_MAX_DELAY": "0.2",
    "SNAPSHOT_POLL_FIRST_LOOK": "0.05",
    "SNAPSHOT_POLL_CALLS_PER_SECOND": "20",
}
PACE_CONSTANTS: list[tuple[str, str, float]] = [
    ("snapshot_provider.core.volume_limits", "INTERVAL", VOLUME_INTERVAL),  # EC2's 15 s after a rate refusal
    ("snapshot_provider.core.volume_limits", "MARGIN", 0.05),  # 1 s: EC2 counts from receipt (here: the same clock)
    ("snapshot_provider.core.volume_limits", "RECHECK", 0.5),  # 30 s between looks for room on a full volume
    ("snapshot_provider.core.lifecycle.taking", "RECHECK", 0.5),
    ("snapshot_provider.core.holds", "LOOK_EVERY", 0.1),  # 2 s between looks at a hold
    ("snapshot_provider.core.removal.source", "MISSING_SNAPSHOT_GRACE_SECONDS", 1.0),  # 10 s before a snapshot is gone
]
LOOK_EVERY_AT_MOST = 0.1  # `waiting.until`'s looks (every 1-2 s for a tag, a volume, a snapshot)


@pytest.fixture
def model_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's provider at the models' pace (`PACE_ENVIRONMENT`, `PACE_CONSTANTS`); the emulator is put in
    `MODEL_EC2` by each example (`strict_world`)."""
    for name, value in PACE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for module, name, value in PACE_CONSTANTS:
        monkeypatch.setattr(f"{module}.{name}", value)
    until = waiting.until

    def faster(*args: Any, every: float = 2.0, **kwargs: Any) -> Any:
        return until(*args, every=min(every, LOOK_EVERY_AT_MOST), **kwargs)

    monkeypatch.setattr(waiting, "until", faster)


def strict_world(emulator: Ec2Emulator, **settings: Any) -> None:
    """A fresh emulator (nothing in it) in the strict mode at the models' pace, with `settings` besides."""
    emulator.reset()
    emulator.configure(**MODEL_EC2, **settings)
    new_provider_process()


def new_provider_process() -> None:
    """What a provider process knows, forgotten: each engine run starts a new one. Sessions, clients and the account
    STS named (kept per AWS_* environment, but the emulator's keys change from one example to the next, and a session
    may have expired), EC2's buckets as paced here, the pollers and a Ctrl-C, each volume's turn, the batched
    lookups."""
    for cache in (
        clients._sessions,
        clients._clients,
        clients._account_ids,
        snapshots._tag_lookups,
        snapshots._taggings,
    ):
        cache.forget(lambda _key: True)
    holds._held_lookups.forget(lambda _key: True)
    clients._base_methods.clear()
    pacing.reset()
    with waiting._pollers_lock:
        waiting._pollers.clear()
        cancel._cancelled = threading.Event()
    with GATE._changed:
        GATE._next_turn.clear()
        GATE._pending.clear()
        GATE._allowed.clear()


# --- one lost answer ------------------------------------------------------------------------------------------------
class LostAnswer(FaultInjector):
    """The emulator's faults, plus: the answer to the `nth` call of `action` is lost (the call is carried out, then
    the connection drops before the answer: the client cannot tell whether it happened); every other call is served."""

    def __init__(self, action: str, nth: int) -> None:
        super().__init__()
        self.action, self.nth = action, nth
        self.seen = 0
        self.dropped = False

    def choose(self, action: str, params: Mapping[str, str] | None = None) -> str | None:
        chosen = super().choose(action, params)
        if action != self.action:
            return chosen
        with self._lock:
            self.seen += 1
            if self.seen == self.nth:
                self.dropped = True
                return DROP
        return chosen


@contextlib.contextmanager
def losing_one_answer(emulator: Ec2Emulator, action: str, nth: int) -> Iterator[LostAnswer]:
    """While inside: the `nth` answer to `action` is lost (see `LostAnswer`)."""
    lost = LostAnswer(action, nth)
    emulator.injector = lost
    try:
        yield lost
    finally:
        emulator.injector = FaultInjector()


# --- accounts and access settings -----------------------------------------------------------------------------------
HOME_ACCOUNT = DEFAULT_ACCOUNT_ID  # the stack's: where its snapshots are
OTHER_ACCOUNT = "210987654321"
ROLES = {"same": f"arn:aws:iam::{HOME_ACCOUNT}:role/snapshots", "other": f"arn:aws:iam::{OTHER_ACCOUNT}:role/snapshots"}
PROFILES = {"home": HOME_ACCOUNT, "elsewhere": OTHER_ACCOUNT}  # profile name -> the account its keys act in


@dataclass(frozen=True)
class Access:
    """A resource's access settings: a role (in the stack's account or another), a profile (whose keys act in the
    stack's account or another), EC2's and STS's endpoints given as inputs (the emulator's, where botocore's own
    configuration points too)."""

    role: Literal["same", "other"] | None = None
    profile: Literal["home", "elsewhere"] | None = None
    endpoint_url: bool = False
    sts_endpoint_url: bool = False

    def props(self, emulator: Ec2Emulator) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if self.role:
            props["role_arn"] = ROLES[self.role]
        if self.profile:
            props["profile"] = self.profile
        if self.endpoint_url:
            props["endpoint_url"] = emulator.url
        if self.sts_endpoint_url:
            props["sts_endpoint_url"] = emulator.sts_url
        return props

    def acts_in(self, environment_account: str) -> str:
        """The account these settings act in when the environment's credentials act in `environment_account`: the
        role's, else the profile's, else the environment's."""
        if self.role:
            return HOME_ACCOUNT if self.role == "same" else OTHER_ACCOUNT
        if self.profile:
            return PROFILES[self.profile]
        return environment_account

    def __str__(self) -> str:
        parts = [f"role {self.role}" if self.role else "", f"profile {self.profile}" if self.profile else ""]
        parts += ["endpoint_url" if self.endpoint_url else "", "sts_endpoint_url" if self.sts_endpoint_url else ""]
        return ", ".join(p for p in parts if p) or "the standard chain"


ACCESS_CHOICES = (
    Access(),
    Access(role="same"),
    Access(profile="home"),
    Access(endpoint_url=True),
    Access(sts_endpoint_url=True),
    Access(endpoint_url=True, sts_endpoint_url=True, role="same"),
    Access(role="other"),
    Access(profile="elsewhere"),
)


class Accounts:
    """The credentials of the model's user: the standard chain's (AWS_ACCESS_KEY_ID...) and the shared files'
    profiles, each acting in one of the emulator's accounts. Written anew for every example (the emulator's keys
    are)."""

    def __init__(self, emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.emulator, self.monkeypatch = emulator, monkeypatch
        credentials, config = directory / "credentials", directory / "config"
        lines = []
        for name, account in PROFILES.items():
            keys = emulator.credentials(account)
            lines += [f"[{name}]", f"aws_access_key_id = {keys['aws_access_key_id']}"]
            lines += [f"aws_secret_access_key = {keys['aws_secret_access_key']}", ""]
        credentials.write_text("\n".join(lines))
        config.write_text("")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        self.act_in(HOME_ACCOUNT)

    def act_in(self, account_id: str) -> None:
        """From now on the standard chain finds keys acting in `account_id`."""
        keys = self.emulator.credentials(account_id)
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["aws_access_key_id"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["aws_secret_access_key"])
        self.monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        self.environment_account = account_id


# --- what a failure tells the user to do ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Remedy:
    """What an error tells the user to do, as the model's user does it (see `REMEDIES`)."""

    name: str
    pattern: re.Pattern[str]


def _remedy(name: str, pattern: str) -> Remedy:
    return Remedy(name, re.compile(pattern, re.DOTALL))


# A stack never gets stuck: every failure says what to do, and doing it converges. These are the things an error may
# tell the user to do; the models do each (the first that matches). An error that matches none is a stuck stack.
RUN_AGAIN = "run again"
REFRESH = "refresh, then run again"
UNDO_FIRST = "destroy the removal (its undo releases the hold), then run again"
WAIT_FOR_TIER = "wait for the archive restore, then run again"
RESTORE_PERMANENTLY = "restore the snapshot from the archive for good, then run again"
RECORDED_ACCOUNT = "run again with credentials for the account state records"
ACCESS_BACK = "set the access settings back"
FRESH_CREDENTIALS = "fresh credentials, then run again"
ANOTHER_IMPORT = "import another snapshot"
REMEDIES = (
    _remedy(WAIT_FOR_TIER, r"Run `pulumi destroy` again once .*temporary-restore-completed"),
    _remedy(RESTORE_PERMANENTLY, r"restore-snapshot-tier --snapshot-id \S+ --permanent-restore"),
    _remedy(UNDO_FIRST, r"Destroy that VolumeRemoval first"),
    _remedy(ACCESS_BACK, r"Set profile / role_arn \(or the credentials\) back to ones that act in account \d{12}"),
    _remedy(RECORDED_ACCOUNT, r"again with credentials for account \d{12}"),
    _remedy(FRESH_CREDENTIALS, r"refresh the credentials|The credentials expired: refresh them"),
    _remedy(REFRESH, r"run `pulumi refresh`, then `pulumi up`"),
    _remedy(ANOTHER_IMPORT, r"Import another snapshot"),
    _remedy(RUN_AGAIN, r"(?i)run `pulumi (up|destroy)` again|run `pulumi up` again"),
)


def remedy_for(error: BaseException) -> Remedy | None:
    """What this error tells the user to do, or None: the stack would be stuck."""
    return next((r for r in REMEDIES if r.pattern.search(str(error))), None)
