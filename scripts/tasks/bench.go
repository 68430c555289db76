package tasks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/installbench"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/release"
	"github.com/agent-facets/facets/scripts/verdaccio"
	"github.com/agent-facets/facets/scripts/version"
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

// BenchRelease packages facet, then times the release of its 13 packages to
// a local registry (Verdaccio behind the npmjs.com stand-in, with a CDN of
// RehearsalCDN; a stand-in circleci minting tokens) against a sequential npm
// publish loop, and shows the release's CDN wait apart.
func BenchRelease(ctx context.Context, env Env) error {
	if err := Package(ctx, env); err != nil {
		return err
	}
	records, err := env.Layout().ReadPackRecords()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "facet-releasebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	n := 0
	fresh := func(ctx context.Context) (release.Config, func(), error) {
		n++
		dir := filepath.Join(tmp, fmt.Sprintf("run-%d", n))
		bed, err := registrytest.StartBed(ctx, registrytest.BedOptions{Root: env.Root, Dir: dir, NPM: env.npm(), Env: env.Environ})
		if err != nil {
			return release.Config{}, nil, err
		}
		stop := func() { _ = bed.Close() }
		// npmjs.com's CDN, as the rehearsal plays it: the release waits out
		// its max-age before the wrapper.
		bed.Front.SetCDN(RehearsalCDN)
		p := circleci.Facets()
		if err := bed.Seed(ctx, "0.0.1", p, platforms.Packages()...); err != nil {
			stop()
			return release.Config{}, nil, err
		}
		job, err := bed.CircleCIJob(ctx, p)
		if err != nil {
			stop()
			return release.Config{}, nil, err
		}
		npmEnv, err := bed.NPMEnv(false)
		if err != nil {
			stop()
			return release.Config{}, nil, err
		}
		cli := env.npm()
		cli.Env = npmEnv
		cli = cli.With(job...)
		reg, err := registry.New(bed.URL)
		if err != nil {
			stop()
			return release.Config{}, nil, err
		}
		return release.Config{
			Dist:     env.Layout(),
			Registry: reg,
			NPM:      cli,
			Dir:      dir,
			Tokens:   circleci.Minter{Env: cli.Env},
			Job:      circleci.Job{InCircleCI: true, Tag: version.TagPrefix + records[0].Version},
			LogDir:   filepath.Join(dir, "logs"),
		}, stop, nil
	}
	fmt.Fprintln(env.Stdout)
	_, err = release.Bench(ctx, release.BenchConfig{Fresh: fresh, Out: env.Stdout})
	return err
}
