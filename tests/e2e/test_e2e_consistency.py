"""End to end, the way a user works: EbsSnapshot, InstanceSnapshots and SnapshotSeries with `consistency` in a
user's own program, the real Pulumi CLI, the emulator's SSM Run Command and instance states; what ran on the instance
and in which order is read back from the emulator's record (`Ec2Emulator.timeline`), and no instance is left frozen
or stopped."""

from __future__ import annotations

import subprocess
import textwrap
from typing import Any

import pytest
from stack_harness import StackFactory

from emulator import Ec2Emulator


@pytest.fixture
def instance(emulator: Ec2Emulator) -> dict[str, Any]:
    return emulator.seed_instance(data_volumes=1)


def snapshot_program(volume_id: str, **consistency: Any) -> str:
    arguments = "".join(f"    {name}={value!r},\n" for name, value in consistency.items())
    return textwrap.dedent(
        """\
        import pulumi
        from snapshot_provider import EbsSnapshot

        snapshot = EbsSnapshot(
            "db",
            volume_id={volume_id!r},
            timeout=120,
        {arguments})
        pulumi.export("snapshot_id", snapshot.snapshot_id)
        pulumi.export("consistency", snapshot.snapshot_consistency)
        """
    ).format(volume_id=volume_id, arguments=arguments)


def steps(emulator: Ec2Emulator) -> list[str]:
    """The timeline in words: freeze / thaw sent and finished, each request's status, completions, instance states."""
    words = []
    for e in emulator.timeline():
        if e["event"].startswith("command-"):
            verb = "freeze" if "fsfreeze -f" in e["commands"] else "thaw" if "fsfreeze -u" in e["commands"] else "run"
            words.append(f"{verb} sent" if e["event"] == "command-sent" else f"{verb} {e['status']}")
        elif e["event"] == "create-snapshot-request":
            words.append(f"request {e['status']}")
        elif e["event"] in ("snapshot-completed", "instance-stopping", "instance-stopped", "instance-pending"):
            words.append(e["event"])
    return words


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What the CLI showed the user (the provider's lines reach its stderr when the engine log is not connected)."""
    return result.stdout + result.stderr


def nothing_left_paused(emulator: Ec2Emulator) -> None:
    assert emulator.frozen_instances() == []
    assert emulator.stopped_instances() == []


def test_frozen_runs_pre_request_post_before_the_snapshot_completes(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(pending_seconds=3.0)
    volume_id = instance["data_volumes"][0]["volume_id"]
    stack = new_stack(snapshot_program(volume_id, consistency="frozen"))
    preview = stack.preview()
    assert "will run fsfreeze of its mounted file systems through SSM Run Command" in said(preview)
    assert emulator.command_invocations() == [], "a preview runs nothing on the instance"
    stack.up()
    assert steps(emulator) == [
        "freeze sent",
        "freeze Success",
        "request 200",
        "thaw sent",
        "thaw Success",
        "snapshot-completed",
    ]
    assert stack.outputs()["consistency"] == "frozen"
    nothing_left_paused(emulator)


def test_a_failed_pre_command_with_fail_takes_nothing(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    volume_id = instance["data_volumes"][0]["volume_id"]
    result = new_stack(snapshot_program(volume_id, consistency="frozen")).up(check=False)
    assert result.returncode != 0
    assert f"no snapshot of {volume_id} was taken" in said(result)
    assert emulator.snapshots() == []
    assert steps(emulator) == ["freeze sent", "freeze Failed", "thaw sent", "thaw Success"]
    nothing_left_paused(emulator)


def test_a_failed_pre_command_with_crash_consistent_records_crash(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    volume_id = instance["data_volumes"][0]["volume_id"]
    stack = new_stack(snapshot_program(volume_id, consistency="frozen", on_failure="crash_consistent"))
    stack.up()
    assert stack.outputs()["consistency"] == "crash"
    [snapshot] = emulator.snapshots()
    assert snapshot["tags"]["pulumi-snapshot:consistency"] == "crash"
    requested = [step for step in steps(emulator) if step != "snapshot-completed"]
    assert requested == ["freeze sent", "freeze Failed", "request 200", "thaw sent", "thaw Success"]
    nothing_left_paused(emulator)


def test_a_failing_request_still_runs_the_post_command(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(denied_actions=["CreateSnapshot"])  # refused, as a missing IAM permission is
    volume_id = instance["data_volumes"][0]["volume_id"]
    result = new_stack(snapshot_program(volume_id, consistency="frozen")).up(check=False)
    assert result.returncode != 0
    assert steps(emulator) == ["freeze sent", "freeze Success", "request 403", "thaw sent", "thaw Success"]
    nothing_left_paused(emulator)


def test_stopped_stops_the_instance_around_the_request_and_starts_it(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(transition_seconds=1.0)
    stack = new_stack(snapshot_program(instance["root_volume_id"], consistency="stopped"))
    assert f"will STOP the instance that volume {instance['root_volume_id']} is attached to" in said(stack.preview())
    assert emulator.stopped_instances() == []
    stack.up()
    order = steps(emulator)
    assert order.index("instance-stopping") < order.index("instance-stopped") < order.index("request 200")
    assert order.index("request 200") < order.index("instance-pending")
    assert stack.outputs()["consistency"] == "stopped"
    nothing_left_paused(emulator)


def test_instance_snapshots_freeze_the_instance_once_for_the_set(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    program = textwrap.dedent(
        f"""\
        import pulumi
        from snapshot_provider import InstanceSnapshots

        taken = InstanceSnapshots(
            "app",
            instance_id={instance["instance_id"]!r},
            exclude_boot_volume=True,
            consistency="frozen",
            timeout=120,
        )
        pulumi.export("snapshots", taken.snapshots)
        """
    )
    stack = new_stack(program)
    assert f"through SSM Run Command on instance {instance['instance_id']}" in said(stack.preview())
    stack.up()
    requested = [step for step in steps(emulator) if step != "snapshot-completed"]
    assert requested == ["freeze sent", "freeze Success", "request 200", "thaw sent", "thaw Success"]
    assert [s["consistency"] for s in stack.outputs()["snapshots"]] == ["frozen"]
    nothing_left_paused(emulator)


def test_a_failed_thaw_names_the_instance_the_timer_thaws_and_the_next_up_keeps_one_snapshot(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(fail_commands=["still frozen"])  # the default thaw script's failure line
    volume_id = instance["data_volumes"][0]["volume_id"]
    stack = new_stack(snapshot_program(volume_id, consistency="frozen"))
    failed = stack.up(check=False)
    assert failed.returncode != 0
    assert f"the post command on instance {instance['instance_id']} ended Failed" in said(failed)
    assert emulator.frozen_instances() == [instance["instance_id"]]  # the user was told, with the instance named
    emulator.advance_clock(60)  # max_pause_seconds: the default freeze's own timer thaws on the instance
    assert emulator.frozen_instances() == []
    emulator.configure(fail_commands=[])
    stack.up()
    [snapshot] = emulator.snapshots()
    assert stack.outputs()["snapshot_id"] == snapshot["snapshot_id"]
    nothing_left_paused(emulator)


def test_instance_snapshots_stopped_stops_the_instance_once_around_the_set_and_starts_it(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(transition_seconds=1.0)
    program = textwrap.dedent(
        f"""\
        import pulumi
        from snapshot_provider import InstanceSnapshots

        taken = InstanceSnapshots("app", instance_id={instance["instance_id"]!r}, consistency="stopped", timeout=120)
        pulumi.export("snapshots", taken.snapshots)
        """
    )
    stack = new_stack(program)
    assert f"will STOP instance {instance['instance_id']}" in said(stack.preview())
    assert emulator.stopped_instances() == [], "a preview stops nothing"
    stack.up()
    order = steps(emulator)
    assert [step for step in order if step.startswith("request")] == ["request 200"]  # one CreateSnapshots
    assert order.count("instance-stopping") == 1 and order.count("instance-pending") == 1
    assert order.index("instance-stopping") < order.index("instance-stopped") < order.index("request 200")
    assert order.index("request 200") < order.index("instance-pending")
    snapshots = stack.outputs()["snapshots"]
    assert sorted(s["volume_id"] for s in snapshots) == sorted(
        [instance["root_volume_id"], instance["data_volumes"][0]["volume_id"]]
    )
    assert [s["consistency"] for s in snapshots] == ["stopped", "stopped"]
    nothing_left_paused(emulator)


def test_each_point_of_a_frozen_series_runs_pre_request_post(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    volume_id = instance["data_volumes"][0]["volume_id"]
    program = textwrap.dedent(
        f"""\
        import pulumi
        from snapshot_provider import SnapshotSeries

        nightly = SnapshotSeries(
            "nightly",
            volume_id={volume_id!r},
            trigger=pulumi.Config().require("day"),
            keep_last=5,
            consistency="frozen",
            timeout=120,
        )
        pulumi.export("kept", nightly.snapshots)
        """
    )
    stack = new_stack(program)
    stack.config(day="d1")
    stack.up()
    stack.config(day="d2")
    assert "fsfreeze of its mounted file systems through SSM Run Command" in said(stack.preview())
    stack.up()
    requested = [step for step in steps(emulator) if step != "snapshot-completed"]
    assert requested == ["freeze sent", "freeze Success", "request 200", "thaw sent", "thaw Success"] * 2
    assert len(stack.outputs()["kept"]) == 2
    assert all(s["tags"]["pulumi-snapshot:consistency"] == "frozen" for s in emulator.snapshots())
    nothing_left_paused(emulator)


def test_own_commands_run_but_stay_secret_in_state_and_output(
    new_stack: StackFactory, emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    volume_id = instance["data_volumes"][0]["volume_id"]
    pre, post = "mysql -pS3cr3t-7781 -e 'FLUSH TABLES WITH READ LOCK'", "mysql -pS3cr3t-7781 -e 'UNLOCK TABLES'"
    stack = new_stack(snapshot_program(volume_id, consistency="frozen", pre_commands=[pre], post_commands=[post]))
    shown = said(stack.preview()) + said(stack.up())
    ran = [e["commands"] for e in emulator.timeline() if e["event"] == "command-sent"]
    assert any(pre in commands for commands in ran) and any(post in commands for commands in ran)
    assert "S3cr3t-7781" not in stack.state_file().read_text() + shown
    nothing_left_paused(emulator)
