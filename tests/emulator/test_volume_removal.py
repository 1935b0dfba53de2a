"""VolumeRemovalProvider against the emulator: the guards, the delete, and the undo that restores the volume.

Besides the single removal: the hold it puts on its snapshot (every path that deletes or archives a snapshot honours
it), the restore record kept on that snapshot (so a create interrupted after DeleteVolume is finished, not refused),
encrypted volumes, lost answers, an undo run twice, and archived snapshots.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from emulator_helpers import wait_until

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, SnapshotSeriesProvider
from snapshot_provider.core.holds import HOLD_WAIT_ENV
from snapshot_provider.core.removal import source as undo_source
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.ec2.undo_tags import HOLD_TAG, RESTORED_TAG, managed_keys, record_of
from snapshot_provider.series import SCHEMA as SERIES_SCHEMA
from snapshot_provider.volume_removal import VolumeRemovalProvider
from testbed import REGION, URN_PREFIX, StrictEc2, snapshot_props

provider = VolumeRemovalProvider()
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
REMOVAL_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray"


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def removal_props(volume_id: str, snapshot_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "volume_id": volume_id,
        "snapshot_id": snapshot_id,
        "confirm_delete_volume": volume_id,
        "region": REGION,
        "resource_urn": REMOVAL_URN,
        **overrides,
    }


def restored_volumes(emulator: Ec2Emulator, volume_id: str) -> list[dict[str, Any]]:
    """Volumes restored for the removal of `volume_id` (read in process: no call in the log)."""
    backend = emulator.ec2_backend()
    return [
        {"id": v.id, "size": v.size, "type": v.volume_type, "encrypted": v.encrypted, "kms": v.kms_key_id}
        for v in backend.volumes.values()
        if backend.tags.get(v.id, {}).get("restored-from") == volume_id
    ]


def snapshot_tags(emulator: Ec2Emulator, snapshot_id: str) -> dict[str, str]:
    return dict(emulator.ec2_backend().tags.get(snapshot_id, {}))


def exists(emulator: Ec2Emulator, snapshot_id: str) -> bool:
    return snapshot_id in emulator.ec2_backend().snapshots


@pytest.fixture(params=["lenient", "strict"], autouse=True)
def mode(request: pytest.FixtureRequest, emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs against the emulator as it was and in its strict EC2 mode (listing and tag delays, STS on its
    own endpoint, throttling, client tokens): the undo must work with EC2's eventual consistency."""
    if request.param == "strict":
        # EC2's delays, shorter than the strict mode's 1-5 s: the same behaviours, a test suite that stays quick.
        delays = (0.5, 2.0)
        emulator.configure(strict=True, listing_delay=delays, tag_delay=delays, deleted_listing_delay=delays)
        # The provider lets EC2 take longer than those delays to show what it did (a volume not listed for that
        # long is gone: the default is minutes).
        monkeypatch.setenv("SNAPSHOT_CONSISTENCY_WINDOW", "3")
    return str(request.param)


@pytest.fixture
def snapshot_id(emulator: Ec2Emulator, volume_id: str) -> str:
    emulator.settle()  # the volume was there long before (a seeded one is new to the strict mode's listings)
    return str(EbsSnapshotProvider().create(snapshot_props(volume_id)).id)


@pytest.fixture
def said(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What the provider said next to the resource (outside the provider host, the engine's lines go to logging)."""
    caplog.set_level(logging.INFO, logger="snapshot_provider.progress")
    return caplog


@pytest.fixture
def short_hold_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deleter gives up on a held snapshot after 2 s (the default is minutes)."""
    monkeypatch.setenv(HOLD_WAIT_ENV, "2")


def in_thread(run: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as error:  # handed to the test
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


# --- check and create -------------------------------------------------------------------------------------------
def test_check_requires_the_volume_id_as_confirmation(emulator: Ec2Emulator) -> None:
    result = provider.check({}, removal_props("vol-01234567", "snap-01234567", confirm_delete_volume="yes"))
    assert [f.property for f in result.failures] == ["confirm_delete_volume"]
    assert "explicit opt-in" in result.failures[0].reason
    assert emulator.calls() == []


def test_create_deletes_the_volume_and_records_how_to_restore_it(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    outs = provider.create(removal_props(volume_id, snapshot_id)).outs
    assert outs["size"] == 8 and outs["availability_zone"] == "us-east-1a"
    assert outs["volume_tags"]["team"] == "storage"
    assert outs["account_id"] == "123456789012"
    assert volume_id not in emulator.ec2_backend().volumes


def test_create_holds_the_snapshot_with_the_restore_record_before_deleting_the_volume(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    emulator.clear_calls()
    outs = provider.create(removal_props(volume_id, snapshot_id)).outs
    tags = snapshot_tags(emulator, snapshot_id)
    assert tags[HOLD_TAG] == volume_id
    record = record_of([{"Key": k, "Value": v} for k, v in tags.items()])
    assert record is not None
    assert {k: record[k] for k in ("availability_zone", "size", "volume_type", "volume_tags")} == {
        k: outs[k] for k in ("availability_zone", "size", "volume_type", "volume_tags")
    }
    actions = [c.action for c in emulator.calls()]
    tagged = actions.index("CreateTags")
    # Read back (the tag is visible) between the tagging and the delete.
    assert actions.index("DeleteVolume") > actions.index("DescribeSnapshots", tagged)


def test_attached_volume_is_never_deleted(emulator: Ec2Emulator) -> None:
    instance = emulator.seed_instance(data_volumes=1)
    attached = instance["data_volumes"][0]["volume_id"]
    snapshot_id = EbsSnapshotProvider().create(snapshot_props(attached)).id
    with pytest.raises(SnapshotProviderError, match=f"refusing to delete volume {attached}: it is in-use"):
        provider.create(removal_props(attached, snapshot_id))
    assert attached in emulator.ec2_backend().volumes
    assert HOLD_TAG not in snapshot_tags(emulator, snapshot_id)


def test_volume_is_not_deleted_before_its_snapshot_completed(emulator: Ec2Emulator, volume_id: str) -> None:
    emulator.configure(pending_seconds=60)
    pending = ec2(emulator).create_snapshot(VolumeId=volume_id)["SnapshotId"]
    with pytest.raises(SnapshotProviderError, match="is pending, not completed"):
        provider.create(removal_props(volume_id, pending))
    assert volume_id in emulator.ec2_backend().volumes


def test_snapshot_of_another_volume_does_not_count(emulator: Ec2Emulator, snapshot_id: str) -> None:
    [other] = emulator.seed_volumes(1)
    with pytest.raises(SnapshotProviderError, match="is not a snapshot of it"):
        provider.create(removal_props(other, snapshot_id))
    assert other in emulator.ec2_backend().volumes


def test_removal_is_refused_unchanged_when_the_record_cannot_fit_on_the_snapshot(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    crowded = {f"k{i}": "v" for i in range(48)}
    snapshot_id = EbsSnapshotProvider().create(snapshot_props(volume_id, tags=crowded)).id
    emulator.clear_calls()
    with pytest.raises(SnapshotProviderError, match="50 tags") as refused:
        provider.create(removal_props(volume_id, snapshot_id))
    assert "Nothing was changed" in str(refused.value)
    assert volume_id in emulator.ec2_backend().volumes
    assert emulator.mutating_calls() == []


def test_a_refused_delete_volume_leaves_volume_and_snapshot_as_they_were(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    before = snapshot_tags(emulator, snapshot_id)
    emulator.configure(denied_actions=["DeleteVolume"])
    with pytest.raises(SnapshotProviderError, match="UnauthorizedOperation"):
        provider.create(removal_props(volume_id, snapshot_id))
    assert volume_id in emulator.ec2_backend().volumes
    assert snapshot_tags(emulator, snapshot_id) == before


# --- finding 7: a lost DeleteVolume answer; a create interrupted after DeleteVolume -------------------------------
def test_a_lost_delete_volume_answer_is_looked_up_not_retried_blindly(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    emulator.configure(drop_rate=1.0, actions=["DeleteVolume"])
    outs = provider.create(removal_props(volume_id, snapshot_id)).outs
    assert volume_id not in emulator.ec2_backend().volumes
    assert len(emulator.calls("DeleteVolume")) == 1
    assert outs["size"] == 8


def test_a_create_interrupted_after_delete_volume_is_finished_from_the_record_on_the_snapshot(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    first = provider.create(removal_props(volume_id, snapshot_id))  # then the engine never heard of it
    again = provider.create(removal_props(volume_id, snapshot_id))
    assert again.id == first.id
    assert {k: again.outs[k] for k in ("availability_zone", "size", "volume_type", "volume_tags")} == {
        k: first.outs[k] for k in ("availability_zone", "size", "volume_type", "volume_tags")
    }
    provider.delete(again.id, again.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1


def test_a_missing_volume_without_a_record_is_still_refused(emulator: Ec2Emulator, snapshot_id: str) -> None:
    with pytest.raises(SnapshotProviderError, match="does not exist"):
        provider.create(removal_props("vol-0123456789abcdef0", snapshot_id))


def test_undo_uses_the_record_on_the_snapshot_when_state_lacks_it(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    # Only the inputs and whose hold it is: no size, zone, type, tags.
    bare = removal_props(volume_id, snapshot_id, hold_owner=created.outs["hold_owner"])
    provider.delete(created.id, bare)
    [volume] = restored_volumes(emulator, volume_id)
    assert (volume["size"], volume["type"]) == (8, "gp2")


# --- the undo -----------------------------------------------------------------------------------------------------
def test_undo_restores_the_volume_from_the_snapshot_and_releases_the_hold(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    provider.delete(created.id, created.outs)
    emulator.settle()  # the restored volume's tags, listed with EC2's delay
    restored = ec2(emulator).describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [volume_id]}])
    [volume] = restored["Volumes"]
    assert (volume["Size"], volume["AvailabilityZone"], volume["SnapshotId"]) == (8, "us-east-1a", snapshot_id)
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["team"] == "storage" and tags[RESTORED_TAG] == volume_id
    assert not [k for k in snapshot_tags(emulator, snapshot_id) if k.startswith("pulumi-snapshot:undo")]


def test_undo_restores_an_encrypted_volume_with_its_kms_key(emulator: Ec2Emulator) -> None:
    client = ec2(emulator)
    volume_id = client.create_volume(
        AvailabilityZone="us-east-1b",
        Size=20,
        VolumeType="gp3",
        Iops=4000,
        Throughput=250,
        Encrypted=True,
        KmsKeyId=KEY_ARN,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "db-data"}]}],
    )["VolumeId"]
    emulator.settle()  # an existing volume, not one EC2 is still listing
    snapshot_id = EbsSnapshotProvider().create(snapshot_props(volume_id)).id
    created = provider.create(removal_props(volume_id, snapshot_id))
    assert created.outs["kms_key_id"] == KEY_ARN
    provider.delete(created.id, created.outs)
    emulator.settle()
    [volume] = client.describe_volumes(Filters=[{"Name": "tag:restored-from", "Values": [volume_id]}])["Volumes"]
    assert (volume["Encrypted"], volume["KmsKeyId"]) == (True, KEY_ARN)
    assert (volume["Size"], volume["VolumeType"], volume["Iops"], volume["Throughput"]) == (20, "gp3", 4000, 250)
    assert (volume["AvailabilityZone"], {t["Key"]: t["Value"] for t in volume["Tags"]}["Name"]) == (
        "us-east-1b",
        "db-data",
    )


def test_an_undo_run_again_after_failing_past_create_volume_restores_exactly_one_volume(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    emulator.configure(denied_actions=["DeleteTags"])  # the hold cannot be released: the first destroy fails
    with pytest.raises(SnapshotProviderError):
        provider.delete(created.id, created.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1
    emulator.configure(denied_actions=[])
    provider.delete(created.id, created.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1
    assert HOLD_TAG not in snapshot_tags(emulator, snapshot_id)


def test_a_restored_volume_deleted_by_hand_between_two_undos_is_restored_again(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    emulator.configure(denied_actions=["DeleteTags"])
    with pytest.raises(SnapshotProviderError):
        provider.delete(created.id, created.outs)
    [first] = restored_volumes(emulator, volume_id)
    ec2(emulator).delete_volume(VolumeId=first["id"])  # someone cleans up "the duplicate"
    emulator.configure(denied_actions=[])
    provider.delete(created.id, created.outs)  # the client token alone would answer with the deleted volume
    [again] = restored_volumes(emulator, volume_id)
    assert again["id"] != first["id"]
    assert HOLD_TAG not in snapshot_tags(emulator, snapshot_id)


def test_lost_create_volume_answers_restore_exactly_one_volume(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    emulator.configure(drop_rate=1.0, actions=["CreateVolume"])
    try:
        provider.delete(created.id, created.outs)
    except SnapshotProviderError:
        emulator.configure(drop_rate=0.0)
        provider.delete(created.id, created.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1
    tokens = {c.params.get("ClientToken") for c in emulator.calls("CreateVolume")}
    assert len(tokens) == 1 and None not in tokens


def test_undo_without_the_snapshot_says_what_happened_and_what_to_do(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(undo_source, "MISSING_SNAPSHOT_GRACE_SECONDS", 3.0)  # gone after 3 s (default: 10)
    created = provider.create(removal_props(volume_id, snapshot_id))
    backend = emulator.ec2_backend()
    backend.snapshots.pop(snapshot_id)  # deleted behind the hold's back (another tool)
    with pytest.raises(SnapshotProviderError, match=f"its snapshot {snapshot_id} no longer exists") as failed:
        provider.delete(created.id, created.outs)
    message = str(failed.value)
    assert "Recycle Bin" in message and "pulumi state delete" in message and "8 GiB" in message
    assert not emulator.calls("CreateVolume")


def test_refresh_reports_restorable_while_the_snapshot_exists(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(undo_source, "MISSING_SNAPSHOT_GRACE_SECONDS", 3.0)  # gone after 3 s (default: 10)
    created = provider.create(removal_props(volume_id, snapshot_id))
    assert provider.read(created.id, created.outs).outs["restorable"] is True
    emulator.ec2_backend().snapshots.pop(snapshot_id)
    assert provider.read(created.id, created.outs).outs["restorable"] is False


def test_refresh_and_undo_under_another_accounts_credentials_fail_instead_of_calling_the_snapshot_gone(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    other = emulator.credentials("210987654321")  # there, the snapshot id is NotFound: not gone
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", other["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", other["aws_secret_access_key"])
    with pytest.raises(SnapshotProviderError, match="210987654321") as refused:
        provider.read(created.id, created.outs)
    assert "123456789012" in str(refused.value)
    with pytest.raises(SnapshotProviderError, match="210987654321"):
        provider.delete(created.id, created.outs)
    assert not emulator.calls("CreateVolume") and exists(emulator, snapshot_id)


# --- finding 2: the snapshot outlives the undo, whatever deletes it --------------------------------------------------
def test_a_snapshot_delete_waits_for_the_undo_that_holds_it(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, said: pytest.LogCaptureFixture
) -> None:
    snapshot_outs = EbsSnapshotProvider().read(snapshot_id, snapshot_props(volume_id)).outs
    removal = provider.create(removal_props(volume_id, snapshot_id))
    emulator.clear_calls()
    # `pulumi destroy` deletes both at once when nothing says the removal depends on the snapshot.
    deleter, deleter_errors = in_thread(lambda: EbsSnapshotProvider().delete(snapshot_id, snapshot_outs))
    wait_until(lambda: emulator.calls("DescribeSnapshots"), bool)  # the deleter has seen the hold
    provider.delete(removal.id, removal.outs)
    deleter.join(timeout=60)
    assert not deleter.is_alive() and deleter_errors == []
    assert len(restored_volumes(emulator, volume_id)) == 1
    assert not exists(emulator, snapshot_id)
    actions = [c.action for c in emulator.calls()]
    assert actions.index("DeleteSnapshot") > actions.index("CreateVolume")
    lines = [r.getMessage() for r in said.records]
    assert any(f"waiting to delete {snapshot_id} (held by the removal of {volume_id})" in line for line in lines)
    assert any(f"restoring volume {volume_id} as vol-" in line for line in lines)


def test_a_snapshot_delete_fails_clearly_while_a_removal_holds_it(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, short_hold_wait: None
) -> None:
    snapshot_outs = EbsSnapshotProvider().read(snapshot_id, snapshot_props(volume_id)).outs
    provider.create(removal_props(volume_id, snapshot_id))
    with pytest.raises(SnapshotProviderError) as held:
        EbsSnapshotProvider().delete(snapshot_id, snapshot_outs)
    message = str(held.value)
    assert volume_id in message and "123456789012" in message and REGION in message and "destroy" in message
    assert exists(emulator, snapshot_id)


def test_archiving_a_held_snapshot_is_refused(emulator: Ec2Emulator, volume_id: str, snapshot_id: str) -> None:
    olds = EbsSnapshotProvider().read(snapshot_id, snapshot_props(volume_id)).outs
    provider.create(removal_props(volume_id, snapshot_id))
    with pytest.raises(SnapshotProviderError, match=f"held by the removal of {volume_id}"):
        EbsSnapshotProvider().update(snapshot_id, olds, snapshot_props(volume_id, storage_tier="archive"))
    assert not emulator.calls("ModifySnapshotTier")


def series_props(volume_id: str, **overrides: Any) -> dict[str, Any]:
    urn = URN_PREFIX.replace("EbsSnapshot", "SnapshotSeries") + "nightly"
    given = {"volume_id": volume_id, "region": REGION, "timeout": 30, "resource_urn": urn, **overrides}
    return SERIES_SCHEMA.stored(given)


def test_a_series_neither_prunes_nor_archives_a_snapshot_a_removal_holds(
    emulator: Ec2Emulator, volume_id: str, said: pytest.LogCaptureFixture
) -> None:
    series = SnapshotSeriesProvider()
    emulator.settle()
    inputs = series_props(volume_id, trigger="day-1")
    created = series.create(inputs)
    [held] = [s["snapshot_id"] for s in emulator.snapshots()]
    emulator.advance_clock(15)  # EC2 takes one snapshot of a volume per 15 s (strict mode)
    emulator.settle()  # a series finds its snapshots by tag: listed with EC2's delay
    outs = series.update(created.id, created.outs, {**inputs, "trigger": "day-2"}).outs
    emulator.settle()
    provider.create(removal_props(volume_id, held))  # the volume is gone; the series' older snapshot restores it
    emulator.settle()
    pruning = {**inputs, "trigger": "day-2", "keep_last": 1}  # no new take (the volume is gone), a prune
    outs = series.update(created.id, outs, pruning).outs
    assert exists(emulator, held) and held not in outs["deleted"]
    assert held in {s["snapshot_id"] for s in outs["snapshots"]}
    assert any(
        f"kept {held} instead of deleting it: the removal of {volume_id}" in r.getMessage() for r in said.records
    )
    archiving = {**inputs, "trigger": "day-2", "archive_after_days": 0}
    outs = series.update(created.id, outs, archiving).outs
    assert held not in outs["archived"] and emulator.ec2_backend().snapshots[held].storage_tier == "standard"


def test_a_series_destroy_fails_clearly_while_a_removal_holds_one_of_its_snapshots(
    emulator: Ec2Emulator, volume_id: str, short_hold_wait: None
) -> None:
    series = SnapshotSeriesProvider()
    emulator.settle()
    created = series.create(series_props(volume_id, trigger="day-1"))
    [held] = [s["snapshot_id"] for s in emulator.snapshots()]
    provider.create(removal_props(volume_id, held))
    emulator.settle()
    with pytest.raises(SnapshotProviderError, match=f"held by the removal of {volume_id}"):
        series.delete(created.id, created.outs)
    assert exists(emulator, held)


# --- finding 9: archived snapshots -----------------------------------------------------------------------------------
def test_an_archived_snapshot_is_refused_as_the_undo_source(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    ec2(emulator).modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    with pytest.raises(SnapshotProviderError, match="archive") as refused:
        provider.create(removal_props(volume_id, snapshot_id))
    assert "24" in str(refused.value) and "72" in str(refused.value)
    assert volume_id in emulator.ec2_backend().volumes


def test_a_snapshot_being_archived_is_refused_as_the_undo_source(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    emulator.configure(archive_seconds=3600)
    ec2(emulator).modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    with pytest.raises(SnapshotProviderError, match="being archived"):
        provider.create(removal_props(volume_id, snapshot_id))
    assert volume_id in emulator.ec2_backend().volumes


def test_a_new_snapshot_id_moves_the_hold_and_an_archived_one_is_refused(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    emulator.advance_clock(15)  # EC2 takes one snapshot of a volume per 15 s (strict mode)
    earlier = str(ec2(emulator).create_snapshot(VolumeId=volume_id, Description="taken earlier")["SnapshotId"])
    created = provider.create(removal_props(volume_id, snapshot_id))
    updated = provider.update(created.id, created.outs, removal_props(volume_id, earlier)).outs
    assert snapshot_tags(emulator, earlier)[HOLD_TAG] == volume_id
    assert HOLD_TAG not in snapshot_tags(emulator, snapshot_id)
    ec2(emulator).modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")
    with pytest.raises(SnapshotProviderError, match="archive"):
        provider.update(created.id, updated, removal_props(volume_id, snapshot_id))
    assert snapshot_tags(emulator, earlier)[HOLD_TAG] == volume_id


def test_undo_from_an_archived_snapshot_starts_a_tier_restore_and_the_next_undo_restores(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    created = provider.create(removal_props(volume_id, snapshot_id))
    emulator.configure(restore_seconds=1.0)
    ec2(emulator).modify_snapshot_tier(SnapshotId=snapshot_id, StorageTier="archive")  # the user archived it
    with pytest.raises(SnapshotProviderError, match="temporary restore") as archived:
        provider.delete(created.id, created.outs)
    assert "pulumi destroy" in str(archived.value) and "72" in str(archived.value)
    [restore] = emulator.calls("RestoreSnapshotTier")
    assert restore.params["SnapshotId"] == snapshot_id and not emulator.calls("CreateVolume")

    def tier() -> str:
        status = ec2(emulator).describe_snapshot_tier_status(
            Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}]
        )["SnapshotTierStatuses"]
        return str(status[0]["LastTieringOperationStatus"])

    wait_until(tier, lambda s: s == "temporary-restore-completed")
    provider.delete(created.id, created.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1
    assert len(emulator.calls("RestoreSnapshotTier")) == 1


# --- state made by 0.1.0: no hold on the snapshot, no account recorded ------------------------------------------------
OTHER_ACCOUNT = "210987654321"


def as_state_before_holds(emulator: Ec2Emulator, snapshot_id: str, outs: dict[str, Any]) -> dict[str, Any]:
    """A removal made by 0.1.0 (tests/fixtures/upgrade/0.1.0): no hold or record on its snapshot, and state without
    account_id or hold_owner."""
    client = ec2(emulator)
    tags = client.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0].get("Tags", [])
    client.delete_tags(Resources=[snapshot_id], Tags=[{"Key": k} for k in managed_keys(tags)])
    emulator.settle()
    return {k: v for k, v in outs.items() if k not in ("account_id", "hold_owner")}


def test_an_upgraded_removals_undo_under_another_account_never_calls_the_snapshot_deleted(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State made by 0.1.0 records no account for a VolumeRemoval. A `pulumi destroy` with the wrong AWS_PROFILE
    must not tell the user that the data is lost and to drop the resource from state: the snapshot is fine, in the
    other account. It refuses, naming the account in use, and changes nothing."""
    created = provider.create(removal_props(volume_id, snapshot_id))
    upgraded = as_state_before_holds(emulator, snapshot_id, dict(created.outs))
    other = emulator.credentials(OTHER_ACCOUNT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", other["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", other["aws_secret_access_key"])

    with pytest.raises(SnapshotProviderError) as failed:
        provider.delete(created.id, upgraded)

    message = str(failed.value)
    assert "state delete" not in message and "data is lost" not in message, message
    assert OTHER_ACCOUNT in message and "credentials" in message, message
    assert not emulator.calls("CreateVolume") and exists(emulator, snapshot_id)


@pytest.mark.long
def test_an_upgraded_removal_whose_account_is_declared_says_what_a_missing_snapshot_means(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    """The way out when the snapshot of a 0.1.0 removal really is gone: `allowed_account_ids` names the one account,
    and the undo then says what happened and what to do, as for a removal that recorded its account."""
    created = provider.create(removal_props(volume_id, snapshot_id))
    upgraded = as_state_before_holds(emulator, snapshot_id, dict(created.outs))
    ec2(emulator).delete_snapshot(SnapshotId=snapshot_id)
    emulator.settle()
    with pytest.raises(SnapshotProviderError, match="allowed_account_ids"):
        provider.delete(created.id, upgraded)
    declared = removal_props(volume_id, snapshot_id, allowed_account_ids=["123456789012"])
    updated = provider.update(created.id, upgraded, declared).outs  # `pulumi up`, as the error says
    with pytest.raises(SnapshotProviderError, match="state delete"):
        provider.delete(created.id, updated)


def test_one_destroy_of_an_upgraded_stack_restores_the_volume_then_deletes_the_snapshot(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    """An upgraded stack (0.1.0 state, no hold on the removal's snapshot) with the removal's `snapshot_id` as a plain
    value. The first `pulumi up` after the upgrade updates the removal in place, which holds the snapshot; then
    `pulumi destroy` runs both deletes at once, and the snapshot's waits for the undo."""
    snapshot_outs = EbsSnapshotProvider().read(snapshot_id, snapshot_props(volume_id)).outs
    created = provider.create(removal_props(volume_id, snapshot_id))
    upgraded = as_state_before_holds(emulator, snapshot_id, dict(created.outs))
    news = provider.check(upgraded, removal_props(volume_id, snapshot_id)).inputs
    diff = provider.diff(created.id, upgraded, news)
    assert diff.changes and not diff.replaces
    updated = provider.update(created.id, upgraded, news).outs
    assert snapshot_tags(emulator, snapshot_id)[HOLD_TAG] == volume_id and updated["account_id"] == "123456789012"
    assert not provider.diff(created.id, updated, news).changes
    emulator.clear_calls()

    deleter, deleter_errors = in_thread(lambda: EbsSnapshotProvider().delete(snapshot_id, snapshot_outs))
    wait_until(lambda: emulator.calls("DescribeSnapshots"), bool)  # the snapshot's delete has started
    provider.delete(created.id, updated)
    deleter.join(timeout=120)

    assert not deleter.is_alive() and deleter_errors == []
    assert len(restored_volumes(emulator, volume_id)) == 1 and not exists(emulator, snapshot_id)


# --- a replace (`pulumi up --replace`): the new resource takes the undo over ------------------------------------------
def test_a_replacement_takes_the_undo_over_and_the_replaced_removals_delete_restores_nothing(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str, said: pytest.LogCaptureFixture
) -> None:
    """As the engine replaces: the new resource's create (the volume already removed), then the old one's delete.
    The volume stays removed, the snapshot held by the new resource, whose own delete later restores it once."""
    old = provider.create(removal_props(volume_id, snapshot_id))
    new = provider.create(removal_props(volume_id, snapshot_id))
    assert new.outs["hold_owner"] != old.outs["hold_owner"]

    provider.delete(old.id, old.outs)

    assert restored_volumes(emulator, volume_id) == [] and not emulator.calls("CreateVolume")
    assert snapshot_tags(emulator, snapshot_id)[HOLD_TAG] == volume_id
    assert any("taken over by the resource that replaced this one" in r.getMessage() for r in said.records)
    provider.delete(new.id, new.outs)
    assert len(restored_volumes(emulator, volume_id)) == 1 and HOLD_TAG not in snapshot_tags(emulator, snapshot_id)


def _cut_short_once_it_holds(
    emulator: Ec2Emulator, strict_ec2: StrictEc2, monkeypatch: pytest.MonkeyPatch, operation: Callable[[], Any]
) -> None:
    """`operation` (a create or update of a removal) run as the engine would, and Ctrl-C pressed while it waits for
    the hold it wrote to show (EC2 shows tags after a delay): it fails, and the engine records nothing of it. Then a
    new provider process, with EC2 caught up."""
    strict_ec2(tag_delay=(20, 20))
    emulator.settle()
    tagged_before = len(emulator.calls("CreateTags"))
    thread, errors = in_thread(operation)
    wait_until(lambda: len(emulator.calls("CreateTags")) > tagged_before, bool)
    cancel.cancel_waits()
    thread.join(30)
    assert not thread.is_alive() and errors, "the operation was not cut short"
    monkeypatch.setattr(cancel, "_cancelled", threading.Event())  # the next run's provider process
    emulator.settle()
    # EC2 caught up: the next run's tags show within seconds, and its provider is told so (its consistency window,
    # which it waits out for the take-over mark the cut-short run never wrote, is then 5 s, not 23 s).
    strict_ec2(tag_delay=(2, 2))


def test_a_replacement_cut_short_after_taking_the_hold_leaves_the_old_removals_undo_working(
    emulator: Ec2Emulator,
    volume_id: str,
    snapshot_id: str,
    strict_ec2: StrictEc2,
    fresh_cancel: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi up --replace`, Ctrl-C during the new resource's create: state still holds only the old removal, and
    its `pulumi destroy` must bring the volume back (RT2-2)."""
    old = provider.create(removal_props(volume_id, snapshot_id))
    _cut_short_once_it_holds(
        emulator, strict_ec2, monkeypatch, lambda: provider.create(removal_props(volume_id, snapshot_id))
    )

    provider.delete(old.id, old.outs)

    assert len(restored_volumes(emulator, volume_id)) == 1, "the only removal in state was destroyed: no volume back"


def test_an_upgrade_cut_short_after_holding_leaves_the_removals_undo_working(
    emulator: Ec2Emulator,
    volume_id: str,
    snapshot_id: str,
    strict_ec2: StrictEc2,
    fresh_cancel: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first `pulumi up` after upgrading from 0.1.0 holds the snapshot; Ctrl-C during it leaves state as 0.1.0
    made it, and `pulumi destroy` must still restore the volume (RT2-3)."""
    created = provider.create(removal_props(volume_id, snapshot_id))
    upgraded = as_state_before_holds(emulator, snapshot_id, dict(created.outs))
    news = removal_props(volume_id, snapshot_id)
    _cut_short_once_it_holds(emulator, strict_ec2, monkeypatch, lambda: provider.update(created.id, upgraded, news))

    provider.delete(created.id, upgraded)

    assert len(restored_volumes(emulator, volume_id)) == 1, "destroy reported success and restored no volume"


OTHER_PROJECT_URN = "urn:pulumi:scratch::someone-elses-project::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::copy"


def test_a_removal_in_another_project_is_refused_and_does_not_take_this_removals_undo_over(
    emulator: Ec2Emulator, volume_id: str, snapshot_id: str
) -> None:
    """A colleague runs a copy of CI's program in a project of their own (a scratch stack): the volume is not theirs
    to have removed. They are told whose removal it is; CI's `pulumi destroy` still restores it (RT2-10)."""
    ours = provider.create(removal_props(volume_id, snapshot_id))
    with pytest.raises(SnapshotProviderError) as refused:
        provider.create(removal_props(volume_id, snapshot_id, resource_urn=OTHER_PROJECT_URN))
    assert REMOVAL_URN in str(refused.value) and "Nothing was changed" in str(refused.value), str(refused.value)

    provider.delete(ours.id, ours.outs)

    assert len(restored_volumes(emulator, volume_id)) == 1, "the removal's destroy succeeded and restored nothing"
