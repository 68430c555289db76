package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/release"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/verify"
)

// fixture is a seeded registry whose 13 packages trust the CircleCI
// pipeline, a job of that pipeline, and a packed release.
type fixture struct {
	bed     *testenv.Bed
	job     *testenv.Job
	dist    dist.Layout
	records []dist.PackRecord
	version string
	minted  *recorder
	seeded  map[string]int // successful publishes before the release: the placeholders
	dirs    []string       // the releases' working directories
}

func setup(t *testing.T, version string) *fixture {
	t.Helper()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Packages()...)
	for _, pkg := range platforms.Packages() {
		bed.Front.SetTrust(pkg, registrytest.TrustFor(circleci.Facets()))
	}
	job := bed.CircleCIJob(t, circleci.Facets())
	l, records := releasetest.Packed(t, version)
	f := &fixture{bed: bed, job: job, dist: l, records: records, version: version, minted: &recorder{}}
	f.seeded = f.puts()
	return f
}

// recorder is a TokenSource that remembers every token it minted.
type recorder struct {
	mu     sync.Mutex
	source release.TokenSource
	tokens []string
}

func (r *recorder) Mint(ctx context.Context, aud string) (string, error) {
	token, err := r.source.Mint(ctx, aud)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.tokens = append(r.tokens, token)
	}
	return token, err
}

// config is a release as the CircleCI job runs it: no npm login, CIRCLECI
// set, the circleci command minting tokens, CIRCLE_TAG the version's tag.
func (f *fixture) config(t *testing.T) (release.Config, *syncbuf.Buffer) {
	t.Helper()
	reg, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	fast := retry.Policy{Attempts: 20, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	reg.Retry = fast
	cli := f.bed.NPM(t, false).With(f.job.Env...)
	f.minted.source = circleci.Minter{Env: cli.Env}
	var out syncbuf.Buffer
	dir := t.TempDir()
	f.dirs = append(f.dirs, dir)
	return release.Config{
		Dist:     f.dist,
		Registry: reg,
		NPM:      cli,
		Dir:      dir,
		Tokens:   f.minted,
		Job:      circleci.Job{InCircleCI: true, Tag: "agent-facets@" + f.version},
		Retry:    fast,
		Poll:     registry.Poll{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Timeout: 30 * time.Second},
		Progress: progress.NewPlain(&out),
		Out:      &out, // LogDir as in CircleCI: the default, which the job keeps as an artifact
	}, &out
}

// puts counts the successful publishes of each package since the fixture was
// set up.
func (f *fixture) puts() map[string]int {
	n := map[string]int{}
	for _, r := range f.bed.Front.Requests() {
		if r.Method == http.MethodPut && r.Status == http.StatusCreated && r.Package != "" {
			n[r.Package]++
		}
	}
	for pkg, k := range f.seeded {
		if n[pkg] -= k; n[pkg] == 0 {
			delete(n, pkg)
		}
	}
	return n
}

// released checks that the registry serves the release from dist/: every
// package at the version with its tarball, under tag.
func (f *fixture) released(t *testing.T, tag string) {
	t.Helper()
	reg, err := registry.New(f.bed.Verdaccio.URL)
	require.NoError(t, err)
	for _, rec := range f.records {
		s := reg.Check(t.Context(), registry.Want{Name: rec.Name, Version: f.version, Integrity: rec.Integrity, Tag: tag})
		assert.True(t, s.OK(), "%s: %v", rec.Name, s.Problems)
	}
}

// A full release publishes each package once, the wrapper after every
// platform package; a rerun publishes nothing.
func TestRelease(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.0.0")
	var order []string
	var mu sync.Mutex
	cfg, out := f.config(t)
	cfg.Jobs = 3
	runs := &counter{source: cfg.Tokens}
	cfg.Tokens = runs
	f.bed.Front.Observe(func(r registrytest.Request) {
		if strings.Contains(r.Path, "/oidc/token/exchange/") {
			runs.exchanged()
		}
		if r.Method == http.MethodPut && r.Status == http.StatusCreated {
			mu.Lock()
			order = append(order, r.Package)
			mu.Unlock()
		}
	})
	plan, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, "latest", plan.Tag)
	for _, r := range results {
		assert.Equal(t, release.Published, r.Action, r.Package)
		assert.Equal(t, 1, r.Attempts, r.Package)
	}
	f.released(t, "latest")
	for _, pkg := range platforms.Packages() {
		assert.Equal(t, 1, f.puts()[pkg], pkg)
	}
	mu.Lock()
	assert.Equal(t, platforms.Wrapper, order[len(order)-1], "the wrapper goes out last")
	mu.Unlock()
	assert.LessOrEqual(t, runs.most, 3, "never more npm runs at once than asked")
	assert.GreaterOrEqual(t, runs.most, 2, "npm runs at once")
	ids := f.bed.Front.IDTokens()
	assert.Len(t, ids, 26, "an ID token for each probe and each publish")
	seen := map[string]bool{}
	for _, id := range ids {
		assert.False(t, seen[id], "a fresh ID token each time")
		seen[id] = true
	}
	text := out.String()
	assert.Contains(t, text, "release 1.0.0 to "+f.bed.URL+" under dist-tag latest: 13 to publish, 0 already published")
	assert.Contains(t, text, "OIDC probe: npm publish --dry-run of the 13 packages to publish")
	assert.Regexp(t, `(?m)^agent-facets +published +1 +\S+$`, text)
	assert.Contains(t, text, "13/13 finished, 13 published")
	assert.GreaterOrEqual(t, f.bed.Front.Exchanged(), 26, "a fresh token for each probe and each publish")

	exchanged := f.bed.Front.Exchanged()
	again, out2 := f.config(t)
	_, results, err = release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	for _, r := range results {
		assert.Equal(t, release.Skipped, r.Action, r.Package)
	}
	assert.Contains(t, out2.String(), "0 to publish, 13 already published")
	assert.Equal(t, exchanged, f.bed.Front.Exchanged(), "nothing to publish: no token exchanged, not even by the probe")
	for _, pkg := range platforms.Packages() {
		assert.Equal(t, 1, f.puts()[pkg], "nothing published twice: %s", pkg)
	}
	secretsNowhere(t, f, out.String()+out2.String())
}

// counter is a TokenSource that counts the npm runs under way: a run starts
// with its mint and is past its start once the registry has answered its
// exchange, a little before the run ends. So the most it sees under way is at
// most the true number, and a run that starts before an earlier one has
// exchanged is seen.
type counter struct {
	source  release.TokenSource
	mu      sync.Mutex
	minted  int
	answers int
	most    int
}

func (c *counter) Mint(ctx context.Context, aud string) (string, error) {
	c.mu.Lock()
	c.minted++
	c.most = max(c.most, c.minted-c.answers)
	c.mu.Unlock()
	return c.source.Mint(ctx, aud)
}

func (c *counter) exchanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers++
}

// secretsNowhere proves that no token minted or handed out appears in the
// output, or in any file left in dist/ (the logs among them) or in the test
// bed's directories (npm's configuration and cache).
func secretsNowhere(t *testing.T, f *fixture, output string) {
	t.Helper()
	f.minted.mu.Lock()
	tokens := append(f.minted.tokens, f.bed.Front.IssuedTokens()...)
	f.minted.mu.Unlock()
	require.NotEmpty(t, tokens)
	logs, err := filepath.Glob(filepath.Join(f.dist.Logs(), "release", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs, "npm's output is kept")
	for _, tok := range tokens {
		assert.NotContains(t, output, tok)
	}
	// npm's temporary files are in the bed's directory (its TMPDIR).
	for _, root := range append([]string{f.dist.Root, f.bed.Verdaccio.Dir()}, f.dirs...) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			// Regular files only: opening a FIFO of another program's in the
			// temporary directory would block for good.
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if info, err := d.Info(); err != nil || info.Size() > 8<<20 {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, tok := range tokens {
				if strings.Contains(string(data), tok) {
					t.Errorf("a token is in %s", path)
				}
			}
			return nil
		})
	}
}

// A release stopped after k publishes (a killed job) and run again completes:
// every package published once, with its tarball.
func TestKilledAndRerun(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 5, 12} {
		t.Run(fmt.Sprintf("after %d publishes", k), func(t *testing.T) {
			t.Parallel()
			f := setup(t, fmt.Sprintf("1.0.%d", k))
			ctx, cancel := context.WithCancel(t.Context())
			var n atomic.Int32
			f.bed.Front.Observe(func(r registrytest.Request) {
				if r.Method == http.MethodPut && r.Status == http.StatusCreated && int(n.Add(1)) == k {
					cancel()
				}
			})
			cfg, out := f.config(t)
			_, _, err := release.Run(ctx, cfg)
			require.Error(t, err, out.String())
			assert.Less(t, len(f.puts()), 13, "stopped before the end")
			assert.Zero(t, f.puts()[platforms.Wrapper], "the wrapper is never published before the platform packages")
			f.bed.Front.Observe(nil)
			// What the killed run got through is answered before the
			// rerun starts; the rerun's publishes carry tokens handed out
			// after these.
			f.bed.Front.Settle()
			issued := f.bed.Front.Exchanged()
			tokenless := putsWithoutToken(f.bed.Front.Requests())

			again, out2 := f.config(t)
			_, results, err := release.Run(t.Context(), again)
			require.NoError(t, err, out2.String())
			skipped := 0
			for _, r := range results {
				if r.Action == release.Skipped {
					skipped++
				}
			}
			assert.GreaterOrEqual(t, skipped, k, "what was published is skipped")
			f.released(t, "latest")
			for _, pkg := range platforms.Packages() {
				// A publish cut off by the kill may have reached the registry
				// without its answer reaching anyone (then the rerun skips it):
				// at most one publish of each package succeeded.
				assert.LessOrEqual(t, f.puts()[pkg], 1, "published at most once: %s", pkg)
			}
			rerun := 0
			for _, r := range f.bed.Front.Requests() {
				if r.Method == http.MethodPut && r.Grant > issued {
					rerun++
					assert.Equal(t, http.StatusCreated, r.Status, "the rerun publishes only what is missing: %s", r.Package)
				}
			}
			assert.Equal(t, len(results)-skipped, rerun, "one publish for each package not skipped")
			assert.Equal(t, tokenless, putsWithoutToken(f.bed.Front.Requests()), "the rerun publishes with a token from the exchange")
		})
	}
}

// putsWithoutToken counts the publishes that carried no token from the
// exchange.
func putsWithoutToken(requests []registrytest.Request) int {
	n := 0
	for _, r := range requests {
		if r.Method == http.MethodPut && r.Grant == 0 {
			n++
		}
	}
	return n
}

// With a fifth of all registry requests failing (500, 429, dropped
// connections), the release completes, retrying what failed.
func TestReleaseThroughFailures(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.2.0")
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Share: 0.1})
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status429, Share: 0.06})
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Drop, Share: 0.05})
	cfg, out := f.config(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	retried := 0
	for _, r := range results {
		assert.Equal(t, release.Published, r.Action, r.Package)
		if r.Attempts > 1 {
			retried++
		}
	}
	assert.Positive(t, retried, "some publishes needed another attempt")
	faults := 0
	for _, r := range f.bed.Front.Requests() {
		if r.Fault {
			faults++
		}
	}
	assert.Greater(t, faults, 10)
	f.bed.Front.ClearFaults()
	f.released(t, "latest")
	for _, pkg := range platforms.Packages() {
		assert.Equal(t, 1, f.puts()[pkg], pkg)
	}
	secretsNowhere(t, f, out.String())
}

// A refused exchange stops the release in the pre-flight: nothing is
// published, and each package refused is named with npm's answer and what
// that answer means. npmjs.com answers 404 "package not found" for a
// publisher that does not match, none at all, an SSH rerun and a missing
// package alike; 401 "unauthorized" for a token older than 5 minutes; 400
// "bad request" for a token that is no JWT.
func TestExchangeDenied(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.3.0")
	linuxArm := platforms.All()[3].Package()
	other := circleci.Facets()
	other.PipelineDefinitionID = "22222222-2222-4222-8222-222222222222"
	const notFound, unauthorized, badRequest = "OIDC token exchange error - package not found (HTTP 404)",
		"OIDC token exchange error - unauthorized (HTTP 401)", "OIDC token exchange error - bad request (HTTP 400)"
	tests := []struct {
		name    string
		spoil   func(t *testing.T) (undo func())
		refused int    // how many packages
		answer  string // what the exchange answered
	}{
		{"a publisher of another pipeline definition", func(t *testing.T) func() {
			f.bed.Front.SetTrust(linuxArm, registrytest.TrustFor(other))
			return func() { f.bed.Front.SetTrust(linuxArm, registrytest.TrustFor(circleci.Facets())) }
		}, 1, notFound},
		{"no trusted publisher", func(t *testing.T) func() {
			f.bed.Front.SetTrust(linuxArm)
			return func() { f.bed.Front.SetTrust(linuxArm, registrytest.TrustFor(circleci.Facets())) }
		}, 1, notFound},
		{"an SSH rerun", func(t *testing.T) func() {
			f.job.Configure(t, func(c *registrytest.StandInConfig) { c.Claims[registrytest.ClaimSSHRerun] = true })
			return func() {
				f.job.Configure(t, func(c *registrytest.StandInConfig) { c.Claims[registrytest.ClaimSSHRerun] = false })
			}
		}, 13, notFound},
		{"a token older than 5 minutes", func(t *testing.T) func() {
			f.job.Configure(t, func(c *registrytest.StandInConfig) { c.AgeSeconds = 6 * 60 })
			return func() { f.job.Configure(t, func(c *registrytest.StandInConfig) { c.AgeSeconds = 0 }) }
		}, 13, unauthorized},
		{"a token that is no JWT", func(t *testing.T) func() {
			f.job.Configure(t, func(c *registrytest.StandInConfig) { c.Garble = true })
			return func() { f.job.Configure(t, func(c *registrytest.StandInConfig) { c.Garble = false }) }
		}, 13, badRequest},
		{"a package that does not exist", func(t *testing.T) func() { // last: it stays unpublished
			_, err := f.bed.NPM(t, true).Run(t.Context(), t.TempDir(), "unpublish", linuxArm, "--force")
			require.NoError(t, err)
			return func() {}
		}, 1, notFound},
	}
	causes := map[string][]string{
		notFound: {"404 package not found: the package has no trusted publisher (go tool mage trust), or one for another organization, project, pipeline definition, VCS origin or context (go tool mage verify); " +
			"or this job is an SSH rerun, whose tokens npm refuses (rerun the workflow without SSH); or the package does not exist (go tool mage seed)"},
		unauthorized: {"401 unauthorized: the ID token is older than about 5 minutes", "or the job's clock is off", "or its audience is not npm:<registry host>"},
		badRequest:   {"400 bad request: npm sent a malformed request"},
	}
	for _, tt := range tests {
		undo := tt.spoil(t)
		cfg, out := f.config(t)
		_, _, err := release.Run(t.Context(), cfg)
		undo()
		require.Error(t, err, "%s: %s", tt.name, out.String())
		msg := err.Error()
		assert.Contains(t, msg, fmt.Sprintf("release: the OIDC probe failed for %d of 13 packages, so nothing was published:", tt.refused), tt.name)
		assert.Contains(t, msg, "  "+linuxArm+": the OIDC token exchange failed: "+tt.answer+"\n", tt.name)
		for _, c := range causes[tt.answer] {
			assert.Contains(t, msg, c, tt.name)
		}
		assert.Empty(t, f.puts(), "%s: nothing published", tt.name)
		secretsNowhere(t, f, out.String()+msg)
	}
}

// Refusals: each one clear message, and nothing published.
func TestRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.4.0")
	tests := []struct {
		name  string
		spoil func(t *testing.T, cfg *release.Config)
		want  string
	}{
		{"not in CircleCI", func(t *testing.T, cfg *release.Config) { cfg.Job.InCircleCI = false },
			"release: not in a CircleCI job (CIRCLECI is not true): releases run in CircleCI, on a tag agent-facets@X.Y.Z (to try the whole release locally, run go tool mage rehearse)"},
		{"a rehearsal against the public registry", func(t *testing.T, cfg *release.Config) {
			cfg.Job.InCircleCI, cfg.Rehearsal = false, true
			cfg.Registry, _ = registry.New(registry.PublicRegistry)
		}, "release: a rehearsal must not publish to the public registry"},
		{"old npm", func(t *testing.T, cfg *release.Config) { cfg.NPM = testenv.OldNPM(t, cfg.NPM.Env) },
			"release: npm 11.10.1 is too old: publishing with an OIDC token on CircleCI (older npm ignores NPM_ID_TOKEN there) needs npm 11.11.0 or later"},
		{"no tag", func(t *testing.T, cfg *release.Config) { cfg.Job.Tag = "" },
			"release: CIRCLE_TAG is not set: a release runs for a tag agent-facets@X.Y.Z"},
		{"tag and dist differ", func(t *testing.T, cfg *release.Config) { cfg.Job.Tag = "agent-facets@1.4.1" },
			"release: the tag agent-facets@1.4.1 is version 1.4.1, but dist/ holds 1.4.0"},
		{"not a release tag", func(t *testing.T, cfg *release.Config) { cfg.Job.Tag = "v1.4.0" },
			`tag "v1.4.0" (CIRCLE_TAG) is not a release tag: want agent-facets@X.Y.Z`},
		{"nothing packed", func(t *testing.T, cfg *release.Config) { cfg.Dist = dist.Layout{Root: t.TempDir()} },
			"release: dist/ is not ready: nothing has been packed"},
		// Credentials npm would send to the registry released to: one
		// refused line each, whichever npmrc or variable holds it.
		{"a token for the registry", func(t *testing.T, cfg *release.Config) {
			npmrc(t, f, cfg, "//"+f.host()+"/:_authToken="+token)
		}, "release: npm is configured with a long-lived credential for " + f.bed.URL + ", which it would send with the release's requests:\n  //" + f.host() + "/:_authToken (user config "},
		{"a token for the registry's host and port, in the project's npmrc", func(t *testing.T, cfg *release.Config) {
			require.NoError(t, os.WriteFile(filepath.Join(cfg.Dir, ".npmrc"), []byte("//"+f.host()+":_authToken="+token+"\n"), 0o600))
		}, "\n  //" + f.host() + ":_authToken (project config "},
		{"a token for a path under the registry, in the environment", func(t *testing.T, cfg *release.Config) {
			cfg.NPM = cfg.NPM.With("npm_config_//" + f.host() + "/agent-facets:_authToken=" + token)
		}, "\n  //" + f.host() + "/agent-facets:_authToken (environment)\n"},
		{"a user and password for the registry", func(t *testing.T, cfg *release.Config) {
			npmrc(t, f, cfg, "//"+f.host()+"/:username=maintainer", "//"+f.host()+"/:_password="+token)
		}, "/:_password (user config "},
		{"_auth for the registry", func(t *testing.T, cfg *release.Config) {
			npmrc(t, f, cfg, "//"+f.host()+"/:_auth="+token)
		}, "\n  //" + f.host() + "/:_auth (user config "},
		{"NPM_TOKEN named by an npmrc key for the registry", func(t *testing.T, cfg *release.Config) {
			npmrc(t, f, cfg, "//"+f.host()+"/:_authToken=${NPM_TOKEN}")
			cfg.NPM = cfg.NPM.With("NPM_TOKEN=" + token)
		}, "\n  //" + f.host() + "/:_authToken (user config "},
		{"a token scoped to no registry", func(t *testing.T, cfg *release.Config) {
			npmrc(t, f, cfg, "_authToken="+token)
		}, "\n  _authToken (user config "},
		{"the bed's login", func(t *testing.T, cfg *release.Config) { cfg.NPM.Env = append(f.bed.NPM(t, true).Env, f.job.Env...) },
			"/:_authToken (user config "},
		{"a dist-tag npm refuses", func(t *testing.T, cfg *release.Config) { cfg.DistTag = "1.x" },
			`release: FACET_DIST_TAG="1.x": npm refuses a dist-tag that is a valid semver range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, out := f.config(t)
			tt.spoil(t, &cfg)
			_, _, err := release.Run(t.Context(), cfg)
			require.Error(t, err, out.String())
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error()+out.String(), token)
		})
	}
	assert.Empty(t, f.puts(), "nothing published")
	assert.Zero(t, f.bed.Front.Exchanged(), "no token was even exchanged: the refusals come before the probe")
}

// Credentials for other registries stay where they are: the release names
// each and publishes with OIDC; so do NPM_TOKEN and NODE_AUTH_TOKEN, which
// npm reads only through a key naming them.
func TestCredentialsForOtherRegistries(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.5.0")
	cfg, out := f.config(t)
	const ghp = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	host, port, err := net.SplitHostPort(f.host())
	require.NoError(t, err)
	other := fmt.Sprintf("%s:%d", host, mustAtoi(t, port)+1)
	user := npmrc(t, f, &cfg,
		"//npm.pkg.github.com/:_authToken=${NODE_AUTH_TOKEN}", // GitHub Packages, as actions/setup-node writes it
		"//"+other+"/:_authToken="+token,                      // another port of the same host
		"//"+host+"/:_authToken="+token,                       // the host without the port
		"//"+f.host()+"/:username=maintainer",                 // no password with it: not a credential
	)
	cfg.NPM = cfg.NPM.With("NODE_AUTH_TOKEN="+ghp, "NPM_TOKEN="+token)
	_, _, err = release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	text := out.String()
	for _, key := range []string{"//npm.pkg.github.com/:_authToken", "//" + other + "/:_authToken", "//" + host + "/:_authToken", "//" + f.host() + "/:username"} {
		assert.Contains(t, text, "npm credential "+key+" (user config "+user+"): not sent to "+f.bed.URL+", left alone\n")
	}
	assert.Contains(t, text, "NPM_TOKEN is set in the environment: npm reads it only through an npmrc key that names it (${NPM_TOKEN}), and those keys are checked; left alone\n")
	assert.Contains(t, text, "NODE_AUTH_TOKEN is set in the environment")
	assert.NotContains(t, text, token)
	assert.NotContains(t, text, ghp)
	f.released(t, "latest")
	assert.GreaterOrEqual(t, f.bed.Front.Exchanged(), 26, "published with OIDC")
}

// token is a long-lived npm token in the tests' npm configurations.
const token = "npm_abcdefghijklmnopqrstuvwxyz0123456789"

// host is the host and port of the bed's registry, as npm's keys name it.
func (f *fixture) host() string {
	u, err := url.Parse(f.bed.URL)
	if err != nil {
		panic(err)
	}
	return u.Host
}

// npmrc makes lines, after the bed's registry, the user configuration of
// cfg's npm, and returns its path.
func npmrc(t *testing.T, f *fixture, cfg *release.Config, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "npmrc")
	require.NoError(t, os.WriteFile(path, []byte("registry="+f.bed.URL+"\n"+strings.Join(lines, "\n")+"\n"), 0o600))
	cfg.NPM = cfg.NPM.With("NPM_CONFIG_USERCONFIG=" + path)
	return path
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// dist/ must be what was packed and verified.
func TestTamperedDist(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.6.0")
	tests := []struct {
		name  string
		spoil func(t *testing.T, l dist.Layout)
		want  string
	}{
		{"a tarball changed", func(t *testing.T, l dist.Layout) {
			path := filepath.Join(l.Root, f.records[4].Tarball)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data[len(data)/2] ^= 0xff
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}, f.records[4].Tarball + ": its sha256 is not the one in SHA256SUMS"},
		{"a tarball missing", func(t *testing.T, l dist.Layout) {
			require.NoError(t, os.Remove(filepath.Join(l.Root, f.records[12].Tarball)))
		}, f.records[12].Tarball + ": open"},
		{"SHA256SUMS edited", func(t *testing.T, l dist.Layout) {
			data, err := os.ReadFile(l.SumsPath())
			require.NoError(t, err)
			// Change the first hex digit of the first sum: the line still names
			// its tarball, and its sum is no longer that tarball's.
			if data[0] == '0' {
				data[0] = '1'
			} else {
				data[0] = '0'
			}
			require.NoError(t, os.WriteFile(l.SumsPath(), data, 0o644))
		}, "is not the one in SHA256SUMS"},
		{"a binary that is not the verified one", func(t *testing.T, l dist.Layout) {
			tg := platforms.All()[9]
			r, err := l.ReadBuildRecord(tg)
			require.NoError(t, err)
			r.SHA256 = strings.Repeat("0", 64)
			require.NoError(t, l.WriteBuildRecord(tg, r))
		}, "bin/facet.exe is not the binary the build verified (dist/build/windows-arm64.json)"},
		{"no build record", func(t *testing.T, l dist.Layout) {
			require.NoError(t, l.RemoveBuildRecord(platforms.All()[0]))
		}, "no build record of darwin-arm64"},
		{"a build record of another version", func(t *testing.T, l dist.Layout) {
			tg := platforms.All()[2]
			r, err := l.ReadBuildRecord(tg)
			require.NoError(t, err)
			r.Version = "1.5.9"
			require.NoError(t, l.WriteBuildRecord(tg, r))
		}, "the build record of darwin-x64-baseline is of version 1.5.9"},
		{"a stray file in a platform tarball", func(t *testing.T, l dist.Layout) {
			repack(t, l, 6, func(files map[string][]byte) { files["bin/helper"] = []byte("#!/bin/sh\n") })
		}, "agent-facets-cli-linux-x64-baseline-1.6.0.tgz: it holds LICENSE, README.md, bin/facet, bin/helper, package.json, and packages.json says LICENSE, README.md, bin/facet, package.json"},
		{"a wrapper that depends on something else", func(t *testing.T, l dist.Layout) {
			repack(t, l, 12, func(files map[string][]byte) {
				files["package.json"] = []byte(strings.Replace(string(files["package.json"]), `"@agent-facets/cli-linux-x64": "1.6.0"`, `"@agent-facets/cli-linux-x64": "1.5.0"`, 1))
			})
		}, "the wrapper's optionalDependencies are not the 12 platform packages at its version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := dist.Layout{Root: t.TempDir()}
			require.NoError(t, os.CopyFS(l.Root, os.DirFS(f.dist.Root)))
			tt.spoil(t, l)
			cfg, out := f.config(t)
			cfg.Dist = l
			_, _, err := release.Run(t.Context(), cfg)
			require.Error(t, err, out.String())
			assert.Contains(t, err.Error(), "release: dist/ is not what was packed and verified")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("packages.json out of order", func(t *testing.T) {
		l := dist.Layout{Root: t.TempDir()}
		require.NoError(t, os.CopyFS(l.Root, os.DirFS(f.dist.Root)))
		records := slices.Clone(f.records)
		records[0], records[12] = records[12], records[0]
		require.NoError(t, dist.WriteJSON(l.PackRecordsPath(), records))
		cfg, _ := f.config(t)
		cfg.Dist = l
		_, _, err := release.Run(t.Context(), cfg)
		assert.ErrorContains(t, err, "dist/packages.json lists agent-facets, @agent-facets/cli-darwin-x64")
	})
	t.Run("a tarball missing from SHA256SUMS", func(t *testing.T) {
		l := dist.Layout{Root: t.TempDir()}
		require.NoError(t, os.CopyFS(l.Root, os.DirFS(f.dist.Root)))
		data, err := os.ReadFile(l.SumsPath())
		require.NoError(t, err)
		lines := strings.SplitAfter(string(data), "\n")
		require.NoError(t, os.WriteFile(l.SumsPath(), []byte(strings.Join(lines[1:], "")), 0o644))
		cfg, _ := f.config(t)
		cfg.Dist = l
		_, _, err = release.Run(t.Context(), cfg)
		assert.ErrorContains(t, err, "SHA256SUMS lists 12 tarballs, packages.json 13")
	})
	t.Run("built from another commit than the job's", func(t *testing.T) {
		cfg, _ := f.config(t)
		cfg.Job.SHA1 = "fedcba9876543210fedcba9876543210fedcba98"
		_, _, err := release.Run(t.Context(), cfg)
		assert.ErrorContains(t, err, "darwin-arm64 was built from commit "+releasetest.Commit+", and this job runs for fedcba9876543210fedcba9876543210fedcba98 (CIRCLE_SHA1)")
	})
	assert.Empty(t, f.puts())
}

// repack rewrites the i-th tarball of l with change applied to its files,
// and SHA256SUMS and packages.json to match: a tarball that passes the
// checksums and is still wrong.
func repack(t *testing.T, l dist.Layout, i int, change func(files map[string][]byte)) {
	t.Helper()
	records, err := l.ReadPackRecords()
	require.NoError(t, err)
	path := filepath.Join(l.Root, records[i].Tarball)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	entries, err := dist.ReadTarball(data)
	require.NoError(t, err)
	files := map[string][]byte{}
	modes := map[string]int64{}
	for name, e := range entries {
		files[name], err = dist.TarballFile(data, name)
		require.NoError(t, err)
		modes[name] = e.Mode
	}
	change(files)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		mode := modes[name]
		if mode == 0 {
			mode = 0o755
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: mode, Size: int64(len(files[name])), Typeflag: tar.TypeReg}))
		_, err := tw.Write(files[name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	sums, err := os.ReadFile(l.SumsPath())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(l.SumsPath(), []byte(strings.Replace(string(sums), records[i].SHA256, dist.SHA256(buf.Bytes()), 1)), 0o644))
	records[i].SHA256, records[i].Integrity = dist.SHA256(buf.Bytes()), dist.Integrity(buf.Bytes())
	require.NoError(t, dist.WriteJSON(l.PackRecordsPath(), records))
}

// A version already on the registry with another tarball stops the release
// before anything is published.
func TestConflict(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.7.0")
	darwin := platforms.All()[1].Package()
	f.bed.Publish(t, "1.7.0", darwin)
	before := f.puts()
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: the registry stops the release:\n  "+darwin+"@1.7.0 is already on the registry with another tarball")
	assert.Contains(t, err.Error(), "release a new version")
	assert.Equal(t, before, f.puts(), "nothing published")
}

// A prerelease goes to next; latest stays where it was.
func TestPrerelease(t *testing.T) {
	t.Parallel()
	f := setup(t, "2.0.0-rc.1")
	cfg, out := f.config(t)
	plan, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, "next", plan.Tag)
	f.released(t, "next")
	reg, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	p, err := reg.Packument(t.Context(), platforms.Wrapper)
	require.NoError(t, err)
	assert.Equal(t, "0.0.1", p.DistTags["latest"], "a prerelease does not become latest")
}

// A dry run, in a rehearsal, runs the whole pre-flight, the OIDC probe
// included, and publishes nothing. In a CircleCI job it would pass having
// published nothing: it fails there, before anything reaches the registry.
func TestDryRun(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.8.0")
	before := len(f.bed.Front.Requests())
	cfg, out := f.config(t)
	cfg.DryRun = true
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Equal(t, "release: FACET_DRY_RUN is set in a CircleCI release job, which would pass having published nothing: remove FACET_DRY_RUN from the release context (and the job's environment), then rerun the workflow; to try the release without publishing to the registry, run go tool mage rehearse (a local registry)", err.Error())
	assert.Len(t, f.bed.Front.Requests(), before, "nothing asked of the registry")

	cfg, out = f.config(t)
	cfg.DryRun = true
	cfg.Job.InCircleCI, cfg.Rehearsal = false, true
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Nil(t, results)
	assert.Empty(t, f.puts())
	assert.GreaterOrEqual(t, f.bed.Front.Exchanged(), 13, "the probe exchanged a token for each package")
	assert.Contains(t, out.String(), "Dry run (FACET_DRY_RUN): the pre-flight passed; nothing was published.")
	assert.Regexp(t, `(?m)^  agent-facets +publish agent-facets-1\.8\.0\.tgz$`, out.String())
}

// resultOf is the result of pkg.
func resultOf(t *testing.T, results []release.Result, pkg string) release.Result {
	t.Helper()
	for _, r := range results {
		if r.Package == pkg {
			return r
		}
	}
	t.Fatalf("no result for %s", pkg)
	return release.Result{}
}

// A publish that reached the registry but whose answer was lost is retried;
// npm then says "cannot publish over", and the registry's tarball being the
// same, the package is published: once.
func TestLostAnswer(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.9.0")
	linuxX64 := platforms.All()[5].Package()
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: linuxX64, Method: http.MethodPut, Times: 1, After: true})
	cfg, out := f.config(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	r := resultOf(t, results, linuxX64)
	assert.Equal(t, release.Published, r.Action)
	assert.Equal(t, 2, r.Attempts, "the lost answer, then npm's \"cannot publish over\"")
	log, err := os.ReadFile(filepath.Join(f.dist.Logs(), "release", "agent-facets-cli-linux-x64.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "cannot publish over the previously published versions")
	f.released(t, "latest")
}

// Another tarball of a version appearing on the registry during the release
// stops it loudly, and the wrapper is not published.
func TestConflictDuringRelease(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.10.0")
	darwin := platforms.All()[1].Package()
	var once sync.Once
	f.bed.Front.Before(func(r registrytest.Request) {
		if r.Method == http.MethodPut && r.Package == darwin {
			once.Do(func() { require.NoError(t, f.bed.Seed(context.Background(), "1.10.0", circleci.Publisher{}, darwin)) })
		}
	})
	cfg, out := f.config(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), darwin+"@1.10.0 is already on the registry with another tarball")
	assert.Equal(t, release.Failed, resultOf(t, results, darwin).Action)
	assert.Equal(t, release.NotDone, resultOf(t, results, platforms.Wrapper).Action)
	assert.Zero(t, f.puts()[platforms.Wrapper], "the wrapper is not published")
}

// A package that fails for good keeps the wrapper back; fixed, a rerun
// completes the release.
func TestFailedPackageThenRerun(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.11.0")
	windows := platforms.All()[10].Package()
	remove := f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.Forbidden, Package: windows, Method: http.MethodPut})
	cfg, out := f.config(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "1 platform packages failed, so the wrapper was not published:\n  "+windows+": npm publish:")
	assert.Contains(t, err.Error(), "Rerun the workflow once the cause is fixed")
	assert.Equal(t, 1, resultOf(t, results, windows).Attempts, "a 403 is not retried")
	assert.Zero(t, f.puts()[platforms.Wrapper])
	remove()
	again, out2 := f.config(t)
	_, results, err = release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	assert.Equal(t, release.Published, resultOf(t, results, windows).Action)
	assert.Equal(t, release.Skipped, resultOf(t, results, platforms.All()[0].Package()).Action)
	f.released(t, "latest")
}

// Published, but the registry does not show a package in time: the wrapper
// is not published.
func TestRegistryDoesNotShowIt(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.12.0")
	arm := platforms.All()[4].Package()
	f.bed.Front.Inject(registrytest.Fault{Kind: registrytest.NotFound, Package: arm, Method: http.MethodGet})
	cfg, out := f.config(t)
	// A minute on a clock of the test's: the reads themselves take what
	// they take (a real second could end the first round on a slow machine).
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var waited atomic.Int64
	cfg.Poll = registry.Poll{Initial: time.Second, Max: 8 * time.Second, Timeout: time.Minute,
		Now:   func() time.Time { return now.Add(time.Duration(waited.Load())) },
		Sleep: func(_ context.Context, d time.Duration) error { waited.Add(int64(d)); return nil },
		Rand:  func() float64 { return 0.5 }}
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Greater(t, time.Duration(waited.Load()), 45*time.Second, "it waited for most of the minute")
	assert.Contains(t, err.Error(), "the registry does not show every platform package as published, so the wrapper was not published:\n  "+arm+": the package does not exist")
	assert.Equal(t, 1, f.puts()[arm], "it was published")
	assert.Zero(t, f.puts()[platforms.Wrapper])
}

// Since 2026-09-03 a trusted publisher made on npmjs.com may only stage
// unless "npm publish" was ticked. The exchange works for it (the probe
// passes); only the publish is refused. The release publishes one package
// alone first: refused, it stops with nothing published and says how to fix
// it. A package whose publisher alone may only stage keeps the wrapper back.
func TestStagedOnlyPublisher(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.13.0")
	for _, pkg := range platforms.Packages() {
		f.bed.Front.SetTrust(pkg, registrytest.WebTrust(circleci.Facets(), false))
	}
	canary := platforms.All()[0].Package()
	cfg, out := f.config(t)
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: the registry refused to publish "+canary+", the first package, for want of permission, so nothing was published")
	assert.Contains(t, err.Error(), "403 Forbidden - PUT "+f.bed.URL+strings.Replace(canary, "/", "%2f", 1)+" - OIDC permission denied for this action")
	assert.Contains(t, err.Error(), "it lacks the permission createPackage")
	assert.Contains(t, err.Error(), "FACET_TRUST_REPLACE=1 go tool mage trust")
	assert.Contains(t, err.Error(), `"npm publish" ticked`)
	assert.Empty(t, f.puts(), "nothing published")
	var puts []string
	for _, r := range f.bed.Front.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r.Package)
		}
	}
	assert.Equal(t, []string{canary}, puts, "only the canary was tried, once: a refusal is not retried")
	assert.Equal(t, release.Failed, resultOf(t, results, canary).Action)
	assert.Equal(t, release.NotDone, resultOf(t, results, platforms.All()[1].Package()).Action)

	// Replaced, but for one package: the canary goes out, that one fails,
	// the wrapper stays back.
	x64 := platforms.All()[1].Package()
	for _, pkg := range platforms.Packages() {
		f.bed.Front.SetTrust(pkg, registrytest.TrustFor(circleci.Facets()))
	}
	f.bed.Front.SetTrust(x64, registrytest.WebTrust(circleci.Facets(), false))
	cfg, out = f.config(t)
	_, _, err = release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "platform packages failed, so the wrapper was not published:\n  "+x64+": npm publish:")
	assert.Contains(t, err.Error(), "OIDC permission denied for this action")
	assert.Contains(t, err.Error(), "it lacks the permission createPackage")
	assert.Equal(t, 1, f.puts()[canary])
	assert.Zero(t, f.puts()[x64])
	assert.Zero(t, f.puts()[platforms.Wrapper])
}

// Tokens quoted where they should not be (a registry's refusal, a confused
// circleci) are masked in the output, the logs and the errors.
func TestLeakedTokensAreMasked(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.14.0")
	f.bed.Front.LeakTokensInErrors(true)
	other := circleci.Facets()
	other.ProjectID = "44444444-4444-4444-8444-444444444444"
	f.bed.Front.SetTrust(platforms.Wrapper, registrytest.TrustFor(other))
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), platforms.Wrapper+": the OIDC token exchange failed: OIDC token exchange error - package not found (ID token [redacted]) (HTTP 404)",
		"the refusal quoted the token, masked")
	secretsNowhere(t, f, out.String()+err.Error())
	assert.NotContains(t, out.String()+err.Error(), "eyJ", "no JWT at all")

	f.job.Configure(t, func(c *registrytest.StandInConfig) { c.Fail, c.LeakToken = "the OIDC service is down", true })
	cfg, out = f.config(t)
	cfg.Retry.Attempts = 2
	_, _, err = release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "minting an OIDC token with circleci run oidc get")
	assert.Contains(t, err.Error(), "the OIDC service is down (token [redacted])")
	assert.NotContains(t, out.String()+err.Error(), "eyJ")
}

// A version older than the one latest points at is a backport: it must not
// take latest back; under a tag of its own it is published, and latest stays.
func TestBackport(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.15.0")
	require.NoError(t, f.bed.Seed(t.Context(), "2.0.0", circleci.Publisher{}, platforms.Packages()...))
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "agent-facets: its dist-tag latest points at 2.0.0, newer than 1.15.0: publishing under latest would move it back; publish a backport under another tag (FACET_DIST_TAG=latest-1.x)")
	assert.Empty(t, f.puts())

	cfg, out = f.config(t)
	cfg.DistTag = "latest-1.x"
	_, _, err = release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	f.released(t, "latest-1.x")
	reg, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	p, err := reg.Packument(t.Context(), platforms.Wrapper)
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", p.DistTags["latest"], "latest stays")
}

// A package published with this tarball whose dist-tag was moved since is
// not taken for done: the release says how to set the tag, and publishes
// nothing.
func TestSkippedButTagMoved(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.16.0")
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	linuxArm := platforms.All()[3].Package()
	_, err = f.bed.NPM(t, true).Run(t.Context(), t.TempDir(), "dist-tag", "add", linuxArm+"@0.0.1", "latest")
	require.NoError(t, err)
	before := f.puts()
	again, out2 := f.config(t)
	_, _, err = release.Run(t.Context(), again)
	require.Error(t, err, out2.String())
	assert.Contains(t, err.Error(), linuxArm+"@1.16.0 is published, but its dist-tag latest points at 0.0.1: a maintainer can set it (npm dist-tag add "+linuxArm+"@1.16.0 latest), then rerun")
	assert.Equal(t, before, f.puts())
}

// onClock puts the release and the stand-in on one virtual clock: the
// release's waits (its retries, the registry's, the CDN's max-age) pass at
// once, and the stand-in (its CDN, its rate limit) sees them pass.
func (f *fixture) onClock(cfg *release.Config, wait time.Duration) *registrytest.Clock {
	clock := registrytest.NewClock(time.Now())
	f.bed.Front.SetClock(clock.Now)
	cfg.Now, cfg.Sleep = clock.Now, clock.Sleep
	cfg.Deadline = clock.Now().Add(wait)
	cfg.Poll = registry.Poll{} // on the release's clock, to its deadline
	return clock
}

// The public registry's CDN serves a package document up to its max-age old,
// and a publish does not purge it. The release decides from the origin
// (?write=true) and publishes the wrapper no sooner than max-age after the
// last platform package: once users' npm can see the wrapper, it sees every
// platform package at the version.
func TestCDNWait(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.17.0")
	cfg, out := f.config(t)
	clock := f.onClock(&cfg, 20*time.Minute)
	f.bed.Front.SetCDN(5 * time.Minute)
	users, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	users.Retry.Now = clock.Now
	users.HTTP = &http.Client{Transport: userAgent("npm/11.19.1 (a user)")}
	// Users' npm has read every package: the CDN holds copies without 1.17.0.
	for _, pkg := range platforms.Packages() {
		_, err := users.Served(t.Context(), pkg)
		require.NoError(t, err)
	}
	var missing []string
	var checked atomic.Bool
	f.bed.Front.Before(func(r registrytest.Request) {
		if r.Method != http.MethodPut || r.Package != platforms.Wrapper {
			return
		}
		// What a user's npm is served the moment the wrapper goes out.
		for _, tg := range platforms.All() {
			p, err := users.Served(context.Background(), tg.Package())
			if _, ok := p.Versions["1.17.0"]; err != nil || !ok {
				missing = append(missing, tg.Package())
			}
		}
		checked.Store(true)
	})
	start := clock.Now()
	plan, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	require.True(t, checked.Load(), "the wrapper was published")
	assert.Empty(t, missing, "users are served every platform package when the wrapper goes out")
	assert.Equal(t, 5*time.Minute, plan.CDNMaxAge, "read from the registry's own Cache-Control")
	assert.Greater(t, plan.CDNWait, 4*time.Minute, "the wait ends max-age after the last platform package")
	assert.LessOrEqual(t, plan.CDNWait, 5*time.Minute+6*time.Second, "a margin of 5 s, and an HTTP Date is to the second: the wait errs on the long side")
	assert.Less(t, clock.Now().Sub(start), 6*time.Minute)
	text := out.String()
	assert.Contains(t, text, "the registry's CDN may serve a package document up to 5m0s old (its Cache-Control)")
	assert.Regexp(t, `waiting \dm\d+s before publishing the wrapper: the registry's CDN may serve a package document up to 5m0s old \(Cache-Control\), and the last platform package, @agent-facets/cli-\S+, was published (just now|\d+s ago); once users' npm can see the wrapper, it must see all 12 platform packages`, text)
	assert.Regexp(t, `still waiting: \dm\d+s left \(FACET_WAIT ends at `, text, "a line a minute: CircleCI ends a quiet step")

	// Every read the release decided by went to the origin; its one plain
	// read asked what the CDN may keep.
	plain := 0
	for _, r := range f.bed.Front.Requests() {
		if r.Agent == "facets-release" && r.Method == http.MethodGet && r.Package != "" && r.Query != "write=true" {
			plain++
		}
	}
	assert.Equal(t, 1, plain, "the release reads the origin")
	f.released(t, "latest")
}

// userAgent is a transport that says it is another client.
type userAgent string

func (ua userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", string(ua))
	return http.DefaultTransport.RoundTrip(r)
}

// A FACET_WAIT no longer than the CDN's max-age cannot cover the wait before
// the wrapper: the release says so before anything is published.
func TestWaitShorterThanCDN(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.18.0")
	cfg, out := f.config(t)
	f.onClock(&cfg, 4*time.Minute)
	f.bed.Front.SetCDN(5 * time.Minute)
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: the registry's CDN may serve a package document up to 5m0s old (Cache-Control), so the wrapper must wait that long after the last platform package, and FACET_WAIT leaves 4m0s: set FACET_WAIT to 10m0s or more")
	assert.Empty(t, f.puts())
	assert.Zero(t, f.bed.Front.Exchanged(), "stopped before the probe")
}

// npm's token exchange is rate limited. A 429 means slow down: the release
// keeps trying with backoff until FACET_WAIT runs out, not for 5 quick
// attempts; all 13 go out under a limit whose waits are longer than the
// whole budget the release once had (5 attempts in about 10 s).
func TestRateLimited(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.19.0")
	cfg, out := f.config(t)
	clock := f.onClock(&cfg, 30*time.Minute)
	cfg.Retry = retry.Policy{} // the release's own backoff: 0.5 s doubling to 30 s
	f.bed.Front.LimitExchanges(6, time.Minute)
	start := clock.Now()
	_, results, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	limited := 0
	for _, r := range f.bed.Front.Requests() {
		if r.Limited {
			limited++
		}
	}
	assert.Positive(t, limited, "the limit was hit")
	// 26 exchanges (13 probes, 13 publishes) at 6 a minute: at least four
	// minutes passed (the virtual clock runs fast where waits overlap, so
	// this is a floor, not a measure).
	assert.Greater(t, clock.Now().Sub(start), 4*time.Minute)
	most := 0
	for _, r := range results {
		assert.Equal(t, release.Published, r.Action, r.Package)
		most = max(most, r.Attempts)
	}
	assert.Greater(t, most, 5, "more attempts than the release once gave up after")
	f.released(t, "latest")
	for _, pkg := range platforms.Packages() {
		assert.Equal(t, 1, f.puts()[pkg], pkg)
	}
}

// Rerunning a finished release after a newer one went out is done: its
// packages are published, and latest points at the newer one, as it should.
// Nothing is published, no tag is moved back, and verify:release passes.
func TestRerunSuperseded(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.20.0")
	cfg, out := f.config(t)
	_, _, err := release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	require.NoError(t, f.bed.Seed(t.Context(), "1.20.1", circleci.Publisher{}, platforms.Packages()...))
	before := f.puts()

	again, out2 := f.config(t)
	_, results, err := release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	for _, r := range results {
		assert.Equal(t, release.Skipped, r.Action, r.Package)
	}
	assert.Contains(t, out2.String(), "skip: already published with this tarball (superseded: latest points at 1.20.1)")
	assert.NotContains(t, out2.String(), "dist-tag add")
	assert.Equal(t, before, f.puts())
	reg, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	p, err := reg.Packument(t.Context(), platforms.Wrapper)
	require.NoError(t, err)
	assert.Equal(t, "1.20.1", p.DistTags["latest"], "latest stays on the newer release")
	// tasks.Release verifies after the release; verify:release alone passes too.
	var vout strings.Builder
	statuses, err := verify.Release(t.Context(), verify.ReleaseConfig{Registry: reg, Version: "1.20.0", Tag: "latest", Dist: f.dist,
		Poll: registry.Poll{Initial: time.Millisecond, Max: time.Millisecond, Timeout: 10 * time.Second}, Out: &vout})
	require.NoError(t, err, vout.String())
	for _, s := range statuses {
		assert.True(t, s.Superseded, s.Name)
	}
	assert.Contains(t, vout.String(), "latest → 1.20.1")
	assert.Contains(t, vout.String(), "ok (superseded)")
}

// A FACET_DIST_TAG left in the release context after a backport must not
// send the next release beside latest: a stable version takes another tag
// only as a backport, when latest is newer.
func TestLeftoverDistTag(t *testing.T) {
	t.Parallel()
	f := setup(t, "2.1.0")
	require.NoError(t, f.bed.Seed(t.Context(), "2.0.0", circleci.Publisher{}, platforms.Packages()...))
	cfg, out := f.config(t)
	cfg.DistTag = "latest-1.x"
	_, _, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "release: FACET_DIST_TAG=latest-1.x would publish 2.1.0 beside latest, but it is no backport: @agent-facets/cli-darwin-arm64's latest points at 2.0.0, not newer than 2.1.0")
	assert.Contains(t, err.Error(), "remove it and rerun")
	assert.Empty(t, f.puts())
	assert.Zero(t, f.bed.Front.Exchanged())
}

// The CDN wait counts from the last platform package published, not the
// first: one whose upload takes minutes, and whose document a user's npm
// read just before it went out, is still seen at its new version when the
// wrapper appears.
func TestCDNWaitFromTheLast(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.21.0")
	cfg, out := f.config(t)
	clock := f.onClock(&cfg, 20*time.Minute)
	f.bed.Front.SetCDN(5 * time.Minute)
	users, err := registry.New(f.bed.URL)
	require.NoError(t, err)
	users.Retry.Now = clock.Now
	users.HTTP = &http.Client{Transport: userAgent("npm/11.19.1 (a user)")}
	slow := platforms.All()[7].Package()
	var missing []string
	var slowAt, wrapperAt time.Time
	var slowOnce, wrapperOnce sync.Once
	f.bed.Front.Before(func(r registrytest.Request) {
		if r.Method != http.MethodPut {
			return
		}
		switch r.Package {
		case slow:
			slowOnce.Do(func() {
				clock.Advance(3 * time.Minute) // a slow upload
				slowAt = clock.Now()
				// A user reads it just before the new version shows: the CDN
				// keeps that copy for 5 minutes from now.
				_, err := users.Served(context.Background(), slow)
				assert.NoError(t, err)
			})
		case platforms.Wrapper:
			wrapperOnce.Do(func() {
				wrapperAt = clock.Now()
				for _, tg := range platforms.All() {
					p, err := users.Served(context.Background(), tg.Package())
					if _, ok := p.Versions["1.21.0"]; err != nil || !ok {
						missing = append(missing, tg.Package())
					}
				}
			})
		}
	})
	_, _, err = release.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Empty(t, missing, "users are served every platform package when the wrapper goes out")
	assert.GreaterOrEqual(t, wrapperAt.Sub(slowAt), 5*time.Minute, "the wrapper went out max-age after the slow package")
}

// A deadline that covers the CDN's max-age but runs out before the wait
// after the last platform package ends keeps the wrapper back, saying why;
// the rerun publishes it, waiting from the platform packages' publish times.
func TestCDNWaitOutlastsTheDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, "1.22.0")
	cfg, out := f.config(t)
	clock := f.onClock(&cfg, 7*time.Minute)
	f.bed.Front.SetCDN(5 * time.Minute)
	slow := platforms.All()[2].Package()
	var once sync.Once
	f.bed.Front.Before(func(r registrytest.Request) {
		if r.Method == http.MethodPut && r.Package == slow {
			once.Do(func() { clock.Advance(3 * time.Minute) })
		}
	})
	_, results, err := release.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Regexp(t, `release: the wrapper must wait until \S+ for the CDN, and FACET_WAIT ends at \S+, so it was not published; every platform package is published: rerun the workflow`, err.Error())
	assert.Equal(t, release.NotDone, resultOf(t, results, platforms.Wrapper).Action)
	assert.Zero(t, f.puts()[platforms.Wrapper])
	f.bed.Front.Before(nil)

	again, out2 := f.config(t)
	again.Now, again.Sleep, again.Poll = clock.Now, clock.Sleep, registry.Poll{}
	again.Deadline = clock.Now().Add(20 * time.Minute)
	plan, results, err := release.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	assert.Equal(t, release.Published, resultOf(t, results, platforms.Wrapper).Action)
	assert.Greater(t, plan.CDNWait, 4*time.Minute, "the rerun waits out the max-age from the platform packages' publish times")
	f.released(t, "latest")
}
