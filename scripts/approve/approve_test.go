package approve_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/approve"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/verify"
)

// bed is the registry test bed with the maintainer at a terminal, on a
// virtual clock: their npm is logged in, and every page npm asks to have
// approved (a second factor) they approve in the browser.
type bed struct {
	*testenv.Bed
	user  *testenv.User
	stdio npm.Stdio
	clock *registrytest.Clock

	mu        sync.Mutex
	approvals []approval  // the registry's answered approvals, in order
	cancel    func(n int) // hears the count of approvals after each
}

// approval is an approval the registry answered: the stage id and when, on
// the clock.
type approval struct {
	id string
	at time.Time
}

func newBed(t *testing.T) *bed {
	t.Helper()
	tb := testenv.RegistryBed(t)
	tb.Publish(t, "0.0.1", platforms.Packages()...)
	tb.Front.SetWebLoginRetryAfter(20 * time.Millisecond)
	control, term := testenv.PTY(t)
	b := &bed{Bed: tb, user: testenv.AtTerminal(t, control), stdio: npm.Stdio{In: term, Out: term, Err: term}, clock: registrytest.NewClock(time.Now())}
	tb.Front.SetClock(b.clock.Now)
	tb.Front.Observe(func(r registrytest.Request) {
		id, ok := strings.CutSuffix(r.Path, "/approve")
		if r.Method != http.MethodPost || !ok || r.Status != http.StatusOK {
			return
		}
		b.mu.Lock()
		b.approvals = append(b.approvals, approval{id: strings.TrimPrefix(id, "/-/stage/"), at: b.clock.Now()})
		n, cancel := len(b.approvals), b.cancel
		b.mu.Unlock()
		if cancel != nil {
			cancel(n)
		}
	})
	return b
}

// approved is the stage ids approved so far, in order.
func (b *bed) approved() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for _, a := range b.approvals {
		ids = append(ids, a.id)
	}
	return ids
}

// rejects counts the registry's answered rejections.
func (b *bed) rejects() int {
	n := 0
	for _, r := range b.Front.Requests() {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.Path, "/-/stage/") && r.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// release is a release packed as the maintainer's rebuild leaves it, and
// what was staged of it.
type release struct {
	version string
	dist    dist.Layout
	records []dist.PackRecord
	ids     map[string][]string // package → its stage ids, oldest first
}

func (b *bed) pack(t *testing.T, version string) *release {
	t.Helper()
	l, records := releasetest.StandIns(t, version)
	return &release{version: version, dist: l, records: records, ids: map[string][]string{}}
}

// tarball is the rebuilt tarball of pkg.
func (r *release) tarball(pkg string) string {
	for _, rec := range r.records {
		if rec.Name == pkg {
			return filepath.Join(r.dist.Root, rec.Tarball)
		}
	}
	panic("no package " + pkg)
}

// stage stages the tarballs of pkgs (all 13 if none), as a logged-in user
// with npm stage publish, under the tag latest.
func (b *bed) stage(t *testing.T, r *release, pkgs ...string) {
	t.Helper()
	if len(pkgs) == 0 {
		pkgs = platforms.Packages()
	}
	ids := make([]string, len(pkgs))
	var wg sync.WaitGroup
	for i, pkg := range pkgs {
		wg.Go(func() { ids[i] = b.stageFile(t, r.tarball(pkg)) })
	}
	wg.Wait()
	for i, pkg := range pkgs {
		require.NotEmpty(t, ids[i], "staging %s", pkg)
		r.ids[pkg] = append(r.ids[pkg], ids[i])
	}
}

// stageFile stages the tarball at path and returns its stage id.
func (b *bed) stageFile(t *testing.T, path string) string {
	t.Helper()
	// Not require: it may run in another goroutine than the test's.
	out, err := b.NPM(t, true).RunCombined(t.Context(), filepath.Dir(path), "stage", "publish", path, "--access", "public", "--tag", "latest")
	id, ok := npm.ParseStaged(out)
	if err != nil || !ok {
		t.Errorf("npm stage publish %s: %v\n%s", filepath.Base(path), err, out)
	}
	return id
}

// config is the maintainer's approval of r, on the bed's clock.
func (b *bed) config(t *testing.T, r *release) (approve.Config, *syncbuf.Buffer) {
	t.Helper()
	reg, err := registry.New(b.URL)
	require.NoError(t, err)
	reg.Retry = retry.Policy{Attempts: 20, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	var out syncbuf.Buffer
	return approve.Config{
		Version:  "agent-facets@" + r.version,
		Dist:     r.dist,
		Registry: reg,
		NPM:      b.NPM(t, true),
		Dir:      t.TempDir(),
		Stdio:    b.stdio,
		Now:      b.clock.Now,
		Sleep:    b.clock.Sleep,
		Deadline: b.clock.Now().Add(20 * time.Minute),
		Out:      &out,
	}, &out
}

// verified checks the release as go tool mage approve does after approving
// (verify.Release, which verify:release runs): every package at the version
// with the rebuilt tarball, under the plan's tag.
func (b *bed) verified(t *testing.T, r *release, plan *approve.Plan) {
	t.Helper()
	reg, err := registry.New(b.URL)
	require.NoError(t, err)
	reg.Retry = retry.Policy{Attempts: 20, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Now: b.clock.Now, Sleep: b.clock.Sleep}
	var out syncbuf.Buffer
	_, err = verify.Release(t.Context(), verify.ReleaseConfig{Registry: reg, Version: plan.Version, Tag: plan.Tag, Dist: r.dist,
		Poll: registry.Poll{Now: b.clock.Now, Sleep: b.clock.Sleep, Timeout: time.Minute}, Out: &out})
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "Release "+r.version+" is complete: 13 packages under latest.")
}

// staged is the stage ids the registry holds, oldest first.
func (b *bed) staged() []string {
	var ids []string
	for _, s := range b.Front.Staged() {
		ids = append(ids, s.ID)
	}
	return ids
}

// A staged release is approved: each staged tarball is checked against the
// rebuild, the 12 platform packages are approved first, the wrapper after
// them and after the CDN's max-age, a duplicate of the same bytes is
// rejected, and the release is verified. A rerun approves nothing.
func TestApprove(t *testing.T) {
	b := newBed(t)
	b.Front.SetCDN(5 * time.Minute)
	r := b.pack(t, "1.0.0")
	b.stage(t, r)
	dup := platforms.All()[3].Package()
	b.stage(t, r, dup) // a stage job rerun: the same bytes again
	cfg, out := b.config(t, r)

	plan, err := approve.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, 13, plan.ToApprove())
	assert.Equal(t, "latest", plan.Tag)
	assert.Equal(t, 5*time.Minute, plan.CDNMaxAge)

	// Platforms first, each its first stage id; the wrapper last.
	var want []string
	for _, tg := range platforms.All() {
		want = append(want, r.ids[tg.Package()][0])
	}
	got := b.approved()
	require.Len(t, got, 13, out.String())
	assert.ElementsMatch(t, want, got[:12])
	assert.Equal(t, r.ids[platforms.Wrapper][0], got[12], "the wrapper last")
	b.mu.Lock()
	lastPlatform, wrapperAt := b.approvals[11].at, b.approvals[12].at
	b.mu.Unlock()
	assert.GreaterOrEqual(t, wrapperAt.Sub(lastPlatform), 5*time.Minute, "the wrapper after the CDN's max-age")

	assert.Empty(t, b.staged(), "the duplicate was rejected")
	assert.Equal(t, 1, b.rejects())
	text := out.String()
	assert.Contains(t, text, "release 1.0.0 under dist-tag latest: 13 to approve, 0 published already")
	assert.Contains(t, text, "byte for byte the rebuilt tarball")
	assert.Regexp(t, `waiting \dm\d+s before approving the wrapper: the registry's CDN may serve a package document up to 5m0s old`, text)
	assert.Contains(t, text, "rejecting stage id "+r.ids[dup][1]+" of "+dup+"@1.0.0: a duplicate of the published version")
	b.verified(t, r, plan)
	assert.NotEmpty(t, b.user.Opened(), "the second factors were asked on the maintainer's terminal")
	// Neither the maintainer's login nor a second factor's token is shown.
	assert.NotContains(t, text, b.Verdaccio.Token)
	for _, l := range b.Front.WebLogins() {
		assert.NotContains(t, text, l.Token)
		assert.NotContains(t, b.user.Screen(), l.Token)
	}

	// A rerun: nothing to approve.
	again, out2 := b.config(t, r)
	plan, err = approve.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	assert.Zero(t, plan.ToApprove())
	assert.Len(t, b.approved(), 13, "nothing approved again")
	assert.Contains(t, out2.String(), "Release 1.0.0 is approved already: every package is published with the rebuilt tarball and manifest; nothing to approve.")
	b.verified(t, r, plan)
}

// Approve killed after the 12 platform packages: a rerun approves only the
// wrapper, and waits out the CDN from when they were published.
func TestApproveKilledAfterPlatforms(t *testing.T) {
	b := newBed(t)
	b.Front.SetCDN(5 * time.Minute)
	r := b.pack(t, "1.0.0")
	b.stage(t, r)
	cfg, out := b.config(t, r)
	ctx, cancel := context.WithCancel(t.Context())
	b.mu.Lock()
	b.cancel = func(n int) {
		if n == 12 {
			cancel()
		}
	}
	b.mu.Unlock()
	_, err := approve.Run(ctx, cfg)
	require.Error(t, err, out.String())
	require.Len(t, b.approved(), 12)
	assert.Equal(t, []string{r.ids[platforms.Wrapper][0]}, b.staged(), "only the wrapper is left staged")

	again, out2 := b.config(t, r)
	plan, err := approve.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	assert.Equal(t, 1, plan.ToApprove())
	got := b.approved()
	require.Len(t, got, 13)
	assert.Equal(t, r.ids[platforms.Wrapper][0], got[12])
	assert.Contains(t, out2.String(), "release 1.0.0 under dist-tag latest: 1 to approve, 12 published already")
	b.mu.Lock()
	lastPlatform, wrapperAt := b.approvals[11].at, b.approvals[12].at
	b.mu.Unlock()
	assert.GreaterOrEqual(t, wrapperAt.Sub(lastPlatform), 5*time.Minute, "the CDN's max-age counts from the platform packages' publish")
}

// swapped is tgz with README.md's content replaced.
func swapped(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		content, err := io.ReadAll(tr)
		require.NoError(t, err)
		if h.Name == "package/README.md" {
			content = []byte("not what was built\n")
			h.Size = int64(len(content))
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(content)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// Every refusal approves nothing, and names the package and why.
func TestApproveRefuses(t *testing.T) {
	b := newBed(t)
	linux := platforms.All()[0].Package()
	tests := []struct {
		name    string
		version string
		stage   func(t *testing.T, r *release)
		want    string
	}{{
		name:    "a staged tarball swapped on the registry",
		version: "1.1.0",
		stage: func(t *testing.T, r *release) {
			b.stage(t, r)
			require.NoError(t, b.Front.ReplaceStagedTarball(r.ids[linux][0], swapped(t, r.tarball(linux))))
		},
		want: linux + "@1.1.0: the staged tarball (stage id %ID%, staged by ",
	}, {
		name:    "a package missing",
		version: "1.2.0",
		stage: func(t *testing.T, r *release) {
			b.stage(t, r, platforms.Packages()[1:]...)
		},
		want: platforms.Packages()[0] + "@1.2.0: neither published nor staged",
	}, {
		name:    "staged twice with different bytes",
		version: "1.3.0",
		stage: func(t *testing.T, r *release) {
			b.stage(t, r)
			other := filepath.Join(t.TempDir(), "other.tgz")
			require.NoError(t, os.WriteFile(other, swapped(t, r.tarball(linux)), 0o644))
			r.ids[linux] = append(r.ids[linux], b.stageFile(t, other))
		},
		want: linux + "@1.3.0: staged 2 times with different bytes: %ID% (shasum ",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.pack(t, tt.version)
			tt.stage(t, r)
			before := b.staged()
			cfg, out := b.config(t, r)
			_, err := approve.Run(t.Context(), cfg)
			require.Error(t, err, out.String())
			assert.Contains(t, err.Error(), "approve: agent-facets@"+tt.version+" cannot be approved, and nothing was approved:")
			id := ""
			if ids := r.ids[linux]; len(ids) > 0 {
				id = ids[0]
			}
			assert.Contains(t, err.Error(), strings.ReplaceAll(tt.want, "%ID%", id))
			assert.Empty(t, b.approved(), "nothing approved")
			assert.Equal(t, before, b.staged(), "nothing rejected")
			if tt.name == "a staged tarball swapped on the registry" {
				assert.Contains(t, err.Error(), "is not what was rebuilt from the tag: file README.md changed")
			}
		})
	}
}

// A dry run does every check and says what would be approved, approving
// nothing; reject rejects every staged version of the release, and only
// that release.
func TestDryRunAndReject(t *testing.T) {
	b := newBed(t)
	r := b.pack(t, "2.0.0")
	b.stage(t, r)
	linux := platforms.All()[0].Package()
	b.stage(t, r, linux) // a duplicate
	other := b.pack(t, "2.0.1")
	b.stage(t, other, linux)

	cfg, out := b.config(t, r)
	cfg.DryRun = true
	plan, err := approve.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, 13, plan.ToApprove())
	assert.Empty(t, b.approved())
	assert.Contains(t, out.String(), "Dry run (FACET_DRY_RUN): every check passed; 13 would be approved; nothing was approved.")
	assert.Contains(t, out.String(), "approve stage id "+r.ids[linux][0])
	assert.Len(t, b.staged(), 15)

	cfg, out = b.config(t, r)
	rejected, err := approve.Reject(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Len(t, rejected, 14)
	assert.Equal(t, other.ids[linux], b.staged(), "the other release's stays")
	assert.Equal(t, 14, b.rejects())
	assert.Contains(t, out.String(), "rejecting "+linux+"@2.0.0 (stage id "+r.ids[linux][1])
	assert.Contains(t, out.String(), "rejected 14 staged versions of 2.0.0")
	assert.Empty(t, b.approved())
}
