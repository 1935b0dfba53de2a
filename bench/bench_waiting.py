"""Waiting at scale: the shared poller against one boto3 `snapshot_completed` waiter per snapshot, side by side.

For each N, N volumes get pending times spread between --min-pending and --max-pending seconds (same draw for both
arms). Each arm creates N snapshots concurrently (one thread each: CreateSnapshot, then wait) against its own
emulator endpoint in this process, so their DescribeSnapshots calls are counted apart. Overshoot is the time from the
emulator marking a snapshot completed to the create returning.

    venv/bin/python -m bench.bench_waiting                 # N = 1, 10, 100, 500
    venv/bin/python -m bench.bench_waiting --n 10 --max-pending 20
    venv/bin/python -m bench.bench_waiting --siblings --budgets 1 20   # a 6 s snapshot, alone or with a 0.2 s one
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from emulator import Ec2Emulator
from snapshot_provider.core import waiting
from snapshot_provider.ec2.snapshots import describe_many

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=100)


@dataclass
class ArmResult:
    name: str
    n: int
    describe_calls: int
    overshoots: list[float]
    wall: float

    def row(self) -> str:
        median = statistics.median(self.overshoots)
        p95 = sorted(self.overshoots)[max(0, int(len(self.overshoots) * 0.95) - 1)]
        return (
            f"| {self.n:>4} | {self.name:<22} | {self.describe_calls:>8} | {self.describe_calls / self.n:>8.2f} "
            f"| {median:>7.2f} | {p95:>7.2f} | {self.wall:>7.1f} |"
        )


def client(emulator: Ec2Emulator) -> Any:
    return boto3.client(
        "ec2",
        region_name=emulator.region,
        endpoint_url=emulator.url,
        config=CLIENT_CONFIG,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def run_arm(name: str, emulator: Ec2Emulator, volumes: list[str], wait: Callable[[Any, str], None]) -> ArmResult:
    ec2 = client(emulator)
    emulator.clear_calls()
    overshoots: list[float] = []
    lock = threading.Lock()

    def one(volume_id: str) -> None:
        snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
        wait(ec2, snapshot_id)
        returned = time.monotonic()
        completed = emulator.ec2_backend().snapshots[snapshot_id].completed_at()
        with lock:
            overshoots.append(returned - completed)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(v,)) for v in volumes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return ArmResult(name, len(volumes), len(emulator.calls("DescribeSnapshots")), overshoots, wall)


def run_side_by_side(
    plan: list[tuple[str, Ec2Emulator, Callable[[Any, str], None]]], volumes: list[str]
) -> list[ArmResult]:
    """Every arm at once, on the same volumes (and so the same pending times)."""
    results: list[ArmResult] = []
    runners = [
        threading.Thread(target=lambda arm=arm: results.append(run_arm(*arm[:2], volumes, arm[2]))) for arm in plan
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return results


def boto3_waiter(ec2: Any, snapshot_id: str) -> None:
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot_id], WaiterConfig={"MaxAttempts": 1000})


def shared_poller(policy: waiting.PollPolicy) -> Callable[[Any, str], None]:
    pollers: dict[int, waiting.SnapshotPoller] = {}

    def wait(ec2: Any, snapshot_id: str) -> None:
        poller = pollers.setdefault(id(ec2), waiting.SnapshotPoller(lambda ids: describe_many(ec2, ids), policy))
        poller.wait([snapshot_id], timeout=3600)

    return wait


def siblings(budgets: list[float]) -> None:
    """DescribeSnapshots calls of one wait for a 6 s snapshot, alone and with a 0.2 s sibling in the same wait."""
    emulator = Ec2Emulator().start()
    ec2 = client(emulator)
    print("| budget/s | wait covers       | Describe |")
    print("|----------|-------------------|----------|")
    for budget in budgets:
        for covers in ("6 s alone", "6 s + 0.2 s"):
            emulator.reset()
            slow, quick = emulator.seed_volumes(2)
            emulator.configure(pending_seconds_by_volume={slow: 6.0, quick: 0.2})
            volumes = [slow] if covers == "6 s alone" else [slow, quick]
            ids = [ec2.create_snapshot(VolumeId=v)["SnapshotId"] for v in volumes]
            emulator.clear_calls()
            policy = waiting.PollPolicy(calls_per_second=budget)
            waiting.SnapshotPoller(lambda batch: describe_many(ec2, batch), policy).wait(ids, timeout=60)
            print(f"| {budget:>8g} | {covers:<17} | {len(emulator.calls('DescribeSnapshots')):>8} |")
    emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument("--min-pending", type=float, default=5.0)
    parser.add_argument("--max-pending", type=float, default=120.0)
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="*",
        default=[1.0, 0.2],
        help="poller API budgets (DescribeSnapshots calls per second) to measure",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--siblings", action="store_true", help="only the 6 s + 0.2 s sibling measurement")
    args = parser.parse_args()
    if args.siblings:
        siblings(args.budgets)
        return

    rng = random.Random(args.seed)
    baseline_emulator = Ec2Emulator().start()
    arms = [(f"shared poller {b:g}/s", Ec2Emulator().start(), b) for b in args.budgets]
    print(
        f"pending times uniform in [{args.min_pending:g}, {args.max_pending:g}] s; overshoot = create returned "
        "minus emulator completion\n"
    )
    print("|    N | arm                    | Describe | per snap | ovs med | ovs p95 |  wall s |")
    print("|------|------------------------|----------|----------|---------|---------|---------|")
    for n in args.n:
        baseline_emulator.reset()
        volumes = baseline_emulator.seed_volumes(n)
        pending = {v: rng.uniform(args.min_pending, args.max_pending) for v in volumes}
        baseline_emulator.configure(pending_seconds_by_volume=pending)
        plan = [("boto3 waiter (baseline)", baseline_emulator, boto3_waiter)]
        plan += [(name, emulator, shared_poller(waiting.PollPolicy(calls_per_second=b))) for name, emulator, b in arms]
        results = run_side_by_side(plan, volumes)
        longest = max(pending.values())
        for result in sorted(results, key=lambda r: r.name):
            print(result.row())
        baseline = next(r for r in results if r.name.startswith("boto3"))
        for result in results:
            if result is not baseline:
                print(
                    f"|      | {result.name}: {baseline.describe_calls / result.describe_calls:.1f}x fewer calls; "
                    f"wall {100 * (result.wall / longest - 1):+.1f}% vs longest pending ({longest:.1f}s) |"
                )
    baseline_emulator.stop()
    for _, emulator, _ in arms:
        emulator.stop()


if __name__ == "__main__":
    main()
