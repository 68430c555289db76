// Package tasks is what the Mage targets run. Each task reads the environment
// once, turns it into a stage's configuration and runs the stage; the magefile
// only wires target names to these functions.
//
// Environment variables:
//
//	FACET_VERSION  version to build, before git; must agree with CIRCLE_TAG
//	CIRCLE_TAG     release tag agent-facets@X.Y.Z (set by CircleCI on tag builds);
//	               the tag must be in the clone, at HEAD, the work tree clean
//	CIRCLE_SHA1    commit being built (set by CircleCI); must be HEAD in a git checkout
//	FACET_JOBS     compilations at once (default: the CPUs Go may use)
//	CI             set: plain progress lines instead of live bars
//
// and, for the registry steps (seed, trust, verify, release, approve, reject):
//
//	FACET_DRY_RUN        1: say what would change, change nothing (release: refused
//	                     in a CircleCI job, where it would pass having published nothing;
//	                     approve: every check, then what would be approved)
//	FACET_TRUST_REPLACE  1: trust replaces a trusted publisher that differs
//	FACET_VERIFY_INSTALL 1: verify:release also installs the release with npm and runs it
//	FACET_WAIT           how long a release, approve, or verify:release, may wait on the registry in
//	                     all (default 20m): retries of what failed (429s, 5xx, lost
//	                     connections, exchanges), the registry showing what was published,
//	                     the CDN's max-age before the wrapper, which it must exceed
//	FACET_DIST_TAG       the dist-tag to publish under (default latest, next for a
//	                     prerelease, which never goes to latest; a stable version takes
//	                     another tag only as a backport, when latest is newer); trimmed,
//	                     then a letter or digit followed by letters, digits, ".", "_",
//	                     "-", and no semver range as npm reads one (1.x, v2, x); approve
//	                     verifies under it a release of which nothing is staged any more
//	NPM_CONFIG_*         npm's own configuration: the registry, a one-time password; a
//	                     credential npm would send to the registry stops a release
//	FACET_REHEARSAL      1: release runs outside CircleCI, against a registry that is not
//	                     the public one (a rehearsal; go tool mage rehearse needs none)
//	CIRCLE_TOKEN         a CircleCI personal API token: verify then checks that the
//	                     release context is restricted to release tags (never printed)
//
// Without FACET_VERSION or CIRCLE_TAG the version is 0.0.0-dev.g<commit>, with
// .dirty when files differ from HEAD (untracked ones too; ignored ones not),
// from the git repository whose root is Env.Root; a source tree that is not
// one (a git archive, even one unpacked in another repository) needs
// FACET_VERSION.
package tasks

import (
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"golang.org/x/term"
)

// Env is the outside world as tasks see it.
type Env struct {
	Root     string              // repository root
	Getenv   func(string) string // environment variables
	Environ  []string            // the whole environment, for child processes
	Stdout   io.Writer
	Progress progress.Reporter // how builds show progress
	Host     build.Host        // what this machine can execute
	// Terminal is what npm is attached to when it may ask the maintainer
	// something (a second factor: a page to approve in the browser, or a
	// one-time password); Interactive says whether it is a terminal someone
	// can answer at, whose In and Out are its files.
	Terminal    npm.Stdio
	Interactive bool
	// TrustPace is the least time between two npm trust calls; 0 means the
	// 2 s npm asks of npmjs.com. The rehearsal's local registry needs none.
	TrustPace time.Duration
	// Dist is the dist directory; "" means the repository's dist/. The
	// rehearsal builds and releases in a directory of its own.
	Dist string
	// CircleCIAPI is the root of CircleCI's API v3, where verify reads the
	// release context's restrictions; "" means https://circleci.com/api/v3/.
	// Tests and the rehearsal point it at a stand-in (scripts/circlecitest).
	CircleCIAPI string
}

// OS returns the Env of this process, rooted at the working directory (Mage
// runs targets in the repository root).
func OS() Env {
	root, err := os.Getwd()
	if err != nil {
		root = "."
	}
	return Env{
		Root:     root,
		Getenv:   os.Getenv,
		Environ:  os.Environ(),
		Stdout:   os.Stdout,
		Progress: progress.Auto(os.Stdout, os.Stderr, os.Getenv),
		Host:     build.DetectHost(),
		Terminal: npm.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr},
		// npm itself asks only when its stdin and stdout are terminals.
		Interactive: term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())),
	}
}

// Layout is the dist directory: Dist, or the repository's dist/.
func (e Env) Layout() dist.Layout {
	if e.Dist != "" {
		return dist.Layout{Root: e.Dist}
	}
	return dist.Layout{Root: filepath.Join(e.Root, "dist")}
}

// relative is path relative to root when it lies inside it.
func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}
