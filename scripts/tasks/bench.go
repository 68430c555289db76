package tasks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/installbench"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

// BenchBuild compares the parallel build of all targets with a sequential go
// build loop, cold and warm, then the slowest job of the CI matrix with the
// whole cold build, and prints the ratios.
func BenchBuild(ctx context.Context, env Env) error {
	cfg, err := buildConfig(ctx, env, platforms.All())
	if err != nil {
		return err
	}
	res, err := build.Bench(ctx, cfg, env.Stdout)
	if err != nil {
		return err
	}
	_, err = build.BenchMatrix(ctx, cfg, compileTool(env.Root), res.Scenarios[0].Parallel, env.Stdout)
	return err
}

// compileTool compiles the build tool as CI's tool job does (go tool mage
// -compile), into a temporary directory, with the environment it is given.
func compileTool(root string) func(ctx context.Context, environ []string) error {
	return func(ctx context.Context, environ []string) error {
		dir, err := os.MkdirTemp("", "facet-bench-tool-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cmd := exec.CommandContext(ctx, "go", "tool", "mage", "-compile", filepath.Join(dir, "mage"))
		cmd.Dir = root
		cmd.Env = environ
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go tool mage -compile: %w\n%s", err, out)
		}
		return nil
	}
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
