"""Stopping and starting an instance with its stopped-by tag (`core.quiesce.stopping`) outside a snapshot request:
what `destroy` and `refresh` do after a run killed while it had the instance stopped (in-process emulator)."""

from __future__ import annotations

import pytest
from emulator_helpers import client
from pausing_helpers import instance_events, instance_tags, mark_stopped_by, start, stop

from emulator import Ec2Emulator
from snapshot_provider.core.quiesce import instance, stopping

URN = "urn:pulumi:dev::p::t::r"


@pytest.fixture
def seeded(emulator: Ec2Emulator) -> dict[str, str]:
    made = emulator.seed_instance(data_volumes=1)
    return {"instance_id": made["instance_id"], "root_volume_id": made["root_volume_id"]}


def test_destroy_starts_an_instance_a_killed_run_of_the_resource_stopped_and_refresh_says_so(
    emulator: Ec2Emulator, seeded: dict[str, str]
) -> None:
    instance_id = seeded["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed")
    stop(emulator, instance_id)
    props = {"consistency": "stopped", "volume_id": seeded["root_volume_id"]}
    stopping.after_unfinished_run(client(emulator), props, "test-resource", URN, start=False)  # refresh
    stopping.after_unfinished_run(client(emulator), props, "other-resource", URN, start=True)
    stopping.after_unfinished_run(client(emulator), {**props, "leave_stopped": True}, "test-resource", URN, start=True)
    assert "pending" not in instance_events(emulator, instance_id)
    stopping.after_unfinished_run(client(emulator), props, "test-resource", URN, start=True)  # destroy
    assert "pending" in instance_events(emulator, instance_id)
    assert instance.STOPPED_BY_TAG not in instance_tags(emulator, instance_id)


def test_destroy_does_not_start_an_instance_its_owner_started_since(
    emulator: Ec2Emulator, seeded: dict[str, str]
) -> None:
    instance_id = seeded["instance_id"]
    mark_stopped_by(emulator, instance_id, "test-resource/killed")
    stop(emulator, instance_id)  # the killed run's stop
    start(emulator, instance_id)  # its owner's start, and later stop
    stop(emulator, instance_id)
    props = {"consistency": "stopped", "instance_id": instance_id}
    stopping.after_unfinished_run(client(emulator), props, "test-resource", None, start=True)
    assert instance_events(emulator, instance_id).count("pending") == 1, "only its owner's start"
