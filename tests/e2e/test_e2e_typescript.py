"""End to end from TypeScript: a user's program (tests/nodejs/index.ts) using the generated SDK (sdk/nodejs), in a
project in a temporary directory outside the repository, run by the real Pulumi CLI against the local EC2 emulator
through the `ebs-snapshots` provider plugin (a plugin directory named in Pulumi.yaml, started by the Python language
host, as docs/plugin.md tells users). Asserts on what the emulator holds.

The Node language host binary is not available here, so the program runs inline through the Node SDK's Automation API
(tests/nodejs/drive.ts): the SDK serves the program in process and runs `pulumi up --client <its address>`. The CLI,
the engine, the plugin and the generated SDK are what a user's `pulumi up` uses; what differs is who starts the
program (the SDK, not `pulumi-language-nodejs`) and that the program is compiled with `tsc` first (a user's is run
by ts-node). `pulumi import` is the CLI's own command in the project directory; it asks the project's language host
which plugins the program needs, and a stand-in (tests/nodejs/import_host.py) answers as the Node host would: none
beyond Pulumi.yaml's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import cli_environment, emulator_credentials, pulumi_bin_dir, run_pulumi

from emulator import Ec2Emulator
from snapshot_provider.plugin.install import write_plugin_dir
from testbed import REGION

ROOT = Path(__file__).resolve().parents[2]
NODE_PROJECT = ROOT / "tests" / "nodejs"
EBS_SNAPSHOT = "ebs-snapshots:index:EbsSnapshot"
PENDING = 2.0


def unavailable(reason: str) -> None:
    """CI must run this test; elsewhere a missing tool skips it, saying which."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """tests/nodejs's packages, installed with `npm ci` from the committed lock (once per change)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("Node.js and npm are needed for the TypeScript end-to-end test")
    result = subprocess.run(["bash", str(NODE_PROJECT / "install.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        unavailable(f"tests/nodejs/install.sh failed: {result.stderr[-1500:]}")
    return Path(result.stdout.strip())


def launcher(directory: Path, name: str, command: str) -> Path:
    """An executable `name` in `directory` that runs `command` with this repository's venv's Python."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f'#!/bin/sh\nexec "{ROOT / "venv" / "bin" / "python"}" {command} "$@"\n')
    path.chmod(0o755)
    return directory


class TypeScriptStack:
    """A TypeScript project in `workdir`, its own PULUMI_HOME and file:// backend, and one stack."""

    def __init__(self, workdir: Path, node_modules: Path, emulator: Ec2Emulator) -> None:
        self.project = workdir / "project"
        self.project.mkdir(parents=True)
        # The plugin directory as users write it (started through the Python language host); a Node host stand-in
        # for `pulumi import` (tests/nodejs/import_host.py).
        plugins = write_plugin_dir(workdir / "plugin", ROOT / "venv")
        hosts = launcher(workdir / "hosts", "pulumi-language-nodejs", str(NODE_PROJECT / "import_host.py"))
        (self.project / "Pulumi.yaml").write_text(
            f"name: ts-e2e\nruntime: nodejs\nplugins:\n  providers:\n    - name: ebs-snapshots\n      path: {plugins}\n"
        )
        for name in ("index.ts", "drive.ts", "tsconfig.json", "package.json"):
            shutil.copy(NODE_PROJECT / name, self.project / name)
        (self.project / "node_modules").symlink_to(node_modules)
        subprocess.run([str(node_modules / ".bin" / "tsc"), "-p", "."], cwd=self.project, check=True)
        home, state = workdir / "home", workdir / "state"
        home.mkdir()
        state.mkdir()
        self.env = cli_environment(pulumi_bin_dir(), home, state)
        self.env["PATH"] = f"{self.env['PATH']}{os.pathsep}{hosts}"
        self.credentials = emulator_credentials(emulator.url, emulator.sts_url)
        self.cli("stack", "init", "dev")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_pulumi(args, self.project, self.env | self.credentials)

    def config(self, **values: Any) -> None:
        for key, value in values.items():
            self.cli("config", "set", key, "--", json.dumps(value) if isinstance(value, dict) else str(value))

    def outputs_in_state(self, name: str) -> dict[str, Any]:
        """The resource's outputs as the stack's state records them (`pulumi stack export`)."""
        state = json.loads(self.cli("stack", "export").stdout)
        [resource] = [r for r in state["deployment"]["resources"] if r["urn"].endswith(f"::{name}")]
        return dict(resource["outputs"])

    def run(self, operation: str, *, credentials: bool = True) -> dict[str, Any]:
        """One Automation API operation; what it did (changes, outputs, steps in order)."""
        env = self.env | (self.credentials if credentials else {"AWS_REGION": REGION})
        result = subprocess.run(
            ["node", "drive.js", operation, "dev"], cwd=self.project, env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise AssertionError(f"{operation} failed:\n{result.stdout}\n{result.stderr}")
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def held(emulator: Ec2Emulator) -> dict[str, dict[str, Any]]:
    """The snapshots the emulator holds, by id, with their descriptions."""
    backend = emulator.ec2_backend()
    return {
        s["snapshot_id"]: {**s, "description": backend.snapshots[s["snapshot_id"]].description}
        for s in emulator.snapshots()
    }


def users_own_snapshot(emulator: Ec2Emulator, volume_id: str) -> str:
    """A snapshot taken outside Pulumi, as a user's backup job would."""
    ec2 = boto3.client("ec2", endpoint_url=emulator.url, region_name=REGION)
    taken = ec2.create_snapshot(
        VolumeId=volume_id,
        Description="nightly backup",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "owner", "Value": "dba"}]}],
    )
    return str(taken["SnapshotId"])


def test_typescript_program_previews_creates_updates_replaces_refreshes_imports_and_destroys(
    tmp_path: Path, node_modules: Path, emulator: Ec2Emulator
) -> None:
    emulator.configure(pending_seconds=PENDING)
    volume_id, other_volume = emulator.seed_volumes(2)
    stack = TypeScriptStack(tmp_path, node_modules, emulator)
    stack.config(volumeId=volume_id, description="before upgrade", tags={"team": "db"})

    # A PR preview: no credentials, nothing asked of EC2, and what the inputs give is known downstream.
    preview = stack.run("preview", credentials=False)
    assert preview["changes"].get("create") == 2, preview  # the stack and the snapshot
    assert not emulator.calls(), "a preview without credentials asked EC2"
    assert held(emulator) == {}

    first = stack.run("up")["outputs"]
    snapshot_id = first["snapshotId"]
    assert held(emulator)[snapshot_id]["state"] == "completed"
    assert held(emulator)[snapshot_id]["tags"]["team"] == "db"
    assert held(emulator)[snapshot_id]["description"] == "before upgrade"

    # Tags: an update in place, the same snapshot.
    stack.config(tags={"team": "db", "tier": "gold"})
    updated = stack.run("up")
    assert updated["changes"].get("update") == 1, updated["changes"]
    assert updated["outputs"]["snapshotId"] == snapshot_id
    assert {"team": "db", "tier": "gold"}.items() <= held(emulator)[snapshot_id]["tags"].items()

    # A new description replaces: the new snapshot completes first, the old one is deleted after.
    stack.config(description="after upgrade")
    replaced = stack.run("up")
    new_id = replaced["outputs"]["snapshotId"]
    assert new_id != snapshot_id
    steps = replaced["steps"]
    assert steps.index(["done", "create-replacement", "db-backup"]) < steps.index(
        ["start", "delete-replaced", "db-backup"]
    ), steps
    assert set(held(emulator)) == {new_id}
    assert held(emulator)[new_id]["description"] == "after upgrade"

    # Refresh: the tag someone added in the console shows in state; nothing in EC2 changes.
    ec2 = boto3.client("ec2", endpoint_url=emulator.url, region_name=REGION)
    ec2.create_tags(Resources=[new_id], Tags=[{"Key": "console", "Value": "yes"}])
    stack.run("refresh")
    assert stack.outputs_in_state("db-backup")["allTags"]["console"] == "yes"
    assert set(held(emulator)) == {new_id}

    # `pulumi import` records the user's own snapshot as it is; the program then declares it, unchanged.
    own = users_own_snapshot(emulator, other_volume)
    stack.cli("import", EBS_SNAPSHOT, "kept", own, "--yes", "--generate-code=false")
    stack.config(kept={"volumeId": other_volume, "description": "nightly backup", "tags": {"owner": "dba"}})
    adopted = stack.run("up")
    assert adopted["outputs"]["keptSnapshotId"] == own
    assert ["start", "same", "kept"] in adopted["steps"], adopted["steps"]
    assert set(held(emulator)) == {new_id, own}

    # Destroy deletes what the stack took, never the user's imported snapshot.
    stack.run("destroy")
    assert set(held(emulator)) == {own}
    assert held(emulator)[own]["tags"] == {"owner": "dba"}
