"""The emulator is never the bottleneck (issue 18): its lookups, indexed, side by side with moto's own scans.

Seeds N snapshots (N = 1000 and 5000 by default; 4 per volume, two tags each) in an emulator in this process, then
times, over HTTP with boto3, DescribeSnapshots by id, by tag (`tag:release`, N / 50 matches) and by volume, and
CreateTags, first through the emulator's indexed path, then through moto's own path (its DescribeSnapshots, which asks
every snapshot, and its tag reads, which scan every tag of the account), in one run. Figures are the emulator's own
server-side time per call from its call log: wall milliseconds and CPU milliseconds (the serving thread's); CPU is
the one to quote when the machine is busy (the load average is printed before and after).

    venv/bin/python -m bench.bench_emulator                 # N = 1000, 5000
    venv/bin/python -m bench.bench_emulator --n 200 --calls 10 --moto-calls 10
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config

from emulator import Ec2Emulator, World
from emulator.patch import MOTO_ORIGINALS

SNAPSHOTS_PER_VOLUME = 4
RELEASES = 50


@contextlib.contextmanager
def moto_paths() -> Iterator[None]:
    """moto's own DescribeSnapshots and tag reads in place of the emulator's, for the comparison."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    saved = (ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags)
    ElasticBlockStore.describe_snapshots = MOTO_ORIGINALS["ElasticBlockStore.describe_snapshots"]  # type: ignore[method-assign]
    TaggedEC2Resource.get_tags = MOTO_ORIGINALS["TaggedEC2Resource.get_tags"]  # type: ignore[method-assign]
    try:
        yield
    finally:
        ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags = saved  # type: ignore[method-assign]


def world(n: int) -> World:
    volumes = [f"vol-{i:017x}" for i in range(1, n // SNAPSHOTS_PER_VOLUME + 1)]
    return {
        "volumes": [{"id": v} for v in volumes],
        "snapshots": [
            {
                "id": f"snap-{i:017x}",
                "volume_id": volumes[i % len(volumes)],
                "tags": {"release": f"r{i % RELEASES}", "team": ["storage", "web", "data"][i % 3]},
            }
            for i in range(n)
        ],
    }


def measure(emulator: Ec2Emulator, calls: int, operation: Callable[[int], Any], action: str) -> tuple[float, float]:
    """Mean server-side wall and CPU milliseconds of `calls` calls of `operation`, after one call not counted (the
    first call of a run makes moto's lazily built state, a few hundred milliseconds)."""
    operation(calls)
    emulator.clear_calls()
    for i in range(calls):
        operation(i)
    served = emulator.calls(action)
    assert len(served) == calls and all(c.status == 200 for c in served), [c.status for c in served]
    return statistics.mean(c.seconds for c in served) * 1000, statistics.mean(c.cpu_seconds for c in served) * 1000


def operations(ec2: Any, n: int, rng: random.Random) -> dict[str, tuple[str, Callable[[int], Any]]]:
    volumes = n // SNAPSHOTS_PER_VOLUME
    snapshot = [f"snap-{rng.randrange(n):017x}" for _ in range(1001)]
    volume = [f"vol-{rng.randrange(1, volumes + 1):017x}" for _ in range(1001)]

    def by_id(i: int) -> None:
        assert len(ec2.describe_snapshots(SnapshotIds=[snapshot[i]])["Snapshots"]) == 1

    def by_tag(i: int) -> None:
        found = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:release", "Values": [f"r{i % RELEASES}"]}]
        )
        assert len(found["Snapshots"]) == n // RELEASES

    def by_volume(i: int) -> None:
        found = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume[i]]}])
        assert len(found["Snapshots"]) == SNAPSHOTS_PER_VOLUME

    def tag(i: int) -> None:
        ec2.create_tags(Resources=[snapshot[i]], Tags=[{"Key": "checked", "Value": str(i)}])

    return {
        "DescribeSnapshots by id": ("DescribeSnapshots", by_id),
        "DescribeSnapshots by tag": ("DescribeSnapshots", by_tag),
        "DescribeSnapshots by volume": ("DescribeSnapshots", by_volume),
        "CreateTags": ("CreateTags", tag),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000], help="snapshots to seed")
    parser.add_argument("--calls", type=int, default=30, help="calls of each operation on the indexed path")
    parser.add_argument(
        "--moto-calls", type=int, default=3, help="calls on moto's path (a tag lookup there takes seconds at N = 5000)"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    print("| N | operation | indexed ms (CPU ms) | moto's own ms (CPU ms) | CPU ratio |")
    print("|---|---|---|---|---|")
    with Ec2Emulator() as emulator:
        ec2 = boto3.client(
            "ec2",
            region_name=emulator.region,
            endpoint_url=emulator.url,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        for n in args.n:
            emulator.reset()
            emulator.seed_world(world(n))
            for name, (action, operation) in operations(ec2, n, random.Random(n)).items():
                indexed = measure(emulator, args.calls, operation, action)
                with moto_paths():
                    scanned = measure(emulator, args.moto_calls, operation, action)
                ratio = scanned[1] / indexed[1] if indexed[1] else float("inf")
                print(
                    f"| {n} | {name} | {indexed[0]:.1f} ({indexed[1]:.1f}) | {scanned[0]:.1f} ({scanned[1]:.1f}) "
                    f"| {ratio:.1f}x |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
