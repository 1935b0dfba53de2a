"""`pulumi up` of a stack with many EbsSnapshot resources on the local emulator, with the real CLI.

Prints the wall time, the API calls by action, the state size per resource and how many creates ran at once.

    venv/bin/python -m bench.bench_stack --resources 100 --min-pending 2 --max-pending 10
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import tempfile
import time
from pathlib import Path

from emulator import Ec2Emulator
from tests.stack_harness import PulumiStack, pulumi_bin_dir

PROGRAM = """
import pulumi
from snapshot_provider import EbsSnapshot

ids = pulumi.Config().require_object("volume_ids")
snapshots = [EbsSnapshot(f"snap-{i}", volume_id=v, tags={"bench": "stack"}) for i, v in enumerate(ids)]
pulumi.export("wait_times", [s.wait_time for s in snapshots])
"""


def max_concurrent(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--min-pending", type=float, default=2.0)
    parser.add_argument("--max-pending", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    rng = random.Random(args.seed)
    with Ec2Emulator() as emulator, tempfile.TemporaryDirectory() as workdir:
        volumes = emulator.seed_volumes(args.resources)
        emulator.configure(
            pending_seconds_by_volume={v: rng.uniform(args.min_pending, args.max_pending) for v in volumes}
        )
        stack = PulumiStack(Path(workdir), pulumi_bin_dir(), emulator.url, program=PROGRAM, stack="bench")
        stack.config(volume_ids=volumes)
        emulator.clear_calls()
        started = time.monotonic()
        stack.up()
        wall = time.monotonic() - started

        calls = collections.Counter(c.action for c in emulator.calls())
        backend = emulator.ec2_backend()
        made = [s for s in backend.snapshots.values() if not s.from_ami]
        intervals = [(s.created_at, s.completed_at()) for s in made]
        resources = stack.resources()
        per_resource = [len(json.dumps(r)) for r in resources]
        state_bytes = stack.state_file().stat().st_size
        pending_total = sum(s.pending_seconds for s in made)

        print(
            f"pulumi up: {args.resources} EbsSnapshot resources, pending uniform in "
            f"[{args.min_pending:g}, {args.max_pending:g}] s (sum {pending_total:.0f} s)"
        )
        print("| figure | value |")
        print("|---|---|")
        print(f"| wall time of `pulumi up` | {wall:.1f} s |")
        print(f"| snapshots created | {len(made)} |")
        print(f"| most snapshots pending at once | {max_concurrent(intervals)} |")
        print(f"| API calls in total | {sum(calls.values())} |")
        for action, count in sorted(calls.items()):
            print(f"| {action} | {count} ({count / args.resources:.2f} per resource) |")
        print(f"| state file | {state_bytes} bytes ({state_bytes / args.resources:.0f} per resource) |")
        print(f"| one resource in state | median {sorted(per_resource)[len(per_resource) // 2]} bytes |")


if __name__ == "__main__":
    main()
