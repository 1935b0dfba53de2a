#!/usr/bin/env bash
# Runs the stack end to end on this machine, no AWS account needed: installs what it needs, starts the local EC2
# emulator, runs `pulumi up` (snapshot of a seeded volume), prints the outputs, and stops the emulator.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/env.sh"
cd "$ROOT"

ensure_venv
ensure_engine
local_pulumi_env

mkdir -p .run
rm -f .run/emulator.json
# EMULATOR_STRICT=1: the emulator as strict as EC2 (listing delays, per-volume limits, throttling, STS apart).
strict_flag=""
[ "${EMULATOR_STRICT:-0}" = "1" ] && strict_flag="--strict"
say "starting the local EC2 emulator (snapshots stay pending for ${EMULATOR_PENDING_SECONDS:-5}s${strict_flag:+, strict})"
"$VENV/bin/python" -m emulator --pending-seconds "${EMULATOR_PENDING_SECONDS:-5}" --ready-file .run/emulator.json \
    ${strict_flag:+"$strict_flag"} > .run/emulator.log 2>&1 &
emulator_pid=$!
trap 'kill "$emulator_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f .run/emulator.json ] && break; sleep 0.1; done
[ -f .run/emulator.json ] || { cat .run/emulator.log >&2; exit 1; }
read_ready() { "$VENV/bin/python" -c "import json,sys; print(json.load(open('.run/emulator.json'))[sys.argv[1]])" "$1"; }
volume_id="$("$VENV/bin/python" -c "import json; print(json.load(open('.run/emulator.json'))['volume_ids'][0])")"

# The emulator's fake credentials and endpoints (EC2, and STS on its own port), for this run only.
export AWS_ENDPOINT_URL="$(read_ready url)" AWS_ENDPOINT_URL_STS="$(read_ready sts_url)" AWS_REGION="$(read_ready region)"
export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator
unset AWS_PROFILE AWS_SESSION_TOKEN

pulumi stack select --create dev --non-interactive >/dev/null
pulumi config set volume_id "$volume_id"
say "pulumi up (stack dev, state in .pulumi-state/)"
# --refresh: each run starts a new emulator, so snapshots recorded by an earlier run are gone; refresh drops them.
pulumi up --yes --refresh --non-interactive
say "outputs"
pulumi stack output --json
