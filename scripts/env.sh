# Sourced by run.sh and test.sh: the project's virtualenv, the Pulumi CLI, and a local state backend.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/venv"

say() { printf '==> %s\n' "$*" >&2; }

# Create venv/ with the development pins and this package (editable) when missing or changed.
ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return
    fi
    say "installing Python dependencies into venv/ (requirements-dev.txt, then this package, editable)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
    echo "$want" > "$stamp"
}

# Put a Pulumi CLI on PATH (an installed one, or the pinned build from scripts/engine.sh).
ensure_engine() {
    local bin
    bin="$(bash "$ROOT/scripts/engine.sh")"
    export PATH="$bin:$PATH"
    export PULUMI_BIN_DIR="$bin"
}

# Settings for a local run: no Pulumi Cloud, no update checks, no plugin downloads (pulumi-aws in the
# virtualenv would otherwise make the CLI try to fetch the AWS plugin).
local_pulumi_env() {
    export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$ROOT/.pulumi-state}"
    export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-local-emulator-only}"
    export PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    mkdir -p "$ROOT/.pulumi-state"
}
