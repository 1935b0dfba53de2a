"""The emulator is never the bottleneck (issue 18): indexed snapshot lookups answer as moto's scan does, without
scanning; every call's server-side time is in the call log."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_helpers import client, control

from emulator import Ec2Emulator, models
from emulator.patch import MOTO_ORIGINALS

FILTERS: list[dict[str, list[str]]] = [
    {"tag:team": ["storage"]},
    {"tag:team": ["storage", "web"]},
    {"tag:team": ["sto*"]},  # a wildcard: answered by the key index, then matched as moto matches
    {"tag-key": ["nightly"]},
    {"tag:team": ["web"], "tag:nightly": ["yes"]},
    {"volume-id": []},  # filled with a real volume below
    {"snapshot-id": []},  # likewise
    {"status": ["completed"], "tag:team": ["storage"]},
    {"tag:nobody": ["x"]},
]


def world_of_snapshots(emulator: Ec2Emulator, count: int, volumes: int) -> list[str]:
    ids = [f"snap-{i:017x}" for i in range(1, count + 1)]
    volume_ids = [f"vol-{i:017x}" for i in range(1, volumes + 1)]
    emulator.seed_world(
        {
            "volumes": [{"id": v} for v in volume_ids],
            "snapshots": [
                {
                    "id": snapshot_id,
                    "volume_id": volume_ids[i % volumes],
                    "tags": {"team": ["storage", "web", "data"][i % 3], **({"nightly": "yes"} if i % 4 == 0 else {})},
                }
                for i, snapshot_id in enumerate(ids)
            ],
        }
    )
    return ids


def moto_scan(backend: Any, filters: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """moto's own DescribeSnapshots (every snapshot asked, every tag scanned), own snapshots only."""
    with monkeypatch.context() as patched:
        patched.setattr("moto.ec2.models.core.TaggedEC2Resource.get_tags", MOTO_ORIGINALS["TaggedEC2Resource.get_tags"])
        found = MOTO_ORIGINALS["EBSBackend.describe_snapshots"](backend, snapshot_ids=None, filters=filters)
    return [s.id for s in found if s.owner_id == backend.account_id]


def test_indexed_lookups_answer_as_moto_scan(emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = world_of_snapshots(emulator, 60, volumes=7)
    ec2 = client(emulator)
    # Changes after seeding: overwritten, removed and added tags, deleted snapshots.
    ec2.create_tags(Resources=ids[:10], Tags=[{"Key": "team", "Value": "web"}])
    ec2.delete_tags(Resources=ids[10:20], Tags=[{"Key": "team"}])
    ec2.delete_tags(Resources=ids[20:30], Tags=[{"Key": "team", "Value": "not-its-value"}])
    ec2.create_tags(Resources=ids[30:35], Tags=[{"Key": "nightly", "Value": "yes"}])
    for snapshot_id in ids[40:45]:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    backend = emulator.ec2_backend()
    for snapshot_id in ids[:40]:
        expected = MOTO_ORIGINALS["TaggedEC2Resource.get_tags"](backend.snapshots[snapshot_id])
        assert backend.snapshots[snapshot_id].get_tags() == expected
    FILTERS[5] = {"volume-id": ["vol-00000000000000003", "vol-00000000000000005"]}
    FILTERS[6] = {"snapshot-id": [ids[3], ids[41], ids[50]]}
    for filters in FILTERS:
        indexed, _ = models.describe_snapshots(backend, [], filters, ["self"])
        assert [s.id for s in indexed] == moto_scan(backend, filters, monkeypatch), filters


def test_a_tag_or_volume_lookup_does_not_ask_every_snapshot(
    emulator: Ec2Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = world_of_snapshots(emulator, 300, volumes=100)
    ec2 = client(emulator)
    ec2.create_tags(Resources=[ids[7]], Tags=[{"Key": "release", "Value": "r1"}])
    asked: list[str] = []
    original = models.EmulatedSnapshot.get_filter_value

    def counting(self: models.EmulatedSnapshot, name: str, method_name: str | None = None) -> Any:
        asked.append(self.id)
        return original(self, name, method_name)

    monkeypatch.setattr(models.EmulatedSnapshot, "get_filter_value", counting)
    found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:release", "Values": ["r1"]}])
    assert [s["SnapshotId"] for s in found["Snapshots"]] == [ids[7]]
    by_volume = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": ["vol-00000000000000001"]}])
    assert len(by_volume["Snapshots"]) == 3
    assert len(asked) == 1 + 3  # only the candidates the indexes gave were asked


def test_every_call_has_its_server_side_time_and_cpu(emulator: Ec2Emulator, volume_id: str) -> None:
    ec2 = client(emulator)
    ec2.create_snapshot(VolumeId=volume_id)
    for _ in range(3):
        ec2.describe_snapshots(OwnerIds=["self"])
    calls = emulator.calls()
    assert all(c.seconds > 0 and c.cpu_seconds >= 0 for c in calls)
    stats = control(emulator, "call-stats")
    described = stats["actions"]["DescribeSnapshots"]
    assert described["count"] == 3
    assert described["total_seconds"] == pytest.approx(sum(c.seconds for c in calls[1:]))
    assert described["mean_seconds"] == pytest.approx(described["total_seconds"] / 3)
    assert stats["total_seconds"] >= described["total_seconds"] and stats["process_cpu_seconds"] >= stats["cpu_seconds"]
