#!/usr/bin/env bash
# Runs every check: lint, types, unit tests, emulator tests and end-to-end tests under the real Pulumi CLI.
# Installs what it needs first (venv/ from requirements.txt, the Pulumi CLI via scripts/engine.sh).
# Extra arguments go to pytest, e.g. ./test.sh -k e2e (then the host checks against another SDK, scripts/check_sdk.sh,
# are not run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/env.sh"
cd "$ROOT"

ensure_venv
if ! ensure_engine; then
    # CI must run the end-to-end tests; a developer without Go or a CLI gets them skipped, with the reason.
    [ "${CI:-}" = "true" ] && { say "no Pulumi CLI and it could not be built: CI cannot skip the e2e tests"; exit 1; }
    say "no Pulumi CLI: end-to-end tests will be skipped"
fi

say "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
say "mypy"
"$VENV/bin/mypy" snapshot_provider emulator
say "pytest"
# On every core (pytest-xdist; TEST_WORKERS=1 runs in one process): most tests wait on the emulator or the CLI.
# Tests that share a module fixture are grouped onto one worker (xdist_group).
workers="${TEST_WORKERS:-auto}"
if [ "$workers" = 1 ]; then
    "$VENV/bin/python" -m pytest "$@"
else
    "$VENV/bin/python" -m pytest -n "$workers" --dist loadgroup "$@"
fi
if [ $# -eq 0 ]; then
    # The host adaptations against the newest SDK they were checked with (one cached wheel, about 15 s).
    if ! bash "$ROOT/scripts/check_sdk.sh"; then
        [ "${CI:-}" = "true" ] && exit 1
        say "scripts/check_sdk.sh failed (offline? it downloads one pulumi wheel once): see above"
    fi
fi
