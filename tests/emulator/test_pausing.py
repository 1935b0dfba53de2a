"""Pausing writes around a snapshot request (`core.quiesce.pausing`), against the in-process emulator's SSM Run
Command and instance states: what ran on the instance, in which order, and that nothing is left frozen or stopped."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from emulator_helpers import LosesAnswers, LosesAnswersUnlisted, client, wait_until
from pausing_helpers import holder_tags, mark_stopped_by, mark_stopped_by_earlier_build, start, stop

from emulator import Ec2Emulator
from snapshot_provider.core.quiesce import instance, pausing, stopping
from snapshot_provider.core.quiesce.instance import ConsistencyFailed, ResumeFailed
from snapshot_provider.ec2 import cancel
from snapshot_provider.inputs.consistency import CONSISTENCY_TAG, Plan
from testbed import REGION, in_thread

# Who asks (the resource and attempt behind an instance's stopped-by tag), with no EC2 rate queue to wait in.
ASKER = pausing.Asker(by="test-resource/attempt", turn=contextlib.nullcontext)


@pytest.fixture
def data(emulator: Ec2Emulator) -> dict[str, str]:
    seeded = emulator.seed_instance(data_volumes=1)
    return {
        "instance_id": seeded["instance_id"],
        "volume_id": seeded["data_volumes"][0]["volume_id"],
        "root_volume_id": seeded["root_volume_id"],
    }


def take(emulator: Ec2Emulator, plan: Plan, volume_id: str, fail_request: bool = False) -> str:
    """`pausing.around` with a CreateSnapshot request tagged with the consistency it got; the snapshot's id."""
    ec2 = client(emulator)

    def request(consistency: str) -> str:
        if fail_request:
            raise RuntimeError("the request failed")
        tags = [{"ResourceType": "snapshot", "Tags": [{"Key": CONSISTENCY_TAG, "Value": consistency}]}]
        return str(ec2.create_snapshot(VolumeId=volume_id, TagSpecifications=tags)["SnapshotId"])

    return pausing.around(ec2, lambda: boto3.client("ssm", region_name=REGION), plan, volume_id, request, ASKER)


class NeverArrives:
    """A boto3 client whose `action` requests are lost on the way there: a read timeout, and EC2 never got them."""

    def __init__(self, inner: Any, action: str) -> None:
        self.inner, self.action = inner, action

    def __getattr__(self, name: str) -> Any:
        if name != self.action:
            return getattr(self.inner, name)

        def lost(**_kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url=self.inner.meta.endpoint_url)

        return lost


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


def test_stopped_tags_the_instance_it_stopped_until_it_is_started_again(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    seen_while_stopped: list[dict[str, str]] = []

    def request(consistency: str) -> str:
        seen_while_stopped.append(holder_tags(emulator, instance_id))
        return consistency

    running = instance.instance_attachment(client(emulator), instance_id, [])
    pausing.around(client(emulator), lambda: None, Plan(consistency="stopped"), data["root_volume_id"], request, ASKER)
    [held] = seen_while_stopped
    assert list(held) == [stopping.holder_key(ASKER.resource)]
    assert held[stopping.holder_key(ASKER.resource)].startswith(f"stopped {ASKER.by}@{running.launched} ")
    assert holder_tags(emulator, instance_id) == {}


def test_stopped_confirms_its_tag_on_seeing_the_instance_stopped_when_the_stop_answer_was_lost(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    """No StopInstances answer says the stop was this request's: the tag says `stopped` only once EC2 shows it."""
    instance_id = data["instance_id"]
    tags_at_request: list[dict[str, str]] = []

    def request(consistency: str) -> str:
        tags_at_request.append(holder_tags(emulator, instance_id))
        return consistency

    ec2 = LosesAnswers(client(emulator), "stop_instances")
    pausing.around(ec2, lambda: None, Plan(consistency="stopped"), data["root_volume_id"], request, ASKER)
    assert [tags[stopping.holder_key(ASKER.resource)].split()[0] for tags in tags_at_request] == ["stopped"]
    assert holder_tags(emulator, instance_id) == {}
    assert emulator.stopped_instances() == []


def test_stopped_starts_an_instance_an_unfinished_run_of_the_same_resource_stopped(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed", stopping.STOPPING)
    stop(emulator, instance_id)
    mark_stopped_by(emulator, instance_id, "test-resource/killed", stopping.STOPPED)  # EC2 showed it stopped
    assert consistency_of(emulator, take(emulator, Plan(consistency="stopped"), data["root_volume_id"])) == "stopped"
    assert ("instance-pending", instance_id) in events(emulator)
    assert holder_tags(emulator, instance_id) == {}


def test_stopped_leaves_stopped_an_instance_tagged_by_an_earlier_build_of_the_same_resource(
    emulator: Ec2Emulator, data: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """An earlier build wrote its single tag before StopInstances, as this build's `stopping` phase: a run of it killed
    before its stop reached EC2, then the owner's stop (same launch), leaves the same evidence as its own stop. EC2
    cannot tell which: the instance stays stopped, and the user is told how to start it."""
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    instance_id = data["instance_id"]
    mark_stopped_by_earlier_build(emulator, instance_id, "test-resource/killed")
    stop(emulator, instance_id)  # the killed run's stop, or its owner's
    assert consistency_of(emulator, take(emulator, Plan(consistency="stopped"), data["root_volume_id"])) == "stopped"
    assert ("instance-pending", instance_id) not in events(emulator)
    assert emulator.stopped_instances() == [instance_id]
    assert holder_tags(emulator, instance_id) == {}
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert f"instance {instance_id} is tagged {instance.STOPPED_BY_TAG}=" in said
    assert f"aws ec2 start-instances --instance-ids {instance_id}" in said


@pytest.mark.parametrize("stop_arrived", [True, False], ids=["stop-arrived", "owner-stopped-it"])
def test_stopped_does_not_start_an_instance_whose_killed_run_never_saw_it_stopped(
    emulator: Ec2Emulator, data: dict[str, str], caplog: pytest.LogCaptureFixture, stop_arrived: bool
) -> None:
    """A run killed after tagging `stopping`: its StopInstances reached EC2, or never did and the owner stopped the
    instance since (same launch). EC2 cannot tell which: the instance stays stopped, and the user is told."""
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed", stopping.STOPPING)
    stop(emulator, instance_id)  # the killed run's stop, or its owner's
    take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert ("instance-pending", instance_id) not in events(emulator)
    assert emulator.stopped_instances() == [instance_id]
    assert holder_tags(emulator, instance_id) == {}
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "it may have been stopped by this resource's killed run at " in said
    assert f"aws ec2 start-instances --instance-ids {instance_id}" in said
    assert "User initiated" in said  # EC2's own word on the stop


def test_stopped_joins_another_resources_stop_and_leaves_it_to_start_the_instance(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    theirs = mark_stopped_by(emulator, instance_id, "other-resource/a")
    stop(emulator, instance_id)
    seen_while_stopped: list[dict[str, str]] = []

    def request(consistency: str) -> str:
        seen_while_stopped.append(holder_tags(emulator, instance_id))
        return consistency

    plan = Plan(consistency="stopped")
    assert pausing.around(client(emulator), lambda: None, plan, data["root_volume_id"], request, ASKER) == "stopped"
    assert sorted(seen_while_stopped[0]) == sorted([theirs, stopping.holder_key(ASKER.resource)])
    assert ("instance-pending", instance_id) not in events(emulator)
    assert list(holder_tags(emulator, instance_id)) == [theirs]


def test_stopped_does_not_hold_an_instance_another_resource_has_not_seen_stopped(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    """Another resource's `stopping` tag on a stopped instance may be its owner's stop: not joined, not started."""
    instance_id = data["instance_id"]
    theirs = mark_stopped_by(emulator, instance_id, "other-resource/a", stopping.STOPPING)
    stop(emulator, instance_id)
    take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert ("instance-pending", instance_id) not in events(emulator)
    assert list(holder_tags(emulator, instance_id)) == [theirs]


def test_stopped_does_not_start_an_instance_its_owner_started_and_stopped_after_a_killed_run(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed")
    stop(emulator, instance_id)  # the killed run's stop
    start(emulator, instance_id)  # its owner starts it, and stops it later
    stop(emulator, instance_id)
    take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert events(emulator).count(("instance-pending", instance_id)) == 1, "only its owner's start"
    assert emulator.stopped_instances() == [instance_id]
    assert holder_tags(emulator, instance_id) == {}


def test_stale_tags_of_other_resources_are_removed(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "other-resource/killed")
    mark_stopped_by_earlier_build(emulator, instance_id, "third-resource/killed")
    stop(emulator, instance_id)
    start(emulator, instance_id)  # its owner's start since: both tags name the launch before
    take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert holder_tags(emulator, instance_id) == {}
    assert emulator.stopped_instances() == []


def test_a_stopped_by_tag_on_a_running_instance_is_removed(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    """A killed run whose StopInstances never reached EC2 left its tag on a running instance: once its owner stops the
    instance, that tag must not pass for this provider's stop."""
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/lost", stopping.STOPPING)
    take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert holder_tags(emulator, instance_id) == {}
    assert not [e for e in events(emulator) if e[0].startswith("instance-")]


def test_stopped_removes_its_tag_when_its_stop_never_reached_ec2(
    emulator: Ec2Emulator, data: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stopping, "DEFAULT_STOP_TIMEOUT", 2)
    ec2 = NeverArrives(client(emulator), "stop_instances")
    plan = Plan(consistency="stopped", on_failure="crash_consistent")
    assert pausing.around(ec2, lambda: None, plan, data["root_volume_id"], str, ASKER) == "crash"
    assert holder_tags(emulator, data["instance_id"]) == {}
    assert emulator.stopped_instances() == []


def test_two_resources_stopping_one_instance_start_it_only_after_both_requests(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    """The second joins the first's stop while the first is requesting; the first finishes first, and must not start
    the instance while the second has yet to request."""
    instance_id = data["instance_id"]
    second = pausing.Asker(by="second-resource/attempt", turn=contextlib.nullcontext)
    second_in_request, first_done = threading.Event(), threading.Event()
    states_at_request: list[tuple[str, str]] = []
    second_run: list[Any] = []

    def first_request(consistency: str) -> str:
        states_at_request.append(("first", stopping.state_now(client(emulator), instance_id)))
        second_run.extend(
            in_thread(lambda: pausing.around(ec2, lambda: None, plan, data["root_volume_id"], second_request, second))
        )
        assert second_in_request.wait(timeout=60)
        return consistency

    def second_request(consistency: str) -> str:
        second_in_request.set()
        assert first_done.wait(timeout=60)
        states_at_request.append(("second", stopping.state_now(client(emulator), instance_id)))
        return consistency

    ec2, plan = client(emulator), Plan(consistency="stopped")
    assert pausing.around(ec2, lambda: None, plan, data["root_volume_id"], first_request, ASKER) == "stopped"
    assert ("instance-pending", instance_id) not in events(emulator), "started while the second still holds it"
    first_done.set()
    thread, outcome = second_run
    thread.join(timeout=60)
    assert outcome == ["stopped"]
    assert states_at_request == [("first", "stopped"), ("second", "stopped")]
    assert events(emulator).count(("instance-pending", instance_id)) == 1
    assert holder_tags(emulator, instance_id) == {}


def test_stopped_stops_nothing_when_the_instance_cannot_be_tagged(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(denied_actions=["CreateTags"], tagging_allowed_at_creation=True)
    with pytest.raises(ConsistencyFailed, match=f"instance {data['instance_id']} was not stopped.*ec2:CreateTags"):
        take(emulator, Plan(consistency="stopped"), data["root_volume_id"])
    assert not [e for e in events(emulator) if e[0].startswith("instance-")]
    plan = Plan(consistency="stopped", on_failure="crash_consistent")
    assert consistency_of(emulator, take(emulator, plan, data["root_volume_id"])) == "crash"


def test_a_pre_command_that_outlasts_the_pause_bound_is_not_recorded_as_frozen(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    emulator.configure(command_seconds=2)  # the freeze reports after 2 s, beyond its timer's bound of 1 s
    plan = Plan(consistency="frozen", max_pause_seconds=1, on_failure="crash_consistent")
    assert consistency_of(emulator, take(emulator, plan, data["volume_id"])) == "crash"
    with pytest.raises(ConsistencyFailed, match="beyond max_pause_seconds"):
        take(emulator, Plan(consistency="frozen", max_pause_seconds=1), data["volume_id"])


def test_stopped_with_leave_stopped_stops_once_and_never_starts_again(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    snapshot_id = take(emulator, Plan(consistency="stopped", leave_stopped=True), data["root_volume_id"])
    assert consistency_of(emulator, snapshot_id) == "stopped"
    seen = events(emulator)
    assert seen.index(("instance-stopped", instance_id)) < seen.index(("create-snapshot-request", "200"))
    assert ("instance-pending", instance_id) not in seen
    assert emulator.stopped_instances() == [instance_id]
    assert holder_tags(emulator, instance_id) == {}  # left stopped on purpose, not held


def test_leave_stopped_does_not_start_an_instance_its_unfinished_run_stopped(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    instance_id = data["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed")
    stop(emulator, instance_id)
    take(emulator, Plan(consistency="stopped", leave_stopped=True), data["root_volume_id"])
    assert ("instance-pending", instance_id) not in events(emulator)
    assert holder_tags(emulator, instance_id) == {}


@pytest.mark.usefixtures("fresh_cancel")
def test_a_cancel_while_freezing_still_thaws(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    emulator.configure(command_seconds=30)
    thread, result = in_thread(lambda: take(emulator, Plan(consistency="frozen"), data["volume_id"]))
    wait_until(emulator.command_invocations, lambda seen: len(seen) == 1)
    cancel.cancel_waits()
    wait_until(emulator.command_invocations, lambda seen: len(seen) == 2)  # the post command, despite the Cancel
    emulator.advance_clock(30)
    thread.join(timeout=60)
    assert isinstance(result[0], cancel.LookCancelled)
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

    taken = pausing.around_instance(
        ec2, ssm, Plan(consistency="frozen"), seeded["instance_id"], volumes, request, ASKER
    )
    assert [consistency_of(emulator, s) for s in taken] == ["frozen", "frozen"]
    assert [kind for _, kind in events(emulator)] == ["freeze", "freeze:Success", "200", "thaw", "thaw:Success"]
    freeze = next(e["commands"] for e in emulator.timeline() if e["event"] == "command-sent")
    assert all(volume.replace("-", "") in freeze for volume, _ in volumes)


def test_frozen_on_a_stopped_instance_takes_it_as_stopped(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    client(emulator).stop_instances(InstanceIds=[data["instance_id"]])
    wait_until(lambda: emulator.stopped_instances(), lambda stopped: stopped == [data["instance_id"]])
    snapshot_id = take(emulator, Plan(consistency="frozen"), data["volume_id"])
    assert consistency_of(emulator, snapshot_id) == "stopped"
    assert emulator.command_invocations() == []
    assert emulator.stopped_instances() == [data["instance_id"]], "not ours to start"


# --- answers lost, instances someone else is operating, volumes with several writers ----------------------------
def ssm_losing(action: str, times: int | None = 1) -> Any:
    return lambda: LosesAnswers(boto3.client("ssm", region_name=REGION), action, times)


def test_frozen_finds_the_pre_command_whose_answer_was_lost(emulator: Ec2Emulator, data: dict[str, str]) -> None:
    ec2 = client(emulator)
    taken: list[str] = []

    def request(consistency: str) -> str:
        taken.append(consistency)
        return str(ec2.create_snapshot(VolumeId=data["volume_id"])["SnapshotId"])

    pausing.around(ec2, ssm_losing("send_command"), Plan(consistency="frozen"), data["volume_id"], request, ASKER)
    assert taken == ["frozen"]  # SSM listed the command by its Comment: it ran, and was waited for
    assert [e for e in events(emulator) if e[0] == "command-sent"] == [
        ("command-sent", "freeze"),
        ("command-sent", "thaw"),
    ]
    assert emulator.frozen_instances() == []


@pytest.mark.parametrize("on_failure", ["fail", "crash_consistent"])
def test_frozen_thaws_when_the_pre_commands_answer_was_lost(
    emulator: Ec2Emulator, data: dict[str, str], on_failure: str
) -> None:
    ec2 = client(emulator)
    ssm = LosesAnswersUnlisted(boto3.client("ssm", region_name=REGION), "send_command", times=1)
    plan = Plan(consistency="frozen", on_failure=on_failure)
    taken: list[str] = []

    def request(consistency: str) -> str:
        taken.append(consistency)
        return str(ec2.create_snapshot(VolumeId=data["volume_id"])["SnapshotId"])

    if on_failure == "fail":
        with pytest.raises(ConsistencyFailed, match="was lost"):
            pausing.around(ec2, lambda: ssm, plan, data["volume_id"], request, ASKER)
    else:
        pausing.around(ec2, lambda: ssm, plan, data["volume_id"], request, ASKER)
    assert taken == ([] if on_failure == "fail" else ["crash"])
    assert ("command-sent", "thaw") in events(emulator), "the pre command was delivered and nothing thawed it"
    assert emulator.frozen_instances() == []


def test_stopped_starts_the_instance_again_when_the_stop_answer_was_lost(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    ec2 = LosesAnswers(client(emulator), "stop_instances")  # every StopInstances: done, its answer lost
    taken: list[str] = []

    def request(consistency: str) -> str:
        taken.append(consistency)
        return str(ec2.create_snapshot(VolumeId=data["root_volume_id"])["SnapshotId"])

    pausing.around(ec2, lambda: None, Plan(consistency="stopped"), data["root_volume_id"], request, ASKER)
    assert taken == ["stopped"]
    assert ("instance-pending", data["instance_id"]) in events(emulator)
    wait_until(emulator.stopped_instances, lambda stopped: stopped == [])


@pytest.mark.parametrize("consistency", ["stopped", "frozen"])
def test_stopped_does_not_start_an_instance_that_was_already_stopping(
    emulator: Ec2Emulator, data: dict[str, str], consistency: str
) -> None:
    emulator.configure(transition_seconds=2)  # short: a provider that waited for it would then start it
    client(emulator).stop_instances(InstanceIds=[data["instance_id"]])  # its owner is shutting it down
    volume = data["root_volume_id"] if consistency == "stopped" else data["volume_id"]
    with pytest.raises(ConsistencyFailed, match=f"instance {data['instance_id']} is stopping.*pulumi up"):
        take(emulator, Plan(consistency=consistency), volume)
    acted = [e for e in events(emulator) if e[0] in ("instance-pending", "command-sent", "create-snapshot-request")]
    assert acted == [], "the provider acted on an instance its owner was stopping"
    assert events(emulator).count(("instance-stopping", data["instance_id"])) == 1
    assert emulator.snapshots() == []


def _a_stop_arrives_first(ec2: Any, emulator: Ec2Emulator, instance_id: str, by: str | None = None) -> None:
    """Make someone's StopInstances reach EC2 just before the provider's (between its DescribeInstances and its
    StopInstances): the provider's answer then says PreviousState `stopping`, not `running`. Its owner's; or, `by`,
    another resource's of ours, which confirms its tag at once (its own answer said `running`)."""
    other = client(emulator)

    def stops_first(**_: Any) -> None:
        other.stop_instances(InstanceIds=[instance_id])
        if by is not None:
            mark_stopped_by(emulator, instance_id, by, stopping.STOPPED)

    ec2.meta.events.register("provide-client-params.ec2.StopInstances", stops_first)


def test_stopped_leaves_stopped_an_instance_its_owner_began_to_stop_just_before_ours(
    emulator: Ec2Emulator, data: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """EC2 API reference, StopInstances (InstanceStateChange): PreviousState `stopping` says a stop began before this
    request. The stop is its owner's: the snapshot is taken once stopped, the tag removed, the instance not started."""
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    instance_id = data["instance_id"]
    emulator.configure(transition_seconds=1)  # the owner's stop is still `stopping` when ours arrives
    ec2 = client(emulator)
    _a_stop_arrives_first(ec2, emulator, instance_id)
    taken: list[str] = []

    def request(consistency: str) -> str:
        taken.append(consistency)
        return str(ec2.create_snapshot(VolumeId=data["root_volume_id"])["SnapshotId"])

    pausing.around(ec2, lambda: None, Plan(consistency="stopped"), data["root_volume_id"], request, ASKER)
    assert len(emulator.mutating_calls("StopInstances")) == 2, "not the case this test is about"
    assert taken == ["stopped"]
    assert ("instance-pending", instance_id) not in events(emulator)
    assert emulator.stopped_instances() == [instance_id]
    assert holder_tags(emulator, instance_id) == {}
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "is left stopped" in said and f"aws ec2 start-instances --instance-ids {instance_id}" in said


def test_stopped_joins_the_stop_another_resource_began_just_before_ours(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    """A stop that began before ours but that another resource of ours holds (its tag confirmed): joined, as when the
    instance is found stopped by it, so that it is not started before this resource's request."""
    instance_id = data["instance_id"]
    emulator.configure(transition_seconds=1)
    ec2 = client(emulator)
    theirs = mark_stopped_by(emulator, instance_id, "other-resource/a", stopping.STOPPING)
    _a_stop_arrives_first(ec2, emulator, instance_id, by="other-resource/a")
    seen_while_stopped: list[dict[str, str]] = []

    def request(consistency: str) -> str:
        seen_while_stopped.append(holder_tags(emulator, instance_id))
        return consistency

    assert pausing.around(ec2, lambda: None, Plan(consistency="stopped"), data["root_volume_id"], request, ASKER) == (
        "stopped"
    )
    [held] = seen_while_stopped
    assert sorted(held) == sorted([theirs, stopping.holder_key(ASKER.resource)])
    assert held[stopping.holder_key(ASKER.resource)].startswith("stopped ")
    assert ("instance-pending", instance_id) not in events(emulator), "started while the other resource holds it"
    assert list(holder_tags(emulator, instance_id)) == [theirs]


class MultiAttached:
    """The emulator's EC2, with `volume_id` also attached to `others` as DescribeVolumes answers for a Multi-Attach
    volume (EBS user guide, Multi-Attach: io1/io2, up to 16 Nitro instances, each with full read and write access).
    moto keeps one attachment per volume."""

    def __init__(self, inner: Any, volume_id: str, others: list[str]) -> None:
        self.inner, self.volume_id, self.others = inner, volume_id, others

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def describe_volumes(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.inner.describe_volumes(**kwargs)
        for volume in answer["Volumes"]:
            if volume["VolumeId"] == self.volume_id:
                volume["Attachments"] += [
                    {"InstanceId": other, "VolumeId": self.volume_id, "Device": "/dev/sdf", "State": "attached"}
                    for other in self.others
                ]
        return dict(answer)


@pytest.mark.parametrize("consistency", ["stopped", "frozen"])
def test_stopped_on_a_multi_attached_volume_stops_every_writer_or_refuses(
    emulator: Ec2Emulator, data: dict[str, str], consistency: str
) -> None:
    ec2 = MultiAttached(client(emulator), data["volume_id"], ["i-0fedcba9876543210"])
    plan = Plan(consistency=consistency, pre_commands=("sync",)) if consistency == "frozen" else Plan(consistency)
    with pytest.raises(ConsistencyFailed, match=f"{data['volume_id']} is also attached to i-0fedcba9876543210"):
        pausing.around(ec2, lambda: boto3.client("ssm", region_name=REGION), plan, data["volume_id"], str, ASKER)
    assert events(emulator) == [] and emulator.snapshots() == []


def test_an_instance_set_with_a_multi_attached_volume_is_refused_or_taken_crash(
    emulator: Ec2Emulator, data: dict[str, str]
) -> None:
    ec2 = MultiAttached(client(emulator), data["volume_id"], ["i-0fedcba9876543210"])
    volumes = [(data["volume_id"], "/dev/sdf")]
    ssm = lambda: boto3.client("ssm", region_name=REGION)  # noqa: E731
    with pytest.raises(ConsistencyFailed, match="i-0fedcba9876543210"):
        pausing.around_instance(ec2, ssm, Plan(consistency="stopped"), data["instance_id"], volumes, str, ASKER)
    plan = Plan(consistency="stopped", on_failure="crash_consistent")
    assert pausing.around_instance(ec2, ssm, plan, data["instance_id"], volumes, str, ASKER) == "crash"
    assert events(emulator) == []
