"""Writes the `ebs-snapshots` plugin directory that the engine starts (`python -m snapshot_provider.plugin.install
DIR`): a `PulumiPlugin.yaml` (`runtime: python`, this virtualenv), a `__main__.py` and a `requirements.txt` (this
package).

The engine asks the Python language host to run such a directory (`RunPlugin`): upstream's host and this project's
both run `<virtualenv>/bin/python DIR <engine address>`. A program then names it in Pulumi.yaml
(`plugins: providers: [{name: ebs-snapshots, path: DIR}]`), or it is installed once for every program:
`pulumi plugin install resource ebs-snapshots <version> --file DIR`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snapshot_provider.plugin.package_schema import version

MAIN = Path(__file__).with_name("__main__.py")


def plugin_yaml(virtualenv: Path) -> str:
    return f"runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {virtualenv}\n"


def write_plugin_dir(target: Path, virtualenv: Path = Path(sys.prefix)) -> Path:
    """The plugin directory at `target`, running this package from `virtualenv` (default: the running one)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "PulumiPlugin.yaml").write_text(plugin_yaml(virtualenv.resolve()))
    (target / "__main__.py").write_text(MAIN.read_text())
    # `pulumi plugin install --file DIR` has the language host install this into the virtualenv (already there).
    (target / "requirements.txt").write_text(f"pulumi-ebs-snapshots=={version()}\n")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    print(write_plugin_dir(parser.parse_args().directory))
