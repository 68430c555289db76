// Package trust is the stage that makes the CircleCI release pipeline the
// trusted publisher of every package, with npm trust: what the original left
// to a web page per package. It creates what is missing, leaves what matches,
// and shows what differs, changing it only when asked.
package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
)

// Config is what trust needs.
type Config struct {
	Registry  *registry.Client   // the registry npm is configured with
	Account   *npm.Account       // the maintainer's npm, logged in, paced, attached to the terminal
	Packages  []string           // the packages (the 12 platform packages and the wrapper)
	Publisher circleci.Publisher // the trusted publisher every package must have
	DryRun    bool               // read and report, change nothing
	Replace   bool               // replace a trusted publisher that differs
	Out       io.Writer
}

// State is what trust found or did.
type State string

// The states of a package.
const (
	OK           State = "ok"
	Created      State = "created"
	Replaced     State = "replaced"
	WouldCreate  State = "would create (dry run)"
	WouldReplace State = "would replace (dry run)"
	Differs      State = "differs"
	Failed       State = "failed"
)

// Result is one package's outcome.
type Result struct {
	Package string
	State   State
	Diff    []string // how the trusted publisher found differs, for Differs, Replaced and WouldReplace
	Err     error
}

// Run checks npm (version, login), then each package in turn. It goes on past
// a package that fails or differs and returns an error naming every one.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	fmt.Fprintf(cfg.Out, "registry %s\n", cfg.Registry)
	cli, dir := cfg.Account.CLI, cfg.Account.Dir
	if _, err := cli.RequireVersion(ctx, npm.TrustMinVersion, "npm trust"); err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	user, err := cli.Whoami(ctx, dir)
	if errors.Is(err, npm.ErrNotLoggedIn) {
		return nil, fmt.Errorf("trust: npm is not logged in to %s: run npm login first", cfg.Registry)
	}
	if err != nil {
		return nil, fmt.Errorf("trust: npm whoami: %w", err)
	}
	if err := cfg.Registry.Ping(ctx); err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	fmt.Fprintf(cfg.Out, "logged in as %s; trusted publisher: CircleCI project %s, pipeline definition %s\n",
		user, cfg.Publisher.ProjectID, cfg.Publisher.PipelineDefinitionID)

	results := make([]Result, len(cfg.Packages))
	for i, pkg := range cfg.Packages {
		if err := ctx.Err(); err != nil {
			results[i] = Result{Package: pkg, State: Failed, Err: err}
			continue
		}
		results[i] = one(ctx, cfg, user, pkg)
		r := results[i]
		line := fmt.Sprintf("  %s  %s", pkg, r.State)
		if r.Err != nil {
			line += ": " + firstLine(r.Err)
		}
		fmt.Fprintln(cfg.Out, line)
		for _, d := range r.Diff {
			fmt.Fprintf(cfg.Out, "      %s\n", d)
		}
	}

	var problems []string
	for _, r := range results {
		switch r.State {
		case Failed:
			problems = append(problems, fmt.Sprintf("  %s: %v", r.Package, r.Err))
		case Differs:
			problems = append(problems, fmt.Sprintf("  %s: its trusted publisher differs (%s); FACET_TRUST_REPLACE=1 replaces it", r.Package, strings.Join(r.Diff, "; ")))
		}
	}
	if len(problems) > 0 {
		return results, fmt.Errorf("trust: %d of %d packages are not set up:\n%s", len(problems), len(results), strings.Join(problems, "\n"))
	}
	return results, nil
}

// one sets up the trusted publisher of pkg.
func one(ctx context.Context, cfg Config, user, pkg string) Result {
	list, err := cfg.Account.TrustList(ctx, pkg)
	if errors.Is(err, npm.ErrNoPackage) {
		// npm's API answers 404 for a package that does not exist, and may for
		// one this user cannot manage: tell them apart.
		exists, xerr := cfg.Registry.Exists(ctx, pkg)
		switch {
		case xerr != nil:
			return Result{Package: pkg, State: Failed, Err: fmt.Errorf("npm trust list: 404, and the registry could not say whether the package exists: %w", xerr)}
		case exists:
			return Result{Package: pkg, State: Failed, Err: fmt.Errorf("the registry has the package but npm's trusted-publisher API answers 404 for it: is %s one of its maintainers (npm owner ls %s)?", user, pkg)}
		}
		return Result{Package: pkg, State: Failed, Err: errors.New("the package does not exist on the registry: run go tool mage seed first")}
	}
	if err != nil {
		return Result{Package: pkg, State: Failed, Err: err}
	}
	if len(list) == 0 {
		if cfg.DryRun {
			return Result{Package: pkg, State: WouldCreate}
		}
		if err := cfg.Account.TrustCreate(ctx, cfg.Publisher.TrustArgs(pkg)...); err != nil {
			return Result{Package: pkg, State: Failed, Err: err}
		}
		return Result{Package: pkg, State: Created}
	}
	diff := cfg.Publisher.Compare(list, circleci.Permissions()...)
	if diff == nil {
		return Result{Package: pkg, State: OK}
	}
	switch {
	case !cfg.Replace:
		return Result{Package: pkg, State: Differs, Diff: diff}
	case cfg.DryRun:
		return Result{Package: pkg, State: WouldReplace, Diff: diff}
	}
	for _, t := range list {
		if err := cfg.Account.TrustRevoke(ctx, pkg, t.ID); err != nil {
			return Result{Package: pkg, State: Failed, Diff: diff, Err: fmt.Errorf("revoking %s: %w", t.ID, err)}
		}
	}
	if err := cfg.Account.TrustCreate(ctx, cfg.Publisher.TrustArgs(pkg)...); err != nil {
		return Result{Package: pkg, State: Failed, Diff: diff, Err: fmt.Errorf("revoked the old trusted publisher, but creating the new one failed (run go tool mage trust again): %w", err)}
	}
	return Result{Package: pkg, State: Replaced, Diff: diff}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
