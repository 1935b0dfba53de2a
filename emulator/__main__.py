"""Run the local EC2 emulator until interrupted: `python -m emulator --port 0 --ready-file emulator.json`.

Writes `{"url": ..., "volume_ids": [...], "pid": ...}` to the ready file once it serves requests.
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
    args = parser.parse_args()

    emulator = Ec2Emulator(port=args.port, region=args.region)
    emulator.configure(pending_seconds=args.pending_seconds)
    volume_ids = emulator.seed_volumes(args.seed_volumes)
    emulator.start()
    ready = {"url": emulator.url, "region": args.region, "volume_ids": volume_ids, "pid": os.getpid()}
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
