"""Model-based test of pausing writes (`core.quiesce`): Hypothesis picks what goes wrong on the instance (the pre
command fails, the post command fails, no SSM agent, the request fails, the answer to the pre command's SendCommand or
to StopInstances is lost although AWS carried it out, the instance's owner is stopping it) and what the user asked for
(`consistency`, `on_failure`), takes snapshots one after another against the in-process emulator, and after every
step checks:

1. No instance is left frozen or stopped by this provider, unless the user was told, with that instance named (a
   failed post command: `ResumeFailed`); an instance its owner is stopping is neither sent commands nor started.
2. Each snapshot's consistency tag is what the model predicts; with `on_failure: fail` and writes not paused, no
   snapshot is taken; a failing request is still followed by the post command.
3. No instance its owner stopped is started by this provider: after a run killed while it had the instance stopped
   (its stopped-by tag left), the next take starts the instance only if EC2 had shown it stopped to that run (the
   tag's `stopped` phase) and its owner did not start it since; a tag left on a running instance (a stop that never
   reached EC2) is removed, and so is one whose stop never reached EC2 when the owner stopped the instance since.

A pre command that hangs until its timeout is left to tests/emulator/test_pausing.py (it needs the clock stepped from
another thread). Profile: derandomized, a few dozen steps (`QUIESCE_MODEL_EXAMPLES` for more examples).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import Any

import boto3
import pytest
from emulator_helpers import LosesAnswers, LosesAnswersUnlisted, client, wait_until
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from emulator import Ec2Emulator
from snapshot_provider.core.quiesce import instance, pausing, stopping
from snapshot_provider.core.quiesce.instance import ConsistencyFailed, ResumeFailed
from snapshot_provider.inputs.consistency import CONSISTENCY_TAG, Plan
from testbed import REGION

# Who asks (the resource and attempt behind an instance's stopped-by tag), with no EC2 rate queue to wait in.
ASKER = pausing.Asker(by="test-resource/attempt", turn=contextlib.nullcontext)

# A run of this resource killed after tagging the instance stopped-by: (its tag's phase when it died, its
# StopInstances reached EC2, the instance's owner then started it and stopped it again, or its owner stopped it).
KILLED_RUNS = {
    "killed run": ("stopped", True, False, False),
    "killed run, unconfirmed": ("stopping", True, False, False),
    "killed run, owner restarted": ("stopped", True, True, False),
    "killed run, stop never arrived": ("stopping", False, False, False),
    "killed run, stop never arrived, owner stopped": ("stopping", False, False, True),
}
KILLED_RUN_TURNS = itertools.cycle([(k, c) for k in KILLED_RUNS for c in ("stopped", "frozen")])
TROUBLES = (
    "none",
    "pre fails",
    "post fails",
    "no agent",
    "pre answer lost",  # SendCommand carried out, its answer lost; SSM lists the command
    "pre answer lost, unlisted",  # ... and ListCommandInvocations does not list it (yet)
    "stop answer lost",  # every StopInstances carried out, its answer lost
    "owner stopping",  # its owner's StopInstances is under way
)
NOT_PAUSED = ("pre fails", "no agent", "pre answer lost, unlisted", "owner stopping")
OWNER_TRANSITION = 60  # seconds of the owner's stop (and start), on the emulator's clock
EXAMPLES = int(os.environ.get("QUIESCE_MODEL_EXAMPLES", "36"))
MUST_SEE = [
    ("frozen", "fail", "pre fails"),
    ("frozen", "crash_consistent", "no agent"),
    ("frozen", "fail", "post fails"),
    ("stopped", "", "none"),
    ("frozen", "fail", "pre answer lost, unlisted"),
    ("frozen", "crash_consistent", "pre answer lost"),
    ("stopped", "", "stop answer lost"),
    ("stopped", "", "owner stopping"),
    ("stopped", "", "killed run"),
    ("stopped", "", "killed run, owner restarted"),
    ("frozen", "", "killed run, stop never arrived"),
    ("stopped", "", "killed run, unconfirmed"),
    ("stopped", "", "killed run, stop never arrived, owner stopped"),
]
SEEN: set[tuple[str, str, str, bool]] = set()  # (consistency, on_failure, trouble, request fails) the run took


class RequestFailed(Exception):
    """The snapshot request itself failed (the model's stand-in for any error EC2 answers)."""


def expected(plan: Plan, trouble: str, request_fails: bool) -> tuple[str | None, type[Exception] | None]:
    """The consistency the snapshot gets (None: no snapshot) and the error the take raises, as the model predicts."""
    if plan.consistency == "crash":
        return (None, RequestFailed) if request_fails else ("crash", None)
    if plan.consistency == "stopped" and trouble != "owner stopping":
        return (None, RequestFailed) if request_fails else ("stopped", None)
    if trouble in NOT_PAUSED:
        if plan.on_failure == "fail":
            return None, ConsistencyFailed
        got = "crash"
    else:
        got = "frozen"
    if request_fails:
        return None, ResumeFailed if trouble == "post fails" else RequestFailed
    return got, ResumeFailed if trouble == "post fails" else None


class Quiesce(RuleBasedStateMachine):
    def __init__(self, emulator: Ec2Emulator) -> None:
        super().__init__()
        emulator.reset()
        self.emulator = emulator
        seeded = emulator.seed_instance(data_volumes=1)
        self.instance_id = seeded["instance_id"]
        self.volumes = {"data": seeded["data_volumes"][0]["volume_id"], "root": seeded["root_volume_id"]}
        self.ec2 = client(emulator)
        self.trouble = "none"
        self.told: set[str] = set()  # instances named in a ResumeFailed
        self.predicted: dict[str, str] = {}  # snapshot id -> consistency

    def instance_trouble(self, trouble: str) -> None:
        self.trouble = trouble
        # "still frozen": the default thaw script's own failure line (the freeze script names `fsfreeze -u` too).
        failing = {"pre fails": ["fsfreeze -f"], "post fails": ["still frozen"]}.get(trouble, [])
        agentless = [self.instance_id] if trouble == "no agent" else []
        self.emulator.configure(fail_commands=failing, agentless_instances=agentless, transition_seconds=0)

    def ssm(self) -> Any:
        made = boto3.client("ssm", region_name=REGION)
        if self.trouble == "pre answer lost":
            return LosesAnswers(made, "send_command", times=1)
        if self.trouble == "pre answer lost, unlisted":
            return LosesAnswersUnlisted(made, "send_command", times=1)
        return made

    def owner_stops(self) -> None:
        self.emulator.configure(transition_seconds=OWNER_TRANSITION)
        self.ec2.stop_instances(InstanceIds=[self.instance_id])

    def owner_starts_again(self) -> None:
        """The owner's stop ends, and the owner starts the instance again (clock stepped, no waiting)."""
        self.emulator.advance_clock(OWNER_TRANSITION + 1)
        wait_until(self.emulator.stopped_instances, lambda stopped: stopped == [self.instance_id], timeout=10)
        self.ec2.start_instances(InstanceIds=[self.instance_id])
        self.emulator.advance_clock(OWNER_TRANSITION + 1)

    def acts(self) -> list[dict[str, Any]]:
        """What this provider does to an instance: commands sent, instances started."""
        return [e for e in self.emulator.timeline() if e["event"] in ("command-sent", "instance-pending")]

    @rule(
        trouble=st.sampled_from(TROUBLES),
        consistency=st.sampled_from(("crash", "frozen", "stopped")),
        on_failure=st.sampled_from(("fail", "crash_consistent")),
        request_fails=st.booleans(),
    )
    def take(self, trouble: str, consistency: str, on_failure: str, request_fails: bool) -> None:
        self.instance_trouble(trouble)
        plan = Plan(consistency=consistency, on_failure=on_failure)
        volume = self.volumes["root" if consistency == "stopped" else "data"]
        got, error = expected(plan, self.trouble, request_fails)
        made: list[str] = []

        def request(consistency_got: str) -> str:
            if request_fails:
                raise RequestFailed()
            tags = [{"ResourceType": "snapshot", "Tags": [{"Key": CONSISTENCY_TAG, "Value": consistency_got}]}]
            made.append(self.ec2.create_snapshot(VolumeId=volume, TagSpecifications=tags)["SnapshotId"])
            return made[-1]

        on_failure_used = plan.on_failure if plan.consistency == "frozen" else ""
        SEEN.add((plan.consistency, on_failure_used, self.trouble, request_fails))
        ec2 = LosesAnswers(self.ec2, "stop_instances") if trouble == "stop answer lost" else self.ec2
        if trouble == "owner stopping":
            self.owner_stops()
        acts_before = len(self.acts())
        raised: Exception | None = None
        try:
            pausing.around(ec2, self.ssm, plan, volume, request, ASKER)
        except (ConsistencyFailed, ResumeFailed, RequestFailed) as failure:
            raised = failure
        assert type(raised) is error if error else raised is None, f"{plan} {self.trouble}: raised {raised!r}"
        if isinstance(raised, ResumeFailed):
            assert self.instance_id in str(raised)
            self.told.add(self.instance_id)
        assert [self.predicted.setdefault(s, str(got)) for s in made] == ([got] if got else [])
        if trouble == "owner stopping":
            assert len(self.acts()) == acts_before, "commands sent to, or a start of, an instance its owner stops"
            self.owner_starts_again()
        # Started again: wait for the transition out of `stopping` the provider already asked for.
        wait_until(self.emulator.stopped_instances, lambda stopped: stopped == [], timeout=10)

    @initialize()
    def take_after_a_killed_run(self) -> None:
        """A run of this resource killed after tagging the instance (its StopInstances reached EC2 or not, EC2 showed
        it stopped or not); its owner may then start the instance and stop it again, or stop it; then the next take.
        Each example begins with the next of these scenarios in turn (drawing nothing: the draws of the rules that
        follow stay as they were). Started by the take only after a stop EC2 showed done, of the launch it stopped."""
        trouble, consistency = next(KILLED_RUN_TURNS)
        phase, stop_arrived, owner_restarts, owner_stops = KILLED_RUNS[trouble]
        self.instance_trouble("none")
        at = instance.instance_attachment(self.ec2, self.instance_id, [])
        key, value = stopping.stopped_by(f"{ASKER.resource}/killed", at, phase)
        self.ec2.create_tags(Resources=[self.instance_id], Tags=[{"Key": key, "Value": value}])
        if stop_arrived:
            self.stop_and_wait()
            if owner_restarts:
                self.emulator.advance_clock(2)  # LaunchTime has a second's resolution
                self.ec2.start_instances(InstanceIds=[self.instance_id])
                wait_until(self.emulator.stopped_instances, lambda stopped: stopped == [], timeout=10)
                self.stop_and_wait()
        if owner_stops:
            self.stop_and_wait()
        SEEN.add((consistency, "", trouble, False))
        ours = trouble == "killed run"
        starts_before = self.starts()
        volume = self.volumes["root" if consistency == "stopped" else "data"]
        pausing.around(self.ec2, self.ssm, Plan(consistency=consistency), volume, lambda got: got, ASKER)
        if stop_arrived or owner_stops:
            assert self.starts() == starts_before + (1 if ours else 0), "started only after a confirmed stop of ours"
        if not ours and self.emulator.stopped_instances():
            self.ec2.start_instances(InstanceIds=[self.instance_id])  # its owner's own start (or the user's, told)
        wait_until(self.emulator.stopped_instances, lambda stopped: stopped == [], timeout=10)
        assert not [k for k in self.instance_tags() if k.startswith(instance.STOPPED_BY_TAG)]

    def stop_and_wait(self) -> None:
        self.ec2.stop_instances(InstanceIds=[self.instance_id])
        wait_until(self.emulator.stopped_instances, lambda stopped: stopped == [self.instance_id], timeout=10)
        wait_until(self.states, lambda states: states[-1:] == ["stopped"], timeout=10)

    def states(self) -> list[str]:
        return [e["event"].removeprefix("instance-") for e in self.emulator.timeline() if e.get("instance_id")]

    def starts(self) -> int:
        return sum(1 for e in self.emulator.timeline() if e["event"] == "instance-pending")

    def instance_tags(self) -> dict[str, str]:
        [reservation] = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}

    @invariant()
    def nothing_left_frozen_or_stopped_untold(self) -> None:
        assert set(self.emulator.frozen_instances()) <= self.told
        assert self.emulator.stopped_instances() == []

    @invariant()
    def every_snapshot_says_its_consistency(self) -> None:
        held = {s["snapshot_id"]: s["tags"].get(CONSISTENCY_TAG) for s in self.emulator.snapshots()}
        assert held == self.predicted


def test_no_instance_is_left_frozen_or_stopped(emulator: Ec2Emulator) -> None:
    run_state_machine_as_test(
        lambda: Quiesce(emulator),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    # The run must have gone where the rules matter, or it proves nothing.
    for consistency, on_failure, trouble in MUST_SEE:
        assert any(seen[:3] == (consistency, on_failure, trouble) for seen in SEEN), (consistency, on_failure, trouble)


@pytest.mark.parametrize("trouble", TROUBLES)
def test_the_model_predicts_an_error_whenever_writes_were_not_paused_and_fail_was_asked(trouble: str) -> None:
    got, error = expected(Plan(consistency="frozen", on_failure="fail"), trouble, request_fails=False)
    assert (got is None) == (error is ConsistencyFailed) == (trouble in NOT_PAUSED)
