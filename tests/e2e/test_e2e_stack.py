"""End to end: the real Pulumi CLI runs this project's stack against the local EC2 emulator (file:// state).

These fail in CI when the CLI is missing, and are skipped with the reason elsewhere (see stack_harness).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from stack_harness import PulumiStack, kill_tree, wait_for

from emulator import Ec2Emulator
from snapshot_provider.core.lifecycle.shapes import ATTEMPT_TAG, RECORDED
from testbed import REGION

PENDING = 3.0


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    return {"pending_seconds": PENDING}


def mutating(emulator: Ec2Emulator) -> list[str]:
    return [c.action for c in emulator.calls() if c.mutating]


def test_preview_shows_the_create_and_changes_nothing(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)
    emulator.clear_calls()

    result = stack.preview()

    assert "+ 3 to create" in result.stdout  # stack, snapshot, audit trail
    assert "pulumi-python:dynamic/ebs-snapshots:EbsSnapshot" in result.stdout and "snapshot" in result.stdout
    assert mutating(emulator) == []
    assert emulator.snapshots() == []


def test_a_stack_without_any_config_runs(tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator) -> None:
    # No `pulumi config set` at all: the region comes from AWS_REGION. (Our language host once sent null config.)
    [volume_id] = emulator.seed_volumes(1)
    program = f"import pulumi\nfrom snapshot_provider import EbsSnapshot\nEbsSnapshot('s', volume_id={volume_id!r})\n"
    PulumiStack(tmp_path, bin_dir, emulator.url, program=program, sts_url=emulator.sts_url).up()
    assert [s["state"] for s in emulator.snapshots()] == ["completed"]


def test_a_long_wait_reports_progress_next_to_each_resource(
    tmp_path: Path, bin_dir: Path, emulator: Ec2Emulator
) -> None:
    emulator.configure(pending_seconds=8)
    volumes = emulator.seed_volumes(2)
    program = "import pulumi\nfrom snapshot_provider import EbsSnapshot\n" + "".join(
        f"EbsSnapshot('db-{i}', volume_id={v!r})\n" for i, v in enumerate(volumes)
    )
    result = PulumiStack(tmp_path, bin_dir, emulator.url, program=program, sts_url=emulator.sts_url).up()
    snapshot_of = {s["volume_id"]: s["snapshot_id"] for s in emulator.snapshots()}
    diagnostics = result.stdout.split("Diagnostics:")[1].split("Resources:")[0]
    sections = {block.split(":")[0].strip(): block for block in diagnostics.split("EbsSnapshot (")[1:]}
    # Under each resource, from the engine: "snapshot snap-... of volume vol-...: 62% after 5s, about 3s left".
    for i, volume_id in enumerate(volumes):
        mine, other = snapshot_of[volume_id], snapshot_of[volumes[1 - i]]
        block = sections[f"db-{i})"]
        assert f"snapshot {mine} of volume {volume_id}: " in block and "% after " in block, diagnostics
        assert other not in block, diagnostics


def test_preview_fails_on_bad_input_with_the_providers_message(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    stack.config(volume_id="vol-xyz", timeout=-3)
    result = stack.preview(check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "'vol-xyz' is not a valid EBS volume id" in output
    assert "-3.0 seconds is out of range" in output
    assert emulator.calls() == []


def test_up_waits_for_completion_then_rerun_changes_nothing(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)

    stack.up()
    outputs = stack.outputs()

    [snapshot] = emulator.snapshots()
    assert outputs["snapshot_id"] == snapshot["snapshot_id"]
    assert snapshot["state"] == "completed" and outputs["state"] == "completed"
    # wait_time: from CreateSnapshot to completion, within a small margin of the emulator's pending time
    assert PENDING <= outputs["wait_time"] <= PENDING + 1.5, outputs["wait_time"]
    print(f"\nwait_time {outputs['wait_time']}s for a configured pending time of {PENDING}s")

    emulator.clear_calls()
    stack.run("up", "--yes", "--expect-no-changes")
    assert mutating(emulator) == []


def test_tag_change_updates_in_place_and_volume_change_replaces(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    first, second = emulator.seed_volumes(2)
    stack.config(volume_id=first, tags={"owner": "finops"})
    stack.up()
    original = stack.outputs()["snapshot_id"]

    stack.config(tags={"owner": "platform"})
    preview = stack.preview()
    assert "~ 1 to update" in preview.stdout and "replace" not in preview.stdout
    emulator.clear_calls()
    stack.up()
    assert stack.outputs()["snapshot_id"] == original
    assert mutating(emulator) == ["CreateTags"]  # the changed tag only
    assert emulator.snapshots()[0]["tags"]["owner"] == "platform"

    stack.config(volume_id=second)
    assert "+-1 to replace" in stack.preview().stdout
    emulator.clear_calls()
    stack.up()
    replacement = stack.outputs()["snapshot_id"]
    assert replacement != original
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [replacement]
    # create-before-delete: the old snapshot goes only after the new one completed (and was marked recorded)
    actions = [c.action for c in emulator.calls()]
    assert mutating(emulator) == ["CreateSnapshot", "CreateTags", "DeleteSnapshot"]
    assert actions.index("DeleteSnapshot") > max(i for i, a in enumerate(actions) if a == "DescribeSnapshots")


def test_replace_with_retain_on_delete_keeps_the_old_snapshot(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    first, second = emulator.seed_volumes(2)
    stack.config(volume_id=first, retain_on_delete="true")
    stack.up()
    original = stack.outputs()["snapshot_id"]
    stack.config(volume_id=second)
    stack.up()
    assert {s["snapshot_id"] for s in emulator.snapshots()} == {original, stack.outputs()["snapshot_id"]}


def test_refresh_after_out_of_band_delete_removes_it_from_state(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)
    stack.up()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    ec2.delete_snapshot(SnapshotId=stack.outputs()["snapshot_id"])

    stack.run("refresh", "--yes")

    assert stack.resources() == []


def test_import_adopts_an_existing_snapshot_by_id(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    tags = {"owner": "dba"}
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume_id,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["SnapshotId"]
    stack.config(volume_id=volume_id, tags=tags, import_snapshot_id=snapshot_id)
    emulator.clear_calls()

    stack.up()

    assert stack.outputs()["snapshot_id"] == snapshot_id
    assert mutating(emulator) == []
    [resource] = stack.resources()
    assert resource["id"] == snapshot_id
    assert resource["outputs"]["imported"] is True
    stack.run("destroy", "--yes")  # imported means the user's: destroy leaves it
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [snapshot_id]


def test_killed_run_is_adopted_not_duplicated(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    emulator.configure(pending_seconds=15)
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)
    running = stack.start_up()
    wait_for(lambda: emulator.calls("CreateSnapshot"), timeout=60)

    kill_tree(running.pid)
    running.wait()

    stack.run("cancel", "--yes")  # the killed run left the stack locked
    stack.up()
    snapshots = emulator.snapshots()
    assert len(snapshots) == 1, snapshots
    assert len(emulator.calls("CreateSnapshot")) == 1
    assert stack.outputs()["snapshot_id"] == snapshots[0]["snapshot_id"]
    assert snapshots[0]["tags"][ATTEMPT_TAG] == RECORDED
    assert stack.outputs()["wait_time"] >= 14


def test_destroy_deletes_everything_the_stack_made(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)
    stack.up()
    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []
    assert stack.resources() == []


def test_state_is_small_and_holds_no_credentials(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(volume_id=volume_id)
    result = stack.up()

    [resource] = stack.resources()
    resource_bytes = len(json.dumps(resource))
    provider_bytes = len(json.dumps(resource["inputs"]["__provider"]))
    print(f"\nstate: {resource_bytes} bytes for one snapshot resource, of which __provider {provider_bytes} bytes")
    # The engine rewrites every byte of state after every step of a run: what is ours is kept small. The provider is
    # a pickled reference to its class, stored as is (no secret in it, so no ciphertext)...
    provider = base64.b64decode(resource["inputs"]["__provider"])
    assert b"snapshot_provider.ebs_snapshot" in provider and b"EbsSnapshotProvider" in provider
    assert provider_bytes < 200
    # ...outputs repeat only the inputs a later diff, refresh or delete reads...
    assert resource["inputs"]["resource_urn"] == resource["urn"]  # computed by the program, as the engine names it
    assert "resource_urn" not in resource["outputs"]
    # ...and the source position the SDK records is the program's line, not this package's constructor.
    assert resource["sourcePosition"].startswith("project:///__main__.py#")
    assert resource_bytes < 5000
    text = stack.state_file().read_text() + result.stdout + result.stderr
    for secret in (stack.env["AWS_SECRET_ACCESS_KEY"], stack.env["AWS_ACCESS_KEY_ID"]):
        assert secret not in text


# --- InstanceSnapshots (mode=instance) ----------------------------------------------------------------------------
@pytest.mark.long
def test_instance_set_up_refresh_destroy(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    excluded = instance["data_volumes"][0]["volume_id"]
    stack.config(mode="instance", instance_id=instance["instance_id"], exclude_data_volume_ids=[excluded])

    stack.up()
    outputs = stack.outputs()
    assert set(outputs["snapshot_ids"]) == {instance["root_volume_id"], instance["data_volumes"][1]["volume_id"]}
    assert PENDING <= outputs["wait_time"] <= PENDING + 1.5
    assert len(emulator.snapshots()) == 2
    print(f"\ninstance set: 2 snapshots, wait_time {outputs['wait_time']}s (pending {PENDING}s)")

    # A member deleted outside Pulumi: refresh records it as missing, and the next up takes a whole new set.
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    ec2.delete_snapshot(SnapshotId=outputs["snapshot_ids"][instance["root_volume_id"]])
    stack.run("refresh", "--yes")
    [resource] = stack.resources()
    assert "missing" in [s["state"] for s in resource["outputs"]["snapshots"]]
    assert "+-1 to replace" in stack.preview().stdout
    stack.up()
    assert len(emulator.snapshots()) == 2
    assert set(stack.outputs()["snapshot_ids"].values()) == {s["snapshot_id"] for s in emulator.snapshots()}

    stack.run("destroy", "--yes")
    assert emulator.snapshots() == []


# --- ReversibleVolumeCleanup (mode=cleanup): delete after snapshot, undo by destroy ------------------------------
def test_cleanup_deletes_after_snapshot_and_destroy_restores(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1, size=20, tags={"team": "unknown"})
    stack.config(
        mode="cleanup",
        volume_id=volume_id,
        confirm_delete_volume=volume_id,
        owner="finops",
        reason="unattached for 90 days",
    )
    emulator.clear_calls()

    preview = stack.preview()
    assert f"will DELETE EBS volume {volume_id}" in preview.stdout + preview.stderr
    assert mutating(emulator) == []

    stack.up()
    assert volume_id not in emulator.ec2_backend().volumes
    actions = [c.action for c in emulator.calls() if c.mutating]
    # The delete only after the snapshot completed and was held for the undo (the second CreateTags).
    assert actions == ["CreateSnapshot", "CreateTags", "CreateTags", "DeleteVolume"]
    [snapshot] = emulator.snapshots()
    assert snapshot["state"] == "completed" and snapshot["tags"]["reason"] == "unattached for 90 days"
    assert stack.outputs()["deleted_volume"]["size"] == 20

    stack.run("destroy", "--yes")  # the undo
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    [restored] = ec2.describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [volume_id]}])["Volumes"]
    assert (restored["Size"], restored["AvailabilityZone"], restored["State"]) == (20, "us-east-1a", "available")
    assert {t["Key"]: t["Value"] for t in restored["Tags"]}["team"] == "unknown"
    assert emulator.snapshots() == []  # undone completely: the safety snapshot goes once the volume is back


def test_cleanup_of_an_attached_volume_is_refused_and_changes_nothing(
    stack: PulumiStack, emulator: Ec2Emulator
) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    attached = instance["data_volumes"][0]["volume_id"]
    stack.config(mode="cleanup", volume_id=attached, confirm_delete_volume=attached)
    result = stack.up(check=False)
    assert result.returncode != 0
    assert f"refusing to delete volume {attached}: it is in-use" in result.stdout
    assert attached in emulator.ec2_backend().volumes


def test_assumed_role_external_id_stays_secret_in_state(stack: PulumiStack, emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    stack.config(
        volume_id=volume_id, role_arn="arn:aws:iam::123456789012:role/snapshots", allowed_account_ids=["123456789012"]
    )
    stack.run("config", "set", "--secret", "external_id", "ext-very-private-4242")
    result = stack.up()

    [assume] = emulator.calls("AssumeRole")
    assert assume.params["ExternalId"] == "ext-very-private-4242"
    assert assume.params["RoleSessionName"] == "pulumi-ebs-snapshots-e2e"  # the stack, in CloudTrail
    assert "ext-very-private-4242" not in stack.state_file().read_text() + result.stdout + result.stderr
