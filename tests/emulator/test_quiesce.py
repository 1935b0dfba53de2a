"""Pausing writes around a snapshot request (`snapshot_provider.quiesce`), against the in-process emulator's SSM Run
Command and instance states: what ran on the instance, in which order, and that nothing is left frozen or stopped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest
from emulator_helpers import client, wait_until

from emulator import Ec2Emulator
from snapshot_provider.core import quiesce, waiting
from snapshot_provider.core.quiesce import ConsistencyFailed, ResumeFailed
from snapshot_provider.inputs.consistency import CONSISTENCY_TAG, Plan
from testbed import REGION, in_thread


@pytest.fixture
def data(emulator: Ec2Emulator) -> dict[str, str]:
    seeded = emulator.seed_instance(data_volumes=1)
    return {
        "instance_id": seeded["instance_id"],
        "volume_id": seeded["data_volumes"][0]["volume_id"],
        "root_volume_id": seeded["root_volume_id"],
    }


def take(emulator: Ec2Emulator, plan: Plan, volume_id: str, fail_request: bool = False) -> str:
    """`quiesce.around` with a CreateSnapshot request tagged with the consistency it got; the snapshot's id."""
    ec2 = client(emulator)

    def request(consistency: str) -> str:
        if fail_request:
            raise RuntimeError("the request failed")
        tags = [{"ResourceType": "snapshot", "Tags": [{"Key": CONSISTENCY_TAG, "Value": consistency}]}]
        return str(ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=tags)["SnapshotId"])

    return quiesce.around(ec2, lambda: boto3.client("ssm", region_name=REGION), plan, volume_id, request)


def events(emulator: Ec2Emulator) -> list[tuple[str, str]]:
    """The timeline as (event, what): a command's first line's verb (freeze / thaw), a request's HTTP status."""
    seen = []
    for e in emulator.timeline():
        if e["event"].startswith("command-"):
            kind = "freeze" if "fsfreeze -f" in e["commands"] else "thaw" if "fsfreeze -u" in e["commands"] else "cmd"
            seen.append((e["event"], kind + ("" if e["event"] == "command-sent" else f":{e['status']}")))
        elif e["event"] == "create-snapshot-request":
            seen.append((e["event"], str(e["status"])))
        elif e["event"].startswith("instance-"):
            seen.append((e["event"], e["instance_id"]))
    return seen


def consistency_of(emulator: Ec2Emulator, snapshot_id: str) -> str:
    [snapshot] = client(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    return {t["Key"]: t["Value"] for t in snapshot["Tags"]}[CONSISTENCY_TAG]


def test_crash_only_requests(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    snapshot_id = take(emulator, Plan(), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "crash"
    assert events(emulator) == [("create-snapshot-request", "200")]


def test_frozen_freezes_requests_then_thaws_before_the_snapshot_completes(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    emulator.configure(pending_seconds=3600)
    snapshot_id = take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "frozen"
    assert events(emulator) == [
        ("command-sent", "freeze"),
        ("command-finished", "freeze:Success"),
        ("create-snapshot-request", "200"),
        ("command-sent", "thaw"),
        ("command-finished", "thaw:Success"),
    ]
    assert client(emulator).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "pending"
    assert emulator.frozen_instances() == []


def test_the_default_freeze_names_the_volume_and_bounds_the_pause(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    take(emulator, Plan(consistency="frozen", max_pause_seconds=45), data["volume_id"])
    [pre, _post] = sorted(emulator.command_invocations(), key=lambda i: i["RequestedDateTime"])
    sent = next(e["commands"] for e in emulator.timeline() if e["event"] == "command-sent")
    assert data["volume_id"].replace("-", "") in sent  # the NVMe serial of the volume
    assert "sleep 45" in sent  # the timer on the instance that thaws whatever happens to the provider
    assert pre["DocumentName"] == "AWS-RunShellScript"


def test_a_failed_pre_command_takes_nothing_and_still_thaws(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    with pytest.raises(ConsistencyFailed, match=f"no snapshot of {data['volume_id']} was taken.*ended Failed"):
        take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert emulator.snapshots() == []
    assert events(emulator) == [
        ("command-sent", "freeze"),
        ("command-finished", "freeze:Failed"),
        ("command-sent", "thaw"),
        ("command-finished", "thaw:Success"),
    ]


def test_a_failed_pre_command_with_crash_consistent_takes_it_as_crash(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    snapshot_id = take(emulator, Plan(consistency="frozen", on_failure="crash_consistent"), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "crash"
    assert [e for e, _ in events(emulator)][-2:] == ["command-sent", "command-finished"]


def test_a_hanging_pre_command_ends_at_its_bound_and_is_thawed(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(hang_commands=["fsfreeze -f"])
    plan = Plan(consistency="frozen", on_failure="crash_consistent", max_pause_seconds=30)
    thread, result = in_thread(lambda: take(emulator, plan, data["volume_id"]))
    wait_until(emulator.command_invocations, lambda seen: len(seen) == 1)
    emulator.advance_clock(30)  # the pre command's executionTimeout
    thread.join(timeout=60)
    assert consistency_of(emulator, result[0]) == "crash"
    assert [kind for _, kind in events(emulator)][:2] == ["freeze", "freeze:TimedOut"]


def test_a_failing_request_still_runs_the_post_command(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="the request failed"):
        take(emulator, Plan(consistency="frozen"), data["volume_id"], fail_request=True)
    assert [kind for _, kind in events(emulator)] == ["freeze", "freeze:Success", "thaw", "thaw:Success"]
    assert emulator.frozen_instances() == []


def test_a_failed_thaw_is_an_error_naming_the_instance(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(fail_commands=["still frozen"])  # the thaw script's own failure line
    with pytest.raises(ResumeFailed, match=f"post command on instance {data['instance_id']} ended Failed"):
        take(emulator, Plan(consistency="frozen"), data["volume_id"])


def test_an_instance_without_the_agent_is_named_and_nothing_is_taken(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    emulator.configure(agentless_instances=[data["instance_id"]])
    with pytest.raises(ConsistencyFailed, match=f"instance {data['instance_id']} \\(InvalidInstanceId\\)"):
        take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert emulator.snapshots() == []
    snapshot_id = take(emulator, Plan(consistency="frozen", on_failure="crash_consistent"), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "crash"


def test_the_root_volume_is_not_frozen_with_the_default_commands(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    with pytest.raises(ConsistencyFailed, match=r"root volume.*consistency .stopped."):
        take(emulator, Plan(consistency="frozen"), data["root_volume_id"])
    assert emulator.command_invocations() == [] and emulator.snapshots() == []


def test_own_commands_run_instead_of_the_defaults(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    plan = Plan(consistency="frozen", pre_commands=("mysql -e 'flush tables'",), post_commands=("mysql -e unlock",))
    take(emulator, plan, data["root_volume_id"])
    sent = [e["commands"] for e in emulator.timeline() if e["event"] == "command-sent"]
    assert sent == ["mysql -e 'flush tables'", "mysql -e unlock"]


def test_a_detached_volume_has_no_writer(emulator: Ec2Emulator) -> None:
    [volume_id] = emulator.seed_volumes(1)
    snapshot_id = take(emulator, Plan(consistency="frozen"), volume_id)
    assert consistency_of(emulator, snapshot_id) == "detached"
    assert emulator.command_invocations() == []


def test_stopped_stops_requests_then_starts(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    instance_id = data["instance_id"]
    snapshot_id = take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert consistency_of(emulator, snapshot_id) == "stopped"
    seen = events(emulator)
    assert seen.index(("instance-stopped", instance_id)) < seen.index(("create-snapshot-request", "200"))
    assert seen.index(("create-snapshot-request", "200")) < seen.index(("instance-pending", instance_id))
    wait_until(lambda: emulator.stopped_instances(), lambda stopped: stopped == [])


def test_stopped_starts_the_instance_again_when_the_request_fails(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    with pytest.raises(RuntimeError):
        take(emulator, Plan(consistency="stopped"), data["root_volume_id"], fail_request=True)
    assert ("instance-pending", data["instance_id"]) in events(emulator)


def test_stopped_leaves_an_instance_that_was_already_stopped(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    client(emulator).stop_instances(InstanceIds=[data["instance_id"]])
    wait_until(lambda: emulator.stopped_instances(), lambda stopped: stopped == [data["instance_id"]])
    take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert ("instance-pending", data["instance_id"]) not in events(emulator)


@pytest.mark.usefixtures("fresh_cancel")
def test_a_cancel_while_freezing_still_thaws(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(command_seconds=30)
    thread, result = in_thread(lambda: take(emulator, Plan(consistency="frozen"), data["volume_id"]))
    wait_until(emulator.command_invocations, lambda seen: len(seen) == 1)
    waiting.cancel_waits()
    wait_until(emulator.command_invocations, lambda seen: len(seen) == 2)  # the post command, despite the Cancel
    emulator.advance_clock(30)
    thread.join(timeout=60)
    assert isinstance(result[0], waiting.LookCancelled)
    assert emulator.snapshots() == [] and emulator.frozen_instances() == []


def test_a_windows_instance_needs_commands_of_its_own(emulator: Ec2Emulator) -> None:
    volume_id = emulator.seed_instance(data_volumes=1, windows=True)["data_volumes"][0]["volume_id"]
    with pytest.raises(ConsistencyFailed, match=r"Windows instance .* pre_commands and post_commands"):
        take(emulator, Plan(consistency="frozen"), volume_id)
    take(emulator, Plan(consistency="frozen", pre_commands=("Write-VolumeCache D",)), volume_id)
    assert [i["DocumentName"] for i in emulator.command_invocations()] == ["AWS-RunPowerShellScript"] * 2


def test_an_instance_set_is_frozen_once_for_all_its_volumes(emulator: Ec2Emulator) -> None:
    seeded = emulator.seed_instance(data_volumes=2)
    volumes = [(v["volume_id"], v["device"]) for v in seeded["data_volumes"]]
    ec2 = client(emulator)

    def request(consistency: str) -> list[str]:
        spec = {"InstanceId": seeded["instance_id"], "ExcludeBootVolume": True}
        tags = [{"ResourceType": "snapshot", "Tags": [{"Key": CONSISTENCY_TAG, "Value": consistency}]}]
        made = ec2.create_snapshots(InstanceSpecification=spec, TagSpecifications=tags)["Snapshots"]
        return [s["SnapshotId"] for s in made]

    def ssm() -> object:
        return boto3.client("ssm", region_name=REGION)

    taken = quiesce.around_instance(ec2, ssm, Plan(consistency="frozen"), seeded["instance_id"], volumes, request)
    assert [consistency_of(emulator, s) for s in taken] == ["frozen", "frozen"]
    assert [kind for _, kind in events(emulator)] == ["freeze", "freeze:Success", "200", "thaw", "thaw:Success"]
    freeze = next(e["commands"] for e in emulator.timeline() if e["event"] == "command-sent")
    assert all(volume.replace("-", "") in freeze for volume, _ in volumes)


def test_the_default_scripts_are_valid_shell(tmp_path: Path) -> None:
    at = quiesce.Attachment("i-0123456789abcdef0", (("vol-0a", "/dev/sdf"), ("vol-0b", "/dev/sdg")), False, False, "")
    for name, script in (("freeze", quiesce.freeze_script(at, 60)), ("thaw", quiesce.thaw_script(at))):
        path = tmp_path / f"{name}.sh"
        path.write_text("\n".join(script) + "\n")
        checked = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


def test_frozen_on_a_stopped_instance_takes_it_as_stopped(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    client(emulator).stop_instances(InstanceIds=[data["instance_id"]])
    wait_until(lambda: emulator.stopped_instances(), lambda stopped: stopped == [data["instance_id"]])
    snapshot_id = take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "stopped"
    assert emulator.command_invocations() == []
    assert emulator.stopped_instances() == [data["instance_id"]], "not ours to start"
