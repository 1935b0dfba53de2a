"""End to end through the provider plugin, as a YAML user works: a Pulumi YAML program in a temp dir outside the
repository, the real CLI with upstream's YAML language host, the `ebs-snapshots` plugin started the standard way (a
plugin directory with `PulumiPlugin.yaml`, `runtime: python`, run by the Python language host's `RunPlugin`), and
the emulator; every assertion is on what the emulator holds.

One stack walks the whole lifecycle (a couple of minutes of CLI runs, so one test rather than seven): preview without
credentials, up, a tags update in place, a replace (new snapshot first, old deleted after), refresh, `pulumi import`
of a snapshot made by hand, destroy.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, pulumi_bin_dir

from emulator import Ec2Emulator
from snapshot_provider.plugin.install import write_plugin_dir
from testbed import REGION

TOKEN = "ebs-snapshots:index:EbsSnapshot"


class YamlStack(PulumiStack):
    """A stack whose program is Pulumi YAML using the plugin in `plugin_dir`."""

    plugin_dir: Path

    def write_program(self, program: str) -> None:
        (self.project_dir / "Pulumi.yaml").write_text(
            "name: ebs-snapshots\nruntime: yaml\n"
            f"plugins:\n  providers:\n    - name: ebs-snapshots\n      path: {self.plugin_dir}\n"
            + textwrap.dedent(program)
        )


def program(volume_id: str, *, description: str, team: str) -> str:
    return f"""
resources:
  backup:
    type: {TOKEN}
    properties:
      volumeId: {volume_id}
      description: {description}
      tags:
        team: {team}
      timeout: 60
outputs:
  snapshotId: ${{backup.snapshotId}}
  tags: ${{backup.tags}}
  volumeId: ${{backup.volumeId}}
"""


@pytest.fixture
def yaml_stack(tmp_path: Path, emulator: Ec2Emulator) -> Any:
    YamlStack.plugin_dir = write_plugin_dir(tmp_path / "ebs-snapshots-plugin")

    def make(text: str) -> YamlStack:
        return YamlStack(tmp_path, pulumi_bin_dir(), emulator.url, program=text, sts_url=emulator.sts_url)

    return make


def snapshots(volume_id: str) -> dict[str, dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Snapshots"]
    return {s["SnapshotId"]: s for s in found}


def tags(snapshot: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}


def test_a_yaml_program_lives_a_snapshots_whole_lifecycle_through_the_plugin(yaml_stack: Any, emulator: Ec2Emulator):
    volume_id = emulator.seed_volumes(1)[0]
    stack = yaml_stack(program(volume_id, description="nightly", team="db"))

    # Preview without credentials: the plan, the known outputs, nothing in EC2.
    without_credentials = {
        k: v for k, v in stack.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    saved, stack.env = stack.env, without_credentials
    result = stack.run("preview", "--diff")
    stack.env = saved
    assert f"+ {TOKEN}" in result.stdout
    assert snapshots(volume_id) == {}
    assert emulator.mutating_calls() == []

    # up: one completed snapshot, tagged, recorded in state under the plugin's type token.
    stack.up()
    [first] = snapshots(volume_id).values()
    assert first["State"] == "completed" and tags(first)["team"] == "db" and first["Description"] == "nightly"
    assert stack.outputs()["snapshotId"] == first["SnapshotId"]
    assert [r["id"] for r in stack.resources(TOKEN)] == [first["SnapshotId"]]

    # A tags change updates in place.
    stack.write_program(program(volume_id, description="nightly", team="web"))
    stack.up()
    assert list(snapshots(volume_id)) == [first["SnapshotId"]]
    assert tags(snapshots(volume_id)[first["SnapshotId"]])["team"] == "web"

    # A description change replaces: the new snapshot is taken before the old one is deleted.
    emulator.clear_calls()
    stack.write_program(program(volume_id, description="weekly", team="web"))
    stack.up()
    [second] = snapshots(volume_id).values()
    assert second["SnapshotId"] != first["SnapshotId"] and second["Description"] == "weekly"
    order = [c.action for c in emulator.mutating_calls() if c.action in ("CreateSnapshot", "DeleteSnapshot")]
    assert order == ["CreateSnapshot", "DeleteSnapshot"]

    # refresh finds it as state records it.
    stack.run("refresh", "--yes")
    assert [r["id"] for r in stack.resources(TOKEN)] == [second["SnapshotId"]]

    # import: a snapshot made by hand is recorded with its inputs, and is the user's: never deleted.
    ec2 = boto3.client("ec2", region_name=REGION)
    handmade = ec2.create_snapshot(VolumeId=volume_id, Description="by hand")["SnapshotId"]
    stack.run("import", TOKEN, "handmade", handmade, "--yes", "--protect=false")
    [imported] = [r for r in stack.resources(TOKEN) if r["id"] == handmade]
    assert imported["inputs"]["volumeId"] == volume_id and imported["inputs"]["description"] == "by hand"
    assert imported["outputs"]["imported"] is True

    # An error reads as the provider's message, not as a Python exception's repr.
    missing = stack.run("import", TOKEN, "missing", "snap-0123456789abcdef0", "--yes", check=False)
    assert missing.returncode != 0
    assert "snap-0123456789abcdef0 was not found in region us-east-1" in missing.stdout + missing.stderr
    assert "Unexpected <class" not in missing.stdout + missing.stderr

    # destroy: this stack's snapshot goes, the imported one stays.
    stack.run("destroy", "--yes")
    assert list(snapshots(volume_id)) == [handmade]
    assert stack.resources(TOKEN) == []
    assert "emulator-secret-key" not in stack.state_file().read_text()


def test_delete_before_replace_is_refused_keeping_the_snapshot_and_the_next_up_without_it_converges(
    yaml_stack: Any, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    dbr = "\n    options:\n      deleteBeforeReplace: true"
    stack = yaml_stack(program(volume_id, description="nightly", team="db"))
    stack.up()
    [old] = snapshots(volume_id)

    stack.write_program(
        program(volume_id, description="weekly", team="db").replace("      timeout: 60", "      timeout: 60" + dbr)
    )
    refused = stack.up(check=False)
    assert refused.returncode != 0 and "Remove deleteBeforeReplace" in refused.stdout + refused.stderr
    assert list(snapshots(volume_id)) == [old]

    stack.write_program(program(volume_id, description="weekly", team="db"))
    stack.up()
    [new] = snapshots(volume_id).values()
    assert new["SnapshotId"] != old and new["Description"] == "weekly"


COPY_TOKEN = "ebs-snapshots:index:SnapshotCopy"
OTHER_REGION = "eu-west-1"


def copy_program(volume_id: str, *, purpose: str) -> str:
    return f"""
resources:
  data:
    type: {TOKEN}
    properties:
      volumeId: {volume_id}
      timeout: 60
  dr:
    type: {COPY_TOKEN}
    properties:
      sourceSnapshotId: ${{data.snapshotId}}
      sourceRegion: {REGION}
      region: {OTHER_REGION}
      description: dr copy
      tags:
        purpose: {purpose}
      timeout: 120
outputs:
  copyId: ${{dr.snapshotId}}
  copyRegion: ${{dr.region}}
  copyWaitTime: ${{dr.waitTime}}
"""


def test_a_yaml_program_copies_a_snapshot_to_another_region_through_the_plugin(
    yaml_stack: Any, emulator: Ec2Emulator
) -> None:
    [volume_id] = emulator.seed_volumes(1)
    emulator.configure(pending_seconds=0.5, copy_seconds=2.0)
    stack = yaml_stack(copy_program(volume_id, purpose="dr"))

    stack.up()
    outputs = stack.outputs()
    [held] = emulator.snapshots(region=OTHER_REGION)
    assert (held["snapshot_id"], held["state"], held["tags"]["purpose"]) == (outputs["copyId"], "completed", "dr")
    assert outputs["copyRegion"] == OTHER_REGION and outputs["copyWaitTime"] >= 2.0
    assert [r["id"] for r in stack.resources(COPY_TOKEN)] == [held["snapshot_id"]]
    assert len(emulator.calls("CopySnapshot")) == 1

    # A tags change updates the copy in place.
    stack.write_program(copy_program(volume_id, purpose="audit"))
    stack.up()
    [updated] = emulator.snapshots(region=OTHER_REGION)
    assert (updated["snapshot_id"], updated["tags"]["purpose"]) == (held["snapshot_id"], "audit")

    stack.run("destroy", "--yes")
    assert emulator.snapshots(region=OTHER_REGION) == [] and snapshots(volume_id) == {}
