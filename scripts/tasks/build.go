package tasks

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/version"
)

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

// buildConfig checks the inputs (version, job count) before anything is
// written and returns the build's configuration.
func buildConfig(ctx context.Context, env Env, targets []platforms.Target) (build.Config, error) {
	job := circleci.ReadJob(env.Getenv)
	v, err := version.Resolve(ctx, version.Inputs{
		Override: env.Getenv("FACET_VERSION"),
		Tag:      job.Tag,
		Commit:   job.SHA1,
		Git:      version.Checkout(ctx, env.Root),
	})
	if err != nil {
		return build.Config{}, err
	}
	return buildConfigOf(env, targets, v)
}

// buildConfigOf is the build of targets at the version and commit v.
func buildConfigOf(env Env, targets []platforms.Target, v version.Info) (build.Config, error) {
	jobs, err := env.jobs()
	if err != nil {
		return build.Config{}, err
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

// jobs reads FACET_JOBS, how many compilations or publishes run at once; 0
// when unset, for the stage's default.
func (e Env) jobs() (int, error) {
	s := e.Getenv("FACET_JOBS")
	if s == "" {
		return 0, nil
	}
	jobs, err := strconv.Atoi(s)
	if err != nil || jobs < 1 {
		return 0, fmt.Errorf("FACET_JOBS=%q: want a whole number of at least 1", s)
	}
	return jobs, nil
}
