"""The local EC2 emulator: slow snapshots, failures, faults, the call log, the control API and CreateSnapshots."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from emulator_helpers import client, control, wait_until

from emulator import Ec2Emulator


def test_binds_to_loopback_only(emulator: Ec2Emulator) -> None:
    assert emulator.url.startswith("http://127.0.0.1:")


def test_snapshot_stays_pending_with_rising_progress_then_completes(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=3.0)
    ec2 = client(emulator)
    created = ec2.create_snapshot(VolumeId=volume_id)
    assert created["State"] == "pending"

    def look() -> tuple[str, int]:
        snapshot = ec2.describe_snapshots(SnapshotIds=[created["SnapshotId"]])["Snapshots"][0]
        return snapshot["State"], int(snapshot["Progress"].rstrip("%"))

    seen = wait_until(look, lambda s: s[0] == "completed")
    assert seen[-1] == ("completed", 100)
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert all(state == "pending" and p < 100 for state, p in seen[:-1])
    assert any(0 < p < 100 for p in progress)


def test_per_volume_pending_time_and_failures(emulator: Ec2Emulator) -> None:
    slow, failing = emulator.seed_volumes(2)
    emulator.configure(pending_seconds=0, pending_seconds_by_volume={slow: 60}, fail_volume_ids=[failing])
    ec2 = client(emulator)
    slow_id = ec2.create_snapshot(VolumeId=slow)["SnapshotId"]
    failed_id = ec2.create_snapshot(VolumeId=failing)["SnapshotId"]
    by_id = {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=[slow_id, failed_id])["Snapshots"]}
    assert by_id[slow_id]["State"] == "pending"
    assert by_id[failed_id]["State"] == "error"
    assert failing in by_id[failed_id]["StateMessage"]


def test_throttling_fault_answers_request_limit_exceeded(emulator: Ec2Emulator) -> None:
    emulator.configure(throttle_rate=1.0)
    with pytest.raises(ClientError) as throttled:
        client(emulator).describe_snapshots(OwnerIds=["self"])
    assert throttled.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert emulator.calls()[-1].fault == "throttle"


def test_faults_at_a_rate_follow_the_seed(emulator: Ec2Emulator) -> None:
    def faults_of_20_calls() -> list[bool]:
        emulator.clear_calls()
        ec2 = client(emulator)
        for _ in range(20):
            try:
                ec2.describe_volumes()
            except ClientError as error:
                assert error.response["Error"]["Code"] == "RequestLimitExceeded"
        return [c.fault == "throttle" for c in emulator.calls()]

    emulator.configure(throttle_rate=0.5, seed=7)
    first = faults_of_20_calls()
    emulator.configure(seed=7)
    assert faults_of_20_calls() == first
    assert 0 < sum(first) < 20


def test_server_errors_and_dropped_connections(emulator: Ec2Emulator) -> None:
    emulator.configure(server_error_rate=1.0)
    with pytest.raises(ClientError) as failed:
        client(emulator).describe_volumes()
    assert failed.value.response["Error"]["Code"] == "InternalError"
    emulator.configure(server_error_rate=0.0, drop_rate=1.0)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client(emulator).describe_volumes()


def test_faults_can_target_one_action(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(throttle_rate=1.0, actions=["CreateSnapshot"])
    ec2 = client(emulator)
    ec2.describe_volumes()
    with pytest.raises(ClientError):
        ec2.create_snapshot(VolumeId=volume_id)


def test_call_log_records_actions_and_never_signatures(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    ec2.create_snapshot(VolumeId=volume_id, DryRun=False)
    ec2.describe_snapshots(OwnerIds=["self"])
    calls = emulator.calls()
    assert [c.action for c in calls] == ["CreateSnapshot", "DescribeSnapshots"]
    assert [c.mutating for c in calls] == [True, False]
    assert calls[0].params["VolumeId"] == volume_id
    assert not any("Signature" in k or "Credential" in k for c in calls for k in c.params)


def test_mutating_calls_are_the_changes_carried_out(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    ec2.describe_snapshots(SnapshotIds=[snapshot_id])
    with pytest.raises(ClientError):
        ec2.delete_snapshot(SnapshotId=snapshot_id, DryRun=True)  # DryRun answers with an error, changing nothing
    emulator.configure(throttle_rate=1.0)
    with pytest.raises(ClientError):
        ec2.create_tags(Resources=[snapshot_id], Tags=[{"Key": "a", "Value": "b"}])  # refused, not carried out
    emulator.configure(throttle_rate=0.0, drop_rate=1.0)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        ec2.delete_snapshot(SnapshotId=snapshot_id)  # carried out, then the answer was lost
    assert [c.action for c in emulator.mutating_calls()] == ["CreateSnapshot", "DeleteSnapshot"]
    assert [c.fault for c in emulator.mutating_calls("DeleteSnapshot")] == ["drop"]
    emulator.configure(drop_rate=0.0)
    assert [c["action"] for c in control(emulator, "mutating-calls")] == ["CreateSnapshot", "DeleteSnapshot"]
    assert control(emulator, "mutating-calls", {"action": "CreateTags"}) == []


def test_control_api_over_http(emulator: Ec2Emulator) -> None:
    control(emulator, "configure", {"pending_seconds": 0})
    [volume_id] = control(emulator, "seed-volumes", {"count": 1})
    client(emulator).create_snapshot(VolumeId=volume_id)
    assert [c["action"] for c in control(emulator, "calls")] == ["CreateSnapshot"]
    [snapshot] = control(emulator, "snapshots")
    assert snapshot["volume_id"] == volume_id and snapshot["state"] == "completed"
    with pytest.raises(urllib.error.HTTPError):
        control(emulator, "configure", {"no_such_setting": 1})


def test_command_line_serves_on_loopback_until_terminated(tmp_path: Path) -> None:
    ready_file, log = tmp_path / "emulator.json", tmp_path / "emulator.log"
    command = [sys.executable, "-m", "emulator", "--pending-seconds", "7", "--seed-volumes", "2"]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--region", "eu-west-1", "--ready-file", str(ready_file)],
            cwd=Path(__file__).parents[2],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: ready_file.exists() or process.poll() is not None, bool, timeout=60)
        assert process.poll() is None, log.read_text()
        ready = json.loads(ready_file.read_text())
        assert ready["url"].startswith("http://127.0.0.1:") and ready["region"] == "eu-west-1"
        assert ready["pid"] == process.pid and len(ready["volume_ids"]) == 2
        ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=ready["url"])
        snapshot = ec2.create_snapshot(VolumeId=ready["volume_ids"][0])
        assert snapshot["State"] == "pending"
        [summary] = json.loads(urllib.request.urlopen(f"{ready['url']}/_emulator/snapshots", data=b"{}").read())
        assert summary["pending_seconds"] == 7
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_modify_snapshot_tier_needs_a_completed_snapshot(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=30)
    ec2 = client(emulator)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(ClientError) as refused:
        ec2.modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    assert refused.value.response["Error"]["Code"] == "IncorrectState"


# --- CreateSnapshots, as the API reference describes it ------------------------------------------------------------
def test_create_snapshots_reports_state_and_copies_volume_tags(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    result = client(emulator).create_snapshots(
        InstanceSpecification={"InstanceId": instance["instance_id"]},
        CopyTagsFromSource="volume",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "set", "Value": "a"}]}],
    )["Snapshots"]
    assert len(result) == 3
    assert {s["State"] for s in result} == {"completed"}
    by_volume = {s["VolumeId"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in result}
    assert by_volume[instance["root_volume_id"]] == {"Name": "root", "Role": "boot", "set": "a"}
    assert by_volume[instance["data_volumes"][1]["volume_id"]]["Name"] == "data-1"


def test_create_snapshots_honours_exclusions(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=2)
    excluded = instance["data_volumes"][0]["volume_id"]
    result = client(emulator).create_snapshots(
        InstanceSpecification={
            "InstanceId": instance["instance_id"],
            "ExcludeBootVolume": True,
            "ExcludeDataVolumeIds": [excluded],
        },
    )["Snapshots"]
    assert [s["VolumeId"] for s in result] == [instance["data_volumes"][1]["volume_id"]]
    assert "Tags" not in result[0] or result[0]["Tags"] == []


@pytest.mark.parametrize("case", ["not attached", "root volume", "nothing left"])
def test_create_snapshots_refuses_bad_exclusions(emulator: Ec2Emulator, case: str) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    data = instance["data_volumes"][0]["volume_id"]
    spec: dict[str, Any] = {"InstanceId": instance["instance_id"]}
    if case == "not attached":
        spec["ExcludeDataVolumeIds"] = emulator.seed_volumes(1)
    elif case == "root volume":
        spec["ExcludeDataVolumeIds"] = [instance["root_volume_id"]]
    else:
        spec.update(ExcludeBootVolume=True, ExcludeDataVolumeIds=[data])
    with pytest.raises(ClientError) as refused:
        client(emulator).create_snapshots(InstanceSpecification=spec)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert emulator.snapshots() == []


def test_snapshot_tags_and_tag_filters_match_moto(emulator: Ec2Emulator) -> None:
    """The emulator's fast per-snapshot tag lookup answers as moto's scan of every tag does."""
    volumes = emulator.seed_volumes(3)
    ec2 = client(emulator)
    made = [
        ec2.create_snapshot(
            VolumeId=v,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "run", "Value": f"r{i % 2}"}]}],
        )["SnapshotId"]
        for i, v in enumerate(volumes)
    ]
    ec2.create_tags(Resources=[made[0]], Tags=[{"Key": "extra", "Value": "x"}])
    backend = emulator.ec2_backend()
    for sid in made:
        assert backend.snapshots[sid].get_tags() == backend.describe_tags(filters={"resource-id": [sid]})
    found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:run", "Values": ["r0"]}])["Snapshots"]
    assert sorted(s["SnapshotId"] for s in found) == sorted([made[0], made[2]])
    first = next(s for s in found if s["SnapshotId"] == made[0])
    assert {t["Key"]: t["Value"] for t in first["Tags"]} == {"run": "r0", "extra": "x"}
    wildcard = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:run", "Values": ["r*"]}])["Snapshots"]
    assert len(wildcard) == 3
