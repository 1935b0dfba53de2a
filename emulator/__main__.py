"""Run the local EC2 emulator until interrupted: `python -m emulator --port 0 --ready-file emulator.json [--strict]`.

Writes `{"url": ..., "sts_url": ..., "region": ..., "volume_ids": [...], "strict": ..., "pid": ...}` to the ready file
once it serves requests. Point botocore at it with `AWS_ENDPOINT_URL=<url>` and `AWS_ENDPOINT_URL_STS=<sts_url>`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading

from emulator.server import Ec2Emulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--pending-seconds", type=float, default=5.0, help="how long each snapshot stays pending")
    parser.add_argument("--seed-volumes", type=int, default=1, help="available volumes to create at start")
    parser.add_argument("--ready-file", help="where to write the URL and seeded volume ids as JSON")
    parser.add_argument("--sts-port", type=int, default=0, help="STS's own port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--strict", action="store_true", help="EC2 as strict as AWS: delays, limits, throttling, expiring sessions"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (delays, faults)")
    args = parser.parse_args()

    emulator = Ec2Emulator(port=args.port, region=args.region, sts_port=args.sts_port)
    emulator.configure(pending_seconds=args.pending_seconds, strict=args.strict, seed=args.seed)
    volume_ids = emulator.seed_volumes(args.seed_volumes)
    emulator.start()
    ready = {
        "url": emulator.url,
        "sts_url": emulator.sts_url,
        "region": args.region,
        "volume_ids": volume_ids,
        "strict": args.strict,
        "pid": os.getpid(),
    }
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ready, f)
        os.replace(tmp, args.ready_file)
    print(json.dumps(ready), flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
