"""End to end, as a user gets the package: the wheel built from this checkout, installed into a fresh virtualenv
outside the repository, runs `examples/volume-snapshots` with the real Pulumi CLI on the emulator.

Nothing the CLI or the program runs with points into the repository: no PYTHONPATH, no repository path on PATH, a
project directory and virtualenv in a temp dir. The emulator runs in this test process (from the dev venv).

The pull-request test runs the same preview commands as `examples/github-actions/snapshots.yml`, with no AWS
credentials at all, on a stack created earlier with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any

import boto3
import pytest
from packaging.requirements import Requirement
from stack_harness import cli_environment, emulator_credentials, run_pulumi

from emulator import Ec2Emulator
from testbed import REGION

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "volume-snapshots"
DIST_NAME = "pulumi_ebs_snapshots"
VERSION = "0.1.0"
EBS_SNAPSHOT = "pulumi-python:dynamic/ebs-snapshots:EbsSnapshot"
VOLUME_REMOVAL = "pulumi-python:dynamic/ebs-snapshots:VolumeRemoval"
# Its tests share one wheel and venv (session fixtures): under pytest-xdist they run in one worker, which builds once.
pytestmark = pytest.mark.xdist_group("package")
# What a build reads from a checkout; the rest (the dev venv, state, caches, earlier builds) stays out of the copy.
NOT_BUILD_INPUTS = shutil.ignore_patterns(
    "venv", ".git", ".pulumi-state", ".run", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


@dataclass
class Figures:
    """Measured while the module runs; printed at the end of each test that has some."""

    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, what: str, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, **kwargs)
        self.seconds[what] = time.monotonic() - start
        if result.returncode != 0:
            raise AssertionError(
                f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result


@dataclass
class Installed:
    """The example project copied out of the repository, with a fresh virtualenv holding the wheel."""

    wheel: Path
    project: Path
    python: Path


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> Path:
    """`python -m build --wheel --no-isolation` (the dev venv's setuptools) on a copy of the checkout, so the build
    leaves nothing in the repository."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_BUILD_INPUTS)
    dist = work / "dist"
    figures.timed(
        "build the wheel",
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)],
    )
    [built] = dist.glob("*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> Installed:
    """The user's steps: copy the example, `python -m venv venv`, `pip install -r requirements.txt`, with pip told
    where the wheel is (`--find-links`) and held to the repository's tested pins (`-c requirements.txt`, as a lock
    file would); everything else comes from PyPI or the local wheel cache."""
    project = tmp_path_factory.mktemp("user") / "volume-snapshots"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("venv", "Pulumi.*.yaml", "__pycache__"))
    assert not project.resolve().is_relative_to(ROOT)
    venv = project / "venv"  # where the example's Pulumi.yaml (virtualenv: venv) looks
    env = outside_env()
    figures.timed("create a fresh venv", [sys.executable, "-m", "venv", str(venv)], env=env)
    python = venv / "bin" / "python"
    figures.timed(
        "pip install -r requirements.txt",
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--find-links",
            str(wheel.parent),
            "-c",
            str(ROOT / "requirements.txt"),
            "-r",
            str(project / "requirements.txt"),
        ],
        cwd=project,
        env=env,
    )
    return Installed(wheel, project, python)


def outside_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python or the CLI into the repository, and without
    AWS or Pulumi settings (callers add theirs)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and not Path(p).resolve().is_relative_to(ROOT)
    )
    env.update(extra)
    return env


class UserStack:
    """A stack of the installed example, driven by the real CLI with a file:// backend and its own PULUMI_HOME."""

    def __init__(self, installed: Installed, bin_dir: Path, workdir: Path, name: str, emulator: Ec2Emulator) -> None:
        self.project = installed.project
        self.name = name
        self.home = workdir / "pulumi-home"
        self.state = workdir / "state"
        self.home.mkdir()
        self.state.mkdir()
        self.env = {
            **cli_environment(bin_dir, self.home, self.state, outside_env()),
            **emulator_credentials(emulator.url, emulator.sts_url),
        }
        # A pull-request runner: no AWS_* variable at all, and a HOME without ~/.aws.
        no_aws_home = workdir / "home-without-aws"
        no_aws_home.mkdir()
        self.env_without_aws = cli_environment(bin_dir, self.home, self.state, outside_env(HOME=str(no_aws_home)))
        assert not [k for k in self.env_without_aws if k.startswith("AWS_")]
        self.seconds: dict[str, float] = {}
        self.run("stack", "init", name)
        self.run("config", "set", "aws:region", REGION)

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        # The stack `stack init` selected, in this PULUMI_HOME.
        result = run_pulumi(args, self.project, env or self.env, check=check)
        if args[0] not in ("config", "stack"):  # the operations, timed as the user waits for them
            label = "pulumi " + " ".join(args) + (" (no AWS credentials)" if env is self.env_without_aws else "")
            while label in self.seconds:
                label += " again"
            self.seconds[label] = time.monotonic() - start
        return result

    def config(self, key: str, value: str, *, path: bool = False) -> None:
        self.run("config", "set", *(["--path"] if path else []), key, "--", value)

    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.run("stack", "output", "--json").stdout))


def mutating(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]


def print_seconds(title: str, seconds: dict[str, float]) -> None:
    print(f"\n{title}:")
    for what, value in seconds.items():
        print(f"  {what}: {value:.1f} s")


# --- the wheel --------------------------------------------------------------------------------------------------
def test_wheel_holds_one_import_namespace_and_no_dev_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"{DIST_NAME}-{VERSION}.dist-info"
    assert wheel.name == f"{DIST_NAME}-{VERSION}-py3-none-any.whl"
    assert {n.split("/")[0] for n in names} == {"snapshot_provider", dist_info}  # no components/, emulator/, tests/
    for module in (
        "__init__",
        "ebs_snapshot",
        "instance_snapshots",
        "volume_removal",
        "core/lifecycle/taking",
        "core/removal/undo",
        "dynamic/program",
    ):
        assert f"snapshot_provider/{module}.py" in names
    for module in ("__init__", "tagging", "audit", "cleanup", "decommission", "protection", "restore"):
        assert f"snapshot_provider/components/{module}.py" in names
    assert "snapshot_provider/py.typed" in names
    assert not [n for n in names if any(part in n.split("/") for part in ("emulator", "tests", "bench", "examples"))]

    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode())
    assert (metadata["Name"], metadata["Version"]) == ("pulumi-ebs-snapshots", VERSION)
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    runtime = {r.name for r in requires if r.marker is None}
    components = {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": "components"})}
    assert runtime == {"pulumi", "boto3", "botocore"}  # moto (the emulator's) is no runtime dependency
    assert components - runtime == {"pulumi-aws"}
    size = wheel.stat().st_size
    print(f"\nwheel {wheel.name}: {size} bytes ({size / 1024:.1f} KiB), {len(names)} files")


def test_fresh_venv_imports_the_wheel_and_nothing_from_the_checkout(installed: Installed, figures: Figures) -> None:
    probe = (
        "import json, sys, importlib.util, snapshot_provider, snapshot_provider.components.cleanup as c; "
        "print(json.dumps({'path': sys.path, 'package': snapshot_provider.__file__, 'components': c.__file__, "
        "'top_level_components': importlib.util.find_spec('components') is not None, "
        "'emulator': importlib.util.find_spec('emulator') is not None}))"
    )
    found = json.loads(
        subprocess.run(
            [str(installed.python), "-c", probe],
            cwd=installed.project.parent,
            env=outside_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    site_packages = installed.project / "venv" / "lib"
    assert Path(found["package"]).is_relative_to(site_packages)
    assert Path(found["components"]).is_relative_to(site_packages)
    assert not found["top_level_components"] and not found["emulator"]
    assert not [p for p in found["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    # The installed code is this checkout's (not a package of the same name from an index).
    installed_module = Path(found["package"]).parent / "core" / "lifecycle" / "taking.py"
    assert digest(installed_module) == digest(ROOT / "snapshot_provider" / "core" / "lifecycle" / "taking.py")
    print_seconds("fresh virtualenv", figures.seconds)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the example, as a user runs it -------------------------------------------------------------------------------
def test_example_from_the_wheel_previews_creates_and_destroys(
    installed: Installed, bin_dir: Path, emulator: Ec2Emulator, tmp_path: Path
) -> None:
    emulator.configure(pending_seconds=1)
    [volume_id] = emulator.seed_volumes(1)
    [stray] = emulator.seed_volumes(1, size=12, tags={"team": "unknown"})
    stack = UserStack(installed, bin_dir, tmp_path, "example", emulator)
    stack.config("volume_ids[0]", volume_id, path=True)
    stack.config("stray_volume_id", stray)
    stack.config("confirm_delete_volume", stray)

    preview = stack.run("preview", "--diff")
    assert "+ 5 to create" in preview.stdout  # stack, snapshot, cleanup component with its snapshot and removal
    assert f"will DELETE EBS volume {stray}" in preview.stdout + preview.stderr
    assert mutating(emulator) == [] and emulator.snapshots() == []

    stack.run("up", "--yes", "--skip-preview")
    outputs = stack.outputs()
    snapshots = {s["volume_id"]: s for s in emulator.snapshots()}
    assert set(snapshots) == {volume_id, stray}
    assert outputs["snapshot_ids"] == {volume_id: snapshots[volume_id]["snapshot_id"]}
    assert outputs["stray_snapshot_id"] == snapshots[stray]["snapshot_id"]
    for snapshot in snapshots.values():
        assert snapshot["state"] == "completed"
        assert snapshot["tags"]["owner"] == "platform" and snapshot["tags"]["reason"] == "before migration"
        assert snapshot["tags"]["created-by"] == "pulumi:volume-snapshots/example"
    assert snapshots[stray]["tags"]["team"] == "unknown"  # the component copies the volume's tags
    assert stray not in emulator.ec2_backend().volumes
    assert outputs["deleted_volume"]["size"] == 12

    stack.run("preview", "--expect-no-changes")
    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    [restored] = ec2.describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [stray]}])["Volumes"]
    assert restored["Size"] == 12 and {t["Key"]: t["Value"] for t in restored["Tags"]}["team"] == "unknown"
    print_seconds("example with the real CLI", stack.seconds)


# --- pull-request previews ----------------------------------------------------------------------------------------
def test_pr_preview_needs_no_aws_credentials_and_plans_create_update_replace(
    installed: Installed, bin_dir: Path, emulator: Ec2Emulator, tmp_path: Path
) -> None:
    emulator.configure(pending_seconds=1)
    first, second, stray = emulator.seed_volumes(3)
    stack = UserStack(installed, bin_dir, tmp_path, "pr", emulator)
    stack.config("volume_ids[0]", first, path=True)
    stack.config("stray_volume_id", stray)
    stack.config("confirm_delete_volume", stray)
    stack.run("up", "--yes", "--skip-preview")  # main, with credentials
    before = stack.outputs()

    # The pull request: a new volume (create), another reason (a tag: update in place), a description (replace).
    stack.config("volume_ids[1]", second, path=True)
    stack.config("reason", "before the v2 migration")
    stack.config("description", "before the v2 migration")
    emulator.clear_calls()

    diff = stack.run("preview", "--diff", env=stack.env_without_aws)
    print(f"\n$ pulumi preview --diff  (no AWS credentials)\n{diff.stdout}")
    assert "+ 1 to create" in diff.stdout and "~ 1 to update" in diff.stdout and "+-1 to replace" in diff.stdout
    plan = json.loads(stack.run("preview", "--json", env=stack.env_without_aws).stdout)
    assert emulator.calls() == []  # nothing reached an EC2 endpoint (and there were no credentials to reach AWS)

    ops = {
        step["urn"].rsplit("::", 1)[1]: (step["op"], step["urn"].split("::")[2].split("$")[-1])
        for step in plan["steps"]
    }
    # --json lists the stack and every resource that changes; the unchanged ones are only counted.
    assert ops == {
        "volume-snapshots-pr": ("same", "pulumi:pulumi:Stack"),
        f"snapshot-{second}": ("create", EBS_SNAPSHOT),
        f"snapshot-{first}": ("replace", EBS_SNAPSHOT),
        "stray-snapshot": ("update", EBS_SNAPSHOT),  # its description is the component's: only the tag changes
    }, ops
    # Unchanged: the stack, the cleanup component and its VolumeRemoval (whose snapshot_id input stays known
    # through the snapshot's tag update, so the removal shows no phantom change).
    assert plan["changeSummary"] == {"create": 1, "update": 1, "replace": 1, "same": 3}, plan["changeSummary"]
    assert f"{VOLUME_REMOVAL}: (update)" not in diff.stdout
    [replace] = [s for s in plan["steps"] if s["op"] == "replace"]
    assert replace["replaceReasons"] == ["description"]

    # The plan was honest: `up` (with credentials) does exactly that, and leaves the removed volume alone.
    stack.run("up", "--yes", "--skip-preview")
    calls = Counter(mutating(emulator))
    assert calls["CreateSnapshot"] == 2 and calls["DeleteSnapshot"] == 1, calls
    assert not {"CreateVolume", "DeleteVolume"} & set(calls), calls
    after = stack.outputs()
    assert after["stray_snapshot_id"] == before["stray_snapshot_id"]
    assert after["snapshot_ids"][first] != before["snapshot_ids"][first]
    stack.run("preview", "--expect-no-changes", env=stack.env_without_aws)
    print_seconds("pull-request previews", stack.seconds)
