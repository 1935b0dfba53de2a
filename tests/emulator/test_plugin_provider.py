"""The provider plugin's operations on the emulator: the dynamic providers' core behind the engine's protocol."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import boto3
import pytest
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import Computed, PropertyValue

from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.inputs.rules import is_unknown
from snapshot_provider.plugin import provider as plugin
from snapshot_provider.plugin.provider import EbsSnapshotsProvider
from testbed import REGION

TOKEN = "ebs-snapshots:index:EbsSnapshot"
URN = f"urn:pulumi:dev::user-project::{TOKEN}::backup"


def values(props: dict[str, Any], secret: tuple[str, ...] = ()) -> dict[str, PropertyValue]:
    return {k: plugin.wire(v).with_secret(k in secret) for k, v in props.items()}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def checked(provider: EbsSnapshotsProvider, news: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
    response = run(provider.check(p.CheckRequest(URN, {}, news, b"")))
    assert not response.failures, [(f.property, f.reason) for f in response.failures]
    return response.inputs


def snapshots_of(volume_id: str) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Snapshots"]


def test_create_takes_the_snapshot_and_returns_camel_case_outputs(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    inputs = checked(provider, values({"volumeId": volume_id, "tags": {"team": "db"}, "timeout": 30.0}))
    response = run(provider.create(p.CreateRequest(URN, inputs, 0, False)))
    [snapshot] = snapshots_of(volume_id)
    assert response.resource_id == snapshot["SnapshotId"]
    assert response.properties["snapshotId"].value == snapshot["SnapshotId"]
    assert response.properties["state"].value == "completed"
    assert response.properties["tags"].value["team"].value == "db"
    assert "resourceUrn" not in response.properties and "resource_urn" not in response.properties


def test_region_defaults_to_the_plugins_environment_at_check(emulator, volume_id):
    inputs = checked(EbsSnapshotsProvider(), values({"volumeId": volume_id}))
    assert inputs["region"].value == REGION


def test_check_names_a_bad_input_in_camel_case(emulator):
    response = run(EbsSnapshotsProvider().check(p.CheckRequest(URN, {}, values({"volumeId": "vol-nothex"}), b"")))
    assert [f.property for f in response.failures] == ["volumeId"]


def test_permission_check_asks_nothing_at_a_plugin_preview_with_an_unknown_tag_value(emulator, volume_id):
    unknown_tag = {"owner": PropertyValue(Computed())}  # another resource's output, as the engine sends
    news = {**values({"volumeId": volume_id, "permissionCheck": True}), "tags": PropertyValue(unknown_tag)}
    response = run(EbsSnapshotsProvider().check(p.CheckRequest(URN, {}, news, b"")))
    assert not response.failures, [(f.property, f.reason) for f in response.failures]
    assert emulator.calls() == []  # asked at the next preview, once the tag is known


def test_a_secret_input_comes_back_secret_and_never_as_plain_text(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    news = values({"volumeId": volume_id, "description": "nightly"}, secret=("description",))
    inputs = checked(provider, news)
    assert inputs["description"].is_secret
    response = run(provider.create(p.CreateRequest(URN, inputs, 0, False)))
    assert response.properties["description"].is_secret
    assert not response.properties["volumeId"].is_secret


def test_preview_create_returns_what_is_known_and_changes_nothing(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    news = values({"volumeId": volume_id, "tags": {"team": "db"}, "description": "nightly"})
    inputs = checked(provider, news)
    emulator.clear_calls()
    response = run(provider.create(p.CreateRequest(URN, inputs, 0, True)))
    assert emulator.mutating_calls() == [] and snapshots_of(volume_id) == []
    known = response.properties
    assert known["volumeId"].value == volume_id
    assert known["tags"].value["team"].value == "db"
    assert known["description"].value == "nightly"
    assert known["region"].value == REGION
    assert is_unknown(known["snapshotId"].value)
    assert is_unknown(known["startTime"].value)
    assert known["imported"].value is False


def test_preview_update_of_tags_keeps_the_snapshot_id_known(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    inputs = checked(provider, values({"volumeId": volume_id, "tags": {"team": "db"}}))
    created = run(provider.create(p.CreateRequest(URN, inputs, 0, False)))
    news = checked(provider, values({"volumeId": volume_id, "tags": {"team": "web"}}))
    diff = run(provider.diff(p.DiffRequest(URN, created.resource_id, created.properties, news, [])))
    assert diff.changes and not diff.replaces and list(diff.detailed_diff) == ["tags"]
    preview = run(provider.update(p.UpdateRequest(URN, created.resource_id, created.properties, news, 0, [], True)))
    assert preview.properties["snapshotId"].value == created.resource_id
    assert preview.properties["tags"].value["team"].value == "web"
    assert is_unknown(preview.properties["allTags"].value)
    [snapshot] = snapshots_of(volume_id)
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["team"] == "db"


def test_a_description_change_replaces(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    inputs = checked(provider, values({"volumeId": volume_id, "description": "a"}))
    created = run(provider.create(p.CreateRequest(URN, inputs, 0, False)))
    news = checked(provider, values({"volumeId": volume_id, "description": "b"}))
    diff = run(provider.diff(p.DiffRequest(URN, created.resource_id, created.properties, news, [])))
    assert diff.replaces == ["description"]
    assert diff.detailed_diff["description"].kind == p.PropertyDiffKind.UPDATE_REPLACE


def test_import_reads_the_snapshots_inputs_and_leaves_it_on_delete(emulator, volume_id):
    ec2 = boto3.client("ec2", region_name=REGION)
    snapshot_id = ec2.create_snapshot(
        VolumeId=volume_id,
        Description="made by hand",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "owner", "Value": "me"}]}],
    )["SnapshotId"]
    provider = EbsSnapshotsProvider()
    read = run(provider.read(p.ReadRequest(URN, snapshot_id, {}, {})))
    assert read.resource_id == snapshot_id
    assert {k: plugin.plain(v) for k, v in read.inputs.items()} == {
        "region": REGION,
        "volumeId": volume_id,
        "description": "made by hand",
        "tags": {"owner": "me"},
    }
    assert read.properties["imported"].value is True
    run(provider.delete(p.DeleteRequest(URN, snapshot_id, read.properties, 0)))
    assert [s["SnapshotId"] for s in snapshots_of(volume_id)] == [snapshot_id]


@pytest.mark.parametrize("resource", ["InstanceSnapshots", "SnapshotSeries", "VolumeRemoval", "SnapshotCopy"])
def test_importing_another_resource_type_names_the_one_that_can_be_imported(emulator, volume_id, resource):
    ec2 = boto3.client("ec2", region_name=REGION)
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    urn = f"urn:pulumi:dev::user-project::ebs-snapshots:index:{resource}::backup"
    with pytest.raises(
        SnapshotProviderError, match=f"{resource} cannot be imported: only an EbsSnapshot can"
    ) as refused:
        run(EbsSnapshotsProvider().read(p.ReadRequest(urn, snapshot_id, {}, {})))
    assert "pulumi import ebs-snapshots:index:EbsSnapshot <name> <snapshot id>" in str(refused.value)
    assert [s["SnapshotId"] for s in snapshots_of(volume_id)] == [snapshot_id]  # nothing changed


def test_a_delete_before_its_replacement_exists_is_refused_and_deletes_nothing(emulator, volume_id):
    # What the engine sends under the resource option deleteBeforeReplace: Diff (replace), then Delete of the old.
    provider = EbsSnapshotsProvider()
    created = run(provider.create(p.CreateRequest(URN, checked(provider, values({"volumeId": volume_id})), 0, False)))
    news = checked(provider, values({"volumeId": volume_id, "description": "weekly"}))
    run(provider.diff(p.DiffRequest(URN, created.resource_id, created.properties, news, [])))
    with pytest.raises(SnapshotProviderError, match="deleteBeforeReplace"):
        run(provider.delete(p.DeleteRequest(URN, created.resource_id, created.properties, 0)))
    assert [s["SnapshotId"] for s in snapshots_of(volume_id)] == [created.resource_id]
    # Without the option the engine creates the replacement first: then the old one goes.
    replacement = run(provider.create(p.CreateRequest(URN, news, 0, False)))
    run(provider.delete(p.DeleteRequest(URN, created.resource_id, created.properties, 0)))
    assert [s["SnapshotId"] for s in snapshots_of(volume_id)] == [replacement.resource_id]


def test_delete_removes_the_snapshot_it_took(emulator, volume_id):
    provider = EbsSnapshotsProvider()
    inputs = checked(provider, values({"volumeId": volume_id}))
    created = run(provider.create(p.CreateRequest(URN, inputs, 0, False)))
    run(provider.delete(p.DeleteRequest(URN, created.resource_id, created.properties, 0)))
    assert snapshots_of(volume_id) == []


def test_operations_run_at_once_beyond_the_sdk_hosts_four(emulator):
    """Eight blocking operations all in flight together: none waits for a free worker."""
    provider = EbsSnapshotsProvider()
    inside, release = threading.Barrier(8, timeout=20), threading.Event()

    def blocking(*_args: Any) -> None:
        inside.wait()  # breaks (BrokenBarrierError) unless all eight are running at the same time
        release.set()

    async def all_at_once() -> None:
        await asyncio.gather(*(provider._run(blocking) for _ in range(8)))

    run(all_at_once())
    assert release.is_set()


def created(provider: EbsSnapshotsProvider, token: str, inputs: dict[str, Any]) -> p.CreateResponse:
    urn = f"urn:pulumi:dev::user-project::{token}::one"
    news = run(provider.check(p.CheckRequest(urn, {}, values(inputs), b"")))
    assert not news.failures, [(f.property, f.reason) for f in news.failures]
    return run(provider.create(p.CreateRequest(urn, news.inputs, 0, False)))


def test_instance_snapshots_are_served_by_the_plugin(emulator):
    instance = emulator.seed_instance(data_volumes=2)
    response = created(
        EbsSnapshotsProvider(), "ebs-snapshots:index:InstanceSnapshots", {"instanceId": instance["instance_id"]}
    )
    ids = plugin.plain(response.properties["snapshotIds"])
    assert len(ids) == 3 and all(snapshot_id.startswith("snap-") for snapshot_id in ids.values())
    ec2 = boto3.client("ec2", region_name=REGION)
    assert {s["SnapshotId"] for s in ec2.describe_snapshots(SnapshotIds=list(ids.values()))["Snapshots"]} == set(
        ids.values()
    )


def test_a_snapshot_series_is_served_by_the_plugin(emulator, volume_id):
    response = created(
        EbsSnapshotsProvider(), "ebs-snapshots:index:SnapshotSeries", {"volumeId": volume_id, "keepLast": 2.0}
    )
    [snapshot] = snapshots_of(volume_id)
    assert response.properties["snapshotId"].value == snapshot["SnapshotId"]


def test_a_snapshot_copy_is_served_by_the_plugin(emulator, volume_id):
    ec2 = boto3.client("ec2", region_name=REGION)
    source = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    token = "ebs-snapshots:index:SnapshotCopy"
    inputs = {"sourceSnapshotId": source, "region": "eu-west-1", "tags": {"purpose": "dr"}, "timeout": 30.0}
    response = created(EbsSnapshotsProvider(), token, {**inputs, "sourceRegion": REGION})
    [held] = emulator.snapshots(region="eu-west-1")
    assert (response.resource_id, held["state"]) == (held["snapshot_id"], "completed")
    assert (response.properties["region"].value, response.properties["state"].value) == ("eu-west-1", "completed")
    assert response.properties["tags"].value["purpose"].value == "dr"


def test_a_volume_removal_without_its_confirmation_is_refused_at_check(emulator, volume_id):
    urn = "urn:pulumi:dev::user-project::ebs-snapshots:index:VolumeRemoval::gone"
    news = values({"volumeId": volume_id, "snapshotId": "snap-0123456789abcdef0"})
    response = run(EbsSnapshotsProvider().check(p.CheckRequest(urn, {}, news, b"")))
    assert "confirmDeleteVolume" in [f.property for f in response.failures]
    assert emulator.mutating_calls() == []


def test_the_engines_custom_timeout_shortens_the_resources_own_never_lengthens_it():
    assert plugin.within_timeout({"timeout": 3600.0}, 60.0)["timeout"] == 60.0
    assert plugin.within_timeout({"timeout": 30.0}, 60.0)["timeout"] == 30.0
    assert plugin.within_timeout({"timeout": 30.0}, 0.0)["timeout"] == 30.0  # 0: no customTimeouts set
    assert plugin.within_timeout({}, 60.0)["timeout"] == 60.0


def test_credentials_given_as_inputs_are_refused_and_never_echoed(emulator, volume_id):
    news = values({"volumeId": volume_id, "awsSecretAccessKey": "hunter2-secret"}, secret=("awsSecretAccessKey",))
    response = run(EbsSnapshotsProvider().check(p.CheckRequest(URN, {}, news, b"")))
    [failure] = response.failures
    assert failure.property == "awsSecretAccessKey" and "credentials are never resource inputs" in failure.reason
    assert "hunter2-secret" not in failure.reason


def test_a_name_that_is_no_input_is_refused_with_the_inputs_listed(emulator, volume_id):
    response = run(
        EbsSnapshotsProvider().check(p.CheckRequest(URN, {}, values({"volumeId": volume_id, "volumeIds": []}), b""))
    )
    [failure] = response.failures
    assert failure.property == "volumeIds" and "its inputs are region, profile" in failure.reason
