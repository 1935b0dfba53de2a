"""The hold and the restore record as tags (pure), and what a deleter that finds a hold says."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stack_harness import wait_for

from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.core.holds import HOLD_WAIT_ENV, restore_command
from snapshot_provider.ec2 import cancel
from snapshot_provider.ec2.errors import SnapshotHeld, WaitEnded
from snapshot_provider.ec2.undo_tags import HOLD_TAG, RECORD_TAG, hold_tags, holder_of, managed_keys, no_room, record_of
from snapshot_provider.inputs.rules import MAX_TAG_VALUE
from snapshot_provider.volume_removal import VolumeRemovalProvider
from testbed import REGION, in_thread, snapshot_props

RECORD: dict[str, Any] = {
    "availability_zone": "us-east-1a",
    "size": 100,
    "volume_type": "gp3",
    "iops": 3000,
    "throughput": 125,
    "encrypted": True,
    "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "multi_attach_enabled": False,
    "volume_tags": {"Name": "db-data-01", "team": "payments", "env": "prod"},
}


def aws(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def test_the_record_is_cut_into_tag_values_ec2_accepts_and_read_back_whole() -> None:
    tags = hold_tags("vol-0123456789abcdef0", RECORD)
    assert tags[HOLD_TAG] == "vol-0123456789abcdef0"
    pieces = [k for k in tags if k.startswith(RECORD_TAG)]
    assert len(pieces) == 2 and all(len(tags[k]) <= MAX_TAG_VALUE for k in pieces)
    assert record_of(aws(tags)) == {k: v for k, v in RECORD.items() if v is not False}
    assert holder_of(aws(tags)) == "vol-0123456789abcdef0"


@given(st.dictionaries(st.text(min_size=1, max_size=128), st.text(max_size=256), max_size=48))
def test_any_volume_tags_survive_the_round_trip(volume_tags: dict[str, str]) -> None:
    tags = hold_tags("vol-0123456789abcdef0", {**RECORD, "volume_tags": volume_tags})
    assert all(len(v) <= MAX_TAG_VALUE for v in tags.values())
    found = record_of(aws(tags))
    assert found is not None and found.get("volume_tags", {}) == volume_tags


def test_a_record_not_all_visible_yet_is_no_record() -> None:
    tags = hold_tags("vol-0123456789abcdef0", RECORD)
    [last] = [k for k in tags if k.endswith("/2") and k.startswith(RECORD_TAG + ":2")]
    partial = {k: v for k, v in tags.items() if k != last}
    assert record_of(aws(partial)) is None
    assert record_of(aws({})) is None


def test_room_counts_the_snapshots_own_tags_and_replaces_an_earlier_record() -> None:
    wanted = hold_tags("vol-0123456789abcdef0", RECORD)
    own = {f"k{i}": "v" for i in range(50 - len(wanted))}
    assert no_room("snap-01234567", aws(own), wanted) is None
    earlier = hold_tags("vol-0123456789abcdef0", {"availability_zone": "us-east-1a"})  # one piece, replaced
    assert no_room("snap-01234567", aws({**own, **earlier, "aws:backup:source": "x"}), wanted) is None
    reason = no_room("snap-01234567", aws({**own, "one-more": "v"}), wanted)
    assert reason is not None and "Remove 1 of its tags" in reason and "snap-01234567" in reason


@pytest.mark.parametrize(
    "tags, expected",
    [
        ({HOLD_TAG: "vol-01234567", f"{RECORD_TAG}:1/1": "{}", "team": "x"}, [HOLD_TAG, f"{RECORD_TAG}:1/1"]),
        ({"team": "x", f"{RECORD_TAG}:old": "?"}, []),
    ],
)
def test_managed_keys_are_the_hold_and_the_record_pieces(tags: dict[str, str], expected: list[str]) -> None:
    assert managed_keys(aws(tags)) == expected


def test_ctrl_c_ends_a_delete_waiting_for_an_undo_to_release_its_snapshot_within_seconds(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch, fresh_cancel: None
) -> None:
    monkeypatch.setenv(HOLD_WAIT_ENV, "60")
    created = EbsSnapshotProvider().create(snapshot_props(volume_id))
    client = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    client.create_tags(Resources=[created.id], Tags=[{"Key": HOLD_TAG, "Value": "vol-0123456789abcdef0"}])
    emulator.clear_calls()
    thread, outcome = in_thread(lambda: EbsSnapshotProvider().delete(created.id, dict(created.outs or {})))
    wait_for(lambda: len(emulator.calls("DescribeSnapshots")) >= 2, timeout=20)  # looked at the hold again: waiting
    assert thread.is_alive()

    cancelled_at = time.monotonic()
    cancel.cancel_waits()
    thread.join(timeout=10)
    ended_in = time.monotonic() - cancelled_at

    still_waiting = thread.is_alive()
    client.delete_tags(Resources=[created.id], Tags=[{"Key": HOLD_TAG}])  # let a delete still waiting finish
    thread.join(timeout=30)
    assert not still_waiting, f"the delete still waited for the hold {ended_in:.0f}s after Ctrl-C"
    [ended] = outcome
    assert isinstance(ended, WaitEnded) and "cancelled (Ctrl-C)" in str(ended) and "nothing was deleted" in str(ended)
    assert [s["snapshot_id"] for s in emulator.snapshots()] == [created.id]


# --- what a deleter says when a hold outlasts its wait ---------------------------------------------------------------
def removal_props(volume_id: str, snapshot_id: str) -> dict[str, Any]:
    return {"volume_id": volume_id, "snapshot_id": snapshot_id, "confirm_delete_volume": volume_id, "region": REGION}


def test_a_held_snapshot_whose_volume_is_gone_says_how_to_restore_it_before_releasing_the_hold(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi up` was killed right after DeleteVolume (or the VolumeRemoval had retain_on_delete): no state records
    the removal, the volume is gone, the hold is on the snapshot. The user runs `pulumi destroy`; the snapshot's
    delete fails on the hold. Its message must say the volume is deleted and this snapshot is its only copy, and how
    to bring it back (from the record on the snapshot), before it suggests removing the hold (after which the
    destroy deletes the last copy)."""
    monkeypatch.setenv(HOLD_WAIT_ENV, "2")
    emulator.settle()
    snapshot = EbsSnapshotProvider().create(snapshot_props(volume_id))
    VolumeRemovalProvider().create(removal_props(volume_id, str(snapshot.id)))  # ... and the engine never recorded it
    assert volume_id not in emulator.ec2_backend().volumes

    with pytest.raises(SnapshotHeld) as refused:
        EbsSnapshotProvider().delete(snapshot.id, dict(snapshot.outs or {}))

    message = str(refused.value)
    assert "only copy" in message and "create-volume" in message and "delete-tags" in message, message
    assert message.index("create-volume") < message.index("delete-tags"), message
    assert f"--snapshot-id {snapshot.id} --availability-zone us-east-1a --size 8 --volume-type gp2" in message
    assert snapshot.id in {s["snapshot_id"] for s in emulator.snapshots()}


def test_a_held_snapshot_whose_volume_was_restored_says_the_hold_can_go(
    emulator: Ec2Emulator, volume_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo restored the volume and was cut short before it released the hold: removing the hold loses nothing,
    and the message says so instead of asking for another restore."""
    monkeypatch.setenv(HOLD_WAIT_ENV, "2")
    emulator.settle()
    snapshot = EbsSnapshotProvider().create(snapshot_props(volume_id))
    removal = VolumeRemovalProvider().create(removal_props(volume_id, str(snapshot.id)))
    before = dict(emulator.ec2_backend().tags.get(snapshot.id, {}))
    hold = {k: before[k] for k in managed_keys(aws(before))}
    VolumeRemovalProvider().delete(removal.id, dict(removal.outs or {}))
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    ec2.create_tags(Resources=[snapshot.id], Tags=aws(hold))  # as if the undo stopped right before releasing it
    emulator.settle()

    with pytest.raises(SnapshotHeld) as refused:
        EbsSnapshotProvider().delete(snapshot.id, dict(snapshot.outs or {}))

    message = str(refused.value)
    assert "restored as vol-" in message and "delete-tags" in message and "create-volume" not in message, message


def test_the_restore_command_for_a_gp2_volume_is_one_ec2_accepts() -> None:
    # DescribeVolumes of a gp2 volume reports its baseline Iops (3 per GiB, at least 100); CreateVolume takes Iops
    # only for io1, io2 and gp3 (EC2 API reference, CreateVolume), as the undo's own request knows.
    record = {"availability_zone": "us-east-1a", "size": 8, "volume_type": "gp2", "iops": 100}
    command = restore_command("snap-0123456789abcdef0", "vol-0123456789abcdef0", record)
    assert "--iops" not in command, command


def test_the_restore_command_keeps_a_gp3_volumes_iops_and_throughput() -> None:
    record = {"availability_zone": "us-east-1a", "size": 8, "volume_type": "gp3", "iops": 4000, "throughput": 250}
    command = restore_command("snap-0123456789abcdef0", "vol-0123456789abcdef0", record)
    assert "--iops 4000" in command and "--throughput 250" in command, command
