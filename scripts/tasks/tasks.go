// Package tasks is what the Mage targets run. Each task reads the environment
// once, turns it into a stage's configuration and runs the stage; the magefile
// only wires target names to these functions.
//
// Environment variables:
//
//	FACET_VERSION  version to build, overriding CIRCLE_TAG and git
//	CIRCLE_TAG     release tag agent-facets@X.Y.Z (set by CircleCI on tag builds)
//	CIRCLE_SHA1    commit being built (set by CircleCI)
//	FACET_JOBS     compilations at once (default: the CPUs Go may use)
//	CI             set: plain progress lines instead of live bars
package tasks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/generate"
	"github.com/agent-facets/facets/scripts/installbench"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/verdaccio"
	"github.com/agent-facets/facets/scripts/version"
)

// Env is the outside world as tasks see it.
type Env struct {
	Root     string              // repository root
	Getenv   func(string) string // environment variables
	Environ  []string            // the whole environment, for child processes
	Stdout   io.Writer
	Progress progress.Reporter // how builds show progress
	Host     build.Host        // what this machine can execute
}

// OS returns the Env of this process, rooted at the working directory (Mage
// runs targets in the repository root).
func OS() Env {
	root, err := os.Getwd()
	if err != nil {
		root = "."
	}
	return Env{
		Root:     root,
		Getenv:   os.Getenv,
		Environ:  os.Environ(),
		Stdout:   os.Stdout,
		Progress: progress.Auto(os.Stdout, os.Stderr, os.Getenv),
		Host:     build.DetectHost(),
	}
}

// Layout is the dist directory of the repository.
func (e Env) Layout() dist.Layout { return dist.Layout{Root: filepath.Join(e.Root, "dist")} }

// Build builds and verifies the named targets (comma- or space-separated), or
// all of them when names is empty.
func Build(ctx context.Context, env Env, names ...string) error {
	targets := platforms.All()
	if len(names) > 0 {
		var err error
		if targets, err = platforms.Select(names...); err != nil {
			return err
		}
	}
	return runBuild(ctx, env, targets)
}

// BuildHost builds and verifies the one target this machine runs natively.
func BuildHost(ctx context.Context, env Env) error {
	t, err := platforms.ForHost(env.Host.Host)
	if err != nil {
		return err
	}
	return runBuild(ctx, env, []platforms.Target{t})
}

func runBuild(ctx context.Context, env Env, targets []platforms.Target) error {
	cfg, err := buildConfig(ctx, env, targets)
	if err != nil {
		return err
	}
	records, err := build.Run(ctx, cfg)
	if err != nil {
		return err
	}
	noun := "binaries"
	if len(records) == 1 {
		noun = "binary"
	}
	fmt.Fprintf(env.Stdout, "facet %s: %d verified %s in %s\n", cfg.Version, len(records), noun, relative(env.Root, filepath.Join(cfg.Dist.Root, "npm")))
	return nil
}

// Package builds every target, then assembles and packs the 12 platform
// packages and the agent-facets wrapper into dist/.
func Package(ctx context.Context, env Env) error {
	license, err := os.ReadFile(filepath.Join(env.Root, "LICENSE"))
	if err != nil {
		return fmt.Errorf("package: %w", err)
	}
	if err := Build(ctx, env); err != nil {
		return err
	}
	records, err := npmpkg.Run(ctx, npmpkg.Config{Dist: env.Layout(), License: license, NPM: npm.CLI{Env: env.Environ}})
	if err != nil {
		return err
	}
	for _, r := range records {
		fmt.Fprintf(env.Stdout, "packed %s\n", relative(env.Root, filepath.Join(env.Layout().Root, r.Tarball)))
	}
	fmt.Fprintf(env.Stdout, "%d packages of version %s; checksums in %s\n", len(records), records[0].Version, relative(env.Root, env.Layout().SumsPath()))
	return nil
}

// BenchBuild compares the parallel build of all targets with a sequential go
// build loop, cold and warm, and prints the ratios.
func BenchBuild(ctx context.Context, env Env) error {
	cfg, err := buildConfig(ctx, env, platforms.All())
	if err != nil {
		return err
	}
	_, err = build.Bench(ctx, cfg, env.Stdout)
	return err
}

// BenchLauncher packages facet, installs it from a local registry and compares
// `facet --version` through node_modules/.bin with the bare binary, after a
// normal install and after --ignore-scripts.
func BenchLauncher(ctx context.Context, env Env) error {
	if err := Package(ctx, env); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	_, err := installbench.Run(ctx, installbench.Config{
		Dist:      env.Layout(),
		Verdaccio: verdaccio.Options{Root: env.Root, NPM: npm.CLI{Env: env.Environ}, Env: env.Environ},
	}, env.Stdout)
	return err
}

// Clean removes the dist directory.
func Clean(env Env) error { return os.RemoveAll(env.Layout().Root) }

// buildConfig checks the inputs (version, job count) before anything is
// written and returns the build's configuration.
func buildConfig(ctx context.Context, env Env, targets []platforms.Target) (build.Config, error) {
	v, err := version.Resolve(ctx, version.Inputs{
		Override: env.Getenv("FACET_VERSION"),
		Tag:      env.Getenv("CIRCLE_TAG"),
		Commit:   env.Getenv("CIRCLE_SHA1"),
		Git:      version.GitIn(env.Root),
	})
	if err != nil {
		return build.Config{}, err
	}
	jobs := 0
	if s := env.Getenv("FACET_JOBS"); s != "" {
		if jobs, err = strconv.Atoi(s); err != nil || jobs < 1 {
			return build.Config{}, fmt.Errorf("FACET_JOBS=%q: want a whole number of at least 1", s)
		}
	}
	return build.Config{
		Root:     env.Root,
		Dist:     env.Layout(),
		Targets:  targets,
		Version:  v.Version,
		Commit:   v.Commit,
		Jobs:     jobs,
		Env:      env.Environ,
		Host:     env.Host,
		Progress: env.Progress,
	}, nil
}

// relative is path relative to root when it lies inside it.
func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

// Generate rewrites the generated files: README.md's table of targets and the
// launcher's lib/platforms.json.
func Generate(env Env) error { return generate.Write(env.Root) }
