// Package verify is the stage that checks what the registry serves: the
// setup before a first release (every package exists, with CircleCI as its
// trusted publisher) and a release (every package at the version, the very
// tarballs in dist/, under the right dist-tag, the wrapper depending on
// exactly the 12 platform packages, and, if asked, an install that works).
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
)

// SetupConfig is what Setup needs.
type SetupConfig struct {
	Registry  *registry.Client
	Packages  []string           // the 12 platform packages and the wrapper
	Publisher circleci.Publisher // every package's expected trusted publisher
	// Account reads trusted publishers with the caller's npm login. Where npm
	// is not logged in (or cannot read them), Setup says it could not check
	// them, and why, instead of failing.
	Account *npm.Account
	Out     io.Writer
}

// SetupResult is one package's setup.
type SetupResult struct {
	Package string
	Exists  bool
	Err     error    // the registry could not say whether it exists
	Trust   string   // "ok", "differs", "not checked"
	Diff    []string // how the trusted publisher differs
}

// Setup checks that every package exists and, where the caller is logged in,
// has the expected trusted publisher. It returns an error listing every
// problem.
func Setup(ctx context.Context, cfg SetupConfig) ([]SetupResult, error) {
	fmt.Fprintf(cfg.Out, "registry %s\n", cfg.Registry)
	if err := cfg.Registry.Ping(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	results := make([]SetupResult, len(cfg.Packages))
	var wg sync.WaitGroup
	for i, pkg := range cfg.Packages {
		wg.Go(func() {
			exists, err := cfg.Registry.Exists(ctx, pkg)
			results[i] = SetupResult{Package: pkg, Exists: exists, Err: err, Trust: "not checked"}
		})
	}
	wg.Wait()

	var problems []string
	// Not logged in (or an npm without npm trust), the trusted publishers
	// cannot be read: say so, and why. Logged in, a failure to read them is a
	// failure: the setup is not known to be complete.
	why := trustReadable(ctx, cfg)
	if why == "" {
		for i := range results {
			r := &results[i]
			if !r.Exists {
				continue
			}
			list, err := cfg.Account.TrustList(ctx, r.Package)
			if err != nil {
				r.Trust = "error"
				problems = append(problems, fmt.Sprintf("  %s: could not read its trusted publisher: %s", r.Package, firstLine(err)))
				if errors.Is(err, npm.ErrOTP) || errors.Is(err, npm.ErrNotLoggedIn) {
					break // the same for every package
				}
				continue
			}
			if r.Diff = cfg.Publisher.Compare(list); r.Diff == nil {
				r.Trust = "ok"
			} else {
				r.Trust = "differs"
			}
		}
	}

	w := tabwriter.NewWriter(cfg.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "package\texists\ttrusted publisher")
	for _, r := range results {
		exists := "yes"
		switch {
		case r.Err != nil:
			exists = "error"
			problems = append(problems, fmt.Sprintf("  %s: the registry could not say whether it exists: %v", r.Package, r.Err))
		case !r.Exists:
			exists = "no"
			problems = append(problems, fmt.Sprintf("  %s: does not exist (run go tool mage seed)", r.Package))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Package, exists, r.Trust)
		if r.Trust == "differs" {
			problems = append(problems, fmt.Sprintf("  %s: its trusted publisher differs: %s (run go tool mage trust)", r.Package, strings.Join(r.Diff, "; ")))
		}
	}
	w.Flush()
	if len(problems) > 0 {
		sort.Strings(problems)
		return results, fmt.Errorf("verify: the setup is not complete:\n%s", strings.Join(problems, "\n"))
	}
	if why != "" {
		fmt.Fprintf(cfg.Out, "Every package exists. Trusted publishers not checked: %s.\n", why)
		return results, nil
	}
	fmt.Fprintln(cfg.Out, "The setup is complete.")
	return results, nil
}

// trustReadable says why trusted publishers cannot be read with the caller's
// npm, or "" when they can.
func trustReadable(ctx context.Context, cfg SetupConfig) string {
	if cfg.Account == nil {
		return "no npm account to read them with"
	}
	cli, dir := cfg.Account.CLI, cfg.Account.Dir
	if _, err := cli.RequireVersion(ctx, npm.TrustMinVersion, "reading trusted publishers"); err != nil {
		return firstLine(err)
	}
	if _, err := cli.Whoami(ctx, dir); err != nil {
		if errors.Is(err, npm.ErrNotLoggedIn) {
			return fmt.Sprintf("npm is not logged in to %s (npm login, then verify again)", cfg.Registry)
		}
		return "npm whoami failed: " + firstLine(err)
	}
	return ""
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
