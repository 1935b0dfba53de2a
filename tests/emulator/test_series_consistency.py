"""A SnapshotSeries with `consistency` against the emulator's SSM Run Command and instance states: every point it
takes runs the pre command, the request, then the post command; a failed pause follows `on_failure`; previews say
what will happen to the instance."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from series_helpers import series_snapshots

from emulator import Ec2Emulator
from snapshot_provider import SnapshotSeriesProvider
from snapshot_provider.core.quiesce.instance import ConsistencyFailed
from snapshot_provider.inputs.consistency import CONSISTENCY_TAG
from snapshot_provider.inputs.series import SCHEMA, failures
from testbed import REGION

URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:SnapshotSeries::nightly"
provider = SnapshotSeriesProvider()


def props(**given: Any) -> dict[str, Any]:
    """Inputs as the engine hands them to the provider after check."""
    return SCHEMA.stored({"region": REGION, "timeout": 30, "resource_urn": URN, **given})


@pytest.fixture
def instance(emulator: Ec2Emulator) -> dict[str, Any]:
    return emulator.seed_instance(data_volumes=1)


def steps(emulator: Ec2Emulator) -> list[str]:
    """What the emulator saw, in order: freeze / thaw commands (with their end), snapshot requests (with status)."""
    seen = []
    for e in emulator.timeline():
        if e["event"] == "command-finished":
            verb = "freeze" if "fsfreeze -f" in e["commands"] else "thaw" if "fsfreeze -u" in e["commands"] else "cmd"
            seen.append(f"{verb}:{e['status']}")
        elif e["event"] in ("create-snapshot-request", "create-snapshots-request"):
            seen.append(f"request:{e['status']}")
    return seen


def test_every_point_of_a_frozen_series_runs_pre_request_post(emulator: Ec2Emulator, instance: dict[str, Any]) -> None:
    volume_id = instance["data_volumes"][0]["volume_id"]
    inputs = props(volume_id=volume_id, trigger="d1", keep_last=5, consistency="frozen")
    created = provider.create(inputs)
    assert steps(emulator) == ["freeze:Success", "request:200", "thaw:Success"]

    provider.update(created.id, created.outs, {**inputs, "trigger": "d2"})

    assert steps(emulator) == ["freeze:Success", "request:200", "thaw:Success"] * 2
    taken = series_snapshots(emulator, created.id)
    assert len(taken) == 2
    assert all({"Key": CONSISTENCY_TAG, "Value": "frozen"} in s["Tags"] for s in taken)
    assert emulator.frozen_instances() == []


def test_a_failed_freeze_of_an_instance_series_with_fail_takes_nothing_and_thaws(
    emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    inputs = props(instance_id=instance["instance_id"], exclude_boot_volume=True, trigger="d1", consistency="frozen")
    with pytest.raises(ConsistencyFailed, match=instance["instance_id"]):
        provider.create(inputs)
    assert emulator.snapshots() == []
    assert steps(emulator) == ["freeze:Failed", "thaw:Success"]
    assert emulator.frozen_instances() == []


def test_a_failed_freeze_with_crash_consistent_takes_the_point_recorded_as_crash(
    emulator: Ec2Emulator, instance: dict[str, Any]
) -> None:
    emulator.configure(fail_commands=["fsfreeze -f"])
    volume_id = instance["data_volumes"][0]["volume_id"]
    inputs = props(volume_id=volume_id, trigger="d1", consistency="frozen", on_failure="crash_consistent")
    created = provider.create(inputs)
    [snapshot] = series_snapshots(emulator, created.id)
    assert {"Key": CONSISTENCY_TAG, "Value": "crash"} in snapshot["Tags"]


def test_a_new_trigger_previews_the_freeze_and_a_change_of_consistency_alone_takes_nothing(
    emulator: Ec2Emulator, instance: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    volume_id = instance["data_volumes"][0]["volume_id"]
    inputs = props(volume_id=volume_id, trigger="d1", consistency="frozen")
    created = provider.create(inputs)
    caplog.set_level(logging.INFO)

    provider.diff(created.id, created.outs, {**inputs, "trigger": "d2"})

    assert f"fsfreeze of its mounted file systems through SSM Run Command on the instance that volume {volume_id}" in (
        caplog.text
    )
    assert not provider.diff(created.id, created.outs, {**inputs, "consistency": "crash"}).replaces
    assert len(emulator.snapshots()) == 1


def test_commands_without_frozen_are_refused_at_check() -> None:
    found = failures(props(volume_id="vol-0123456789abcdef0", pre_commands=["sync"]))
    assert [(f.property, "only used with consistency 'frozen'" in f.reason) for f in found] == [("pre_commands", True)]


def test_an_unknown_consistency_is_refused_at_check() -> None:
    found = failures({"region": REGION, "volume_id": "vol-0123456789abcdef0", "consistency": "paused"})
    assert [f.property for f in found] == ["consistency"]
    assert "'paused' is not one of: crash, frozen, stopped" in found[0].reason


def test_check_of_a_new_stopped_series_says_the_instance_will_stop_and_touches_nothing(
    emulator: Ec2Emulator, instance: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    news = {"region": REGION, "instance_id": instance["instance_id"], "trigger": "d1", "consistency": "stopped"}

    result = provider.check({}, {**news, "resource_urn": URN})

    assert result.failures == []
    assert f"will STOP instance {instance['instance_id']}" in caplog.text
    assert emulator.stopped_instances() == [] and emulator.calls() == []
