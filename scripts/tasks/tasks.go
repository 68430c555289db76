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
	"github.com/agent-facets/facets/scripts/docs"
	"github.com/agent-facets/facets/scripts/progress"
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

// Docs regenerates the generated sections of README.md.
func Docs(env Env) error {
	path := filepath.Join(env.Root, "README.md")
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, err := docs.Update(string(text))
	if err != nil {
		return err
	}
	if updated == string(text) {
		return nil
	}
	return dist.WriteFileAtomic(path, []byte(updated), 0o644)
}
