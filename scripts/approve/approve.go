// Package approve is the maintainer's side of a staged release: CircleCI
// staged the 13 packages (npm stage publish), nobody can install them, and a
// maintainer, logged in to npm with two-factor authentication, approves what
// they rebuilt themselves from the tag.
//
// Run proves, before the first approval, that every package is either
// published already with the rebuilt tarball or staged once (or several
// times with the same bytes, by shasum) with a tarball holding exactly what
// was rebuilt: the same files, the same bytes of every file, the same
// manifest. Any refusal approves nothing. Then it approves the 12 platform
// packages, each only if the registry still lists its stage id with the
// bytes checked (read again just before), waits until the registry's origin
// shows them and the CDN's max-age has passed since the last (as the direct
// release does before its wrapper), checks that the origin published the
// checked bytes and, as the manifest npm installs from, the rebuilt
// package.json, approves the wrapper (checked the same way, and after), and
// rejects what is left staged of versions now published (the same bytes
// staged twice; copies with other bytes are reported and left); the Mage
// target then verifies the release (verify.Release). A rerun approves only
// what is still staged.
//
// npm asks for the second factor of each approval on the maintainer's
// terminal (Config.Stdio): a page to approve in the browser, or a one-time
// password.
package approve

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/version"
)

// Config is what approve and reject need.
type Config struct {
	// Version is the release: X.Y.Z or its tag agent-facets@X.Y.Z.
	Version string
	// Dist holds the 13 packages rebuilt from the tag, as the package stage
	// leaves them (packages.json, the tarballs, SHA256SUMS, build records).
	Dist dist.Layout
	// Commit, if set, is the tag's commit: every build record must name it.
	Commit   string
	Registry *registry.Client // the registry npm is configured with
	// NPM is npm logged in as the maintainer (npm stage list, download,
	// approve and reject need a user's login).
	NPM npm.CLI
	Dir string // where npm runs (the repository, whose .npmrc applies)
	// Stdio is the maintainer's terminal: npm stage approve and reject run
	// attached to it, and npm asks there for the second factor.
	Stdio npm.Stdio
	// DistTag is the dist-tag the release is verified under when nothing of
	// it is staged any more (a rerun of an approved release); "" means latest,
	// or next for a prerelease. When something is staged, its tag rules.
	DistTag string
	// DryRun does every check and prints what would be approved, approving
	// nothing.
	DryRun bool
	// Deadline bounds every wait: the registry showing the platform
	// packages, the CDN's max-age before the wrapper. Zero means DefaultWait
	// from the start of Run.
	Deadline time.Time
	Poll     registry.Poll // waiting for the registry; on Now and Sleep unless it has a clock
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Out   io.Writer
}

// State is what a package needs.
type State string

// The states.
const (
	Approve   State = "approve"   // staged with the rebuilt content: to approve
	Published State = "published" // published already with the rebuilt tarball
)

// Item is one package of the release.
type Item struct {
	Record  dist.PackRecord
	Tarball string // the rebuilt tarball's path
	State   State
	// Staged is the staged version to approve (State Approve).
	Staged npm.Staged
	// Identical says the staged tarball is byte for byte the rebuilt one.
	Identical bool
	// Duplicates are the other staged versions of the package at the
	// version, with the same bytes: rejected once it is published.
	Duplicates []npm.Staged
	// Others are staged versions of a version published already (State
	// Published) with other bytes than the published ones: they can never
	// be approved (the registry refuses to publish over a version). The
	// plan reports them; approve leaves them for the maintainer to look at
	// and reject.
	Others []npm.Staged
	// Shasum (sha1 hex) and Integrity (sha512-<base64>) are of the tarball
	// that passed the check, computed here from its bytes: the staged one
	// downloaded (State Approve), or the rebuilt one (Published). Each
	// approval requires the registry to hold these bytes still, and the
	// registry to show them once published.
	Shasum, Integrity string
}

// Plan is what the checks found.
type Plan struct {
	Version string
	Tag     string // the dist-tag the staged versions go under
	Items   []Item // the 12 platform packages, then the wrapper
	// CDNMaxAge is how long the registry's CDN may serve a package document
	// (Cache-Control of a plain read): the wrapper is approved no sooner than
	// this after the last platform package was published.
	CDNMaxAge time.Duration
}

// ToApprove counts the packages to approve.
func (p *Plan) ToApprove() int {
	n := 0
	for _, it := range p.Items {
		if it.State == Approve {
			n++
		}
	}
	return n
}

// ParseVersion reads a release given as X.Y.Z or as its tag
// agent-facets@X.Y.Z.
func ParseVersion(s string) (string, error) {
	s = strings.TrimSpace(s)
	v := strings.TrimPrefix(s, version.TagPrefix)
	if err := version.Check(v); err != nil {
		return "", fmt.Errorf("%q is not a release: want a version X.Y.Z or its tag %sX.Y.Z, such as 1.2.3 or %s1.2.3 (%w)", s, version.TagPrefix, version.TagPrefix, err)
	}
	return v, nil
}

// DefaultWait is how long an approval waits on the registry in all when
// Config.Deadline is not set: the CDN's max-age (5 minutes on npmjs.com) and
// room for the registry to show what was approved.
const DefaultWait = 20 * time.Minute

// Run checks every package, then approves the release, the platform
// packages first and the wrapper last, and rejects the staged duplicates of
// what is now published. It returns the plan, whose Tag the release is then
// verified under (verify.Release, as go tool mage approve does).
func Run(ctx context.Context, cfg Config) (*Plan, error) {
	r := newRun(cfg)
	plan, err := r.approve(ctx)
	if err != nil {
		return plan, fmt.Errorf("approve: %w", err)
	}
	return plan, nil
}

// run is one approval.
type run struct {
	cfg Config
	reg *registry.Client
}

func newRun(cfg Config) *run {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = retry.Sleep
	}
	if cfg.Deadline.IsZero() {
		cfg.Deadline = cfg.Now().Add(DefaultWait)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Poll.Now == nil {
		cfg.Poll.Now, cfg.Poll.Sleep, cfg.Poll.Deadline = cfg.Now, cfg.Sleep, cfg.Deadline
	}
	reg := *cfg.Registry
	if reg.Retry.Now == nil {
		reg.Retry.Now, reg.Retry.Sleep = cfg.Now, cfg.Sleep
		if reg.Retry.Deadline.IsZero() || cfg.Deadline.Before(reg.Retry.Deadline) {
			reg.Retry.Deadline = cfg.Deadline
		}
	}
	return &run{cfg: cfg, reg: &reg}
}

func (r *run) approve(ctx context.Context) (*Plan, error) {
	plan, err := r.check(ctx)
	if err != nil {
		return plan, err
	}
	r.printPlan(plan)
	if r.cfg.DryRun {
		fmt.Fprintf(r.cfg.Out, "Dry run (FACET_DRY_RUN): every check passed; %d would be approved; nothing was approved.\n", plan.ToApprove())
		return plan, nil
	}
	// What an earlier run (or another maintainer) got published is held to
	// the rebuild too, on every run: an approval stopped after the wrapper's
	// publish, before its check, is checked here.
	var published []Item
	for _, it := range plan.Items {
		if it.State == Published {
			published = append(published, it)
		}
	}
	if len(published) > 0 {
		problems, err := r.checkPublished(ctx, plan.Version, published)
		if cerr := ctx.Err(); cerr != nil {
			return plan, cerr
		}
		if len(problems) > 0 {
			return plan, fmt.Errorf("%w\nnothing was approved in this run", publishedWrong(problems, plan))
		}
		if err != nil {
			return plan, fmt.Errorf("nothing was approved: %w", err)
		}
	}
	if plan.ToApprove() == 0 {
		fmt.Fprintf(r.cfg.Out, "Release %s is approved already: every package is published with the rebuilt tarball and manifest; nothing to approve.\n", plan.Version)
	}
	wrapper := len(plan.Items) - 1
	done := make([]time.Time, len(plan.Items))
	for i, it := range plan.Items[:wrapper] {
		if it.State != Approve {
			continue
		}
		if err := r.approveOne(ctx, it); err != nil {
			return plan, fmt.Errorf("%w\nnothing more was approved, the wrapper not: fix the cause and run approve again (it approves only what is still staged)", err)
		}
		done[i] = r.cfg.Now()
	}
	if plan.Items[wrapper].State == Approve {
		if err := r.awaitPlatforms(ctx, plan, done); err != nil {
			return plan, err
		}
		if err := r.approveOne(ctx, plan.Items[wrapper]); err != nil {
			return plan, fmt.Errorf("%w\nevery platform package is published: run approve again to approve the wrapper", err)
		}
		// The origin may show an approval a moment late: wait for it first.
		w := plan.Items[wrapper].Record.Name
		if st := r.reg.Await(ctx, []registry.Want{{Name: w, Version: plan.Version}}, r.cfg.Poll)[0]; !st.Found {
			if err := ctx.Err(); err != nil {
				return plan, err
			}
			return plan, fmt.Errorf("the wrapper was approved, and the registry does not show %s@%s yet (%s): check it with go tool mage verify:release", w, plan.Version, strings.Join(st.Problems, "; "))
		}
		problems, err := r.checkPublished(ctx, plan.Version, plan.Items[wrapper:])
		if cerr := ctx.Err(); cerr != nil {
			return plan, cerr
		}
		if len(problems) == 0 && err != nil {
			return plan, fmt.Errorf("the wrapper was approved, and %w", err)
		}
		if len(problems) > 0 {
			return plan, fmt.Errorf("the registry published the wrapper, and it is not what approve checked:\n%s\n"+
				"users installing %s@%s get it: deprecate it now (npm deprecate %s@%s \"<why>\"), move the dist-tag %s back to the previous release (npm dist-tag add %s@<previous> %s), find out how the staged version changed, and release a new version",
				strings.Join(problems, "\n"), platforms.Wrapper, plan.Version, platforms.Wrapper, plan.Version, plan.Tag, platforms.Wrapper, plan.Tag)
		}
	}
	return plan, r.tidy(ctx, plan)
}

// approveOne approves the staged version of it, on the maintainer's
// terminal, if the registry still holds under its stage id the bytes that
// passed the check (npm stage view, just before). A registry that says the
// version is published meanwhile is asked whether it has those bytes.
//
// A small race remains: npm's stage API approves by stage id only, with no
// shasum to hold the registry to, so bytes changed between the view and the
// approval are published. The platform packages' publish is checked against
// the checked bytes and manifest before the wrapper (checkPublished), so no
// user's install of the wrapper reaches them; the wrapper's own publish is
// checked after it, and reported.
func (r *run) approveOne(ctx context.Context, it Item) error {
	s := it.Staged
	now, err := r.cfg.NPM.StageView(ctx, r.cfg.Dir, s.ID)
	switch {
	case errors.Is(err, npm.ErrNoStaged):
		// Approved (or rejected) since the check: the registry says which.
	case err != nil:
		return fmt.Errorf("reading stage id %s of %s@%s again before approving it: %s", s.ID, s.PackageName, s.Version, npm.Brief(err))
	case now.PackageName != s.PackageName || now.Version != s.Version || !strings.EqualFold(now.Shasum, it.Shasum) || (now.Integrity != "" && now.Integrity != it.Integrity):
		return fmt.Errorf("stage id %s changed on the registry since approve checked it: it is now %s@%s with shasum %s, integrity %s; approve checked %s@%s with shasum %s, integrity %s, so it was not approved. Do not approve it: reject the release (go tool mage reject %s), find out who changed it, and stage the release again",
			s.ID, now.PackageName, now.Version, now.Shasum, orNone(now.Integrity), s.PackageName, s.Version, it.Shasum, it.Integrity, s.Version)
	default:
		fmt.Fprintf(r.cfg.Out, "approving %s@%s (stage id %s)\n", s.PackageName, s.Version, s.ID)
		err = r.cfg.NPM.StageApprove(ctx, r.cfg.Dir, r.cfg.Stdio, s.ID)
		if err == nil {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st := r.reg.Check(ctx, registry.Want{Name: s.PackageName, Version: s.Version, Integrity: it.Integrity})
	if st.OK() {
		fmt.Fprintf(r.cfg.Out, "%s@%s is published with the staged tarball (another approval got there first)\n", s.PackageName, s.Version)
		return nil
	}
	return fmt.Errorf("approving %s@%s (stage id %s): %s", s.PackageName, s.Version, s.ID, npm.Brief(err))
}

// shasum is npm's shasum of a tarball: its sha1, hex.
func shasum(data []byte) string {
	sum := sha1.Sum(data)
	return hex.EncodeToString(sum[:])
}

// orNone is an integrity as a message shows it: "(none)" when the registry
// gave none.
func orNone(integrity string) string {
	if integrity == "" {
		return "(none)"
	}
	return integrity
}

// checkPublished checks what the registry's origin published of items
// against what passed the check: the tarball's integrity (computed here,
// not the listing's), and the manifest npm installs from (the publish
// body's, which the tarball check does not see) against the rebuilt
// package.json. It names every difference.
//
// A read that fails (after retries), or a version the origin does not show,
// is not a difference: it is returned as err, so that a registry's hiccup
// is never reported as a tampered release.
func (r *run) checkPublished(ctx context.Context, v string, items []Item) (problems []string, err error) {
	var unread []string
	for _, it := range items {
		st := r.reg.Check(ctx, registry.Want{Name: it.Record.Name, Version: v, Integrity: it.Integrity})
		if st.Err != nil || !st.Found {
			unread = append(unread, fmt.Sprintf("%s@%s: %s", it.Record.Name, v, strings.Join(st.Problems, "; ")))
			continue
		}
		if !st.OK() {
			problems = append(problems, fmt.Sprintf("  %s@%s: %s", it.Record.Name, v, strings.Join(st.Problems, "; ")))
			continue
		}
		m, err := r.reg.VersionManifest(ctx, it.Record.Name, v)
		if err != nil {
			unread = append(unread, fmt.Sprintf("%s@%s: reading its manifest: %v", it.Record.Name, v, err))
			continue
		}
		rebuilt, err := os.ReadFile(it.Tarball)
		if err != nil {
			problems = append(problems, fmt.Sprintf("  %s@%s: %v", it.Record.Name, v, err))
			continue
		}
		diffs, err := InstallDiff(m, rebuilt)
		if err != nil {
			problems = append(problems, fmt.Sprintf("  %s@%s: %v", it.Record.Name, v, err))
			continue
		}
		if len(diffs) > 0 {
			problems = append(problems, fmt.Sprintf("  %s@%s: the manifest npm installs from is not the rebuilt package.json: %s", it.Record.Name, v, strings.Join(diffs, "; ")))
		}
	}
	if len(unread) > 0 {
		err = fmt.Errorf("approve could not read back what the registry published (%s): run approve again, which checks it before approving anything more", strings.Join(unread, "; "))
	}
	return problems, err
}

// publishedWrong is the error for platform packages the registry published
// with other bytes or another manifest than approve checked.
func publishedWrong(problems []string, plan *Plan) error {
	return fmt.Errorf("the registry published platform packages that are not what approve checked, so the wrapper was not approved:\n%s\n"+
		"the versions are published and cannot be published again; no user installing %s reaches them until its wrapper is approved: do not approve it. "+
		"Reject what is left staged (go tool mage reject %s), deprecate those versions (npm deprecate <package>@%s \"<why>\"), find out how the staged version changed, and release a new version",
		strings.Join(problems, "\n"), platforms.Wrapper, plan.Version, plan.Version)
}

// awaitPlatforms waits until the registry's origin shows the 12 platform
// packages at the version with their tarballs, under the tag, then until the
// CDN can serve no copy of their documents older than their publish (its
// max-age since the last one).
func (r *run) awaitPlatforms(ctx context.Context, plan *Plan, done []time.Time) error {
	wrapper := len(plan.Items) - 1
	wants := make([]registry.Want, wrapper)
	for i, it := range plan.Items[:wrapper] {
		// Tag only: the bytes and manifest are checkPublished's.
		wants[i] = registry.Want{Name: it.Record.Name, Version: plan.Version, Tag: plan.Tag}
	}
	poll := r.cfg.Poll
	poll.Notify = func(pending []registry.Status, wait time.Duration) {
		names := make([]string, len(pending))
		for i, s := range pending {
			names[i] = s.Name
		}
		fmt.Fprintf(r.cfg.Out, "waiting %s for the registry to show %d platform packages: %s\n", wait.Round(100*time.Millisecond), len(pending), strings.Join(names, ", "))
	}
	shown := r.reg.Await(ctx, wants, poll)
	var problems []string
	for _, s := range shown {
		if !s.OK() {
			problems = append(problems, fmt.Sprintf("  %s: %s", s.Name, strings.Join(s.Problems, "; ")))
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the registry does not show every platform package as published, so the wrapper was not approved:\n%s\nrun approve again: it approves only what is still staged", strings.Join(problems, "\n"))
	}
	problems, err := r.checkPublished(ctx, plan.Version, plan.Items[:wrapper])
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if len(problems) > 0 {
		return publishedWrong(problems, plan)
	}
	if err != nil {
		return fmt.Errorf("the wrapper was not approved: %w", err)
	}
	if plan.CDNMaxAge <= 0 {
		return nil
	}
	until, last := registry.CDNClear(shown, done[:wrapper], plan.CDNMaxAge, r.cfg.Now())
	wait := until.Sub(r.cfg.Now())
	if wait <= 0 {
		return nil
	}
	if until.After(r.cfg.Deadline) {
		return fmt.Errorf("the wrapper must wait until %s for the CDN, and FACET_WAIT ends at %s, so it was not approved; every platform package is published: run approve again to approve it", until.Format(time.TimeOnly), r.cfg.Deadline.Format(time.TimeOnly))
	}
	fmt.Fprintf(r.cfg.Out, "waiting %s before approving the wrapper: the registry's CDN may serve a package document up to %s old (Cache-Control), and the last platform package, %s, was published %s; once users' npm can see the wrapper, it must see all %d platform packages\n",
		wait.Round(time.Second), plan.CDNMaxAge, last, ago(r.cfg.Now(), until.Add(-plan.CDNMaxAge-registry.CDNMargin)), wrapper)
	// A line a minute: the maintainer sees the wait go on.
	for left := wait; left > 0; left = until.Sub(r.cfg.Now()) {
		if err := r.cfg.Sleep(ctx, min(left, time.Minute)); err != nil {
			return err
		}
		if left := until.Sub(r.cfg.Now()); left > 0 {
			fmt.Fprintf(r.cfg.Out, "still waiting: %s left\n", left.Round(time.Second))
		}
	}
	return nil
}

// ago says how long before now t was.
func ago(now, t time.Time) string {
	if d := now.Sub(t).Round(time.Second); d > 0 {
		return d.String() + " ago"
	}
	return "just now"
}

// tidy rejects the staged duplicates of versions now published: the same
// bytes staged more than once (a stage job rerun) cannot be approved any
// more, and would stay in the maintainer's list.
func (r *run) tidy(ctx context.Context, plan *Plan) error {
	var failed []string
	for _, it := range plan.Items {
		for _, d := range it.Duplicates {
			fmt.Fprintf(r.cfg.Out, "rejecting stage id %s of %s@%s: a duplicate of the published version (the same bytes, staged again)\n", d.ID, d.PackageName, d.Version)
			if err := r.cfg.NPM.StageReject(ctx, r.cfg.Dir, r.cfg.Stdio, d.ID); err != nil {
				failed = append(failed, fmt.Sprintf("  %s (stage id %s): %s", d.PackageName, d.ID, npm.Brief(err)))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the release is approved, and rejecting its staged duplicates failed (reject them with npm stage reject <id>, or run approve again):\n%s", strings.Join(failed, "\n"))
	}
	return nil
}

// check reads dist/ and, for each package, the registry's origin and what is
// staged, downloads each staged tarball to approve and compares it with the
// rebuilt one. Every problem is named; any one approves nothing.
func (r *run) check(ctx context.Context) (*Plan, error) {
	v, err := ParseVersion(r.cfg.Version)
	if err != nil {
		return nil, err
	}
	tag := version.TagPrefix + v
	records, err := r.cfg.Dist.CheckPacked(v, tag, r.cfg.Commit, "(approve compares the staged tarballs with what go tool mage package rebuilt from the tag in dist/: run go tool mage approve again, which rebuilds it)")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.cfg.Out, "registry %s\n", r.reg)
	if err := r.reg.Ping(ctx); err != nil {
		return nil, err
	}
	plan := &Plan{Version: v}
	for _, rec := range records {
		plan.Items = append(plan.Items, Item{Record: rec, Tarball: filepath.Join(r.cfg.Dist.Root, rec.Tarball)})
	}
	tmp, err := os.MkdirTemp("", "facet-approve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	problems := make([]string, len(plan.Items))
	p := pool.New().WithMaxGoroutines(4)
	for i := range plan.Items {
		p.Go(func() {
			if err := r.checkOne(ctx, &plan.Items[i], v, tmp); err != nil {
				problems[i] = fmt.Sprintf("  %s@%s: %v", plan.Items[i].Record.Name, v, err)
			}
		})
	}
	p.Wait()
	if err := ctx.Err(); err != nil {
		return plan, err
	}
	problems = slices.DeleteFunc(problems, func(s string) bool { return s == "" })
	if tagProblems := r.checkTag(ctx, plan); len(tagProblems) > 0 {
		problems = append(problems, tagProblems...)
	}
	if len(problems) > 0 {
		return plan, fmt.Errorf("%s cannot be approved, and nothing was approved:\n%s\nreject what was staged (go tool mage reject %s) and stage the release again, or release a new version", tag, strings.Join(problems, "\n"), v)
	}
	if plan.ToApprove() > 0 {
		if err := r.checkCDN(ctx, plan); err != nil {
			return plan, err
		}
	}
	return plan, nil
}

// checkOne finds what package it needs: published already with the rebuilt
// tarball (nothing to do), or staged with the rebuilt content (to approve).
func (r *run) checkOne(ctx context.Context, it *Item, v, tmp string) error {
	rec := it.Record
	st := r.reg.Check(ctx, registry.Want{Name: rec.Name, Version: v, Integrity: rec.Integrity})
	if st.Err != nil {
		return fmt.Errorf("the registry could not say whether it is published: %w", st.Err)
	}
	all, err := r.cfg.NPM.StageList(ctx, r.cfg.Dir, rec.Name)
	if err != nil {
		return fmt.Errorf("listing its staged versions: %s", npm.Brief(err))
	}
	var staged []npm.Staged
	for _, s := range all {
		if s.Version == v && s.PackageName == rec.Name {
			staged = append(staged, s)
		}
	}
	switch {
	case st.Found && st.Integrity == rec.Integrity:
		it.State, it.Identical = Published, true
		it.Shasum, it.Integrity = rec.Shasum, rec.Integrity
		for _, s := range staged {
			if sameBytes(s, npm.Staged{Shasum: rec.Shasum, Integrity: rec.Integrity}) {
				it.Duplicates = append(it.Duplicates, s)
			} else {
				it.Others = append(it.Others, s)
			}
		}
		return nil
	case st.Found:
		return fmt.Errorf("published already with another tarball (integrity %s; the rebuild is %s): a version cannot be published twice", st.Integrity, rec.Integrity)
	case len(staged) == 0:
		return errors.New("neither published nor staged: stage the release (the CircleCI release workflow in stage mode) and run approve again")
	}
	if slices.ContainsFunc(staged, func(s npm.Staged) bool { return !sameBytes(s, staged[0]) }) {
		var ids []string
		for _, s := range staged {
			ids = append(ids, fmt.Sprintf("%s (shasum %s, staged by %s at %s)", s.ID, s.Shasum, s.Actor, s.CreatedAt))
		}
		return fmt.Errorf("staged %d times with different bytes: %s", len(staged), strings.Join(ids, ", "))
	}
	// Approve the first; the others are the same bytes.
	it.Staged, it.Duplicates = staged[0], staged[1:]
	path, err := r.cfg.NPM.StageDownload(ctx, tmp, it.Staged.ID)
	if err != nil {
		return fmt.Errorf("downloading the staged tarball (stage id %s): %s", it.Staged.ID, npm.Brief(err))
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// npm documents shasum of a staged version, not integrity: shasum is
	// required, integrity compared only when the registry gives it, and
	// what the rest of the approval holds the registry to is computed here.
	it.Shasum, it.Integrity = shasum(got), dist.Integrity(got)
	if !strings.EqualFold(it.Shasum, it.Staged.Shasum) {
		return fmt.Errorf("the registry lists stage id %s with shasum %s, and its tarball has %s: the staged version is not what the registry says it is", it.Staged.ID, orNone(it.Staged.Shasum), it.Shasum)
	}
	if it.Staged.Integrity != "" && it.Integrity != it.Staged.Integrity {
		return fmt.Errorf("the registry lists stage id %s with integrity %s, and its tarball has %s: the staged version is not what the registry says it is", it.Staged.ID, it.Staged.Integrity, it.Integrity)
	}
	want, err := os.ReadFile(it.Tarball)
	if err != nil {
		return err
	}
	c, err := Compare(want, got)
	if err != nil {
		return fmt.Errorf("stage id %s: %w", it.Staged.ID, err)
	}
	if !c.Same() {
		more := ""
		if c.More > 0 {
			more = fmt.Sprintf("; and %d more", c.More)
		}
		return fmt.Errorf("the staged tarball (stage id %s, staged by %s at %s) is not what was rebuilt from the tag: %s%s", it.Staged.ID, it.Staged.Actor, it.Staged.CreatedAt, strings.Join(c.Diffs, "; "), more)
	}
	it.State, it.Identical = Approve, c.Identical
	return nil
}

// sameBytes says whether two staged versions are listed with the same
// bytes: the same shasum (npm documents it), and the same integrity when
// both have one (it does not).
func sameBytes(a, b npm.Staged) bool {
	return strings.EqualFold(a.Shasum, b.Shasum) && (a.Integrity == "" || b.Integrity == "" || a.Integrity == b.Integrity)
}

// checkTag finds the dist-tag the staged versions go under: one for all, and
// not one that approving would move back to an older version.
func (r *run) checkTag(ctx context.Context, plan *Plan) []string {
	tags := map[string][]string{}
	for _, it := range plan.Items {
		if it.State == Approve {
			tags[it.Staged.Tag] = append(tags[it.Staged.Tag], it.Record.Name)
		}
	}
	switch len(tags) {
	case 0:
		tag, err := version.DistTag(plan.Version, r.cfg.DistTag)
		if err != nil {
			return []string{"  " + err.Error()}
		}
		plan.Tag = tag
		return nil
	case 1:
		for tag := range tags {
			plan.Tag = tag
		}
	default:
		var lines []string
		for _, tag := range slices.Sorted(maps.Keys(tags)) {
			lines = append(lines, fmt.Sprintf("  staged under the dist-tag %q: %s", tag, strings.Join(tags[tag], ", ")))
		}
		return append([]string{"  the packages are staged under different dist-tags:"}, lines...)
	}
	if _, err := version.DistTag(plan.Version, plan.Tag); err != nil {
		return []string{fmt.Sprintf("  staged under the dist-tag %q: %v", plan.Tag, err)}
	}
	var problems []string
	for _, it := range plan.Items {
		if it.State != Approve {
			continue
		}
		st := r.reg.Check(ctx, registry.Want{Name: it.Record.Name, Version: plan.Version, Tag: plan.Tag})
		if registry.Newer(st.TagVersion, plan.Version) {
			problems = append(problems, fmt.Sprintf("  %s: its dist-tag %s points at %s, newer than %s: approving would move it back; reject the staged versions and stage the release under another tag (FACET_DIST_TAG)", it.Record.Name, plan.Tag, st.TagVersion, plan.Version))
		}
	}
	return problems
}

// checkCDN reads how long the registry's CDN may keep a package document
// (the Cache-Control of a plain read, as users' npm makes it), and checks
// that the deadline leaves time to wait that long before the wrapper.
func (r *run) checkCDN(ctx context.Context, plan *Plan) error {
	p, err := r.reg.Served(ctx, platforms.Wrapper)
	if err != nil {
		return fmt.Errorf("reading what users are served of %s (to know how long a CDN may keep it): %w", platforms.Wrapper, err)
	}
	plan.CDNMaxAge = p.MaxAge
	if left := r.cfg.Deadline.Sub(r.cfg.Now()); p.MaxAge > 0 && left <= p.MaxAge+registry.CDNMargin {
		return fmt.Errorf("the registry's CDN may serve a package document up to %s old (Cache-Control), so the wrapper must be approved that long after the last platform package, and FACET_WAIT leaves %s: set FACET_WAIT to %s or more",
			p.MaxAge, left.Round(time.Second), (2 * p.MaxAge).Round(time.Second))
	}
	return nil
}

// printPlan says what each package needs and how its staged tarball
// compares with the rebuilt one.
func (r *run) printPlan(p *Plan) {
	fmt.Fprintf(r.cfg.Out, "release %s under dist-tag %s: %d to approve, %d published already\n", p.Version, p.Tag, p.ToApprove(), len(p.Items)-p.ToApprove())
	w := tabwriter.NewWriter(r.cfg.Out, 0, 0, 2, ' ', 0)
	for _, it := range p.Items {
		var what string
		switch it.State {
		case Published:
			what = "published already with the rebuilt tarball"
		case Approve:
			what = fmt.Sprintf("approve stage id %s (staged by %s at %s): ", it.Staged.ID, it.Staged.Actor, it.Staged.CreatedAt)
			if it.Identical {
				what += "byte for byte the rebuilt tarball"
			} else {
				what += "the rebuilt files, bytes and manifest; the tarball's own bytes differ"
			}
		}
		if n := len(it.Duplicates); n > 0 {
			what += fmt.Sprintf("; %d duplicate(s) of the same bytes staged, to reject once it is published", n)
		}
		for _, o := range it.Others {
			what += fmt.Sprintf("; also staged with OTHER bytes (stage id %s, shasum %s, staged by %s at %s): it cannot be approved over the published version and approve leaves it; look at it (npm stage download %s) and reject it (npm stage reject %s)", o.ID, o.Shasum, o.Actor, o.CreatedAt, o.ID, o.ID)
		}
		fmt.Fprintf(w, "  %s\t%s\n", it.Record.Name, what)
	}
	w.Flush()
	if p.CDNMaxAge > 0 {
		fmt.Fprintf(r.cfg.Out, "the registry's CDN may serve a package document up to %s old (its Cache-Control): the wrapper is approved no sooner than that after the last platform package\n", p.CDNMaxAge)
	}
}

// Reject rejects every staged version of the release across the 13
// packages, on the maintainer's terminal, printing each; a dry run prints
// them only. It returns what it rejected (or would).
func Reject(ctx context.Context, cfg Config) ([]npm.Staged, error) {
	rejected, err := reject(ctx, cfg)
	if err != nil {
		return rejected, fmt.Errorf("reject: %w", err)
	}
	return rejected, nil
}

func reject(ctx context.Context, cfg Config) ([]npm.Staged, error) {
	v, err := ParseVersion(cfg.Version)
	if err != nil {
		return nil, err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	var staged []npm.Staged
	for _, name := range platforms.Packages() {
		all, err := cfg.NPM.StageList(ctx, cfg.Dir, name)
		if err != nil {
			return nil, fmt.Errorf("listing the staged versions of %s: %s", name, npm.Brief(err))
		}
		for _, s := range all {
			if s.Version == v && s.PackageName == name {
				staged = append(staged, s)
			}
		}
	}
	if len(staged) == 0 {
		fmt.Fprintf(cfg.Out, "nothing of %s is staged: nothing to reject\n", v)
		return nil, nil
	}
	if cfg.DryRun {
		for _, s := range staged {
			fmt.Fprintf(cfg.Out, "would reject %s@%s (stage id %s, staged by %s at %s)\n", s.PackageName, s.Version, s.ID, s.Actor, s.CreatedAt)
		}
		fmt.Fprintf(cfg.Out, "Dry run (FACET_DRY_RUN): %d would be rejected; nothing was rejected.\n", len(staged))
		return staged, nil
	}
	var done []npm.Staged
	for _, s := range staged {
		fmt.Fprintf(cfg.Out, "rejecting %s@%s (stage id %s, staged by %s at %s)\n", s.PackageName, s.Version, s.ID, s.Actor, s.CreatedAt)
		if err := cfg.NPM.StageReject(ctx, cfg.Dir, cfg.Stdio, s.ID); err != nil {
			return done, fmt.Errorf("rejecting %s@%s (stage id %s): %s; %d of %d rejected: run reject again for the rest", s.PackageName, s.Version, s.ID, npm.Brief(err), len(done), len(staged))
		}
		done = append(done, s)
	}
	fmt.Fprintf(cfg.Out, "rejected %d staged versions of %s\n", len(done), v)
	return done, nil
}
