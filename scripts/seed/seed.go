// Package seed is the stage a maintainer runs once, after npm login, before
// the first release: npm's trusted publishing can only be attached to a
// package that exists, so seed publishes a 0.0.1 placeholder of every package
// the registry does not have yet, then says what to do next.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sourcegraph/conc/pool"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
)

// PlaceholderVersion is the version of a placeholder.
const PlaceholderVersion = "0.0.1"

// PlaceholderDescription is the description of a placeholder.
const PlaceholderDescription = "Placeholder for OIDC trusted publishing bootstrap"

// Config is what seed needs.
type Config struct {
	Registry  *registry.Client   // reads the registry npm is configured with
	NPM       npm.CLI            // the maintainer's npm, logged in
	Dir       string             // where npm runs (the repository, whose .npmrc applies)
	Stdio     npm.Stdio          // the terminal npm publish is attached to, for one-time passwords
	Packages  []string           // the packages to seed (the 12 platform packages and the wrapper)
	Publisher circleci.Publisher // printed as the values to enter
	DryRun    bool               // say what would be published, publish nothing
	Out       io.Writer          // the report
	TempDir   string             // where placeholders are made (and removed); "" means os.TempDir()
}

// State is where a package stands after seed.
type State string

// The states of a package.
const (
	Existed   State = "exists"
	Published State = "published " + PlaceholderVersion
	WouldSeed State = "would publish " + PlaceholderVersion + " (dry run)"
	Failed    State = "failed"
)

// Result is what seed did with one package.
type Result struct {
	Package string
	State   State
	Err     error // when Failed
}

// Run checks every package at once, publishes a placeholder of each missing
// one in turn, and prints the next steps. It goes on past a failed package and
// returns an error naming every failure. Nothing is done unless npm is logged
// in.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	out := cfg.Out
	fmt.Fprintf(out, "registry %s\n", cfg.Registry)
	user, err := cfg.NPM.Whoami(ctx, cfg.Dir)
	if errors.Is(err, npm.ErrNotLoggedIn) {
		return nil, fmt.Errorf("seed: npm is not logged in to %s: run npm login first", cfg.Registry)
	}
	if err != nil {
		return nil, fmt.Errorf("seed: npm whoami: %w", err)
	}
	fmt.Fprintf(out, "logged in as %s\n", user)
	if err := cfg.Registry.Ping(ctx); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	results := check(ctx, cfg)
	var missing []int
	for i, r := range results {
		if r.State == "" {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		verb := "publishing"
		if cfg.DryRun {
			verb = "would publish"
		}
		fmt.Fprintf(out, "%s %s placeholders of %d packages\n", verb, PlaceholderVersion, len(missing))
	}
	for _, i := range missing {
		if err := ctx.Err(); err != nil {
			results[i] = Result{Package: results[i].Package, State: Failed, Err: err}
			continue
		}
		results[i] = publish(ctx, cfg, results[i].Package)
	}

	report(out, results)
	var failures []string
	for _, r := range results {
		if r.State == Failed {
			failures = append(failures, fmt.Sprintf("  %s: %s", r.Package, npm.Brief(r.Err)))
		}
	}
	if count(results, Existed) == len(results) {
		fmt.Fprintln(out, "All packages already exist on npm")
	}
	if len(failures) < len(results) {
		NextSteps(out, cfg.Publisher, cfg.Packages)
	}
	if len(failures) > 0 {
		return results, fmt.Errorf("seed: %d of %d packages failed (run go tool mage seed again once fixed: it skips what exists):\n%s",
			len(failures), len(results), strings.Join(failures, "\n"))
	}
	return results, nil
}

// check asks the registry for every package at once. A package it has is
// Existed; one it does not have has no state yet; one it could not say
// anything about is Failed.
func check(ctx context.Context, cfg Config) []Result {
	results := make([]Result, len(cfg.Packages))
	p := pool.New().WithMaxGoroutines(len(cfg.Packages) + 1)
	for i, name := range cfg.Packages {
		p.Go(func() {
			exists, err := cfg.Registry.Exists(ctx, name)
			switch {
			case err != nil:
				results[i] = Result{Package: name, State: Failed, Err: fmt.Errorf("could not check whether it exists: %w", err)}
			case exists:
				results[i] = Result{Package: name, State: Existed}
			default:
				results[i] = Result{Package: name}
			}
		})
	}
	p.Wait()
	return results
}

// publish publishes the placeholder of name from a temporary directory,
// attached to the terminal so that npm can ask for a one-time password. A
// version published meanwhile counts as done.
func publish(ctx context.Context, cfg Config, name string) Result {
	if cfg.DryRun {
		return Result{Package: name, State: WouldSeed}
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "facet-seed-")
	if err != nil {
		return Result{Package: name, State: Failed, Err: err}
	}
	defer os.RemoveAll(dir)
	manifest := map[string]string{"name": name, "version": PlaceholderVersion, "description": PlaceholderDescription}
	if err := dist.WriteJSON(filepath.Join(dir, "package.json"), manifest); err != nil {
		return Result{Package: name, State: Failed, Err: err}
	}
	// npm runs in the repository, so that its .npmrc applies as it did when
	// the registry was read, and publishes the placeholder's directory.
	err = cfg.NPM.RunAttached(ctx, cfg.Dir, cfg.Stdio, "publish", dir, "--access", "public")
	switch {
	case err == nil:
		return Result{Package: name, State: Published}
	case AlreadyPublished(err):
		return Result{Package: name, State: Existed}
	}
	if npm.ErrorCode(err) == "EOTP" {
		// npm's own words would name the web login's URLs: say what to do.
		return Result{Package: name, State: Failed, Err: fmt.Errorf("npm publish: the registry wants a second factor (%w) and did not get one: "+
			"on a terminal, npm shows a page to approve in your browser (or asks for a code): approve it, or type a current code, and run go tool mage seed again; "+
			"off a terminal, npm cannot ask: run on one, or set NPM_CONFIG_OTP to a current one-time password", npm.ErrOTP)}
	}
	// The registry may have said "missing" from a stale cache of a package
	// that exists (npm then refuses for another reason): ask again.
	if exists, xerr := cfg.Registry.Exists(ctx, name); xerr == nil && exists {
		return Result{Package: name, State: Existed}
	}
	return Result{Package: name, State: Failed, Err: err}
}

// AlreadyPublished reports whether npm publish failed because the version is
// on the registry already: npm's own check, or the registry's 409.
func AlreadyPublished(err error) bool {
	var e *npm.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == "E409" || e.Code == "EPUBLISHCONFLICT" ||
		strings.Contains(e.Stderr, "cannot publish over the previously published versions")
}

// report prints one line per package.
func report(out io.Writer, results []Result) {
	width := 0
	for _, r := range results {
		width = max(width, len(r.Package))
	}
	for _, r := range results {
		line := fmt.Sprintf("  %-*s  %s", width, r.Package, r.State)
		if r.Err != nil {
			line += ": " + firstLine(errors.New(npm.Brief(r.Err)))
		}
		fmt.Fprintln(out, line)
	}
}

// NextSteps prints what the maintainer does after seeding: attach the
// trusted publisher to every package, with go tool mage trust or on each
// package's access page, with these values and "npm publish" ticked: since
// 2026-09-03 npmjs.com makes a publisher without it stage-only, and a
// publisher cannot be edited, only deleted and made again.
func NextSteps(out io.Writer, p circleci.Publisher, packages []string) {
	fmt.Fprintln(out, "\nNext: make CircleCI the trusted publisher of every package. Run go tool mage trust,")
	fmt.Fprintln(out, "or on each package's page below choose Trusted Publisher → CircleCI, enter these values,")
	fmt.Fprintln(out, `and tick "npm publish": without it the publisher may only stage, never publish, and a`)
	fmt.Fprintln(out, "publisher cannot be edited later (delete it and make it again):")
	fmt.Fprintln(out)
	width := 0
	for _, f := range p.Fields() {
		width = max(width, len(f.Name))
	}
	for _, f := range p.Fields() {
		fmt.Fprintf(out, "  %-*s  %s\n", width, f.Name, f.Value)
	}
	fmt.Fprintln(out)
	for _, pkg := range packages {
		fmt.Fprintf(out, "  https://www.npmjs.com/package/%s/access\n", pkg)
	}
	fmt.Fprintln(out, "\nThen check the setup with go tool mage verify.")
}

func count(results []Result, s State) int {
	n := 0
	for _, r := range results {
		if r.State == s {
			n++
		}
	}
	return n
}

// firstLine is the first line of err's message; npm's full output has been
// shown already.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
