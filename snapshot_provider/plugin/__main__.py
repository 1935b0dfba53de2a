"""The `ebs-snapshots` provider plugin's entry point.

The engine starts it through the Python language host (`PulumiPlugin.yaml`, `runtime: python`), which runs
`python <this directory> <engine address> [flags]`; `python -m snapshot_provider.plugin <engine address>` is the same.
It prints the port it serves on, as every plugin does.
"""

import sys

from snapshot_provider.plugin.server import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
