// Command pulumi-gen-sdk writes the ebs-snapshots SDKs from the package schema with the Pulumi CLI's own code
// generators (github.com/pulumi/pulumi/pkg/v3/codegen/{nodejs,python,go}, at the pinned CLI version).
//
// `pulumi package gen-sdk` hands generation to each language's host (LanguageRuntime.GeneratePackage), and the
// Node.js and Go hosts are Go modules the module proxy does not serve. The upstream hosts' GeneratePackage binds the
// schema and calls these same functions, with the host's name as the tool name, so the files written here are the
// ones `pulumi package gen-sdk --language X` writes with the upstream hosts installed.
//
// Usage: pulumi-gen-sdk SCHEMA_JSON SETTINGS_JSON OUT_DIR LANGUAGE...   (writes OUT_DIR/LANGUAGE for each language)
//
// SETTINGS_JSON holds how the SDKs are packaged ({"nodejs": {...}, "python": {...}, "go": {...}}, the schema's
// `language` settings): merged over the schema's own, key by key, so the schema keeps to the resources.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blang/semver"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-gen-sdk SCHEMA_JSON SETTINGS_JSON OUT_DIR LANGUAGE... (nodejs, python, go)")
		os.Exit(2)
	}
	for _, language := range os.Args[4:] {
		if err := generate(os.Args[1], os.Args[2], os.Args[3], language); err != nil {
			fmt.Fprintf(os.Stderr, "pulumi-gen-sdk: %s: %v\n", language, err)
			os.Exit(1)
		}
	}
}

// generate binds the schema afresh for each language (the generators record their language's info on the package).
func generate(schemaPath, settingsPath, out, language string) error {
	pkg, err := bind(schemaPath, settingsPath)
	if err != nil {
		return err
	}
	var files map[string][]byte
	switch language {
	case "nodejs":
		// Local (as `gen-sdk --local` and `pulumi package add`): installed from a folder, compiled by its postinstall.
		files, err = nodejs.GeneratePackage("pulumi-language-nodejs", pkg, nil, nil, true, noReferences{})
	case "python":
		files, err = python.GeneratePackage("pulumi-language-python", pkg, nil, noReferences{})
	case "go":
		// With a go.mod (module: importBasePath's parent), so `go get` of this repository's sdk/go works.
		pkg.SupportPack = true
		files, err = gogen.GeneratePackage("pulumi-language-go", pkg, nil)
	default:
		return fmt.Errorf("unknown language %q: choose nodejs, python or go", language)
	}
	if err != nil {
		return err
	}
	return write(filepath.Join(out, language), files)
}

func bind(schemaPath, settingsPath string) (*schema.Package, error) {
	var spec schema.PackageSpec
	if err := readJSON(schemaPath, &spec); err != nil {
		return nil, err
	}
	var settings map[string]map[string]json.RawMessage
	if err := readJSON(settingsPath, &settings); err != nil {
		return nil, err
	}
	if err := mergeLanguageSettings(&spec, settings); err != nil {
		return nil, err
	}
	pkg, diags, err := schema.BindSpec(spec, noReferences{}, schema.ValidationOptions{})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %v", schemaPath, diags)
	}
	return pkg, nil
}

func readJSON(path string, into any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// mergeLanguageSettings sets each language's settings over the schema's (a key in both: the settings file's).
func mergeLanguageSettings(spec *schema.PackageSpec, settings map[string]map[string]json.RawMessage) error {
	if spec.Language == nil {
		spec.Language = map[string]schema.RawMessage{}
	}
	for language, keys := range settings {
		merged := map[string]json.RawMessage{}
		if own, ok := spec.Language[language]; ok {
			if err := json.Unmarshal(own, &merged); err != nil {
				return fmt.Errorf("the schema's %s settings: %w", language, err)
			}
		}
		for key, value := range keys {
			merged[key] = value
		}
		raw, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		spec.Language[language] = raw
	}
	return nil
}

// write replaces dir with exactly the generated files, as `pulumi package gen-sdk` does.
func write(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// noReferences is the schema loader: the ebs-snapshots schema refers to no other package, so any load is an error.
type noReferences struct{}

var errNoReferences = errors.New("the ebs-snapshots schema refers to no other package")

func (noReferences) LoadPackage(string, *semver.Version) (*schema.Package, error) {
	return nil, errNoReferences
}

func (noReferences) LoadPackageV2(context.Context, *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, errNoReferences
}

func (noReferences) LoadPackageReference(string, *semver.Version) (schema.PackageReference, error) {
	return nil, errNoReferences
}

func (noReferences) LoadPackageReferenceV2(
	context.Context, *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return nil, errNoReferences
}
