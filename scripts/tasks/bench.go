package tasks

import (
	"context"
	"fmt"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/installbench"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

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

// BenchLauncher packages facet, installs it from a local registry with every
// client and compares `facet --version` as their users run it, the first call
// and the steady state, with the bare binary.
func BenchLauncher(ctx context.Context, env Env) error {
	if err := Package(ctx, env); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	_, err := installbench.Run(ctx, installbench.Config{
		Dist:      env.Layout(),
		Verdaccio: verdaccio.Options{Root: env.Root, NPM: npm.CLI{Env: env.Environ}, Env: env.Environ},
		Clients:   clients.Options{Root: env.Root, NPM: npm.CLI{Env: env.Environ}},
	}, env.Stdout)
	return err
}
