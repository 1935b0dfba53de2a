"""Helpers for the tests of pausing writes (`core.quiesce`): an instance's tags and state changes in the emulator, and
the stopped-by tag a run writes before stopping an instance."""

from __future__ import annotations

from emulator_helpers import client, wait_until

from emulator import Ec2Emulator
from snapshot_provider.core.quiesce import instance, stopping


def instance_tags(emulator: Ec2Emulator, instance_id: str) -> dict[str, str]:
    [reservation] = client(emulator).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


def instance_events(emulator: Ec2Emulator, instance_id: str) -> list[str]:
    """The instance's state changes so far, in order (`stopping`, `stopped`, `pending`, `running`)."""
    return [
        e["event"].removeprefix("instance-")
        for e in emulator.timeline()
        if e["event"].startswith("instance-") and e.get("instance_id") == instance_id
    ]


def holder_tags(emulator: Ec2Emulator, instance_id: str) -> dict[str, str]:
    """The instance's stopped-by tags (this build's, one per resource, and an earlier build's single one)."""
    return {k: v for k, v in instance_tags(emulator, instance_id).items() if k.startswith(instance.STOPPED_BY_TAG)}


def mark_stopped_by(emulator: Ec2Emulator, instance_id: str, by: str, phase: str = stopping.STOPPED) -> str:
    """Tag the instance as a run of `by` (`<resource>/<attempt>`) does (naming its launch now): `stopping` before its
    StopInstances, `stopped` once EC2 showed it stopped. The tag's key."""
    key, value = stopping.stopped_by(by, instance.instance_attachment(client(emulator), instance_id, []), phase)
    client(emulator).create_tags(Resources=[instance_id], Tags=[{"Key": key, "Value": value}])
    return key


def mark_stopped_by_earlier_build(emulator: Ec2Emulator, instance_id: str, by: str) -> None:
    """Tag the instance as an earlier build did before stopping it: one key, `<resource>/<attempt>@<LaunchTime>`."""
    at = instance.instance_attachment(client(emulator), instance_id, [])
    tag = {"Key": instance.STOPPED_BY_TAG, "Value": f"{by}@{at.launched}"}
    client(emulator).create_tags(Resources=[instance_id], Tags=[tag])


def stop(emulator: Ec2Emulator, instance_id: str) -> None:
    """Stop the instance as its owner would, and wait until it is `stopped`."""
    stopped_before = instance_events(emulator, instance_id).count("stopped")
    client(emulator).stop_instances(InstanceIds=[instance_id])
    wait_until(lambda: instance_events(emulator, instance_id), lambda seen: seen.count("stopped") > stopped_before)


def start(emulator: Ec2Emulator, instance_id: str) -> None:
    """Start the instance as its owner would (a new launch: a new LaunchTime), and wait until it is `running`."""
    emulator.advance_clock(2)  # LaunchTime has a second's resolution
    running_before = instance_events(emulator, instance_id).count("running")
    client(emulator).start_instances(InstanceIds=[instance_id])
    wait_until(lambda: instance_events(emulator, instance_id), lambda seen: seen.count("running") > running_before)
