package release_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/release"
	"github.com/agent-facets/facets/scripts/syncbuf"
)

// setupStage is setup with publishers made on npmjs.com since 2026-09-03:
// they may stage, not publish, which is all release:stage needs.
func setupStage(t *testing.T, version string) *fixture {
	t.Helper()
	f := setup(t, version)
	f.trust(registrytest.WebTrust(circleci.Facets(), false))
	return f
}

// trust makes tr the trusted publisher of the 13 packages.
func (f *fixture) trust(tr registrytest.Trust) {
	for _, pkg := range platforms.Packages() {
		f.bed.Front.SetTrust(pkg, tr)
	}
}

// stageConfig is config in stage mode.
func (f *fixture) stageConfig(t *testing.T) (release.Config, *syncbuf.Buffer) {
	t.Helper()
	cfg, out := f.config(t)
	cfg.Stage = true
	return cfg, out
}

// isStagePost reports whether r is an npm stage publish's upload.
func isStagePost(r registrytest.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/-/stage/package/")
}

// stagePosts counts the stage uploads the registry answered, by status.
func (f *fixture) stagePosts() map[int]int {
	n := map[int]int{}
	for _, r := range f.bed.Front.Requests() {
		if isStagePost(r) {
			n[r.Status]++
		}
	}
	return n
}

// stagedOf groups what the registry holds staged by package.
func (f *fixture) stagedOf() map[string][]registrytest.StagedItem {
	out := map[string][]registrytest.StagedItem{}
	for _, s := range f.bed.Front.Staged() {
		out[s.PackageName] = append(out[s.PackageName], s)
	}
	return out
}

// invisible checks that no package shows the version: staging publishes
// nothing.
func (f *fixture) invisible(t *testing.T) {
	t.Helper()
	assert.Empty(t, f.puts(), "nothing published")
	reg, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	for _, rec := range f.records {
		p, err := reg.Packument(t.Context(), rec.Name)
		require.NoError(t, err)
		_, ok := p.Version(f.version)
		assert.False(t, ok, "%s@%s is visible", rec.Name, f.version)
		assert.NotEqual(t, f.version, p.DistTags["latest"], rec.Name)
	}
}

// release:stage with a publisher that may only stage stages the 13, each
// once, with a fresh ID token for each read, probe and stage; nothing
// becomes visible; it prints each stage id and integrity, records them in
// dist/ and the logs, and says what the maintainer runs next. A rerun stages
// nothing, and reports the same ids.
func TestStage(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.0.0")
	cfg, out := f.stageConfig(t)
	cfg.Jobs = 3
	plan, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, "latest", plan.Tag)
	f.invisible(t)
	assert.Equal(t, map[int]int{http.StatusCreated: 13}, f.stagePosts(), "each package staged once")

	staged := f.stagedOf()
	text := out.String()
	want := dist.StagedRelease{Version: "1.0.0", Tag: "latest"}
	for i, rec := range f.records {
		res := results[i]
		require.Len(t, staged[rec.Name], 1, rec.Name)
		s := staged[rec.Name][0]
		assert.Equal(t, release.Staged, res.Action, rec.Name)
		assert.Equal(t, s.ID, res.StageID, "the id npm printed is the registry's: %s", rec.Name)
		assert.Equal(t, rec.Integrity, s.Integrity, "dist/'s tarball was staged: %s", rec.Name)
		assert.Equal(t, "1.0.0", s.Version)
		assert.Equal(t, "latest", s.Tag)
		assert.Equal(t, registrytest.ActorOIDC, s.ActorType, "staged with the exchanged token")
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(rec.Name)+` +`+s.ID+` +`+regexp.QuoteMeta(rec.Integrity)+`$`, text, "its id and integrity are printed")
		want.Packages = append(want.Packages, dist.StagedPackage{Name: rec.Name, Version: "1.0.0", StageID: s.ID, Integrity: rec.Integrity, Shasum: rec.Shasum})
	}
	assert.Contains(t, text, "stage 1.0.0 to "+f.bed.URL+" under dist-tag latest: 13 to stage, 0 already published, 0 already staged")
	assert.Contains(t, text, "OIDC probe: npm stage publish --dry-run of the 13 packages to stage")
	assert.Contains(t, text, "Nothing is visible until approved. Next, in a clean checkout of the tag agent-facets@1.0.0, logged in to npm:\n  go tool mage approve 1.0.0\n")
	assert.NotContains(t, text, "CDN", "nothing to wait for")
	assert.Contains(t, text, "13/13 finished, 13 staged")
	for _, l := range []dist.Layout{f.dist, {Root: filepath.Join(f.dist.Logs(), "release")}} {
		got, err := l.ReadStaged()
		require.NoError(t, err, l.Root)
		assert.Equal(t, want, got, "recorded in %s", l.StagedPath())
	}
	ids := f.bed.Front.IDTokens()
	assert.Len(t, ids, 39, "a fresh ID token to read what is staged, to probe and to stage, for each package")
	seen := map[string]bool{}
	for _, id := range ids {
		assert.False(t, seen[id], "a fresh ID token each time")
		seen[id] = true
	}
	secretsNowhere(t, f, text)

	again, out2 := f.stageConfig(t)
	_, results, err = release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	assert.Equal(t, map[int]int{http.StatusCreated: 13}, f.stagePosts(), "nothing staged twice")
	for i, r := range results {
		assert.Equal(t, release.AlreadyStaged, r.Action, r.Package)
		assert.Equal(t, want.Packages[i].StageID, r.StageID, r.Package)
	}
	assert.Contains(t, out2.String(), "0 to stage, 0 already published, 13 already staged")
	assert.Contains(t, out2.String(), "skip: already staged with this tarball (stage id "+want.Packages[0].StageID+")")
	assert.NotContains(t, out2.String(), "OIDC probe", "nothing to stage, nothing to probe")
	got, err := f.dist.ReadStaged()
	require.NoError(t, err)
	assert.Equal(t, want, got, "the rerun records the same")
	f.invisible(t)
	secretsNowhere(t, f, out2.String())
}

// A stage job stopped after k stages (a killed job) and run again stages
// only the rest: every package staged once, with its tarball.
func TestStageKilledAndRerun(t *testing.T) {
	t.Parallel()
	// Up to Jobs-1 (3) other stages are under way at the kill, and the
	// registry carries out a stage it has whole: k+3 < 13 leaves some undone.
	for _, k := range []int{1, 5, 9} {
		t.Run(fmt.Sprintf("after %d stages", k), func(t *testing.T) {
			t.Parallel()
			f := setupStage(t, fmt.Sprintf("1.1.%d", k))
			ctx, cancel := context.WithCancel(t.Context())
			var n atomic.Int32
			f.bed.Front.Observe(func(r registrytest.Request) {
				if isStagePost(r) && r.Status == http.StatusCreated && int(n.Add(1)) == k {
					cancel()
				}
			})
			cfg, out := f.stageConfig(t)
			_, _, err := release.Run(ctx, cfg)
			require.Error(t, err, out.String())
			f.bed.Front.Observe(nil)
			f.bed.Front.Settle()
			before := len(f.bed.Front.Staged())
			require.GreaterOrEqual(t, before, k)
			require.Less(t, before, 13, "stopped before the end")
			issued := f.bed.Front.Exchanged()
			// The canary is staged alone, to the end, before the others
			// start: after more than one stage its id is recorded at least.
			partial := f.partialRecord(t, out.String(), k > 1)

			again, out2 := f.stageConfig(t)
			_, results, err := release.Run(t.Context(), again)
			require.NoError(t, err, out2.String())
			f.completeRecord(t, results, partial)
			already, stagedNow := 0, 0
			for _, r := range results {
				switch r.Action {
				case release.AlreadyStaged:
					already++
				case release.Staged:
					stagedNow++
				default:
					t.Errorf("%s: %s", r.Package, r.Action)
				}
			}
			assert.Equal(t, before, already, "what the killed job staged is not staged again")
			assert.Contains(t, out2.String(), fmt.Sprintf("%d to stage, 0 already published, %d already staged", 13-before, before))
			for _, rec := range f.records {
				s := f.stagedOf()[rec.Name]
				if assert.Len(t, s, 1, "staged once: %s", rec.Name) {
					assert.Equal(t, rec.Integrity, s[0].Integrity, rec.Name)
				}
			}
			rerun := 0
			for _, r := range f.bed.Front.Requests() {
				if isStagePost(r) && r.Grant > issued {
					rerun++
					assert.Equal(t, http.StatusCreated, r.Status, r.Package)
				}
			}
			assert.Equal(t, stagedNow, rerun, "one stage for each package not staged yet")
			f.invisible(t)
		})
	}
}

// partialRecord checks what a stage run that stopped part way recorded in
// dist/ and the logs: the ids it staged, each the registry's, the packages it
// did not stage marked, the record incomplete; and that it said so, without
// sending the maintainer to approve. Without want, the run may have stopped
// before any id was known, and recorded nothing.
func (f *fixture) partialRecord(t *testing.T, out string, want bool) dist.StagedRelease {
	t.Helper()
	got, err := f.dist.ReadStaged()
	if !want && errors.Is(err, os.ErrNotExist) {
		return got
	}
	require.NoError(t, err, "what was staged is recorded:\n%s", out)
	logCopy, err := dist.Layout{Root: filepath.Join(f.dist.Logs(), "release")}.ReadStaged()
	require.NoError(t, err)
	assert.Equal(t, got, logCopy, "the copy kept with the job's artifacts")
	assert.True(t, got.Incomplete)
	ids, notStaged := 0, 0
	staged := f.stagedOf()
	require.Len(t, got.Packages, len(f.records))
	for i, p := range got.Packages {
		assert.Equal(t, f.records[i].Name, p.Name)
		assert.False(t, p.Published, p.Name)
		if p.StageID != "" {
			ids++
			assert.Empty(t, p.NotStaged, p.Name)
			assert.True(t, slices.ContainsFunc(staged[p.Name], func(s registrytest.StagedItem) bool { return s.ID == p.StageID }),
				"%s: the recorded id %s is the registry's", p.Name, p.StageID)
			assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(p.Name)+` +`+p.StageID+` +`+regexp.QuoteMeta(p.Integrity)+`$`, out)
		} else {
			notStaged++
			assert.Contains(t, []string{string(release.Failed), string(release.NotDone)}, p.NotStaged, p.Name)
			assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(p.Name)+` +\(not staged: `+p.NotStaged+`\)`, out)
		}
	}
	assert.Positive(t, ids, "some staged")
	assert.Positive(t, notStaged, "some not")
	assert.Contains(t, out, "is staged in part under dist-tag latest, not ready to approve")
	assert.NotContains(t, out, "go tool mage approve")
	return got
}

// completeRecord checks that the rerun after partial recorded every package
// staged, the ids partial had kept among them.
func (f *fixture) completeRecord(t *testing.T, results []release.Result, partial dist.StagedRelease) {
	t.Helper()
	got, err := f.dist.ReadStaged()
	require.NoError(t, err)
	assert.False(t, got.Incomplete)
	for i, p := range got.Packages {
		assert.Empty(t, p.NotStaged, p.Name)
		assert.Equal(t, results[i].StageID, p.StageID, p.Name)
		if len(partial.Packages) > 0 && partial.Packages[i].StageID != "" {
			assert.Equal(t, partial.Packages[i].StageID, p.StageID, "%s: staged by the stopped run", p.Name)
		}
	}
}

// A stage run in which some packages fail records those it staged (the
// canary, the others), marks the failed one, and fails; the rerun stages it
// and records the whole release.
func TestStageFailedRecordsWhatWasStaged(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.1.20")
	remove := f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Forbidden, Method: http.MethodPost, Path: "/-/stage/package/", Package: platforms.Wrapper})
	cfg, out := f.stageConfig(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "1 packages failed to stage:\n  "+platforms.Wrapper+": ")
	assert.Len(t, f.bed.Front.Staged(), 12)
	partial := f.partialRecord(t, out.String(), true)
	last := partial.Packages[len(partial.Packages)-1]
	assert.Equal(t, dist.StagedPackage{Name: platforms.Wrapper, Version: "1.1.20", Integrity: f.records[12].Integrity, Shasum: f.records[12].Shasum, NotStaged: "failed"}, last)

	remove()
	again, out2 := f.stageConfig(t)
	_, results, err := release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	f.completeRecord(t, results, partial)
	assert.Len(t, f.bed.Front.Staged(), 13)
}

// A version staged with other bytes (or under another dist-tag) stops the
// release before anything is staged, naming the package, its stage id and
// both integrities, and what to do.
func TestStagedWithOtherBytes(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.2.0")
	cfg, out := f.stageConfig(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	x64 := f.records[1]
	old := f.stagedOf()[x64.Name][0]
	other, err := os.ReadFile(filepath.Join(f.dist.Root, f.records[0].Tarball))
	require.NoError(t, err)
	require.NoError(t, f.bed.Front.ReplaceStagedTarball(old.ID, other))
	swapped := f.stagedOf()[x64.Name][0]
	require.NotEqual(t, x64.Integrity, swapped.Integrity)
	posts := f.stagePosts()
	records, err := f.dist.ReadStaged()
	require.NoError(t, err)

	cfg, out = f.stageConfig(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: what is staged stops the release, so nothing was staged:\n  "+
		x64.Name+"@1.2.0 is staged with id "+old.ID+" and another tarball (integrity "+swapped.Integrity+"; dist/ has "+x64.Integrity+")\n")
	assert.Contains(t, err.Error(), "go tool mage reject 1.2.0")
	assert.Nil(t, results)
	assert.Equal(t, posts, f.stagePosts(), "nothing staged")
	assert.NotContains(t, out.String(), "OIDC probe")
	again, err := f.dist.ReadStaged()
	require.NoError(t, err)
	assert.Equal(t, records, again, "dist/staged.json is left as it was")

}

// A version staged under another dist-tag (FACET_DIST_TAG changed between
// two runs), whose approval would set that tag, stops the release too.
func TestStagedUnderAnotherTag(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.2.1-rc.1")
	cfg, out := f.stageConfig(t)
	cfg.DistTag = "beta"
	_, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	posts := f.stagePosts()
	cfg, out = f.stageConfig(t) // next, a prerelease's default
	_, _, err = release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Regexp(t, regexp.QuoteMeta(f.records[0].Name)+`@1\.2\.1-rc\.1 is staged with id \S+ under the dist-tag beta, and this release's is next`, err.Error())
	assert.Equal(t, posts, f.stagePosts(), "nothing staged")
}

// A publisher that may publish but not stage (made by npm trust
// --allow-publish alone) stops release:stage at the first stage, the canary,
// with nothing staged, saying what it lacks and how to replace it.
func TestStagePublishOnlyPublisher(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.3.0")
	f.trust(registrytest.PublishOnlyTrust(circleci.Facets())) // npm trust --allow-publish alone
	canary := f.records[0].Name
	cfg, out := f.stageConfig(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: the registry refused to stage "+canary+", the first package, for want of permission, so nothing was staged")
	assert.Contains(t, err.Error(), "OIDC permission denied for this action")
	assert.Contains(t, err.Error(), "it lacks the permission createStagedPackage")
	assert.Contains(t, err.Error(), "--allow-publish --allow-stage-publish")
	assert.Contains(t, err.Error(), "cannot be edited on npmjs.com")
	assert.Contains(t, err.Error(), "delete it")
	assert.Empty(t, f.bed.Front.Staged(), "nothing staged")
	assert.Equal(t, map[int]int{http.StatusForbidden: 1}, f.stagePosts(), "only the canary was tried, once: a refusal is not retried")
	assert.Equal(t, release.Failed, resultOf(t, results, canary).Action)
	assert.Equal(t, release.NotDone, resultOf(t, results, f.records[1].Name).Action)
	assert.Empty(t, f.puts())
	_, err = f.dist.ReadStaged()
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing recorded")
}

// A registry that refuses to list what is staged (our assumption that an
// exchanged token may list its own package is npm's to break) is said so,
// and the release stages anyway.
func TestStageListingRefused(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.4.0")
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Forbidden, Method: http.MethodGet, Path: "/-/stage"})
	cfg, out := f.stageConfig(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "the registry refused to list what is staged of 13 packages, so they are staged without knowing whether an earlier run staged them")
	assert.Contains(t, out.String(), "  "+f.records[0].Name+": 403 Forbidden forbidden (registrytest fault)")
	for _, r := range results {
		assert.Equal(t, release.Staged, r.Action, r.Package)
	}
	assert.Len(t, f.bed.Front.Staged(), 13)
}

// Already published with the same tarball (a direct release went first):
// nothing to stage, nothing to approve.
func TestStageAfterPublish(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.5.0")
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	cfg, out = f.stageConfig(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	for _, r := range results {
		assert.Equal(t, release.Skipped, r.Action, r.Package)
	}
	assert.Contains(t, out.String(), "0 to stage, 13 already published, 0 already staged")
	assert.Contains(t, out.String(), "every package is published already: nothing to approve")
	assert.NotContains(t, out.String(), "go tool mage approve")
	assert.Empty(t, f.stagePosts())
	got, err := f.dist.ReadStaged()
	require.NoError(t, err)
	for _, p := range got.Packages {
		assert.True(t, p.Published, p.Name)
		assert.Empty(t, p.StageID, p.Name)
	}
}

// The exchange release:stage does itself, to read what is staged, keeps its
// tokens out of the output and the errors: a refusal that quotes the ID
// token is masked.
func TestStageLeakedTokensAreMasked(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.6.0")
	f.bed.Front.LeakTokensInErrors(true)
	other := circleci.Facets()
	other.ProjectID = "44444444-4444-4444-8444-444444444444"
	f.bed.Front.SetTrust(platforms.Wrapper, registrytest.WebTrust(other, false))
	cfg, out := f.stageConfig(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: reading what is staged failed for 1 package, so nothing was staged:\n  "+
		platforms.Wrapper+": the OIDC token exchange (to read what is staged) failed: POST "+f.bed.URL+
		"-/npm/v1/oidc/token/exchange/package/agent-facets: 404 Not Found: OIDC token exchange error - package not found (ID token [redacted])")
	assert.Contains(t, err.Error(), "likely causes: the package has no trusted publisher")
	assert.Empty(t, f.bed.Front.Staged(), "nothing staged")
	assert.NotContains(t, out.String()+err.Error(), "eyJ", "no JWT at all")
	f.minted.mu.Lock()
	tokens := append(f.minted.tokens, f.bed.Front.IssuedTokens()...)
	f.minted.mu.Unlock()
	require.NotEmpty(t, f.bed.Front.IssuedTokens(), "the other packages' exchanges gave tokens")
	for _, tok := range tokens {
		assert.NotContains(t, out.String()+err.Error(), tok)
	}
}

// A dry run of release:stage, in a rehearsal, reads what is staged and
// probes with npm stage publish --dry-run, and stages nothing; a version
// staged with other bytes fails it as it would the release.
func TestStageDryRun(t *testing.T) {
	t.Parallel()
	f := setupStage(t, "1.7.0")
	cfg, out := f.stageConfig(t)
	cfg.DryRun = true
	cfg.Job.InCircleCI, cfg.Rehearsal = false, true
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Nil(t, results)
	assert.Empty(t, f.bed.Front.Staged(), "nothing staged")
	assert.Empty(t, f.stagePosts())
	assert.Contains(t, out.String(), "OIDC probe: npm stage publish --dry-run of the 13 packages to stage")
	assert.Contains(t, out.String(), "Dry run (FACET_DRY_RUN): the pre-flight passed; nothing was staged.")
	assert.Regexp(t, `(?m)^  agent-facets +stage agent-facets-1\.7\.0\.tgz$`, out.String())
	_, err = f.dist.ReadStaged()
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing recorded")
}
