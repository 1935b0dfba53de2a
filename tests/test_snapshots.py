"""EC2 snapshot operations against the emulator: lookups by tag and tagging made at once share calls, and each
request still gets exactly its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from conftest import REGION, snapshot_props
from emulator import Ec2Emulator
from snapshot_provider import EbsSnapshotProvider
from snapshot_provider.ec2 import snapshots
from snapshot_provider.ec2.errors import SnapshotProviderError
from snapshot_provider.volume_removal import VolumeRemovalProvider

REMOVAL_URN = "urn:pulumi:test::ebs-snapshots::pulumi-python:dynamic/ebs-snapshots:VolumeRemoval::stray"


def ec2(emulator: Ec2Emulator) -> Any:
    return boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)


def at_once(work: Callable[[int], Any], count: int) -> list[Any]:
    """`work(i)` for i in range(count), each in its own thread, all released together."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def snapshot_tagged(client: Any, volume_id: str, **tags: str) -> str:
    spec = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return str(client.create_snapshot(VolumeId=volume_id, TagSpecifications=spec)["SnapshotId"])


def test_lookups_made_at_once_share_calls_and_each_gets_its_own_snapshots_newest_first(emulator: Ec2Emulator) -> None:
    client = ec2(emulator)
    volumes = emulator.seed_volumes(12)
    mine = {i: [snapshot_tagged(client, v, owner=f"r{i}") for v in volumes[2 * i : 2 * i + 2]] for i in range(6)}
    snapshot_tagged(client, volumes[0], owner="r1x")  # a value that only starts like one asked for
    emulator.clear_calls()

    found = at_once(lambda i: snapshots.find_tagged(client, "owner", f"r{i}"), 8)

    for i in range(6):
        assert {s["SnapshotId"] for s in found[i]} == set(mine[i])
        starts = [s["StartTime"] for s in found[i]]
        assert starts == sorted(starts, reverse=True)
    assert found[6] == found[7] == []
    assert len(emulator.calls("DescribeSnapshots")) < 8


def test_tagging_made_at_once_shares_calls_and_tags_every_snapshot(emulator: Ec2Emulator) -> None:
    client = ec2(emulator)
    ids = [snapshot_tagged(client, v, owner="x") for v in emulator.seed_volumes(10)]
    emulator.clear_calls()

    at_once(lambda i: snapshots.set_tags(client, [ids[i]], {"pulumi-snapshot:attempt": "recorded"}), 10)

    tagged = {s["snapshot_id"] for s in emulator.snapshots() if s["tags"].get("pulumi-snapshot:attempt") == "recorded"}
    assert tagged == set(ids)
    assert len(emulator.calls("CreateTags")) < 10


def test_a_tagging_that_fails_fails_only_the_request_it_belongs_to(emulator: Ec2Emulator) -> None:
    client = ec2(emulator)
    ids = [snapshot_tagged(client, v, owner="x") for v in emulator.seed_volumes(6)]
    client.delete_snapshot(SnapshotId=ids[3])

    def tag(i: int) -> Exception | None:
        try:
            snapshots.set_tags(client, [ids[i]], {"pulumi-snapshot:attempt": "recorded"})
        except Exception as error:
            return error
        return None

    errors = at_once(tag, 6)

    assert [i for i, e in enumerate(errors) if e is not None] == [3]
    assert ids[3] in str(errors[3])
    tagged = {s["snapshot_id"] for s in emulator.snapshots() if s["tags"].get("pulumi-snapshot:attempt") == "recorded"}
    assert tagged == set(ids) - {ids[3]}


def _held_snapshot_with_45_tags(
    emulator: Ec2Emulator, provider: EbsSnapshotProvider, volume_id: str
) -> tuple[dict[str, str], Any]:
    """An EbsSnapshot with 45 tags of its own, held by a removal of its volume (3 tags): 50 in all."""
    emulator.settle()
    tags = {f"cost-{i:02d}": "x" for i in range(45)}
    created = provider.create(snapshot_props(volume_id, tags=tags))
    VolumeRemovalProvider().create(
        {
            "volume_id": volume_id,
            "snapshot_id": created.id,
            "confirm_delete_volume": volume_id,
            "region": REGION,
            "resource_urn": REMOVAL_URN,
        }
    )
    return tags, created


def test_a_tag_change_with_no_room_beside_an_undos_hold_says_so(emulator: Ec2Emulator, volume_id: str) -> None:
    """An EbsSnapshot with 45 tags, held by a VolumeRemoval (the hold, its record and its owner: 3 tags), gets 2 more
    tags (47, within the documented maximum of 48). The `up` fails; its error must name the hold and the fix."""
    provider = EbsSnapshotProvider()
    tags, created = _held_snapshot_with_45_tags(emulator, provider, volume_id)
    more = {**tags, "cost-45": "x", "cost-46": "x"}
    assert not provider.check({}, snapshot_props(volume_id, tags=more)).failures  # the preview accepts it

    with pytest.raises(SnapshotProviderError) as failed:
        provider.update(created.id, dict(created.outs or {}), snapshot_props(volume_id, tags=more))

    message = str(failed.value)
    assert f"the hold of the removal of {volume_id}" in message and "Remove 2 of the `tags`" in message, message
    assert f"destroy the VolumeRemoval of {volume_id} first" in message, message


def test_a_renamed_tag_fits_on_a_snapshot_at_the_tag_limit(emulator: Ec2Emulator, volume_id: str) -> None:
    """At EC2's 50 (45 own, this provider's 2, an undo's hold, record and owner), renaming one tag is still 50: the
    old key goes before the new one is set."""
    provider = EbsSnapshotProvider()
    tags, created = _held_snapshot_with_45_tags(emulator, provider, volume_id)
    renamed = {**{k: v for k, v in tags.items() if k != "cost-00"}, "owner": "x"}

    provider.update(created.id, dict(created.outs or {}), snapshot_props(volume_id, tags=renamed))

    [snapshot] = ec2(emulator).describe_snapshots(SnapshotIds=[created.id])["Snapshots"]
    keys = {t["Key"] for t in snapshot["Tags"]}
    assert "owner" in keys and "cost-00" not in keys and len(keys) == 50
