package tasks

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
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
