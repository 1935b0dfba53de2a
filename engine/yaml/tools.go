//go:build tools

// Package tools pins the upstream YAML language host, built by scripts/engine.sh next to the CLI.
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
