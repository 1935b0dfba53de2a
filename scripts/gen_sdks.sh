#!/usr/bin/env bash
# Writes the ebs-snapshots SDKs (sdk/nodejs, sdk/python, sdk/go) from the plugin's package schema
# (snapshot_provider/plugin/schema.json) and the SDKs' packaging settings (sdk/languages.json), with the Pulumi CLI's
# own code generators at the pinned CLI version (engine/sdkgen/main.go says why not `pulumi package gen-sdk`).
# The generator is built once into the user cache directory, like the CLI (scripts/engine.sh).
#   scripts/gen_sdks.sh                 # -> sdk/
#   scripts/gen_sdks.sh OUT [LANG...]   # e.g. into a temporary directory, to compare with sdk/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'gen_sdks: %s\n' "$*" >&2; }

schema="$root/snapshot_provider/plugin/schema.json"
settings="$root/sdk/languages.json"
out="${1:-$root/sdk}"
shift $(( $# > 1 ? 1 : $# ))
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(nodejs python go)

src="$root/engine/sdkgen"
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-provider/sdkgen-$key"
if [ ! -x "$cache/pulumi-gen-sdk" ]; then
    command -v go >/dev/null 2>&1 || { say "building the generator needs Go 1.25+ (https://go.dev/dl/)"; exit 1; }
    say "building the SDK generator into $cache (first time only; about a minute)"
    mkdir -p "$cache"
    (cd "$src" && go build -trimpath -o "$cache/pulumi-gen-sdk.tmp" .)
    mv "$cache/pulumi-gen-sdk.tmp" "$cache/pulumi-gen-sdk"
fi
"$cache/pulumi-gen-sdk" "$schema" "$settings" "$out" "${languages[@]}"
say "wrote ${languages[*]} into $out"
