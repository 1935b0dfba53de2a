"""Red-team findings on the `ebs-snapshots` provider plugin, at the level of its operations (the emulator behind).

Each test is named for what a user expects and is marked `xfail(strict=True)` with its finding id: it fails on the
code it was written against, and the fixer removes the mark once the behaviour holds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue

from emulator import Ec2Emulator
from snapshot_provider.ec2 import cancel
from snapshot_provider.plugin import provider as plugin
from snapshot_provider.plugin.provider import EbsSnapshotsProvider
from testbed import REGION, in_thread

EBS_SNAPSHOT = "ebs-snapshots:index:EbsSnapshot"


def urn(token: str, name: str = "one", project: str = "user-project", stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::{project}::{token}::{name}"


def values(props: dict[str, Any]) -> dict[str, PropertyValue]:
    return {k: plugin.wire(v) for k, v in props.items()}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def check_new(provider: EbsSnapshotsProvider, token: str, news: dict[str, PropertyValue]) -> p.CheckResponse:
    """The engine's Check for a resource the stack does not have yet: no old inputs."""
    return run(provider.check(p.CheckRequest(urn(token), {}, news, b"")))


def reasons(response: p.CheckResponse) -> list[tuple[str, str]]:
    return [(f.property, f.reason) for f in response.failures or []]


def test_a_new_volume_removal_passes_check_through_the_plugin(emulator: Ec2Emulator, volume_id: str) -> None:
    snapshot_id = boto3.client("ec2", region_name=REGION).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    news = values({"volumeId": volume_id, "snapshotId": snapshot_id, "confirmDeleteVolume": volume_id})
    response = check_new(EbsSnapshotsProvider(), "ebs-snapshots:index:VolumeRemoval", news)
    assert reasons(response) == []


def test_permission_check_reports_a_denied_create_at_a_plugin_preview(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(denied_actions=["CreateSnapshot"])
    news = values({"volumeId": volume_id, "permissionCheck": True})
    response = check_new(EbsSnapshotsProvider(), EBS_SNAPSHOT, news)
    assert [prop for prop, _ in reasons(response)] == ["volumeId"]
    assert "ec2:CreateSnapshot" in reasons(response)[0][1]


def test_the_providers_region_config_sets_the_region_of_a_resource_without_one(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    provider = EbsSnapshotsProvider()
    # Exactly what the engine sends after `pulumi config set ebs-snapshots:region eu-west-1`.
    configure = p.ConfigureRequest(
        {"ebs-snapshots:config:region": "eu-west-1"}, {"region": PropertyValue("eu-west-1")}, True, True
    )
    run(provider.configure(configure))
    response = check_new(provider, EBS_SNAPSHOT, values({"volumeId": volume_id}))
    assert response.inputs["region"].value == "eu-west-1"  # the plugin's environment says us-east-1


def test_a_secret_tag_value_is_secret_in_every_output(emulator: Ec2Emulator, volume_id: str) -> None:
    provider = EbsSnapshotsProvider()
    tags = PropertyValue({"token": PropertyValue("tag-s3cr3t-value").with_secret(True)})
    checked = check_new(provider, EBS_SNAPSHOT, {"volumeId": PropertyValue(volume_id), "tags": tags})
    created = run(provider.create(p.CreateRequest(urn(EBS_SNAPSHOT), checked.inputs, 0, False)))
    plain_text = [name for name, value in created.properties.items() if "tag-s3cr3t-value" in str(value)]
    assert [name for name in plain_text if not created.properties[name].contains_secret()] == []


def test_get_reads_a_snapshot_another_stack_manages_without_changing_it(emulator: Ec2Emulator, volume_id: str) -> None:
    provider = EbsSnapshotsProvider()
    theirs = urn(EBS_SNAPSHOT, "nightly", project="db-backups", stack="prod")
    news = run(provider.check(p.CheckRequest(theirs, {}, values({"volumeId": volume_id, "timeout": 30.0}), b"")))
    created = run(provider.create(p.CreateRequest(theirs, news.inputs, 0, False)))
    emulator.clear_calls()

    got = run(provider.read(p.ReadRequest(urn(EBS_SNAPSHOT, "their-backup"), created.resource_id, {}, {})))

    assert got.resource_id == created.resource_id
    assert got.properties["volumeId"].value == volume_id
    assert emulator.mutating_calls() == []


def test_get_of_a_pending_snapshot_answers_without_waiting_for_it(
    emulator: Ec2Emulator, volume_id: str, fresh_cancel: None
) -> None:
    emulator.configure(pending_seconds=3600.0)  # a big volume's first snapshot, made by hand an hour from done
    snapshot_id = boto3.client("ec2", region_name=REGION).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    provider = EbsSnapshotsProvider()

    reading, outcome = in_thread(lambda: run(provider.read(p.ReadRequest(urn(EBS_SNAPSHOT), snapshot_id, {}, {}))))
    reading.join(timeout=10)  # a read is a few describe calls; generous for a busy machine
    still_waiting = reading.is_alive()
    cancel.cancel_waits()  # end the wait if it is one, so that the thread does not outlive the test
    reading.join(timeout=10)

    assert not still_waiting, "the read was still waiting for the pending snapshot after 10 s"
    [got] = outcome
    assert got.resource_id == snapshot_id and got.properties["state"].value == "pending"
