package tasks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
)

// Package builds every target, then assembles and packs the 12 platform
// packages and the agent-facets wrapper into dist/.
func Package(ctx context.Context, env Env) error {
	in, err := readInputs(env)
	if err != nil {
		return err
	}
	if err := Build(ctx, env); err != nil {
		return err
	}
	return assemble(ctx, env, in)
}

// PackageAssemble assembles and packs the 13 packages from the binaries and
// build records already in dist/, without building: the CI job that follows
// the per-target build jobs. It applies the checks of Package: every target
// built, at one version and commit, each binary the one its record names.
func PackageAssemble(ctx context.Context, env Env) error {
	in, err := readInputs(env)
	if err != nil {
		return err
	}
	return assemble(ctx, env, in)
}

// inputs are the repository's files the packages ship besides the build:
// the LICENSE every package ships and the wrapper's install.sh.
type inputs struct{ license, installScript []byte }

// readInputs reads the inputs, before anything is built or written.
func readInputs(env Env) (inputs, error) {
	license, err := os.ReadFile(filepath.Join(env.Root, "LICENSE"))
	if err != nil {
		return inputs{}, fmt.Errorf("package: %w", err)
	}
	script, err := os.ReadFile(filepath.Join(env.Root, platforms.InstallScriptPath))
	if err != nil {
		return inputs{}, fmt.Errorf("package: %w", err)
	}
	return inputs{license: license, installScript: script}, nil
}

// assemble packs dist/'s build into the 13 packages and reports them.
func assemble(ctx context.Context, env Env, in inputs) error {
	records, err := npmpkg.Run(ctx, npmpkg.Config{Dist: env.Layout(), License: in.license, InstallScript: in.installScript, NPM: npm.CLI{Env: env.Environ}})
	if err != nil {
		return err
	}
	for _, r := range records {
		fmt.Fprintf(env.Stdout, "packed %s\n", relative(env.Root, filepath.Join(env.Layout().Root, r.Tarball)))
	}
	fmt.Fprintf(env.Stdout, "%d packages of version %s; checksums in %s\n", len(records), records[0].Version, relative(env.Root, env.Layout().SumsPath()))
	return nil
}
