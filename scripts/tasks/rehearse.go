package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/version"
)

// Rehearse runs the whole release on this machine against a local test bed:
// Verdaccio behind the npmjs.com stand-in (trusted publishers and the OIDC
// exchange), and the circleci stand-in minting tokens with a local key. In
// order, what a maintainer and CircleCI would run: seed, trust and verify as
// a logged-in maintainer; the build, one job of the CI matrix at a time, and
// package:assemble; release as the CircleCI job (CIRCLECI, CIRCLE_TAG); and
// verify:release, which installs agent-facets with npm and runs it. Each
// step's output goes to a log; a summary says how each went. Nothing is left
// running, also when interrupted.
func Rehearse(ctx context.Context, env Env) error {
	v, err := version.Resolve(ctx, version.Inputs{
		Override: env.Getenv("FACET_VERSION"),
		Git:      version.GitIn(env.Root),
	})
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	dir, err := os.MkdirTemp("", "facet-rehearsal-")
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	fmt.Fprintf(env.Stdout, "rehearsing the release of %s in %s\n", v.Version, dir)
	bed, err := registrytest.StartBed(ctx, registrytest.BedOptions{Root: env.Root, Dir: filepath.Join(dir, "bed"), NPM: env.npm(), Env: env.Environ})
	if err != nil {
		return fmt.Errorf("rehearse: starting the test bed: %w", err)
	}
	defer bed.Close()
	fmt.Fprintf(env.Stdout, "registry %s (Verdaccio behind the npmjs.com stand-in)\n\n", bed.URL)

	maintainer, err := bed.NPMEnv(true)
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	// The maintainer's authenticator: the stand-in's one-time password.
	maintainer = append(maintainer, "NPM_CONFIG_OTP="+registrytest.DefaultOTP)
	job, err := bed.CircleCIJob(ctx, circleci.Facets())
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	ciNPM, err := bed.NPMEnv(false) // no npm login in CircleCI
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	tag := version.TagPrefix + v.Version
	ci := append(append(ciNPM, job...), "CIRCLE_TAG="+tag, "CIRCLE_SHA1="+v.Commit)
	distDir := filepath.Join(dir, "dist")

	// at is env as a step sees it: variables from environ (the variables of
	// this process that are not npm's, then npm's for the bed), output to its
	// log, dist/ of the rehearsal's own.
	at := func(environ []string, log io.Writer) Env {
		vars := map[string]string{}
		for _, kv := range environ {
			name, value, _ := strings.Cut(kv, "=")
			vars[name] = value
		}
		e := env
		e.Environ = environ
		e.Getenv = func(k string) string { return vars[k] }
		e.Stdout = log
		e.Progress = progress.NewPlain(log)
		e.Terminal.Out, e.Terminal.Err = log, log
		e.Terminal.In, e.Interactive = nil, false
		e.TrustPace = time.Millisecond // a local registry needs no pacing
		e.Dist = distDir
		return e
	}
	type step struct {
		name    string
		environ []string
		run     func(ctx context.Context, e Env) error
	}
	steps := []step{
		{"seed", maintainer, Seed},
		{"trust", maintainer, Trust},
		{"verify", maintainer, VerifySetup},
	}
	for _, g := range platforms.Compilations() {
		var names []string
		for _, t := range g {
			names = append(names, t.Name())
		}
		steps = append(steps, step{"build:target " + strings.Join(names, " "), ci, func(ctx context.Context, e Env) error {
			return Build(ctx, e, names...)
		}})
	}
	steps = append(steps,
		step{"package:assemble", ci, PackageAssemble},
		step{"release", ci, Release},
		step{"verify:release " + v.Version, append(slicesClone(ciNPM), "FACET_VERIFY_INSTALL=1"), func(ctx context.Context, e Env) error {
			return VerifyRelease(ctx, e, v.Version)
		}},
	)

	type outcome struct {
		name, log string
		took      time.Duration
		err       error
	}
	var done []outcome
	var failed error
	for i, s := range steps {
		if failed != nil {
			break
		}
		path := filepath.Join(logs, fmt.Sprintf("%02d-%s.log", i+1, strings.NewReplacer(" ", "-", ":", "-").Replace(s.name)))
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("rehearse: %w", err)
		}
		fmt.Fprintf(env.Stdout, "%-44s ", s.name)
		start := time.Now()
		err = s.run(ctx, at(s.environ, f))
		took := time.Since(start)
		f.Close()
		if ctx.Err() != nil { // interrupted: whatever the step says, that is why it ended
			err = errors.Join(ctx.Err(), err)
		}
		state := "ok"
		if err != nil {
			state = "FAILED"
			failed = fmt.Errorf("rehearse: %s failed (log: %s): %w", s.name, path, err)
		}
		fmt.Fprintf(env.Stdout, "%-6s %s\n", state, took.Round(10*time.Millisecond))
		done = append(done, outcome{s.name, path, took, err})
	}

	fmt.Fprintln(env.Stdout)
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "step\ttime\toutcome\tlog")
	for _, o := range done {
		state := "ok"
		if o.err != nil {
			state = "failed"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.name, o.took.Round(10*time.Millisecond), state, relative(dir, o.log))
	}
	for _, s := range steps[len(done):] {
		fmt.Fprintf(w, "%s\t–\tnot run\t\n", s.name)
	}
	w.Flush()
	if failed != nil {
		// Everything stays for a look: the registry's storage, dist/, the logs.
		fmt.Fprintf(env.Stdout, "logs in %s; the registry's storage and dist/ are kept in %s\n", logs, dir)
		if errors.Is(failed, context.Canceled) {
			return fmt.Errorf("rehearse: interrupted; the test bed is stopped (logs in %s)", logs)
		}
		return failed
	}
	// Passed: keep the logs (npm's of each publish among them), drop the rest.
	_ = os.Rename(filepath.Join(distDir, "logs", "release"), filepath.Join(logs, "npm-publish"))
	_ = bed.Close()
	_ = os.RemoveAll(distDir)
	_ = os.RemoveAll(filepath.Join(dir, "bed"))
	fmt.Fprintf(env.Stdout, "logs in %s\n", logs)
	fmt.Fprintf(env.Stdout, "The rehearsal of %s passed: seeded, trusted, built, packed, released with OIDC, verified and installed.\n", v.Version)
	return nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
