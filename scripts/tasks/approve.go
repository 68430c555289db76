package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/approve"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/verify"
	"github.com/agent-facets/facets/scripts/version"
)

// Approve approves the staged release v (X.Y.Z or agent-facets@X.Y.Z), in
// the maintainer's clean checkout of its tag, logged in to npm, at a
// terminal: it rebuilds and packs the 13 packages from the tag into dist/,
// proves each staged tarball holds what was rebuilt, approves the platform
// packages, then the wrapper, and verifies the release.
func Approve(ctx context.Context, env Env, v string) error {
	cfg, err := maintainer(ctx, env, v, "approve")
	if err != nil {
		return err
	}
	wait, err := env.duration("FACET_WAIT", approve.DefaultWait)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	cfg.Deadline = time.Now().Add(wait)
	cfg.Poll = registry.Poll{Timeout: wait, Deadline: cfg.Deadline}
	cfg.Registry.Retry.Deadline, cfg.Registry.Retry.What = cfg.Deadline, "FACET_WAIT"
	if cfg.DistTag, err = version.DistTag(cfg.Version, env.Getenv("FACET_DIST_TAG")); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	// The rebuild: the tag's commit, the work tree clean.
	tag := version.TagPrefix + cfg.Version
	info, err := version.Resolve(ctx, version.Inputs{Tag: tag, Git: version.Checkout(ctx, env.Root)})
	if err != nil {
		return fmt.Errorf("approve: it rebuilds the release from a clean checkout of its tag (git checkout %s), and this one is not: %w", tag, err)
	}
	cfg.Commit = info.Commit
	fmt.Fprintf(env.Stdout, "rebuilding %s from %s (%s) into %s\n", cfg.Version, tag, info.Commit, relative(env.Root, env.Layout().Root))
	in, err := readInputs(env)
	if err != nil {
		return err
	}
	bcfg, err := buildConfigOf(env, platforms.All(), info)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if _, err := build.Run(ctx, bcfg); err != nil {
		return err
	}
	if err := assemble(ctx, env, in); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	plan, err := approve.Run(ctx, cfg)
	if err != nil || cfg.DryRun {
		return err
	}
	fmt.Fprintln(env.Stdout)
	// The approval waited for the registry already: verify needs little
	// time, and gets at least verifyWait even when the approval's waits used
	// up FACET_WAIT.
	end := cfg.Deadline
	if least := time.Now().Add(verifyWait); least.After(end) {
		end = least
	}
	reg := *cfg.Registry
	reg.Retry.Deadline = end
	_, err = verify.Release(ctx, verify.ReleaseConfig{
		Registry: &reg,
		Version:  plan.Version,
		Tag:      plan.Tag,
		Dist:     env.Layout(),
		Poll:     registry.Poll{Timeout: time.Until(end), Deadline: end},
		Out:      env.Stdout,
	})
	return err
}

// Reject rejects every staged version of release v (X.Y.Z or
// agent-facets@X.Y.Z) across the 13 packages, as the maintainer, at a
// terminal.
func Reject(ctx context.Context, env Env, v string) error {
	cfg, err := maintainer(ctx, env, v, "reject")
	if err != nil {
		return err
	}
	_, err = approve.Reject(ctx, cfg)
	return err
}

// maintainer is the configuration approve and reject share: the version,
// FACET_DRY_RUN, the registry, npm logged in as the maintainer, and the
// terminal where npm asks for the second factor (not needed for a dry run,
// which changes nothing).
func maintainer(ctx context.Context, env Env, v, target string) (approve.Config, error) {
	v, err := approve.ParseVersion(v)
	if err != nil {
		return approve.Config{}, fmt.Errorf("%s: %w", target, err)
	}
	dryRun, err := env.flag("FACET_DRY_RUN")
	if err != nil {
		return approve.Config{}, fmt.Errorf("%s: %w", target, err)
	}
	if !dryRun && !env.Interactive {
		return approve.Config{}, fmt.Errorf("%s: npm asks for the second factor of each %s on a terminal (a page to approve in the browser, or a one-time password), and standard input and output are not one: run go tool mage %s %s in a terminal", target, target, target, v)
	}
	reg, err := env.registry(ctx)
	if err != nil {
		return approve.Config{}, fmt.Errorf("%s: %w", target, err)
	}
	cli := env.npmAt(reg)
	user, err := cli.Whoami(ctx, env.Root)
	if errors.Is(err, npm.ErrNotLoggedIn) {
		return approve.Config{}, fmt.Errorf("%s: npm is not logged in to %s: run npm login (as a maintainer of the packages, with two-factor authentication), then run go tool mage %s %s again", target, reg, target, v)
	}
	if err != nil {
		return approve.Config{}, fmt.Errorf("%s: asking npm who is logged in: %s", target, npm.Brief(err))
	}
	fmt.Fprintf(env.Stdout, "npm user %s at %s\n", user, reg)
	return approve.Config{
		Version:  v,
		Dist:     env.Layout(),
		Registry: reg,
		NPM:      cli,
		Dir:      env.Root,
		Stdio:    env.Terminal,
		DryRun:   dryRun,
		Out:      env.Stdout,
	}, nil
}
