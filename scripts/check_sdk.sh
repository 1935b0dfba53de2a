#!/usr/bin/env bash
# Checks snapshot_provider/dynamic/host.py against another pulumi SDK than the one pinned in requirements.txt, without touching
# venv/: tests/test_host.py (the shapes the host adaptations rely on, and the real `python -m pulumi.dynamic` host:
# widening, Cancel, errors as one paragraph) runs with that SDK first on PYTHONPATH. The SDK is installed once, without
# dependencies (the pinned SDK's are used), into ~/.cache/snapshot-provider/pulumi-sdk-VERSION.
#   scripts/check_sdk.sh            # the newest version host.py was checked against
#   scripts/check_sdk.sh 3.280.0    # before raising the pin, or to see what a user's newer SDK does
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

version="${1:-3.272.0}"
target="${SNAPSHOT_PROVIDER_CACHE:-$HOME/.cache/snapshot-provider}/pulumi-sdk-$version"
if [ ! -f "$target/.complete" ]; then
    say "installing pulumi $version (no dependencies) into $target"
    rm -rf "$target"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" "pulumi==$version"
    touch "$target/.complete"
fi
found="$(PYTHONPATH="$target" "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pulumi"))')"
[ "$found" = "$version" ] || { say "expected pulumi $version on PYTHONPATH, found $found"; exit 1; }
say "tests/test_host.py with pulumi $version"
PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_host.py
