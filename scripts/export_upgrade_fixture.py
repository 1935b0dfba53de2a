"""Capture an upgrade *state fixture* from one released version of this project (one per release, committed under
tests/fixtures/upgrade/<version>/; tests/e2e/test_e2e_upgrade.py imports each into the current version).

    venv/bin/python scripts/export_upgrade_fixture.py REPO_ROOT OUT_DIR PULUMI_BIN_DIR [--venv VENV] [--label LABEL]

For a release, from its checkout:

    venv/bin/python scripts/export_upgrade_fixture.py . tests/fixtures/upgrade/0.1.0 "$(bash scripts/engine.sh)" \
        --label 0.1.0

REPO_ROOT      a checkout (or worktree) of the version to capture; its `emulator/` and `snapshot_provider/` are used
OUT_DIR        where the fixture goes (created; existing fixture files are overwritten)
PULUMI_BIN_DIR the Pulumi CLI's directory (`bash scripts/engine.sh` prints it)
--venv         the virtualenv the Pulumi program runs in (default: REPO_ROOT/venv, else this interpreter's prefix)
--label        the value of the `fixture` tag (default: REPO_ROOT's short commit id)

What it does: starts that version's emulator (`python -m emulator`, its own process, stopped at the end), seeds an
instance with a root and two data volumes, writes the fixture program (`__main__.py`) and runs it with the real CLI
(project `ebs-snapshots`, stack `upgrade`, passphrase `e2e-tests-only`, file:// backend, its own PULUMI_HOME):
`pulumi up --yes --skip-preview`, then `pulumi preview --expect-no-changes`. It then saves

  __main__.py          the program (plain keyword arguments only, ids from stack config)
  Pulumi.yaml          the project file without the absolute `virtualenv:` path (a test writes its own)
  Pulumi.upgrade.yaml  the stack config, with the passphrase secrets provider's `encryptionsalt`
  state.json           `pulumi stack export` (secrets stay encrypted with the passphrase; no --show-secrets)
  world.json           what the emulator holds (boto3 Describe* calls): volumes, instances, snapshots
  README.md            the version, commit, CLI and SDK versions, and the resources in the state

Uses only this interpreter's standard library and boto3 (for world.json), plus the CLI. Temp dirs are removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC
from pathlib import Path
from typing import Any

PROJECT = "ebs-snapshots"
STACK = "upgrade"
PASSPHRASE = "e2e-tests-only"
REGION = "us-east-1"
FAKE_ACCESS_KEY_ID = "AKIAEMULATORTESTKEY1"
FAKE_SECRET_ACCESS_KEY = "emulator-secret-key-never-in-state"

PROGRAM = '''\
"""Upgrade fixture: a user's program captured with snapshot_provider @ {label}.

Only plain constructor keyword arguments, so the same program runs on the captured version and on newer ones.
Stack config (Pulumi.upgrade.yaml): data_volume_id (volume A), instance_id, cleanup_volume_id (volume B).
"""

import pulumi
from pulumi import ResourceOptions

from snapshot_provider import EbsSnapshot, InstanceSnapshots
from snapshot_provider.volume_removal import VolumeRemoval

FIXTURE_TAGS = {{"fixture": "{label}"}}

config = pulumi.Config()
data_volume_id = config.require("data_volume_id")
instance_id = config.require("instance_id")
cleanup_volume_id = config.require("cleanup_volume_id")

data = EbsSnapshot(
    "data-snapshot",
    volume_id=data_volume_id,
    description="upgrade fixture",
    tags=FIXTURE_TAGS,
)

instance_set = InstanceSnapshots(
    "instance-set",
    instance_id=instance_id,
    exclude_boot_volume=False,
    tags=FIXTURE_TAGS,
)

cleanup = EbsSnapshot(
    "cleanup-snapshot",
    volume_id=cleanup_volume_id,
    copy_volume_tags=True,
    tags=FIXTURE_TAGS,
)
removal = VolumeRemoval(
    "cleanup-removal",
    volume_id=cleanup_volume_id,
    snapshot_id=cleanup.snapshot_id,
    confirm_delete_volume=cleanup_volume_id,
    opts=ResourceOptions(depends_on=[cleanup]),
)

pulumi.export("data_snapshot_id", data.snapshot_id)
pulumi.export("data_snapshot_state", data.state)
pulumi.export("instance_snapshot_ids", instance_set.snapshot_ids)
pulumi.export("cleanup_snapshot_id", cleanup.snapshot_id)
pulumi.export("removed_volume_id", removal.volume_id)
pulumi.export("removed_volume_size", removal.size)
pulumi.export("removed_volume_zone", removal.availability_zone)
'''

PROJECT_YAML = "name: {project}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n{venv_line}"


def log(message: str) -> None:
    print(f"export: {message}", file=sys.stderr, flush=True)


# --- emulator ------------------------------------------------------------------------------------------------------
class Emulator:
    """`python -m emulator` of the captured version, in its own process (group), stopped by stop()."""

    def __init__(self, repo: Path, workdir: Path) -> None:
        ready_file = workdir / "emulator.json"
        self.log_path = workdir / "emulator.log"
        self._log = self.log_path.open("w")
        env = {**os.environ, "PYTHONPATH": str(repo)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulator",
                "--port",
                "0",
                "--region",
                REGION,
                "--pending-seconds",
                "1",
                "--seed-volumes",
                "3",
                "--ready-file",
                str(ready_file),
            ],
            cwd=repo,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        self.ready: dict[str, Any] = json.loads(ready_file.read_text())
        self.url: str = self.ready["url"]

    def control(self, path: str, **args: Any) -> Any:
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --- Pulumi CLI ----------------------------------------------------------------------------------------------------
class Cli:
    def __init__(self, bin_dir: Path, repo: Path, project_dir: Path, state_dir: Path, home: Path, url: str) -> None:
        self.project_dir = project_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(repo),
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{state_dir}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        }

    def __call__(self, *args: str, timeout: float = 600) -> str:
        log("pulumi " + " ".join(args))
        result = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.project_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout


# --- world.json ----------------------------------------------------------------------------------------------------
def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _tags(aws_tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in aws_tags or []}


def read_world(url: str) -> dict[str, Any]:
    """Everything the emulator must contain for the captured state to be true, read through the EC2 API."""
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )
    account_id = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    ).get_caller_identity()["Account"]
    volumes = [
        {
            "volume_id": v["VolumeId"],
            "size": v["Size"],
            "availability_zone": v["AvailabilityZone"],
            "volume_type": v.get("VolumeType"),
            "iops": v.get("Iops"),
            "throughput": v.get("Throughput"),
            "encrypted": bool(v.get("Encrypted")),
            "kms_key_id": v.get("KmsKeyId"),
            "multi_attach_enabled": bool(v.get("MultiAttachEnabled")),
            "snapshot_id": v.get("SnapshotId") or None,
            "create_time": _iso(v.get("CreateTime")),
            "tags": _tags(v.get("Tags")),
            "state": v["State"],
            "attachments": [
                {
                    "instance_id": a["InstanceId"],
                    "device": a["Device"],
                    "state": a["State"],
                    "delete_on_termination": bool(a.get("DeleteOnTermination")),
                }
                for a in v.get("Attachments", [])
            ],
        }
        for page in ec2.get_paginator("describe_volumes").paginate()
        for v in page["Volumes"]
    ]
    instances = [
        {
            "instance_id": i["InstanceId"],
            "image_id": i.get("ImageId"),
            "instance_type": i.get("InstanceType"),
            "state": i["State"]["Name"],
            "placement_zone": i["Placement"]["AvailabilityZone"],
            "root_device_name": i.get("RootDeviceName"),
            "block_device_mappings": {
                m["DeviceName"]: m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m
            },
            "tags": _tags(i.get("Tags")),
        }
        for page in ec2.get_paginator("describe_instances").paginate()
        for r in page["Reservations"]
        for i in r["Instances"]
    ]
    snapshots = [
        {
            "snapshot_id": s["SnapshotId"],
            "volume_id": s["VolumeId"],
            "description": s.get("Description") or "",
            "tags": _tags(s.get("Tags")),  # every tag, the provider's pulumi-snapshot:* ones included
            "start_time": _iso(s.get("StartTime")),
            "state": s["State"],
            "progress": s.get("Progress"),
            "storage_tier": s.get("StorageTier", "standard"),
            "volume_size": s.get("VolumeSize"),
            "encrypted": bool(s.get("Encrypted")),
            "kms_key_id": s.get("KmsKeyId"),
            "owner_id": s.get("OwnerId"),
        }
        # Only the account's own snapshots: moto's built-in AMIs bring ~1200 snapshots owned by other accounts,
        # and moto ignores OwnerIds=["self"], so they are filtered here.
        for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
        for s in page["Snapshots"]
        if s.get("OwnerId") == account_id
    ]
    key = lambda item, name: item[name]  # noqa: E731
    return {
        "region": REGION,
        "account_id": account_id,
        "volumes": sorted(volumes, key=lambda v: key(v, "volume_id")),
        "instances": sorted(instances, key=lambda i: key(i, "instance_id")),
        "snapshots": sorted(snapshots, key=lambda s: key(s, "snapshot_id")),
    }


# --- main ----------------------------------------------------------------------------------------------------------
def strip_virtualenv(project_yaml: str) -> str:
    lines = project_yaml.splitlines(keepends=True)
    return "".join(line for line in lines if not line.strip().startswith("virtualenv:"))


def fixture_readme(label: str, repo: Path, bin_dir: Path, venv: Path, state: dict[str, Any]) -> str:
    """What the fixture is and what made it: the version, the CLI and SDK, the resources in its state."""

    def output(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    commit = output("git", "-C", str(repo), "rev-parse", "HEAD")
    cli = output(str(bin_dir / "pulumi"), "version")
    sdk = output(str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('pulumi'))")
    resources = "\n".join(
        f"- `{r['urn']}`" + (f" (id `{r['id']}`)" if r.get("id") and "::pulumi:providers:" not in r["urn"] else "")
        for r in state["deployment"]["resources"]
    )
    about = (
        f"A stack created by {label} (commit `{commit}`) with the real Pulumi CLI {cli} and Python SDK {sdk}, on "
        "that version's emulator, by `scripts/export_upgrade_fixture.py` (its docstring describes every file). "
        "Passphrase `e2e-tests-only`. `tests/e2e/test_e2e_upgrade.py` imports it into the current version against an "
        "emulator seeded with `world.json`, and expects no changes, a clean refresh and a complete destroy."
    )
    return (
        f"# Upgrade state fixture: pulumi-ebs-snapshots {label}\n\n{textwrap.fill(about, 118)}\n\n"
        f"Resources in `state.json`:\n\n{resources}\n"
    )


def export(repo: Path, out: Path, bin_dir: Path, venv: Path, label: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="fixture-export-"))
    emulator: Emulator | None = None
    try:
        emulator = Emulator(repo, workdir)
        log(f"emulator at {emulator.url}, seeded volumes {emulator.ready['volume_ids']}")
        data_volume, cleanup_volume, _spare = emulator.ready["volume_ids"]
        instance = emulator.control("seed-instance", data_volumes=2)
        log(f"instance {instance}")

        project_dir, state_dir, home = workdir / "project", workdir / "state", workdir / "pulumi-home"
        for d in (project_dir, state_dir, home):
            d.mkdir()
        program = PROGRAM.format(label=label)
        (project_dir / "__main__.py").write_text(program)
        (project_dir / "Pulumi.yaml").write_text(
            PROJECT_YAML.format(project=PROJECT, venv_line=f"    virtualenv: {venv}\n")
        )
        pulumi = Cli(bin_dir, repo, project_dir, state_dir, home, emulator.url)
        pulumi("stack", "init", STACK)
        pulumi("config", "set", "aws:region", REGION)
        pulumi("config", "set", "data_volume_id", data_volume)
        pulumi("config", "set", "instance_id", instance["instance_id"])
        pulumi("config", "set", "cleanup_volume_id", cleanup_volume)
        pulumi("up", "--yes", "--skip-preview")
        pulumi("preview", "--expect-no-changes")
        state = pulumi("stack", "export")
        json.loads(state)  # it is JSON

        world = read_world(emulator.url)
        world["fixture"] = label

        (out / "__main__.py").write_text(program)
        (out / "Pulumi.yaml").write_text(strip_virtualenv((project_dir / "Pulumi.yaml").read_text()))
        shutil.copyfile(project_dir / f"Pulumi.{STACK}.yaml", out / f"Pulumi.{STACK}.yaml")
        (out / "state.json").write_text(state if state.endswith("\n") else state + "\n")
        (out / "world.json").write_text(json.dumps(world, indent=2, sort_keys=False) + "\n")
        (out / "README.md").write_text(fixture_readme(label, repo, bin_dir, venv, json.loads(state)))
        log(f"fixture written to {out}")
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo_root", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("bin_dir", type=Path)
    parser.add_argument("--venv", type=Path)
    parser.add_argument("--label")
    args = parser.parse_args()
    repo = args.repo_root.resolve()
    venv = args.venv or (repo / "venv" if (repo / "venv").exists() else Path(sys.prefix))
    label = (
        args.label
        or subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    if not (args.bin_dir / "pulumi").exists():
        parser.error(f"no pulumi in {args.bin_dir}")
    export(repo, args.out_dir.resolve(), args.bin_dir.resolve(), venv.absolute(), label)


if __name__ == "__main__":
    main()
