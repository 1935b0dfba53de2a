"""Red team 2: reproducers of problems found in the branch's fixes, each xfail(strict) until fixed."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from test_volume_removal import REMOVAL_URN, as_state_before_holds, restored_volumes

from conftest import REGION, StrictEc2, in_thread, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider, holds, waiting
from snapshot_provider.errors import SnapshotProviderError
from snapshot_provider.volume_removal import VolumeRemovalProvider

removal_provider = VolumeRemovalProvider()
VOLUME = "vol-01234567"


# --- VolumeRemoval: a replacement's take-over that never reached state ----------------------------------------------
def _removal(volume_id: str, snapshot_id: str) -> dict:
    return {
        "volume_id": volume_id,
        "snapshot_id": snapshot_id,
        "confirm_delete_volume": volume_id,
        "region": REGION,
        "resource_urn": REMOVAL_URN,
    }


@pytest.mark.xfail(
    strict=True,
    reason="RT2-2: a replacement's create cut short (Ctrl-C) after it wrote its hold owner leaves the old removal's "
    "destroy restoring nothing, while it reports success",
)
def test_a_replacement_cut_short_after_taking_the_hold_leaves_the_old_removals_undo_working(
    emulator: Ec2Emulator, volume_id: str, strict_ec2: StrictEc2, fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot_id = str(EbsSnapshotProvider().create(snapshot_props(volume_id)).id)
    old = removal_provider.create(_removal(volume_id, snapshot_id))
    # `pulumi up --replace`: the new resource's create waits for its hold to show (EC2 shows tags after a delay) and
    # the user presses Ctrl-C. The engine records nothing for it: state still holds only the old removal.
    strict_ec2(tag_delay=(20, 20))
    emulator.settle()
    tagged_before = len(emulator.calls("CreateTags"))
    thread, outcome = in_thread(lambda: removal_provider.create(_removal(volume_id, snapshot_id)))
    deadline = time.monotonic() + 30
    while len(emulator.calls("CreateTags")) == tagged_before and time.monotonic() < deadline:
        time.sleep(0.1)
    waiting.cancel_waits()
    thread.join(30)
    assert outcome and isinstance(outcome[0], BaseException), outcome
    # Next run (`pulumi destroy`, a new provider process): EC2 has caught up.
    monkeypatch.setattr(waiting, "_cancelled", threading.Event())
    emulator.settle()

    removal_provider.delete(old.id, old.outs)

    assert len(restored_volumes(emulator, volume_id)) == 1, "the only removal in state was destroyed: no volume back"


@pytest.mark.xfail(
    strict=True,
    reason="RT2-3: the first `pulumi up` after upgrading from 0.1.0, cut short (Ctrl-C) after it wrote the hold, "
    "makes the removal's destroy restore nothing, reporting success",
)
def test_an_upgrade_cut_short_after_holding_leaves_the_removals_undo_working(
    emulator: Ec2Emulator, volume_id: str, strict_ec2: StrictEc2, fresh_cancel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot_id = str(EbsSnapshotProvider().create(snapshot_props(volume_id)).id)
    created = removal_provider.create(_removal(volume_id, snapshot_id))
    upgraded = as_state_before_holds(emulator, snapshot_id, dict(created.outs))  # state and snapshot as 0.1.0 left
    strict_ec2(tag_delay=(20, 20))
    emulator.settle()
    tagged_before = len(emulator.calls("CreateTags"))
    news = _removal(volume_id, snapshot_id)
    thread, outcome = in_thread(lambda: removal_provider.update(created.id, upgraded, news))
    deadline = time.monotonic() + 30
    while len(emulator.calls("CreateTags")) == tagged_before and time.monotonic() < deadline:
        time.sleep(0.1)
    waiting.cancel_waits()  # Ctrl-C: the update fails, state stays as 0.1.0 made it
    thread.join(30)
    assert outcome and isinstance(outcome[0], BaseException), outcome
    monkeypatch.setattr(waiting, "_cancelled", threading.Event())
    emulator.settle()

    removal_provider.delete(created.id, upgraded)  # `pulumi destroy`

    assert len(restored_volumes(emulator, volume_id)) == 1, "destroy reported success and restored no volume"


# --- the held-snapshot message's create-volume command ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-4: the create-volume command for a held snapshot's only copy passes --iops for a gp2 volume (EC2 "
    "reports gp2's baseline Iops), which CreateVolume refuses",
)
def test_the_restore_command_for_a_gp2_volume_is_one_ec2_accepts() -> None:
    # DescribeVolumes of a gp2 volume reports its baseline Iops (3 per GiB, at least 100); CreateVolume takes Iops
    # only for io1, io2 and gp3 (EC2 API reference, CreateVolume), as the undo's own request knows.
    record = {"availability_zone": "us-east-1a", "size": 8, "volume_type": "gp2", "iops": 100}
    command = holds.restore_command("snap-0123456789abcdef0", "vol-0123456789abcdef0", record)
    assert "--iops" not in command, command


# --- VolumeRemoval: a take-over by a resource that is not this one's replacement ---
@pytest.mark.xfail(
    strict=True,
    reason="RT2-10: any VolumeRemoval of the same volume and snapshot, in any stack or project, takes the undo over "
    "(only the hold's volume is checked), and the real removal's destroy then restores nothing, reporting success",
)
def test_a_removal_in_another_project_does_not_take_this_removals_undo_over(
    emulator: Ec2Emulator, volume_id: str
) -> None:
    snapshot_id = str(EbsSnapshotProvider().create(snapshot_props(volume_id)).id)
    ours = removal_provider.create(_removal(volume_id, snapshot_id))  # CI's stack removes the volume
    # A colleague runs a copy of the program in a project of their own (a scratch stack, soon `pulumi stack rm`).
    elsewhere = {**_removal(volume_id, snapshot_id), "resource_urn": OTHER_PROJECT_URN}
    with contextlib.suppress(SnapshotProviderError):  # refused would be right: the volume is not theirs to have removed
        removal_provider.create(elsewhere)

    removal_provider.delete(ours.id, ours.outs)  # CI's `pulumi destroy`

    assert len(restored_volumes(emulator, volume_id)) == 1, "the removal's destroy succeeded and restored nothing"


OTHER_PROJECT_URN = "urn:pulumi:scratch::someone-elses-project::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::copy"
