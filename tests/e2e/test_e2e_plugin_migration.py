"""End to end: a Python stack of dynamic `EbsSnapshot`s moves to the `ebs-snapshots` plugin without re-taking a
snapshot, as docs/plugin.md tells users: the program declares the generated Python SDK's `EbsSnapshot` (sdk/python)
under the same name with an alias of the old type. The real CLI, the emulator, a project outside the repository.

The generated SDK is installed for the program as a user's `pip install sdk/python` would (into a directory on the
program's PYTHONPATH, so that the repository's venv stays as requirements.txt has it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from stack_harness import PulumiStack, pulumi_bin_dir

from emulator import Ec2Emulator
from snapshot_provider.plugin.install import write_plugin_dir
from testbed import REGION

ROOT = Path(__file__).resolve().parents[2]
# The SDK's own dependencies that the repository's venv does not have (semver is pulumi's).
SDK_DEPENDENCIES = ("parver==1.0.1.post0", "arpeggio==2.0.3")

DYNAMIC = """\
import pulumi
from snapshot_provider import EbsSnapshot

backup = EbsSnapshot("db-backup", volume_id={volume!r}, description="nightly", tags={tags!r}, timeout=60)
pulumi.export("snapshot_id", backup.snapshot_id)
"""

PLUGIN = """\
import pulumi
import pulumi_ebs_snapshots_sdk as ebs

backup = ebs.EbsSnapshot(
    "db-backup",
    volume_id={volume!r},
    description="nightly",
    tags={tags!r},
    timeout=60,
    opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="pulumi-python:dynamic/ebs-snapshots:EbsSnapshot")]),
)
pulumi.export("snapshot_id", backup.snapshot_id)
"""


@pytest.fixture(scope="module")
def python_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdk/python installed (with its own dependencies the venv lacks) into a directory."""
    target = tmp_path_factory.mktemp("python-sdk")
    pip = [str(ROOT / "venv" / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*pip, "--target", str(target), str(ROOT / "sdk" / "python"), *SDK_DEPENDENCIES], check=True)
    return target


def test_dynamic_stack_moves_to_the_plugin_by_alias_keeping_its_snapshot(
    tmp_path: Path, python_sdk: Path, emulator: Ec2Emulator
) -> None:
    emulator.configure(pending_seconds=1.0)
    [volume] = emulator.seed_volumes(1)
    stack = PulumiStack(
        tmp_path,
        pulumi_bin_dir(),
        emulator.url,
        DYNAMIC.format(volume=volume, tags={"team": "db"}),
        sts_url=emulator.sts_url,
    )
    stack.config(**{"aws:region": REGION})
    stack.up()
    [taken] = [s["snapshot_id"] for s in emulator.snapshots()]

    plugin = write_plugin_dir(tmp_path / "plugin", ROOT / "venv")
    settings = stack.project_dir / "Pulumi.yaml"
    settings.write_text(
        settings.read_text() + f"plugins:\n  providers:\n    - name: ebs-snapshots\n      path: {plugin}\n"
    )
    stack.env["PYTHONPATH"] = str(python_sdk)
    stack.write_program(PLUGIN.format(volume=volume, tags={"team": "db"}))
    emulator.clear_calls()

    preview = json.loads(stack.run("preview", "--json").stdout)
    assert preview["changeSummary"] == {"same": 2}, preview["changeSummary"]  # the stack and the snapshot
    stack.up()
    assert emulator.mutating_calls() == [], "the move took or deleted a snapshot"
    assert stack.outputs()["snapshot_id"] == taken
    [moved] = stack.resources("ebs-snapshots:")
    assert moved["type"] == "ebs-snapshots:index:EbsSnapshot"

    # The plugin's now: a tag change is an update in place, and destroy deletes the snapshot the stack took.
    stack.write_program(PLUGIN.format(volume=volume, tags={"team": "db", "tier": "gold"}))
    stack.up()
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [taken]
    assert emulator.snapshots()[0]["tags"]["tier"] == "gold"
    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []
