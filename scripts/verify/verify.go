// Package verify is the stage that checks what the registry serves: the
// setup before a first release (every package exists, with CircleCI as its
// trusted publisher, and the release context on CircleCI is confined to
// release tags) and a release (every package at the version, the very
// tarballs in dist/, under the right dist-tag, the wrapper depending on
// exactly the 12 platform packages, and, if asked, an install that works).
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/version"
)

// SetupConfig is what Setup needs.
type SetupConfig struct {
	Registry  *registry.Client
	Packages  []string           // the 12 platform packages and the wrapper
	Publisher circleci.Publisher // every package's expected trusted publisher
	// Account reads trusted publishers with the caller's npm login. Where npm
	// is not logged in, Setup says it could not check them instead of
	// failing; any other reason it cannot read them (npm whoami failing, an
	// npm without npm trust) is a failure, named.
	Account *npm.Account
	// CircleCI reads the restrictions of the release context (the
	// Publisher's context) with a CircleCI API token: Setup fails unless an
	// expression restriction confines the context to release tags. nil means
	// no token was given: Setup says, on a line of its own, that the
	// restrictions were not checked, and how to check them.
	CircleCI *circleci.API
	// Mode is the release mode the pipeline uses (the default of its
	// release-mode parameter: "publish" or "stage"): every trusted publisher
	// must allow it. "" means not known: any mode that every publisher
	// allows will do.
	Mode string
	Out  io.Writer
}

// SetupResult is one package's setup.
type SetupResult struct {
	Package string
	Exists  bool
	Err     error    // the registry could not say whether it exists
	Trust   string   // "ok", "differs", "not checked"
	Diff    []string // how the trusted publisher differs
	// Permissions are the trusted publisher's, when it is the expected one
	// ("createPackage": publish, "createStagedPackage": stage).
	Permissions []string
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
	// Not logged in, the trusted publishers cannot be read: say so. Any other
	// reason they cannot be read (npm whoami failing, an npm too old) is a
	// failure, as is a failure to read them: the setup is not known to be
	// complete.
	why, err := trustReadable(ctx, cfg)
	if err != nil {
		problems = append(problems, "  "+err.Error())
	}
	if why == "" && err == nil {
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
			// The publisher is judged apart from its permissions: each
			// release mode needs its own (see modes).
			if r.Diff = cfg.Publisher.Compare(list); r.Diff == nil {
				r.Trust = "ok"
				r.Permissions = list[0].Permissions
			} else {
				r.Trust = "differs"
			}
		}
	}

	w := tabwriter.NewWriter(cfg.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "package\texists\ttrusted publisher\tmay")
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
		fmt.Fprintf(w, "%s\t%s\t%s", r.Package, exists, r.Trust)
		if r.Trust == "ok" {
			fmt.Fprintf(w, "\t%s", circleci.PermissionNames(r.Permissions))
		}
		fmt.Fprintln(w)
		if r.Trust == "differs" {
			problems = append(problems, fmt.Sprintf("  %s: its trusted publisher differs: %s (run go tool mage trust)", r.Package, strings.Join(r.Diff, "; ")))
		}
	}
	w.Flush()
	if why == "" && err == nil {
		problems = append(problems, modes(cfg.Out, results, cfg.Mode)...)
	}
	problems = append(problems, checkContexts(ctx, cfg)...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return results, fmt.Errorf("verify: the setup is not complete:\n%s", strings.Join(problems, "\n"))
	}
	switch {
	case why != "":
		fmt.Fprintf(cfg.Out, "Every package exists. Trusted publishers not checked: %s.\n", why)
	case cfg.CircleCI == nil:
		fmt.Fprintln(cfg.Out, "Every package exists with its trusted publisher.")
	default:
		fmt.Fprintln(cfg.Out, "The setup is complete.")
	}
	if cfg.CircleCI == nil {
		fmt.Fprintln(cfg.Out, NotChecked)
	}
	return results, nil
}

// A Mode is a way to release and the trusted-publisher permission it needs.
type Mode struct {
	Name       string // the value of the pipeline parameter release-mode
	Target     string // the Mage target CircleCI runs
	Permission string
}

// Modes are the two ways to release, chosen by the pipeline parameter
// release-mode in .circleci/config.yml.
func Modes() []Mode {
	return []Mode{
		{"publish", "go tool mage release", circleci.PublishPermission},
		{"stage", "go tool mage release:stage", circleci.StagePermission},
	}
}

// modes prints, for each release mode, whether every package's trusted
// publisher may do it, and returns a problem when the pipeline's mode (or,
// not knowing it, every mode) is not ready. Packages whose publisher differs
// are left to their own problem.
func modes(out io.Writer, results []SetupResult, pipeline string) []string {
	if !slices.ContainsFunc(results, func(r SetupResult) bool { return r.Trust == "ok" }) {
		return nil // nothing to judge: each package has its own problem
	}
	fmt.Fprintln(out, "release modes (the pipeline parameter release-mode in .circleci/config.yml):")
	ready := 0
	var lines []string
	chosenProblem := "" // the pipeline's mode is not ready: every mode is shown first
	for _, m := range Modes() {
		var lacking []string
		for _, r := range results {
			if r.Trust == "ok" && !slices.Contains(r.Permissions, m.Permission) {
				lacking = append(lacking, r.Package)
			}
		}
		chosen := ""
		if m.Name == pipeline {
			chosen = ", the pipeline's"
		}
		perm := circleci.PermissionNames([]string{m.Permission})
		if len(lacking) == 0 {
			ready++
			fmt.Fprintf(out, "  %-8s (%s%s): ready, every publisher may %s\n", m.Name, m.Target, chosen, perm)
			continue
		}
		why := fmt.Sprintf("not ready, %d publishers lack %s: %s", len(lacking), perm, strings.Join(lacking, ", "))
		fmt.Fprintf(out, "  %-8s (%s%s): %s\n", m.Name, m.Target, chosen, why)
		line := fmt.Sprintf("%s (%s): %s", m.Name, m.Target, why)
		if m.Name == pipeline {
			chosenProblem = "  the pipeline releases in mode " + line + ". A publisher cannot be edited on npmjs.com: FACET_TRUST_REPLACE=1 go tool mage trust replaces each with one that may publish and stage; or set release-mode to a mode every publisher allows"
		}
		lines = append(lines, line)
	}
	if chosenProblem != "" {
		return []string{chosenProblem}
	}
	if ready > 0 {
		return nil
	}
	return []string{"  no release mode is possible: " + strings.Join(lines, "; ") +
		". A publisher cannot be edited on npmjs.com: FACET_TRUST_REPLACE=1 go tool mage trust replaces each with one that may publish and stage"}
}

// NotChecked is Setup's line when it was given no CircleCI API token.
const NotChecked = "The release context's restrictions were not checked: set CIRCLE_TOKEN to a CircleCI personal API token (CircleCI → User Settings → Personal API Tokens) and run go tool mage verify again."

// trustReadable says why trusted publishers are not to be read with the
// caller's npm (it is not logged in), or what keeps them from being read.
func trustReadable(ctx context.Context, cfg SetupConfig) (why string, err error) {
	if cfg.Account == nil {
		return "no npm account to read them with", nil
	}
	cli, dir := cfg.Account.CLI, cfg.Account.Dir
	if _, err := cli.RequireVersion(ctx, npm.TrustMinVersion, "reading trusted publishers"); err != nil {
		return "", fmt.Errorf("the trusted publishers could not be read: %s", firstLine(err))
	}
	if _, err := cli.Whoami(ctx, dir); err != nil {
		if errors.Is(err, npm.ErrNotLoggedIn) {
			return fmt.Sprintf("npm is not logged in to %s (npm login, then verify again)", cfg.Registry), nil
		}
		return "", fmt.Errorf("the trusted publishers could not be read: %s; check the registry and your network, then verify again", npmFailure(err))
	}
	return "", nil
}

// npmFailure names a failed npm command: the command, npm's error code and
// what npm said of it, on one line.
func npmFailure(err error) string {
	var e *npm.Error
	if !errors.As(err, &e) {
		return firstLine(err)
	}
	s := fmt.Sprintf("npm %s failed", strings.Join(e.Args, " "))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	for _, line := range strings.Split(e.Stderr, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "npm error"))
		if line == "" || strings.HasPrefix(line, "code ") || strings.HasPrefix(line, "A complete log") || strings.HasPrefix(line, "/") {
			continue
		}
		if r := []rune(line); len(r) > 300 {
			line = string(r[:300]) + "…"
		}
		return s + ": " + line
	}
	return s + ": " + firstLine(e.Err)
}

// checkContexts reads and shows the restrictions of the publisher's
// contexts, and returns what is wrong with them.
func checkContexts(ctx context.Context, cfg SetupConfig) []string {
	if cfg.CircleCI == nil {
		return nil
	}
	if len(cfg.Publisher.ContextIDs) == 0 {
		return []string{"  the trusted publisher names no CircleCI context: a job of the pipeline on any branch can publish; run the release jobs in the release context and give its ID to circleci.Facets()"}
	}
	fix := fmt.Sprintf("add the expression restriction %s at CircleCI → Organization Settings → Contexts → %s → Restrictions (Add Expression Restriction)",
		circleci.LockExpression(version.TagPrefix), circleci.ReleaseContext)
	var problems []string
	for _, id := range cfg.Publisher.ContextIDs {
		name := fmt.Sprintf("CircleCI context %s (%s)", circleci.ReleaseContext, id)
		fmt.Fprintf(cfg.Out, "\n%s\n", name)
		rs, err := cfg.CircleCI.ContextRestrictions(ctx, id)
		if err != nil {
			fmt.Fprintln(cfg.Out, "restrictions not read")
			problems = append(problems, fmt.Sprintf("  %s: could not read its restrictions: %v", name, err))
			continue
		}
		lock := circleci.LockOf(rs, version.TagPrefix)
		w := tabwriter.NewWriter(cfg.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "restriction\tvalue\tverdict")
		if len(rs) == 0 {
			fmt.Fprintln(w, "(none)\t\tanyone in the organization, any project, any branch")
		}
		for _, r := range rs {
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.Type, strings.Join(strings.Fields(r.Shown()), " "), lock.Verdicts[r.ID])
		}
		w.Flush()
		if !lock.Locked() {
			why := fmt.Sprintf("no expression restriction confines it to %s tags and to the repository's configuration, so a job on any branch, or a pipeline given its configuration through CircleCI's API on an existing tag, that names the context gets an ID token npm accepts", version.TagPrefix)
			if len(lock.Wide) > 0 && len(lock.Confining) > 0 {
				why = fmt.Sprintf("the expression restriction %q does not confine it to %s tags and to the repository's configuration, and CircleCI's documentation does not say that every expression restriction must hold rather than any one", lock.Wide[0].Pattern, version.TagPrefix)
			}
			if len(lock.Wide) > 0 {
				fix += " (and remove every other expression restriction)"
			}
			problems = append(problems, fmt.Sprintf("  %s: %s: %s", name, why, fix))
			continue
		}
		for _, warning := range lock.Warnings(cfg.Publisher.ProjectID) {
			fmt.Fprintf(cfg.Out, "warning: %s\n", warning)
		}
	}
	return problems
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
