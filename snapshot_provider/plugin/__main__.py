"""The `ebs-snapshots` provider plugin's entry point.

The engine starts it through the Python language host (`PulumiPlugin.yaml`, `runtime: python`), which runs
`python <this directory> <engine address> [flags]`; `python -m snapshot_provider.plugin <engine address>` is the same.
It prints the port it serves on, as every plugin does.
"""

import sys

try:
    from snapshot_provider.plugin.server import serve
except ModuleNotFoundError as missing:
    # The plugin directory names a virtualenv (PulumiPlugin.yaml) that lacks the package, e.g. one since recreated:
    # say which and how to fix it, not a traceback the engine files under "always a bug in the provider".
    sys.exit(
        f"ebs-snapshots plugin: the virtualenv {sys.prefix} cannot import {missing.name} ({missing}). "
        f"Install the package into it: {sys.prefix}/bin/python -m pip install pulumi-ebs-snapshots; "
        "or write the plugin directory again from a virtualenv that has it: "
        "python -m snapshot_provider.plugin.install <plugin directory>"
    )

if __name__ == "__main__":
    serve(sys.argv[1:])
