#!/usr/bin/env bash
# Prints the directory holding a Pulumi CLI (pulumi, pulumi-language-python, pulumi-language-yaml,
# pulumi-resource-pulumi-python).
#
# A `pulumi` already on PATH or in ~/.pulumi/bin wins: that is what users have. Otherwise the CLI is built from
# engine/ (a pinned Go module) at the version pinned in requirements.txt, once, into the user cache directory, so
# fresh clones and CI reuse it. Progress goes to stderr; only the directory goes to stdout.
# Set SNAPSHOT_PROVIDER_BUILD_PULUMI=1 to ignore an installed CLI and use the pinned build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'engine: %s\n' "$*" >&2; }

if [ "${SNAPSHOT_PROVIDER_BUILD_PULUMI:-}" != "1" ]; then
    for candidate in "$(command -v pulumi 2>/dev/null || true)" "$HOME/.pulumi/bin/pulumi"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            dir="$(dirname "$(readlink -f "$candidate")")"
            if [ -x "$dir/pulumi-language-python" ]; then
                say "using the installed Pulumi CLI in $dir"
                echo "$dir"
                exit 0
            fi
        fi
    done
fi

version="$(sed -n 's/^pulumi==\([0-9.]*\).*/\1/p' "$root/requirements.txt")"
[ -n "$version" ] || { say "requirements.txt does not pin pulumi==X.Y.Z"; exit 1; }
if ! grep -q "github.com/pulumi/pulumi/pkg/v3 v$version\$" "$root/engine/go.mod"; then
    say "engine/go.mod does not require github.com/pulumi/pulumi/pkg/v3 v$version (the version in requirements.txt)."
    say "Fix: cd engine && go get github.com/pulumi/pulumi/pkg/v3@v$version github.com/pulumi/pulumi/sdk/v3@v$version && go mod tidy"
    exit 1
fi

# The key covers everything the build reads from engine/, so a change there rebuilds.
key="$(cd "$root/engine" && cat go.mod go.sum tools.go pulumi-resource-pulumi-python cmd/pulumi-language-python/*.go \
    yaml/go.mod yaml/go.sum yaml/tools.go | sha256sum | cut -c1-12)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/snapshot-provider/pulumi-v$version-$key"
if [ -f "$cache/.complete" ]; then
    say "using Pulumi CLI v$version built earlier in $cache"
    echo "$cache/bin"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    say "no Pulumi CLI found and no Go toolchain to build one."
    say "Install the Pulumi CLI (https://www.pulumi.com/docs/install/) or Go 1.25+ (https://go.dev/dl/) and retry."
    exit 1
fi

say "building Pulumi CLI v$version from source into $cache (first time only; a few minutes)"
rm -rf "$cache"
mkdir -p "$cache/bin"
start=$SECONDS
cd "$root/engine"
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"
say "[1/5] downloading Go modules (go build fetches only what the CLI needs)"
go list -deps github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >/dev/null
say "[2/5] compiling pulumi (the longest step)"
go build -trimpath -ldflags "$ldflags" -o "$cache/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
say "[3/5] compiling pulumi-language-python"
go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$cache/bin/pulumi-language-python" \
    ./cmd/pulumi-language-python
say "[4/5] installing the Python launchers"
sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$cache/bin/pulumi-language-python-exec"
install -m 0755 pulumi-resource-pulumi-python "$cache/bin/pulumi-resource-pulumi-python"
# Upstream's YAML language host, from its own module (engine/yaml): v1.25.0 builds against the pulumi SDK it pins
# (3.206), not against 3.259's Go API; it speaks the same language protocol to this CLI.
say "[5/5] compiling pulumi-language-yaml (github.com/pulumi/pulumi-yaml)"
(cd yaml && go build -trimpath -ldflags "-s -w" -o "$cache/bin/pulumi-language-yaml" \
    github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml)
"$cache/bin/pulumi" version >/dev/null
touch "$cache/.complete"
say "built Pulumi CLI $("$cache/bin/pulumi" version) in $((SECONDS - start))s"
echo "$cache/bin"
