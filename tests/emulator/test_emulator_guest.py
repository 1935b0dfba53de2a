"""The instances in the emulator (`emulator.guest`): SSM Run Command invocations and their statuses, failures, hangs
and agentless instances on demand, freezes, stop/start transitions, and the ordered record of it all (`timeline`).

Each rule against boto3 through the in-process emulator; time is stepped with `advance_clock` (no sleeps).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from emulator_helpers import client, control, error_of, wait_until

from emulator import Ec2Emulator
from testbed import REGION

FREEZE = "fsfreeze -f /data"
THAW = "fsfreeze -u /data"


def ssm(emulator: Ec2Emulator) -> Any:
    return boto3.client("ssm", endpoint_url=emulator.url, region_name=REGION)


def run(ssm_client: Any, instance_id: str, *commands: str, timeout: int | None = None) -> str:
    parameters: dict[str, list[str]] = {"commands": list(commands)}
    if timeout is not None:
        parameters["executionTimeout"] = [str(timeout)]
    answer = ssm_client.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Parameters=parameters
    )
    return str(answer["Command"]["CommandId"])


def status(ssm_client: Any, command_id: str, instance_id: str) -> dict[str, Any]:
    return dict(ssm_client.get_command_invocation(CommandId=command_id, InstanceId=instance_id))


@pytest.fixture
def instance_id(emulator: Ec2Emulator) -> str:
    return str(emulator.seed_instance(data_volumes=1)["instance_id"])


def test_a_command_is_in_progress_for_command_seconds_then_succeeds(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(command_seconds=10)
    ssm_client = ssm(emulator)
    command_id = run(ssm_client, instance_id, "sync")
    assert status(ssm_client, command_id, instance_id)["Status"] == "InProgress"
    emulator.advance_clock(10)
    done = status(ssm_client, command_id, instance_id)
    assert (done["Status"], done["ResponseCode"], done["DocumentName"]) == ("Success", 0, "AWS-RunShellScript")


def test_a_command_named_failing_fails_with_its_exit_code(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(fail_commands=["flush tables"])
    ssm_client = ssm(emulator)
    failed = status(ssm_client, run(ssm_client, instance_id, "mysql -e 'flush tables with read lock'"), instance_id)
    ok = status(ssm_client, run(ssm_client, instance_id, "sync"), instance_id)
    assert (failed["Status"], failed["ResponseCode"]) == ("Failed", 1)
    assert "flush tables" in failed["StandardErrorContent"]
    assert ok["Status"] == "Success"


def test_a_hanging_command_times_out_after_its_execution_timeout(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(hang_commands=["fsfreeze"])
    ssm_client = ssm(emulator)
    command_id = run(ssm_client, instance_id, FREEZE, timeout=120)
    emulator.advance_clock(119)
    assert status(ssm_client, command_id, instance_id)["Status"] == "InProgress"
    emulator.advance_clock(1)
    timed_out = status(ssm_client, command_id, instance_id)
    assert (timed_out["Status"], timed_out["StatusDetails"]) == ("TimedOut", "Execution Timed Out")


def test_an_instance_without_the_agent_is_an_invalid_instance_id(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(agentless_instances=[instance_id])
    assert error_of(lambda: run(ssm(emulator), instance_id, "sync")) == ("InvalidInstanceId", 400)
    assert emulator.command_invocations() == []


def test_an_unknown_or_terminated_instance_is_an_invalid_instance_id(emulator: Ec2Emulator, instance_id: str) -> None:
    assert error_of(lambda: run(ssm(emulator), "i-0123456789abcdef0", "sync"))[0] == "InvalidInstanceId"
    client(emulator).terminate_instances(InstanceIds=[instance_id])
    assert error_of(lambda: run(ssm(emulator), instance_id, "sync"))[0] == "InvalidInstanceId"


def test_an_invocation_that_does_not_exist_is_refused(emulator: Ec2Emulator, instance_id: str) -> None:
    ssm_client = ssm(emulator)
    refused = error_of(lambda: status(ssm_client, "00000000-0000-0000-0000-000000000000", instance_id))
    assert refused == ("InvocationDoesNotExist", 400)


def test_list_command_invocations_filters_by_command_and_instance(emulator: Ec2Emulator, instance_id: str) -> None:
    other = str(emulator.seed_instance(data_volumes=0)["instance_id"])
    ssm_client = ssm(emulator)
    first = run(ssm_client, instance_id, "sync")
    run(ssm_client, other, "sync")
    listed = ssm_client.list_command_invocations(CommandId=first)["CommandInvocations"]
    assert [(i["CommandId"], i["InstanceId"]) for i in listed] == [(first, instance_id)]
    assert {i["InstanceId"] for i in ssm_client.list_command_invocations()["CommandInvocations"]} == {
        instance_id,
        other,
    }


def test_an_instance_is_frozen_from_a_successful_freeze_until_a_successful_thaw(
    emulator: Ec2Emulator, instance_id: str
) -> None:
    ssm_client = ssm(emulator)
    run(ssm_client, instance_id, FREEZE)
    assert emulator.frozen_instances() == [instance_id]
    emulator.configure(fail_commands=["fsfreeze -u"])
    run(ssm_client, instance_id, THAW)
    assert emulator.frozen_instances() == [instance_id], "a failed thaw leaves the file systems frozen"
    emulator.configure(fail_commands=[])
    run(ssm_client, instance_id, THAW)
    assert emulator.frozen_instances() == []


def test_stop_goes_through_stopping_and_start_through_pending(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(transition_seconds=60)
    ec2 = client(emulator)

    def state() -> str:
        return str(
            ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
        )

    stopping = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert (stopping["PreviousState"]["Name"], stopping["CurrentState"]["Name"]) == ("running", "stopping")
    assert state() == "stopping"
    assert error_of(lambda: ec2.start_instances(InstanceIds=[instance_id])) == ("IncorrectInstanceState", 400)
    emulator.advance_clock(60)
    assert state() == "stopped"
    assert emulator.stopped_instances() == [instance_id]
    starting = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"][0]
    assert starting["CurrentState"]["Name"] == "pending"
    emulator.advance_clock(60)
    assert state() == "running"
    assert emulator.stopped_instances() == []


def test_the_timeline_orders_commands_requests_and_completion(emulator: Ec2Emulator, instance_id: str) -> None:
    emulator.configure(pending_seconds=1.0)
    ec2, ssm_client = client(emulator), ssm(emulator)
    volume_id = emulator.seed_instance(data_volumes=1)["data_volumes"][0]["volume_id"]
    run(ssm_client, instance_id, FREEZE)
    emulator.configure(server_error_rate=1.0, actions=["CreateSnapshot"])
    assert error_of(lambda: ec2.create_snapshot(VolumeId=volume_id))[1] >= 500
    emulator.configure(server_error_rate=0.0)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    run(ssm_client, instance_id, THAW)
    [timeline] = wait_until(
        emulator.timeline, lambda events: any(e["event"] == "snapshot-completed" for e in events), timeout=30
    )[-1:]
    events = [(e["event"], e.get("status"), e.get("snapshot_id")) for e in timeline]
    assert events == [
        ("command-sent", None, None),
        ("command-finished", "Success", None),
        ("create-snapshot-request", 500, None),
        ("snapshot-created", None, snapshot_id),
        ("create-snapshot-request", 200, None),
        ("command-sent", None, None),
        ("command-finished", "Success", None),
        ("snapshot-completed", None, snapshot_id),
    ]


def test_the_knobs_and_the_record_are_reachable_over_http(emulator: Ec2Emulator, instance_id: str) -> None:
    control(emulator, "configure", {"command_seconds": 5, "agentless_instances": ["i-0000000000000000a"]})
    assert control(emulator, "settings")["command_seconds"] == 5.0
    run(ssm(emulator), instance_id, FREEZE)
    assert control(emulator, "frozen-instances") == []  # still in progress
    emulator.advance_clock(5)
    assert control(emulator, "frozen-instances") == [instance_id]
    assert [e["event"] for e in control(emulator, "timeline")] == ["command-sent", "command-finished"]
    with pytest.raises(ValueError, match="command_seconds"):
        emulator.configure(command_seconds=-1)


def test_a_command_to_a_stopped_instance_times_out_undelivered(emulator: Ec2Emulator, instance_id: str) -> None:
    client(emulator).stop_instances(InstanceIds=[instance_id])
    ssm_client = ssm(emulator)
    command_id = ssm_client.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [FREEZE]},
        TimeoutSeconds=30,
    )["Command"]["CommandId"]
    assert status(ssm_client, command_id, instance_id)["Status"] == "InProgress"
    emulator.advance_clock(30)
    assert status(ssm_client, command_id, instance_id)["Status"] == "TimedOut"
    assert emulator.frozen_instances() == []


def test_a_freeze_with_a_thaw_timer_thaws_when_the_timer_ends(emulator: Ec2Emulator, instance_id: str) -> None:
    run(ssm(emulator), instance_id, 'nohup sh -c "sleep 60; for m in /data; do fsfreeze -u $m; done" &', FREEZE)
    assert emulator.frozen_instances() == [instance_id]
    emulator.advance_clock(59)
    assert emulator.frozen_instances() == [instance_id]
    emulator.advance_clock(1)
    assert emulator.frozen_instances() == []
