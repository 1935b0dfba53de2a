"""What the lifecycle model (test_lifecycle_model.py) stands on: the resources its program can declare, their inputs
as the program passes them, AWS as the emulator holds it, and a provider host process that can be killed mid-create.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from pulumi.dynamic.dynamic import serialize_provider

from conftest import REGION
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, InstanceSnapshotsProvider
from snapshot_provider.lifecycle import SnapshotProvider, resource_token

ROOT = Path(__file__).resolve().parent.parent

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
# (as pulumi.dynamic.__main__.get_provider does) and calls create. The slow part (imports, building the clients the
# create will use) comes before "ready", so that a spare host started in advance makes a crash quick. No request
# before "ready": the spare starts while the test runs other steps, and resets the emulator between examples.
HOST = textwrap.dedent(
    """
    import base64, json, sys
    import dill
    from snapshot_provider import aws
    from snapshot_provider.args import AccountSelection
    account = AccountSelection.from_props({"region": sys.argv[1]})
    aws.client(account), aws.client(account, single_attempt=True), aws.client(account, "sts")
    print("ready", flush=True)
    request = json.loads(sys.stdin.readline())
    provider = dill.loads(base64.b64decode(request["provider"]))
    provider.create(request["props"])
    print("created", flush=True)
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

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            if stream is not None:
                stream.close()


class CrashingHost:
    """Runs a provider's create in a host process and kills it (SIGKILL: nothing of the provider's runs after) once
    `started()` says the create reached AWS. One spare host is kept started, so a crash costs no interpreter start."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = {**env, "PYTHONPATH": str(ROOT)}
        self._spare: _Host | None = None

    def create_and_kill(
        self, provider: SnapshotProvider, props: dict[str, Any], started: Callable[[], bool], timeout: float = 60.0
    ) -> None:
        host, self._spare = self._spare or _Host.spawn(self._env), None
        process = host.process
        assert process.stdin is not None and process.stdout is not None
        try:
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            line = process.stdout.readline() if ready else ""
            assert line.strip() == "ready", f"the provider host did not start: {host.errors()}"
            process.stdin.write(json.dumps({"provider": serialize_provider(provider), "props": props}) + "\n")
            process.stdin.flush()
            wait_until("the host's create to reach AWS", lambda: started() or process.poll() is not None, timeout)
            assert process.poll() is None, f"the provider host exited before it could be killed: {host.errors()}"
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
