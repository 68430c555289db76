package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/release"
	"github.com/agent-facets/facets/scripts/verify"
)

// verifyWait is the least time the verification after a release gets.
const verifyWait = 2 * time.Minute

// Release publishes the release dist/ holds, from a CircleCI job, with npm's
// trusted publishing, then verifies it on the registry.
func Release(ctx context.Context, env Env) error { return runRelease(ctx, env, false) }

// ReleaseStage is the CI side of a staged release: the same environment and
// pre-flight as Release, then it stages the release dist/ holds (npm stage
// publish) for a maintainer to approve (go tool mage approve), records the
// stage ids in dist/staged.json and prints them. Nothing becomes visible, so
// there is nothing to verify yet.
func ReleaseStage(ctx context.Context, env Env) error { return runRelease(ctx, env, true) }

// runRelease is Release, or ReleaseStage when stage is set.
func runRelease(ctx context.Context, env Env, stage bool) error {
	what := "release"
	if stage {
		what = "release:stage"
	}
	var flags struct{ dryRun, rehearsal bool }
	for name, into := range map[string]*bool{"FACET_DRY_RUN": &flags.dryRun, "FACET_REHEARSAL": &flags.rehearsal} {
		v, err := env.flag(name)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		*into = v
	}
	jobs, err := env.jobs()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	wait, err := env.duration("FACET_WAIT", release.DefaultWait)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// One deadline for every wait of the release and its verification.
	deadline := time.Now().Add(wait)
	reg, err := env.registry(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	reg.Retry.Deadline, reg.Retry.What = deadline, "FACET_WAIT"
	poll := registry.Poll{Timeout: wait, Deadline: deadline}
	plan, _, err := release.Run(ctx, release.Config{
		Dist:      env.Layout(),
		Registry:  reg,
		NPM:       env.npmAt(reg),
		Dir:       env.Root,
		Tokens:    circleci.Minter{Env: env.Environ},
		Job:       circleci.ReadJob(env.Getenv),
		Rehearsal: flags.rehearsal,
		DistTag:   env.Getenv("FACET_DIST_TAG"),
		Jobs:      jobs,
		DryRun:    flags.dryRun,
		Stage:     stage,
		Deadline:  deadline,
		Poll:      poll,
		Progress:  env.Progress,
		Out:       env.Stdout,
	})
	if err != nil || flags.dryRun || stage {
		return err
	}
	fmt.Fprintln(env.Stdout)
	// The release waited for the registry already: verify needs little time,
	// and gets at least verifyWait even when the release's waits used up
	// FACET_WAIT, so that a complete release does not go red for want of it.
	end := deadline
	if least := time.Now().Add(verifyWait); least.After(end) {
		end = least
	}
	reg.Retry.Deadline, poll.Deadline = end, end
	_, err = verify.Release(ctx, verify.ReleaseConfig{
		Registry: reg,
		Version:  plan.Version,
		Tag:      plan.Tag,
		Dist:     env.Layout(),
		Poll:     poll,
		Out:      env.Stdout,
	})
	return err
}
