"""EC2 snapshot operations against the emulator: lookups by tag and tagging made at once share calls, and each
request still gets exactly its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from conftest import REGION
from emulator import Ec2Emulator
from snapshot_provider import snapshots


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
