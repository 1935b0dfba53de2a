"""Red-team findings on the `ebs-snapshots` provider plugin, end to end as a user meets them: a YAML program in a temp
dir, the real CLI with upstream's YAML host, the plugin started the standard way, the emulator.

Each test is marked `xfail(strict=True)` with its finding id (see tests/test_redteam_plugin.py for the operations).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import test_e2e_plugin_yaml as yaml_e2e
from pulumi.provider.experimental import provider as p
from stack_harness import new_stack, pulumi_bin_dir
from test_e2e_plugin_yaml import TOKEN, snapshots

from emulator import Ec2Emulator
from snapshot_provider.plugin import provider as plugin
from snapshot_provider.plugin.install import plugin_yaml
from snapshot_provider.plugin.provider import EbsSnapshotsProvider
from testbed import REGION

SECRET_TAG = "tag-s3cr3t-value"
yaml_stack = yaml_e2e.yaml_stack  # the fixture: a YAML program using the plugin


def one_snapshot(volume_id: str, extra: str = "") -> str:
    return f"""
resources:
  backup:
    type: {TOKEN}
    properties:
      volumeId: {volume_id}
      timeout: 60{extra}
"""


def test_the_providers_region_config_is_enough_without_aws_region(yaml_stack: Any, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = yaml_stack(one_snapshot(volume_id))
    stack.run("config", "set", "ebs-snapshots:region", REGION)
    del stack.env["AWS_REGION"]  # a CI runner with no default region: the stack's config says where

    result = stack.up(check=False)

    assert result.returncode == 0, result.stdout[-2000:]
    assert len(snapshots(volume_id)) == 1


def test_a_secret_tag_value_never_lands_in_state_through_the_plugin(yaml_stack: Any, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = yaml_stack(one_snapshot(volume_id, f"\n      tags:\n        token:\n          fn::secret: {SECRET_TAG}"))
    stack.up()
    assert SECRET_TAG not in stack.run("stack", "export").stdout


def test_a_secret_tag_value_never_lands_in_state_through_the_dynamic_classes(
    tmp_path: Path, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    program = f"""
from snapshot_provider import EbsSnapshot
EbsSnapshot("backup", volume_id="{volume_id}", timeout=60, tags={{"token": pulumi.Output.secret("{SECRET_TAG}")}})
"""
    stack = new_stack(tmp_path, pulumi_bin_dir(), emulator, program)
    stack.up()
    assert SECRET_TAG not in stack.run("stack", "export").stdout


def test_a_yaml_program_can_preview_a_volume_removal(yaml_stack: Any, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    snapshot_id = boto3.client("ec2", region_name=REGION).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    stack = yaml_stack(f"""
resources:
  gone:
    type: ebs-snapshots:index:VolumeRemoval
    properties:
      volumeId: {volume_id}
      snapshotId: {snapshot_id}
      confirmDeleteVolume: {volume_id}
""")
    result = stack.preview(check=False)
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_yaml_program_can_get_a_snapshot_another_stack_manages(yaml_stack: Any, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    # Another stack's EbsSnapshot, taken through the same operations.
    theirs = f"urn:pulumi:prod::db-backups::{TOKEN}::nightly"
    provider = EbsSnapshotsProvider()
    news = {"volumeId": plugin.wire(volume_id), "timeout": plugin.wire(30.0)}
    checked = asyncio.run(provider.check(p.CheckRequest(theirs, {}, news, b"")))
    snapshot_id = asyncio.run(provider.create(p.CreateRequest(theirs, checked.inputs, 0, False))).resource_id
    stack = yaml_stack(f"""
resources:
  theirs:
    type: {TOKEN}
    get:
      id: {snapshot_id}
outputs:
  volumeId: ${{theirs.volumeId}}
""")
    result = stack.up(check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert stack.outputs()["volumeId"] == volume_id


@pytest.mark.xfail(
    strict=True,
    reason="RT-P5 (mitigated, open): the plugin now refuses the delete (Diff said replace, no replacement yet in this "
    "process), so nothing is deleted and the up fails with the fix ('Remove deleteBeforeReplace'); see "
    "test_e2e_plugin_yaml. What remains for this test: taking the new snapshot first despite the option, which wins "
    "over Diff's deleteBeforeReplace=false (step_generator.go) and reaches no request; deferring the old delete until "
    "the create risks the core adopting the old snapshot as a leftover of the same URN: a design decision",
)
def test_a_replace_takes_the_new_snapshot_before_deleting_the_old_even_with_delete_before_replace(
    yaml_stack: Any, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)

    def program(description: str) -> str:
        return one_snapshot(
            volume_id, f"\n      description: {description}\n    options:\n      deleteBeforeReplace: true"
        )

    stack = yaml_stack(program("nightly"))
    stack.up()
    emulator.clear_calls()
    stack.write_program(program("weekly"))
    stack.up()

    order = [c.action for c in emulator.mutating_calls() if c.action in ("CreateSnapshot", "DeleteSnapshot")]
    assert order == ["CreateSnapshot", "DeleteSnapshot"]


def test_a_plugin_virtualenv_without_the_package_says_which_and_how_to_fix_it(
    yaml_stack: Any, emulator: Ec2Emulator, tmp_path: Path
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack = yaml_stack(one_snapshot(volume_id))
    bare = tmp_path / "bare-venv"  # e.g. the plugin directory written for a virtualenv since recreated
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    (stack.plugin_dir / "PulumiPlugin.yaml").write_text(plugin_yaml(bare))

    result = stack.preview(check=False)

    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in said
    assert str(bare) in said and "pip install" in said
