"""Red-team findings, second pass, on lock (issue 21) and consistency frozen/stopped (issue 22): RT-2-<n>.

Each finding is a strict xfail that passes once the product is fixed; a control test next to it shows the part that
already holds. The AWS behaviour each one relies on is named in its reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import client, wait_until

from emulator import Ec2Emulator
from snapshot_provider import (
    EbsSnapshotProvider,
    InstanceSnapshotsProvider,
    SnapshotSeriesProvider,
)
from snapshot_provider.components.decommission import SafeDecommissionArgs, snapshot_set_args
from snapshot_provider.components.tagging import SnapshotPolicy
from snapshot_provider.core.quiesce import default_scripts
from snapshot_provider.core.quiesce.instance import STOPPED_BY_TAG, Attachment, ConsistencyFailed
from snapshot_provider.ec2 import clients, pacing
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.consistency import Plan
from snapshot_provider.inputs.declarations import AccountSelection
from snapshot_provider.inputs.series import SCHEMA as SERIES_SCHEMA
from testbed import REGION, snapshot_props

VOLUME = "vol-0123456789abcdef0"
REPO = Path(__file__).resolve().parents[2]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lock_failures(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What check (preview and up) says of the `lock` input for a change from `old` to `new` (old {} for a create)."""
    return [f.reason for f in EbsSnapshotProvider().check(old, new).failures if f.property == "lock"]


LAPSED = _iso(datetime.now(UTC) - timedelta(days=1))  # a lock's end that has passed since the last `up`


# --- lock: a lock that has ended --------------------------------------------------------------------------------------
def test_control_a_new_lock_that_ends_in_the_past_is_refused_at_preview() -> None:
    new = snapshot_props(VOLUME, lock={"mode": "governance", "expires_at": LAPSED})
    assert any("in the past" in reason for reason in _lock_failures({}, new))


@pytest.mark.parametrize("mode", ["governance", "compliance"])
def test_an_unchanged_lock_whose_date_has_passed_does_not_fail_the_preview(mode: str) -> None:
    unchanged = snapshot_props(VOLUME, lock={"mode": mode, "expires_at": LAPSED})
    assert _lock_failures(unchanged, dict(unchanged)) == []


def test_taking_out_a_compliance_lock_that_has_ended_is_not_refused() -> None:
    old = snapshot_props(VOLUME, lock={"mode": "compliance", "expires_at": LAPSED})
    assert _lock_failures(old, snapshot_props(VOLUME)) == []


def test_control_taking_out_a_compliance_lock_still_running_is_refused() -> None:
    future = _iso(datetime.now(UTC) + timedelta(days=30))
    old = snapshot_props(VOLUME, lock={"mode": "compliance", "expires_at": future})
    assert any("cannot be removed" in reason for reason in _lock_failures(old, snapshot_props(VOLUME)))


# --- lock: EC2's longest lock -----------------------------------------------------------------------------------------
def test_control_duration_days_beyond_ec2s_longest_lock_is_refused_at_preview() -> None:
    new = snapshot_props(VOLUME, lock={"mode": "governance", "duration_days": 36501})
    assert any("36500" in reason for reason in _lock_failures({}, new))


def test_expires_at_beyond_ec2s_longest_lock_is_refused_at_preview() -> None:
    far = _iso(datetime.now(UTC) + timedelta(days=36500 + 365))
    new = snapshot_props(VOLUME, lock={"mode": "governance", "expires_at": far})
    assert _lock_failures({}, new), "the preview accepts a lock EC2 refuses"


def test_a_lock_beyond_36500_days_is_refused_before_anything_is_taken(emulator: Ec2Emulator, volume_id: str) -> None:
    """RT-2-3 at `up` too: what the preview refuses, a create refuses before CreateSnapshot."""
    far = _iso(datetime.now(UTC) + timedelta(days=36500 + 365))
    with pytest.raises(ValueError, match="36500 days"):
        EbsSnapshotProvider().create(snapshot_props(volume_id, lock={"mode": "governance", "expires_at": far}))
    assert emulator.snapshots() == []


# --- stopped: the instance this provider stopped ----------------------------------------------------------------------
def _stopped_root(emulator: Ec2Emulator) -> dict[str, Any]:
    seeded = emulator.seed_instance(data_volumes=1)
    return snapshot_props(seeded["root_volume_id"], consistency="stopped", timeout=60) | {"_instance": seeded}


def test_control_stopped_starts_the_instance_again(emulator: Ec2Emulator) -> None:
    props = _stopped_root(emulator)
    instance = props.pop("_instance")["instance_id"]
    result = EbsSnapshotProvider().create(props)
    assert result.outs["snapshot_consistency"] == "stopped"
    assert ("instance-pending", instance) in [(e["event"], e.get("instance_id")) for e in emulator.timeline()]


def test_stopped_starts_the_instance_again_after_one_throttled_start(emulator: Ec2Emulator) -> None:
    props = _stopped_root(emulator)
    instance = props.pop("_instance")["instance_id"]
    # Seed 1: the first StartInstances is throttled, the next ones are served (a retrying client gets through).
    emulator.configure(throttle_rate=0.5, actions=["StartInstances"], seed=1)
    with contextlib.suppress(SnapshotProviderError):  # a fix may go on, or fail saying so: either way, start it
        EbsSnapshotProvider().create(props)
    emulator.configure(throttle_rate=0.0, actions=[])
    assert emulator.stopped_instances() == [], f"{instance} stopped by the provider is left stopped"


# --- frozen: the bound on the pause -----------------------------------------------------------------------------------
def test_a_request_sent_after_the_pause_bound_is_not_recorded_as_frozen(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # A busy stack: CreateSnapshot's bucket has one token and refills one every 8 s (SNAPSHOT_API_BUCKETS).
    monkeypatch.setenv("SNAPSHOT_API_BUCKETS", "CreateSnapshot=1/0.125")
    pacing.reset()
    request.addfinalizer(pacing.reset)  # the next test's buckets are EC2's again
    seeded = emulator.seed_instance(data_volumes=2)
    first, second = (v["volume_id"] for v in seeded["data_volumes"])
    provider = EbsSnapshotProvider()
    provider.create(snapshot_props(first))  # identifies the account (the buckets are per account id)
    # Spend the token just before: the frozen create's request then waits about 8 s for its turn, while frozen.
    paced = clients.client(AccountSelection.from_props(snapshot_props(first)), single_attempt=True)
    paced.create_snapshot(VolumeId=seeded["root_volume_id"])
    pause = 5
    result = provider.create(snapshot_props(second, consistency="frozen", max_pause_seconds=pause))
    timeline = emulator.timeline()
    frozen_at = next(e["at"] for e in timeline if e["event"] == "command-sent" and "fsfreeze -f" in e["commands"])
    requested_at = [e["at"] for e in timeline if e["event"] == "create-snapshot-request"][-1]
    late = requested_at - frozen_at
    recorded = result.outs["snapshot_consistency"]
    assert late <= pause or recorded != "frozen", (
        f"requested {late:.1f}s after the freeze, {late - pause:.1f}s after the timer thawed the file systems, "
        "yet recorded as frozen"
    )
    # RT-2-5: the request's turn in the queue is taken before the freeze, so a busy stack loses no consistency to it.
    assert recorded == "frozen" and late <= pause, f"requested {late:.1f}s after the freeze, recorded {recorded}"


def test_control_a_prompt_request_is_recorded_as_frozen(emulator: Ec2Emulator) -> None:
    seeded = emulator.seed_instance(data_volumes=1)
    volume_id = seeded["data_volumes"][0]["volume_id"]
    result = EbsSnapshotProvider().create(snapshot_props(volume_id, consistency="frozen", max_pause_seconds=5))
    assert result.outs["snapshot_consistency"] == "frozen"
    wait_until(emulator.frozen_instances, lambda frozen: frozen == [])
    assert client(emulator).describe_snapshots(SnapshotIds=[result.id])["Snapshots"]


# --- frozen: which file systems the default freeze may pause ---------------------------------------------------------
def _run_freeze_on(
    mount_point: str, tmp_path: Path, *, max_pause: int = 60, sync: str = "exit 0", timer: str = "exit 0"
) -> tuple[int, list[str]]:
    """The default freeze script run by sh on a volume whose file system is mounted at `mount_point`, with lsblk,
    sync, fsfreeze and nohup replaced by stubs (nothing real is frozen): its exit code and the fsfreeze calls.
    `sync` and `timer` are the stubs' bodies for sync and nohup (by default: at once, and no thaw timer)."""
    at = Attachment("i-0123456789abcdef0", (("vol-0abc", "/dev/sdf"),), root=False, windows=False, state="")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "fsfreeze.log"
    scripts = {
        "lsblk": f'case "$1" in -dnpo) echo "/dev/nvme1n1 vol0abc";; -lnpo) echo "{mount_point}";; esac',
        "fsfreeze": f'echo "$*" >> {calls}',
        "sync": sync,
        "nohup": timer,
    }
    for name, body in scripts.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    script = tmp_path / "freeze.sh"
    script.write_text("\n".join(default_scripts.freeze_script(at, max_pause)) + "\n")
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}
    ran = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    return ran.returncode, _lines(calls)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_control_the_default_freeze_pauses_a_data_mount(tmp_path: Path) -> None:
    code, calls = _run_freeze_on("/data", tmp_path)
    assert code == 0 and calls == ["-f /data"]


def test_control_the_default_freeze_refuses_the_root_file_system(tmp_path: Path) -> None:
    code, calls = _run_freeze_on("/", tmp_path)
    assert code != 0 and calls == []


def test_the_default_freeze_refuses_the_file_system_ssm_agent_writes_to(tmp_path: Path) -> None:
    code, calls = _run_freeze_on("/var", tmp_path)
    assert calls == [], f"froze /var (exit {code})"


# --- stopped: a run killed while the instance is stopped --------------------------------------------------------------
CREATE_IN_CHILD = "import json, sys; from snapshot_provider import EbsSnapshotProvider; " + (
    "EbsSnapshotProvider().create(json.loads(sys.argv[1]))"
)


def test_the_next_up_starts_an_instance_a_killed_run_stopped(emulator: Ec2Emulator) -> None:
    props = _stopped_root(emulator)
    instance = props.pop("_instance")["instance_id"]
    emulator.configure(transition_seconds=3600)  # the stop takes a while: the run is killed while it waits
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "helpers")])}
    child = subprocess.Popen([sys.executable, "-c", CREATE_IN_CHILD, json.dumps(props)], env=env)
    try:
        # Killed once the stop is ours and confirmed (the tag's `stopped` phase): a kill before that confirmation
        # leaves an ambiguous `stopping` tag, which is left alone on purpose (test_quiesce_model's killed runs).
        wait_until(
            lambda: _instance_tags(emulator, instance),
            lambda tags: any(k.startswith(STOPPED_BY_TAG) and v.startswith("stopped ") for k, v in tags.items()),
            timeout=60,
        )
    finally:
        child.kill()
        child.wait(timeout=30)
    emulator.advance_clock(3600)
    emulator.configure(transition_seconds=0)
    assert emulator.stopped_instances() == [instance]
    told = False
    try:
        EbsSnapshotProvider().create(props)  # the next `up`
    except SnapshotProviderError as error:
        told = instance in str(error)
    assert told or emulator.stopped_instances() == [], f"{instance}, stopped by this provider, is left stopped"
    assert not [k for k in _instance_tags(emulator, instance) if k.startswith(STOPPED_BY_TAG)]


def _instance_tags(emulator: Ec2Emulator, instance_id: str) -> dict[str, str]:
    [reservation] = client(emulator).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


# --- lock: an imported snapshot ---------------------------------------------------------------------------------------
def test_control_a_taken_snapshot_is_locked_as_declared(emulator: Ec2Emulator, volume_id: str) -> None:
    result = EbsSnapshotProvider().create(snapshot_props(volume_id, lock={"mode": "governance", "duration_days": 30}))
    assert result.outs["lock_state"] == "governance"
    assert client(emulator).describe_locked_snapshots(SnapshotIds=[result.id])["Snapshots"]


def test_an_imported_snapshot_is_locked_as_declared_or_refused_at_preview(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    ec2 = client(emulator)
    existing = str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])
    props = snapshot_props(volume_id, import_snapshot_id=existing, lock={"mode": "governance", "duration_days": 30})
    if [f for f in EbsSnapshotProvider().check({}, props).failures if f.property in ("lock", "import_snapshot_id")]:
        return  # refusing the combination at preview, saying why, is a fix too
    EbsSnapshotProvider().create(props)
    assert ec2.describe_locked_snapshots(SnapshotIds=[existing])["Snapshots"], f"{existing} was not locked"


def test_the_thaw_timer_counts_from_the_freeze_not_from_before_the_flush(tmp_path: Path) -> None:
    # sync flushes for 2 s (dirty pages of a busy file system); the pause bound is 1 s; nohup runs the timer.
    code, _ = _run_freeze_on("/data", tmp_path, max_pause=1, sync="sleep 2", timer='exec "$@"')
    assert code == 0
    calls = tmp_path / "fsfreeze.log"
    wait_until(lambda: _lines(calls), lambda seen: "-u /data" in seen, timeout=10)
    assert _lines(calls)[-1] == "-u /data", f"left frozen with no timer: {_lines(calls)}"


# --- preview of a series' next take without credentials ---------------------------------------------------------------
SERIES_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::rt2-nightly"


def _without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no AWS credentials at all (a reviewer's laptop, a CI job for previews only)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_series_preview_without_credentials_still_says_the_instance_will_stop(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = emulator.seed_instance(data_volumes=1)["instance_id"]
    provider = SnapshotSeriesProvider()
    inputs = SERIES_SCHEMA.stored(
        {
            "region": REGION,
            "timeout": 60,
            "resource_urn": SERIES_URN,
            "instance_id": instance,
            "trigger": "d1",
            "consistency": "stopped",
        }
    )
    created = provider.create(inputs)
    _without_credentials(monkeypatch, tmp_path)
    caplog.set_level(logging.INFO)
    provider.diff(str(created.id), created.outs, {**inputs, "trigger": "d2"})  # `pulumi preview`: a new take
    assert f"will STOP instance {instance}" in caplog.text, caplog.text


def test_control_a_series_preview_with_credentials_says_the_instance_will_stop(
    emulator: Ec2Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    instance = emulator.seed_instance(data_volumes=1)["instance_id"]
    provider = SnapshotSeriesProvider()
    inputs = SERIES_SCHEMA.stored(
        {"region": REGION, "timeout": 60, "resource_urn": SERIES_URN, "instance_id": instance, "trigger": "d1"}
    )
    created = provider.create(inputs)
    caplog.set_level(logging.INFO)
    provider.diff(str(created.id), created.outs, {**inputs, "trigger": "d2", "consistency": "stopped"})
    assert f"will STOP instance {instance}" in caplog.text


# --- lock: a change applied to part of a set --------------------------------------------------------------------------
SET_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::rt2-set"


def test_a_lock_change_that_failed_part_way_names_the_members_already_changed(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)["instance_id"]
    inputs = {
        "instance_id": instance,
        "region": REGION,
        "tags": {},
        "timeout": 30,
        "storage_tier": "standard",
        "exclude_boot_volume": False,
        "exclude_data_volume_ids": [],
        "resource_urn": SET_URN,
        "lock": {"mode": "governance", "duration_days": 30},
    }
    sets = InstanceSnapshotsProvider()
    created = sets.create(inputs)
    first, second = created.outs["snapshot_ids"].values()  # the order the change goes in

    def refuse_the_second(params: dict[str, Any], **_: Any) -> None:
        if params.get("SnapshotId") == second:  # e.g. its answer a 5xx after every retry
            raise ClientError({"Error": {"Code": "InternalError", "Message": "internal error"}}, "LockSnapshot")

    ec2 = clients.client(AccountSelection.from_props(inputs))
    ec2.meta.events.register("provide-client-params.ec2.LockSnapshot", refuse_the_second)
    compliance = {**inputs, "lock": {"mode": "compliance", "duration_days": 3650}}
    try:
        with pytest.raises(SnapshotProviderError) as failed:
            sets.update(str(created.id), created.outs, compliance)
    finally:
        ec2.meta.events.unregister("provide-client-params.ec2.LockSnapshot", refuse_the_second)
    locked = {s["SnapshotId"]: s["LockState"] for s in client(emulator).describe_locked_snapshots()["Snapshots"]}
    changed = [sid for sid in (first, second) if locked.get(sid) == "compliance"]
    assert changed, f"nothing was changed: not the case this test is about ({locked})"
    assert all(sid in str(failed.value) for sid in changed), str(failed.value)


# --- emulator: sharing for a cross-account copy -----------------------------------------------------------------------
def test_control_an_unencrypted_snapshot_can_be_shared_with_another_account(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    ec2 = client(emulator)
    snapshot_id = str(ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"])
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", UserIds=["210987654321"]
    )


# --- stopped: a stop EC2 refuses, with on_failure crash_consistent ----------------------------------------------------
def test_control_a_failed_freeze_with_crash_consistent_is_taken_as_crash(emulator: Ec2Emulator) -> None:
    seeded = emulator.seed_instance(data_volumes=1)
    emulator.configure(fail_commands=["fsfreeze -f"])
    props = snapshot_props(seeded["data_volumes"][0]["volume_id"], consistency="frozen", on_failure="crash_consistent")
    assert EbsSnapshotProvider().create(props).outs["snapshot_consistency"] == "crash"


def test_a_refused_stop_with_crash_consistent_takes_the_snapshot_as_crash(emulator: Ec2Emulator) -> None:
    props = _stopped_root(emulator)
    props.pop("_instance")
    emulator.configure(denied_actions=["StopInstances"])
    result = EbsSnapshotProvider().create({**props, "on_failure": "crash_consistent"})
    assert result.outs["snapshot_consistency"] == "crash"


def test_a_refused_stop_with_fail_takes_nothing_and_says_the_stop_was_refused_and_why(emulator: Ec2Emulator) -> None:
    props = _stopped_root(emulator)
    instance = props.pop("_instance")["instance_id"]
    emulator.configure(denied_actions=["StopInstances"])
    with pytest.raises(ConsistencyFailed) as refused:
        EbsSnapshotProvider().create(props)
    message = str(refused.value)
    assert f"EC2 refused to stop instance {instance}" in message and "ec2:StopInstances" in message, message
    assert "taking the snapshot" not in message, message
    assert emulator.snapshots() == []
    assert not [
        k for k in _instance_tags(emulator, instance) if k.startswith(STOPPED_BY_TAG)
    ]  # nothing stopped: no tag


# --- frozen: what the preview promises of the pause -------------------------------------------------------------------
def test_control_the_default_freezes_preview_states_its_bound() -> None:
    assert "at most 60 s" in str(Plan(consistency="frozen").preview("instance i-0123456789abcdef0"))


@pytest.mark.parametrize(
    "own",
    [{"ssm_document": "MyDatabaseFreeze"}, {"pre_commands": ("mysql -e 'FLUSH TABLES WITH READ LOCK'",)}],
    ids=["ssm_document", "pre_commands"],
)
def test_the_preview_of_own_commands_does_not_promise_a_bound_it_does_not_enforce(own: dict[str, Any]) -> None:
    line = str(Plan(consistency="frozen", **own).preview("instance i-0123456789abcdef0"))
    assert "at most 60 s" not in line, line


# --- SafeDecommission with `stopped` ----------------------------------------------------------------------------------
DECOMMISSION_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:InstanceSnapshots::old-db"


def test_a_decommission_that_stops_for_its_snapshots_does_not_start_the_instance_again(
    emulator: Ec2Emulator,
) -> None:
    instance = emulator.seed_instance(data_volumes=1)["instance_id"]
    args = SafeDecommissionArgs(
        instance_id=instance, policy=SnapshotPolicy(owner="platform", reason="decommission"), consistency="stopped"
    )
    with mock.patch("pulumi.get_stack", return_value="test"), mock.patch("pulumi.get_project", return_value="rt"):
        inputs = dict(snapshot_set_args(args))
    props = {
        "region": REGION,
        "timeout": 60,
        "storage_tier": "standard",
        "exclude_data_volume_ids": [],
        "resource_urn": DECOMMISSION_URN,
        **inputs,
    }
    InstanceSnapshotsProvider().create(props)
    events = [(e["event"], e.get("instance_id")) for e in emulator.timeline()]
    assert ("instance-stopping", instance) in events
    assert ("instance-pending", instance) not in events, "the instance being decommissioned was started again"
