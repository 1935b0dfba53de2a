#!/usr/bin/env bash
# Installs what a TypeScript user's project has (tests/nodejs/package-lock.json: the Pulumi Node SDK at the CLI's
# version, TypeScript, and the generated SDK from sdk/nodejs, compiled by its postinstall) with `npm ci`, when the
# lock or the generated SDK changed since the last install. Prints the node_modules directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
stamp="$here/node_modules/.installed.sha256"
want="$(cd "$root" && cat tests/nodejs/package-lock.json $(git ls-files sdk/nodejs) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    command -v npm >/dev/null 2>&1 || { echo "install.sh: npm not found: install Node.js 20+" >&2; exit 1; }
    echo "install.sh: npm ci in $here" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" > "$stamp"
fi
echo "$here/node_modules"
