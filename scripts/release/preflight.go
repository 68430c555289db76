package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/version"
)

// preflight checks, in order, where the release runs, npm, the tag, dist/,
// npm's credentials and the registry, and returns the plan. Each failure is
// one error saying what is wrong and what to do. The OIDC probe comes after
// it, still before the first publish.
func (r *run) preflight(ctx context.Context) (*Plan, error) {
	cfg := r.cfg
	fmt.Fprintf(r.out, "registry %s\n", cfg.Registry)
	switch {
	case cfg.Rehearsal && cfg.Registry.Public():
		return nil, fmt.Errorf("a rehearsal must not publish to the public registry, and npm is configured with %s: point it at a local registry (go tool mage rehearse does)", cfg.Registry)
	case !cfg.Job.InCircleCI && !cfg.Rehearsal:
		return nil, errors.New("not in a CircleCI job (CIRCLECI is not true): releases run in CircleCI, on a tag agent-facets@X.Y.Z (to try the whole release locally, run go tool mage rehearse)")
	case cfg.DryRun && cfg.Job.InCircleCI && !cfg.Rehearsal:
		// A dry run left in the release context would make every tag
		// pipeline pass having published nothing.
		return nil, errors.New("FACET_DRY_RUN is set in a CircleCI release job, which would pass having published nothing: remove FACET_DRY_RUN from the release context (and the job's environment), then rerun the workflow; to try the release without publishing to the registry, run go tool mage rehearse (a local registry)")
	}
	if err := cfg.Registry.Ping(ctx); err != nil {
		return nil, err
	}
	if _, err := cfg.NPM.RequireVersion(ctx, NPMMinVersion, "publishing with an OIDC token on CircleCI (older npm ignores NPM_ID_TOKEN there)"); err != nil {
		return nil, err
	}
	if cfg.Job.Tag == "" {
		return nil, errors.New("CIRCLE_TAG is not set: a release runs for a tag agent-facets@X.Y.Z")
	}
	v, err := version.FromTag(cfg.Job.Tag)
	if err != nil {
		return nil, err
	}
	items, err := checkDist(cfg.Dist, v, cfg.Job.Tag, cfg.Job.SHA1)
	if err != nil {
		return nil, err
	}
	tag, err := version.DistTag(v, cfg.DistTag)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Version: v, Tag: tag, Items: items}
	if err := r.checkCredentials(ctx); err != nil {
		return plan, err
	}
	if err := r.checkRegistry(ctx, plan); err != nil {
		return plan, err
	}
	return plan, nil
}

// checkDist proves that dist/ holds the 13 packages of version v as the
// package stage left them: every tarball matches SHA256SUMS and
// packages.json, holds the manifest of its record, and every binary in it is
// the one its build record names; the wrapper depends on exactly the 12
// platform packages at v.
func checkDist(l dist.Layout, v, tag, commit string) ([]Item, error) {
	records, err := l.CheckPacked(v, tag, commit, "(the release publishes what go tool mage package left in dist/: rerun the build and package jobs)")
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(records))
	for i, rec := range records {
		items[i] = Item{Record: rec, Tarball: filepath.Join(l.Root, rec.Tarball)}
	}
	return items, nil
}

func orNothing(v string) string {
	if v == "" {
		return "nothing"
	}
	return v
}

// tokenVars are the variables that CI setups (actions/setup-node, most
// guides) hand npm a token in. npm reads them only where an npmrc names them
// (//registry.npmjs.org/:_authToken=${NPM_TOKEN}), and such a key is what
// checkCredentials judges.
var tokenVars = []string{"NPM_TOKEN", "NODE_AUTH_TOKEN"}

// checkCredentials refuses a long-lived credential that npm would send to
// the registry the release publishes to: npm falls back to it silently when
// the OIDC exchange fails, hiding the failure, and it is what trusted
// publishing exists to remove. Credentials for other registries (a GitHub
// Packages token to install private dependencies) are left alone, each named
// on a line of its own.
func (r *run) checkCredentials(ctx context.Context) error {
	creds, err := r.cfg.NPM.Credentials(ctx, r.cfg.Dir)
	if err != nil {
		return err
	}
	reg := r.cfg.Registry
	var refused []string
	for _, c := range creds {
		switch {
		case c.SentTo(reg.URL):
			refused = append(refused, fmt.Sprintf("  %s (%s)", c.Key, c.Where))
		case c.Scope() == "" && !c.Alone:
			refused = append(refused, fmt.Sprintf("  %s (%s): scoped to no registry, which npm 11 takes for invalid configuration and older npm sends to the default registry", c.Key, c.Where))
		default:
			fmt.Fprintf(r.out, "npm credential %s (%s): not sent to %s, left alone\n", c.Key, c.Where, reg)
		}
	}
	env := r.cfg.NPM.Env
	if env == nil {
		env = os.Environ()
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(tokenVars, name) && value != "" {
			fmt.Fprintf(r.out, "%s is set in the environment: npm reads it only through an npmrc key that names it (${%s}), and those keys are checked; left alone\n", name, name)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("npm is configured with a long-lived credential for %s, which it would send with the release's requests:\n%s\nnpm falls back to such a credential silently when the OIDC exchange fails, hiding the failure, and trusted publishing exists so that none is needed: remove each from where it is set (the npmrc file named; for the environment, the release context or the job); a credential for another registry, such as npm.pkg.github.com, may stay", reg, strings.Join(refused, "\n"))
}

// checkRegistry reads each package's document on the origin: a version
// already there with the same tarball is skipped (its dist-tag may have
// moved on to a newer release: it is superseded, and done); with another
// tarball the release cannot go on; a registry that cannot answer stops it
// too. A dist-tag is never moved back to an older version, and a stable
// version takes a tag other than latest only as a backport (latest newer).
// Then it reads what the CDN in front of the registry may keep, and checks
// that the release's deadline covers it.
func (r *run) checkRegistry(ctx context.Context, plan *Plan) error {
	statuses := make([]registry.Status, len(plan.Items))
	var wg sync.WaitGroup
	for i, it := range plan.Items {
		wg.Go(func() {
			statuses[i] = r.cfg.Registry.Check(ctx, registry.Want{Name: it.Record.Name, Version: plan.Version, Integrity: it.Record.Integrity, Tag: plan.Tag})
		})
	}
	wg.Wait()
	v := semver.MustParse(plan.Version)
	var problems []string
	for i, s := range statuses {
		switch {
		case s.Err != nil:
			problems = append(problems, fmt.Sprintf("  %s: %v", s.Name, s.Err))
			continue
		case s.Found && s.Integrity == s.Want.Integrity:
			plan.Items[i].Skip = true
			switch {
			case s.TagVersion == plan.Version:
			case s.Superseded:
				// A later release moved the tag on: this one is done.
				plan.Items[i].SupersededBy = s.TagVersion
			default:
				// npm publish sets the tag with the version: someone moved
				// it back, or removed it. Setting it moves it forward.
				problems = append(problems, fmt.Sprintf("  %s@%s is published, but its dist-tag %s points at %s: a maintainer can set it (npm dist-tag add %s@%s %s), then rerun",
					s.Name, s.Version, plan.Tag, orNothing(s.TagVersion), s.Name, s.Version, plan.Tag))
			}
			continue
		case s.Found:
			problems = append(problems, fmt.Sprintf("  %s@%s is already on the registry with another tarball (integrity %s; dist/ has %s): a version cannot be published twice, so release a new version",
				s.Name, s.Version, s.Integrity, s.Want.Integrity))
			continue
		}
		// To be published under the tag: never move it back to an older
		// version (a backport must not become what npm install gets).
		if registry.Newer(s.TagVersion, plan.Version) {
			another := fmt.Sprintf("FACET_DIST_TAG=latest-%d.x", v.Major())
			if plan.Tag != "latest" {
				another = "FACET_DIST_TAG"
			}
			problems = append(problems, fmt.Sprintf("  %s: its dist-tag %s points at %s, newer than %s: publishing under %s would move it back; publish a backport under another tag (%s)",
				s.Name, plan.Tag, s.TagVersion, plan.Version, plan.Tag, another))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the registry stops the release:\n%s", strings.Join(problems, "\n"))
	}
	if err := backport(plan, statuses); err != nil {
		return err
	}
	if r.cfg.Stage {
		return nil // nothing becomes visible: there is no CDN to wait for
	}
	return r.checkCDN(ctx, plan)
}

// backport refuses a stable version under a tag other than latest unless it
// is a backport: latest, on every package, points at a newer version. A
// FACET_DIST_TAG left in the release context after a backport would
// otherwise send the next release beside latest, and every user would stay
// on the old one.
func backport(plan *Plan, statuses []registry.Status) error {
	if plan.Tag == "latest" || strings.Contains(plan.Version, "-") {
		return nil
	}
	for _, s := range statuses {
		latest := s.DistTags["latest"]
		if !registry.Newer(latest, plan.Version) {
			return fmt.Errorf("FACET_DIST_TAG=%s would publish %s beside latest, but it is no backport: %s's latest points at %s, not newer than %s. "+
				"A stable release goes to latest; FACET_DIST_TAG is for a backport, older than latest (it may be left in the release context from one): remove it and rerun",
				plan.Tag, plan.Version, s.Name, orNothing(latest), plan.Version)
		}
	}
	return nil
}

// checkCDN reads what the registry's CDN may keep of a package document (the
// Cache-Control of a plain read, as users' npm gets it) and checks that the
// deadline leaves time to wait that long before the wrapper.
func (r *run) checkCDN(ctx context.Context, plan *Plan) error {
	p, err := r.cfg.Registry.Served(ctx, platforms.Wrapper)
	if err != nil {
		return fmt.Errorf("reading what users are served of %s (to know how long a CDN may keep it): %w", platforms.Wrapper, err)
	}
	plan.CDNMaxAge = p.MaxAge
	if left := r.cfg.Deadline.Sub(r.cfg.Now()); p.MaxAge > 0 && left <= p.MaxAge+cdnMargin {
		return fmt.Errorf("the registry's CDN may serve a package document up to %s old (Cache-Control), so the wrapper must wait that long after the last platform package, and FACET_WAIT leaves %s: set FACET_WAIT to %s or more for the release job",
			p.MaxAge, left.Round(time.Second), (2 * p.MaxAge).Round(time.Second))
	}
	return nil
}
