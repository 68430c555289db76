package release

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/retry"
)

// errStagePermission is a stage the registry refused for want of permission:
// a trusted publisher that may only publish.
var errStagePermission = errors.New(`the trusted publisher may publish but not stage: it lacks the permission createStagedPackage. ` +
	`A trusted publisher cannot be edited on npmjs.com: replace it, with FACET_TRUST_REPLACE=1 go tool mage trust (npm trust … --allow-publish --allow-stage-publish), ` +
	`or delete it on the package's access page and add it again with "npm stage publish" ticked; then rerun the workflow`)

// StagedLog is the file, in the release's log directory, that keeps a copy
// of dist/staged.json (dist.Layout.StagedPath) for the job's artifacts.
const StagedLog = "staged.json"

// staged is what the registry lists as staged of one package at the
// release's version, or why it could not say.
type staged struct {
	items   []npm.Staged // at the release's version, oldest first
	refused error        // the registry refused the listing (401, 403): unknown
	err     error        // the exchange or the listing failed
}

// checkStaged reads, before anything is staged, what is staged already of
// each package not yet published: a version staged with the same tarball
// (its sha512 integrity, else its sha1) under the release's dist-tag is not
// staged again; one with another tarball, or under another tag, stops the
// release with nothing staged. The release job has no npm login, so for each
// package it exchanges a fresh ID token itself, as npm would, and lists with
// the token it gets (registry.Client.Staged; that npm lets such a token list
// its own package's staged versions is our assumption, npm does not document
// it). A registry that refuses the listing is said so, and the package is
// staged anyway: approve copes with two staged versions of the same bytes.
func (r *run) checkStaged(ctx context.Context, plan *Plan) error {
	found := make([]staged, len(plan.Items))
	p := pool.New().WithMaxGoroutines(r.cfg.Jobs)
	for i, it := range plan.Items {
		if it.Skip {
			continue // published: nothing can be staged over it
		}
		p.Go(func() { found[i] = r.listStaged(ctx, it.Record.Name, plan.Version) })
	}
	p.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var failed, problems, refused []string
	for i, it := range plan.Items {
		if f := found[i]; !it.Skip && f.err != nil {
			failed = append(failed, fmt.Sprintf("  %s: %v", it.Record.Name, f.err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("reading what is staged failed for %s, so nothing was staged:\n%s\nRerun the workflow once the cause is fixed", plural(len(failed), "package"), strings.Join(failed, "\n"))
	}
	for i, it := range plan.Items {
		f := found[i]
		name := it.Record.Name
		switch {
		case it.Skip:
			continue
		case f.refused != nil:
			refused = append(refused, fmt.Sprintf("  %s: %v", name, f.refused))
			continue
		}
		for _, s := range f.items {
			switch {
			case !sameTarball(s, it.Record):
				problems = append(problems, fmt.Sprintf("  %s@%s is staged with id %s and another tarball (integrity %s; dist/ has %s)",
					name, s.Version, s.ID, orNothing(s.Integrity), it.Record.Integrity))
			case s.Tag != plan.Tag:
				problems = append(problems, fmt.Sprintf("  %s@%s is staged with id %s under the dist-tag %s, and this release's is %s",
					name, s.Version, s.ID, orNothing(s.Tag), plan.Tag))
			default:
				plan.Items[i].StagedAs = append(plan.Items[i].StagedAs, s.ID)
			}
		}
	}
	if len(problems) > 0 {
		for i := range plan.Items {
			plan.Items[i].StagedAs = nil
		}
		return fmt.Errorf("what is staged stops the release, so nothing was staged:\n%s\n"+
			"A staged version is approved by a maintainer as it is: one of another tarball is not this release. "+
			"If it should not be approved, a maintainer rejects the release's staged versions (go tool mage reject %s, logged in to npm) and reruns the workflow; "+
			"if it is the right one, dist/ is not (rebuild the tag)", strings.Join(problems, "\n"), plan.Version)
	}
	if len(refused) > 0 {
		fmt.Fprintf(r.out, "the registry refused to list what is staged of %s, so they are staged without knowing whether an earlier run staged them (approve takes one of several staged versions with the same tarball):\n%s\n",
			plural(len(refused), "package"), strings.Join(refused, "\n"))
	}
	return nil
}

// sameTarball reports whether a staged version holds the tarball of rec: its
// integrity, or, when the registry gave none, its sha1.
func sameTarball(s npm.Staged, rec dist.PackRecord) bool {
	if s.Integrity != "" {
		return s.Integrity == rec.Integrity
	}
	return s.Shasum != "" && strings.EqualFold(s.Shasum, rec.Shasum)
}

// listStaged exchanges a fresh ID token for pkg and lists pkg's staged
// versions at version, retrying what may pass, each attempt with a fresh ID
// token. Both tokens go to the redactor, and the exchanged one nowhere else.
func (r *run) listStaged(ctx context.Context, pkg, version string) staged {
	var out staged
	err := retry.Do(ctx, r.cfg.Retry, func(int) error {
		idToken, err := r.cfg.Tokens.Mint(ctx, circleci.Audience(r.cfg.Registry.Host()))
		if err != nil {
			err = fmt.Errorf("%w: %w", errMint, err)
			if errors.Is(err, circleci.ErrNoCLI) {
				return err
			}
			return retry.Transient(err, 0)
		}
		r.redactor.Add(idToken)
		token, err := r.cfg.Registry.Exchange(ctx, pkg, idToken)
		if err != nil {
			var serr *registry.StatusError
			if errors.As(err, &serr) && !serr.Transient() {
				return fmt.Errorf("the OIDC token exchange (to read what is staged) failed: %w; %s", err, causesOf(serr.Code, r.cfg.Registry.Host()))
			}
			return err
		}
		r.redactor.Add(token)
		items, err := r.cfg.Registry.Staged(ctx, pkg, token)
		var serr *registry.StatusError
		if errors.As(err, &serr) && (serr.Code == http.StatusUnauthorized || serr.Code == http.StatusForbidden) {
			out.refused = fmt.Errorf("%s %s", serr.Status, orNothing(serr.Message))
			return nil
		}
		if err != nil {
			return err
		}
		for _, s := range items {
			if s.PackageName == pkg && s.Version == version {
				out.items = append(out.items, s)
			}
		}
		return nil
	})
	out.err = err
	return out
}

// stageAll stages one package alone first (a canary: a registry that
// refuses this pipeline's stages, for want of permission, stops the release
// with nothing staged), then the others, a few at a time, the wrapper among
// them: nothing staged is visible, so there is no order to keep and nothing
// to wait for.
func (r *run) stageAll(ctx context.Context, plan *Plan) ([]Result, error) {
	items := plan.Items
	results, stop := r.track(items, fmt.Sprintf("stage %s: staging %d packages, one first, then %d at a time", plan.Version, len(items), r.cfg.Jobs))
	defer stop()

	canary := slices.IndexFunc(items, func(it Item) bool { return !it.done() })
	if canary >= 0 {
		results[canary] = r.stageOne(ctx, items[canary], plan.Tag)
		if res := results[canary]; res.Action == Failed {
			nothing := "nothing was staged"
			if slices.ContainsFunc(items, Item.done) {
				nothing = "nothing more was staged" // an earlier run staged (or published) some
			}
			if errors.Is(res.Err, errStagePermission) {
				return results, fmt.Errorf("the registry refused to stage %s, the first package, for want of permission, so %s: %w", res.Package, nothing, res.Err)
			}
			return results, fmt.Errorf("staging %s, the first package, failed, so %s: %w\nRerun the workflow once the cause is fixed", res.Package, nothing, res.Err)
		}
		if err := ctx.Err(); err != nil {
			return results, err
		}
	}
	p := pool.New().WithMaxGoroutines(r.cfg.Jobs)
	for i, it := range items {
		if i == canary {
			continue
		}
		p.Go(func() {
			if ctx.Err() != nil && !it.done() {
				return // not done
			}
			results[i] = r.stageOne(ctx, it, plan.Tag)
		})
	}
	p.Wait()
	if err := ctx.Err(); err != nil {
		return results, err
	}
	var failed []string
	for _, res := range results {
		if res.Action == Failed {
			failed = append(failed, fmt.Sprintf("  %s: %v", res.Package, res.Err))
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%d packages failed to stage:\n%s\nRerun the workflow once the cause is fixed: what is staged with the same tarball is not staged again", len(failed), strings.Join(failed, "\n"))
	}
	return results, nil
}

// stageOne stages one package, retrying what may pass. "Cannot publish over"
// means the version is published: done, when with this very tarball.
func (r *run) stageOne(ctx context.Context, it Item, tag string) Result {
	name := it.Record.Name
	report := r.cfg.Progress
	res := Result{Package: name}
	switch {
	case it.Skip:
		res.Action = Skipped
		report.Update(name, progress.Skipped, "already published with this tarball")
		return res
	case len(it.StagedAs) > 0:
		res.Action, res.StageID = AlreadyStaged, it.StagedAs[len(it.StagedAs)-1]
		report.Update(name, progress.Skipped, "already staged with this tarball, id "+res.StageID)
		return res
	}
	start := time.Now()
	published := false
	err := retry.Do(ctx, r.cfg.Retry, func(attempt int) error {
		res.Attempts = attempt
		report.Update(name, progress.Staging, fmt.Sprintf("attempt %d", attempt))
		out, err := r.npmPublish(ctx, it, tag, false)
		if err == nil {
			id, ok := npm.ParseStaged(out)
			if !ok {
				return fmt.Errorf("npm stage publish staged %s@%s and printed no stage id (npm stage list %s shows it)", name, it.Record.Version, name)
			}
			res.StageID = id
			return nil
		}
		if errors.Is(err, errMint) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = r.classify(ctx, it, out, err)
		if err == nil {
			published = true // with this tarball: nothing to stage
		}
		return err
	})
	res.Duration = time.Since(start)
	res.Done = r.cfg.Now()
	switch {
	case err != nil:
		res.Action, res.Err = Failed, err
		report.Update(name, progress.Failed, firstLine(err))
	case published:
		res.Action = Skipped
		report.Update(name, progress.Skipped, "published meanwhile, with this tarball")
	default:
		res.Action = Staged
		report.Update(name, progress.Staged, fmt.Sprintf("id %s in %s, %s", res.StageID, res.Duration.Round(10*time.Millisecond), plural(res.Attempts, "attempt")))
	}
	return res
}

// recordStaged writes what was staged to dist/ (dist.Layout.StagedPath) and
// the release's logs (StagedLog), prints it, and prints what the maintainer
// runs next.
func (r *run) recordStaged(plan *Plan, results []Result) error {
	rec := stagedRecord(plan, results)
	if rec.Incomplete {
		return fmt.Errorf("recording what was staged: %s was not staged", firstNotStaged(rec))
	}
	fmt.Fprintf(r.out, "\nrelease %s staged under dist-tag %s, for a maintainer to approve (package, stage id, sha512 integrity of the tarball):\n", plan.Version, plan.Tag)
	r.printStaged(rec)
	if err := r.writeStaged(rec); err != nil {
		return err
	}
	if !slices.ContainsFunc(rec.Packages, func(p dist.StagedPackage) bool { return p.StageID != "" }) {
		fmt.Fprintf(r.out, "every package is published already: nothing to approve (go tool mage verify:release %s checks the release)\n", plan.Version)
		return nil
	}
	fmt.Fprintf(r.out, "Nothing is visible until approved. Next, in a clean checkout of the tag %s, logged in to npm:\n  go tool mage approve %s\n", r.cfg.Job.Tag, plan.Version)
	return nil
}

// recordPartial is recordStaged for a run that stopped (failed, or was
// cancelled) before staging every package: when it staged (or found staged)
// any, it records them, marking the others and the record incomplete
// (dist.StagedRelease.Incomplete), so that the ids are not lost with the job.
// A run that staged nothing leaves dist/ as it was.
func (r *run) recordPartial(plan *Plan, results []Result) error {
	rec := stagedRecord(plan, results)
	if !slices.ContainsFunc(rec.Packages, func(p dist.StagedPackage) bool { return p.StageID != "" }) {
		return nil
	}
	rec.Incomplete = true
	fmt.Fprintf(r.out, "\nrelease %s is staged in part under dist-tag %s, not ready to approve (package, stage id, sha512 integrity of the tarball):\n", plan.Version, plan.Tag)
	r.printStaged(rec)
	if err := r.writeStaged(rec); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "Rerun the workflow once the cause is fixed: it stages only what is not staged yet.\n")
	return nil
}

// stagedRecord is what plan's results staged; Incomplete when any package
// was neither staged nor published.
func stagedRecord(plan *Plan, results []Result) dist.StagedRelease {
	rec := dist.StagedRelease{Version: plan.Version, Tag: plan.Tag}
	for i, it := range plan.Items {
		p := dist.StagedPackage{Name: it.Record.Name, Version: it.Record.Version, Integrity: it.Record.Integrity, Shasum: it.Record.Shasum}
		action := NotDone
		if i < len(results) {
			action = results[i].Action
		}
		switch action {
		case Staged, AlreadyStaged:
			p.StageID = results[i].StageID
		case Skipped:
			p.Published = true
		default:
			p.NotStaged = string(action)
			rec.Incomplete = true
		}
		rec.Packages = append(rec.Packages, p)
	}
	return rec
}

// firstNotStaged names the first package of rec not staged, and why.
func firstNotStaged(rec dist.StagedRelease) string {
	for _, p := range rec.Packages {
		if p.NotStaged != "" {
			return fmt.Sprintf("%s (%s)", p.Name, p.NotStaged)
		}
	}
	return "a package"
}

// printStaged prints each package of rec: its stage id, or why it has none,
// and the integrity of its tarball.
func (r *run) printStaged(rec dist.StagedRelease) {
	w := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	for _, p := range rec.Packages {
		id := p.StageID
		switch {
		case p.Published:
			id = "(published already)"
		case p.NotStaged != "":
			id = "(not staged: " + p.NotStaged + ")"
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", p.Name, id, p.Integrity)
	}
	w.Flush()
}

// writeStaged writes rec to dist/ and the release's logs.
func (r *run) writeStaged(rec dist.StagedRelease) error {
	logCopy := filepath.Join(r.cfg.LogDir, StagedLog)
	for _, l := range []dist.Layout{r.cfg.Dist, {Root: r.cfg.LogDir}} {
		if err := l.WriteStaged(rec); err != nil {
			return fmt.Errorf("recording what was staged: %w", err)
		}
	}
	fmt.Fprintf(r.out, "recorded in %s and %s (kept with the job's artifacts)\n", r.cfg.Dist.StagedPath(), logCopy)
	return nil
}
