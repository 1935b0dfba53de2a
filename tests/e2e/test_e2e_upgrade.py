"""Upgrade: the state an earlier release left is imported into this version and must show no change but one: a
VolumeRemoval from before removals held their snapshot is updated in place, which holds it.

Each directory under tests/fixtures/upgrade/ is a stack exported by one release (scripts/export_upgrade_fixture.py,
one per release from 0.1.0 on; `e34e156` is the state before 0.1.0). The emulator is seeded with the fixture's
world (same ids), the fixture's program runs with the current package (the dev venv's editable install), and the
real CLI runs: import, preview (that one update), refresh, preview again, up (which moves the
resources to this version's type tokens through their aliases), destroy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import cli_environment, emulator_credentials, run_pulumi

from emulator import Ec2Emulator
from testbed import REGION

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "upgrade"
STACK = "upgrade"
TYPES = "pulumi-python:dynamic/ebs-snapshots:"
# What every fixture's program declares (scripts/export_upgrade_fixture.py), by resource name.
TYPE_OF = {
    "data-snapshot": "EbsSnapshot",
    "instance-set": "InstanceSnapshots",
    "cleanup-snapshot": "EbsSnapshot",
    "cleanup-removal": "VolumeRemoval",
}


def fixture_dirs() -> list[Path]:
    return sorted(d for d in FIXTURES.iterdir() if (d / "state.json").exists())


def seedable(world: dict[str, Any]) -> dict[str, Any]:
    """world.json (as the exporter reads it through the EC2 API) in the shape `Ec2Emulator.seed_world` takes."""
    return {
        "volumes": [
            {
                "id": v["volume_id"],
                "size": v["size"],
                "availability_zone": v["availability_zone"],
                "volume_type": v["volume_type"],
                "encrypted": v["encrypted"],
                "tags": v["tags"],
                "state": v["state"],
                **{k: v[k] for k in ("iops", "throughput") if v.get(k) is not None},
            }
            for v in world["volumes"]
        ],
        "instances": [
            {
                "id": i["instance_id"],
                "root_device_name": i["root_device_name"],
                "block_device_mappings": i["block_device_mappings"],
                "availability_zone": i["placement_zone"],
                "instance_type": i["instance_type"],
                "tags": i["tags"],
            }
            for i in world["instances"]
        ],
        "snapshots": [
            {
                "id": s["snapshot_id"],
                "volume_id": s["volume_id"],
                "description": s["description"],
                "tags": s["tags"],
                "start_time": s["start_time"],
                "state": s["state"],
                "storage_tier": s["storage_tier"],
                "volume_size": s["volume_size"],
                "encrypted": s["encrypted"],
            }
            for s in world["snapshots"]
        ],
    }


class ImportedStack:
    """The fixture's program and stack config in a temp project, run with the current package."""

    def __init__(self, fixture: Path, workdir: Path, bin_dir: Path, emulator: Ec2Emulator) -> None:
        self.project = workdir / "project"
        state, home = workdir / "state", workdir / "pulumi-home"
        for d in (self.project, state, home):
            d.mkdir()
        shutil.copyfile(fixture / "__main__.py", self.project / "__main__.py")
        shutil.copyfile(fixture / f"Pulumi.{STACK}.yaml", self.project / f"Pulumi.{STACK}.yaml")
        (self.project / "Pulumi.yaml").write_text(
            (fixture / "Pulumi.yaml").read_text().rstrip("\n") + f"\n    virtualenv: {ROOT / 'venv'}\n"
        )
        self.env = {**cli_environment(bin_dir, home, state), **emulator_credentials(emulator.url, emulator.sts_url)}

    def run(self, *args: str) -> str:
        return run_pulumi(args, self.project, self.env).stdout

    def resources(self) -> list[tuple[str, str, str | None]]:
        """(type, name, id) of every resource in state but the stack and the provider."""
        deployment = json.loads(self.run("stack", "export"))["deployment"]
        return sorted(
            (r["type"], r["urn"].rsplit("::", 1)[1], r.get("id"))
            for r in deployment["resources"]
            if r["type"].startswith("pulumi-python:dynamic")
        )


@pytest.mark.parametrize("fixture", fixture_dirs(), ids=lambda d: d.name)
def test_state_of_an_earlier_release_shows_no_change_then_refreshes_and_destroys(
    fixture: Path, bin_dir: Path, emulator: Ec2Emulator, tmp_path: Path
) -> None:
    world = json.loads((fixture / "world.json").read_text())
    emulator.seed_world(seedable(world))
    # The account is as the state says, ids and tags (the provider's own included).
    assert {s["snapshot_id"]: s["tags"] for s in emulator.snapshots()} == {
        s["snapshot_id"]: s["tags"] for s in world["snapshots"]
    }
    stack = ImportedStack(fixture, tmp_path, bin_dir, emulator)
    stack.run("stack", "init", STACK)  # keeps the fixture's Pulumi.upgrade.yaml (its encryption salt)
    stack.run("stack", "import", "--file", str(fixture / "state.json"))
    imported = stack.resources()
    assert sorted(name for _, name, _ in imported) == sorted(TYPE_OF)
    emulator.clear_calls()

    # The one change: a removal from then held nothing, and the first `up` holds its snapshot (an update in place),
    # so that a destroy cannot delete the snapshot before the undo restored the volume.
    assert changes(stack) == [("update", "cleanup-removal")]
    stack.run("refresh", "--yes")  # the providers pickled in the fixture's state read the snapshots
    assert emulator.calls("DescribeSnapshots")
    assert stack.resources() == imported  # nothing dropped, no id changed
    assert changes(stack) == [("update", "cleanup-removal")]
    stack.run("up", "--yes")  # through the aliases, onto this version's type tokens
    assert stack.resources() == sorted((TYPES + TYPE_OF[name], name, id_) for _, name, id_ in imported)
    [removal] = [r for r in state_resources(fixture) if r["urn"].endswith("::cleanup-removal")]
    assert (
        mutating(emulator) == ["CreateTags"]
        and emulator.calls("CreateTags")[0].params["ResourceId.1"] == (removal["inputs"]["snapshot_id"])
    )
    stack.run("preview", "--expect-no-changes")

    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []  # every snapshot of the stack deleted
    removed = removal["inputs"]["volume_id"]
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    [restored] = ec2.describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [removed]}])["Volumes"]
    assert (restored["Size"], restored["AvailabilityZone"], restored["State"]) == (
        removal["outputs"]["size"],
        removal["outputs"]["availability_zone"],
        "available",
    )


def changes(stack: ImportedStack) -> list[tuple[str, str]]:
    """What a preview would do, step by step, but the resources it leaves as they are."""
    steps = json.loads(stack.run("preview", "--json"))["steps"]
    return sorted((s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps if s["op"] != "same")


def state_resources(fixture: Path) -> list[dict[str, Any]]:
    return list(json.loads((fixture / "state.json").read_text())["deployment"]["resources"])


def mutating(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]
