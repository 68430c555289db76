package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/release"
	"github.com/agent-facets/facets/scripts/seed"
	"github.com/agent-facets/facets/scripts/trust"
	"github.com/agent-facets/facets/scripts/verify"
	"github.com/agent-facets/facets/scripts/version"
)

// Seed publishes a 0.0.1 placeholder of every package the registry does not
// have, and prints the next steps.
func Seed(ctx context.Context, env Env) error {
	dryRun, err := env.flag("FACET_DRY_RUN")
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	reg, err := env.registry(ctx)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	_, err = seed.Run(ctx, seed.Config{
		Registry:  reg,
		NPM:       env.npmAt(reg),
		Dir:       env.Root,
		Stdio:     env.Terminal,
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		DryRun:    dryRun,
		Out:       env.Stdout,
	})
	return err
}

// Trust makes the CircleCI release pipeline the trusted publisher of every
// package.
func Trust(ctx context.Context, env Env) error {
	dryRun, err := env.flag("FACET_DRY_RUN")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	replace, err := env.flag("FACET_TRUST_REPLACE")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	reg, err := env.registry(ctx)
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	_, err = trust.Run(ctx, trust.Config{
		Registry:  reg,
		Account:   env.account(reg),
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		DryRun:    dryRun,
		Replace:   replace,
		Out:       env.Stdout,
	})
	return err
}

// VerifySetup checks that every package exists with its trusted publisher
// and, given a CircleCI API token (CIRCLE_TOKEN), that the release context
// is restricted to release tags.
func VerifySetup(ctx context.Context, env Env) error {
	api, err := env.circleCI()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	reg, err := env.registry(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	mode, err := releaseMode(env)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	_, err = verify.Setup(ctx, verify.SetupConfig{
		Registry:  reg,
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		Account:   env.account(reg),
		CircleCI:  api,
		Mode:      mode,
		Out:       env.Stdout,
	})
	return err
}

// releaseMode is the release mode the repository's pipeline uses by default
// (ciconfig.ReleaseMode), or "" where there is no pipeline configuration.
func releaseMode(env Env) (string, error) {
	data, err := os.ReadFile(filepath.Join(env.Root, filepath.FromSlash(ciconfig.Path)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ciconfig.ReleaseMode(data)
}

// circleCI is a client of CircleCI's API with the token in CIRCLE_TOKEN, or
// nil when there is none.
func (e Env) circleCI() (*circleci.API, error) {
	token := strings.TrimSpace(e.Getenv("CIRCLE_TOKEN"))
	if token == "" {
		return nil, nil
	}
	if err := circleci.CheckToken(token); err != nil {
		return nil, fmt.Errorf("CIRCLE_TOKEN: %w", err)
	}
	return &circleci.API{BaseURL: e.CircleCIAPI, Token: token}, nil
}

// VerifyRelease checks that the registry serves release v as it should.
func VerifyRelease(ctx context.Context, env Env, v string) error {
	v = strings.TrimPrefix(strings.TrimSpace(v), version.TagPrefix)
	if err := version.Check(v); err != nil {
		return fmt.Errorf("verify:release: %w", err)
	}
	tag, err := version.DistTag(v, env.Getenv("FACET_DIST_TAG"))
	if err != nil {
		return fmt.Errorf("verify:release: %w", err)
	}
	install, err := env.flag("FACET_VERIFY_INSTALL")
	if err != nil {
		return fmt.Errorf("verify:release: %w", err)
	}
	wait, err := env.duration("FACET_WAIT", release.DefaultWait)
	if err != nil {
		return fmt.Errorf("verify:release: %w", err)
	}
	reg, err := env.registry(ctx)
	if err != nil {
		return fmt.Errorf("verify:release: %w", err)
	}
	reg.Retry.Deadline, reg.Retry.What = time.Now().Add(wait), "FACET_WAIT"
	_, err = verify.Release(ctx, verify.ReleaseConfig{
		Registry: reg,
		Version:  v,
		Tag:      tag,
		Dist:     env.Layout(),
		Poll:     registry.Poll{Timeout: wait},
		Install:  install,
		NPM:      env.npmAt(reg),
		Out:      env.Stdout,
	})
	return err
}

// npm is the npm of this environment: its configuration is the user's.
// CIRCLE_TOKEN, the maintainer's CircleCI API token, is not npm's: it never
// reaches npm, nor what npm runs (verify:release runs the installed facet).
func (e Env) npm() npm.CLI {
	return npm.CLI{Env: slices.DeleteFunc(slices.Clone(e.Environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.EqualFold(name, "CIRCLE_TOKEN")
	})}
}

// npmAt is the npm of this environment, told to use reg whatever directory it
// runs in.
func (e Env) npmAt(reg *registry.Client) npm.CLI {
	cli := e.npm()
	cli.Registry = reg.URL.String()
	return cli
}

// registry is a client of the registry npm is configured with in the
// repository (NPM_CONFIG_REGISTRY, the npmrc files, or npm's default).
func (e Env) registry(ctx context.Context) (*registry.Client, error) {
	url, err := e.npm().ConfiguredRegistry(ctx, e.Root)
	if err != nil {
		return nil, fmt.Errorf("asking npm which registry it uses: %w", err)
	}
	reg, err := registry.New(url)
	if err != nil {
		return nil, fmt.Errorf("npm config get registry: %w", err)
	}
	// npm sends a scoped package to its scope's registry when one is set:
	// the platform packages would go where nothing here looks.
	scoped, err := e.npm().Run(ctx, e.Root, "config", "get", platforms.Scope+":registry")
	if err != nil {
		return nil, fmt.Errorf("asking npm which registry %s uses: %w", platforms.Scope, err)
	}
	if s := strings.TrimSpace(string(scoped)); s != "" && s != "undefined" && s != "null" {
		other, err := registry.ParseURL(s)
		if err != nil {
			return nil, fmt.Errorf("npm config get %s:registry: %w", platforms.Scope, err)
		}
		if other.String() != reg.URL.String() {
			return nil, fmt.Errorf("npm sends %s packages to %s (%s:registry) and the others to %s: set one registry for all", platforms.Scope, other.Redacted(), platforms.Scope, reg)
		}
	}
	return reg, nil
}

// account runs npm trust as the user, paced as npm asks, with npm on the
// terminal when there is one, so that it can ask for the second factor.
func (e Env) account(reg *registry.Client) *npm.Account {
	pace := e.TrustPace
	if pace == 0 {
		pace = npm.TrustPace
	}
	return &npm.Account{CLI: e.npmAt(reg), Dir: e.Root, Stdio: e.Terminal, Terminal: e.Interactive, Pace: pace}
}

// flag reads a FACET_* switch: 1, true or yes; 0, false, no or unset.
func (e Env) flag(name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(e.Getenv(name))) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 or 0", name, e.Getenv(name))
}

// duration reads a FACET_* duration (a Go duration such as 90s or 10m), def
// when unset.
func (e Env) duration(name string, def time.Duration) (time.Duration, error) {
	s := strings.TrimSpace(e.Getenv(name))
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 90s or 10m", name, s)
	}
	return d, nil
}
