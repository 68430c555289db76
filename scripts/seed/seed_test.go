package seed_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/seed"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
)

// config is seed's configuration against bed, as a maintainer logged in
// (or not) would run it; out collects everything printed, npm's output too.
func config(t *testing.T, bed *testenv.Bed, login bool) (seed.Config, *syncbuf.Buffer) {
	t.Helper()
	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	reg.Retry = retry.Policy{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}
	var out syncbuf.Buffer
	return seed.Config{
		Registry:  reg,
		NPM:       bed.NPM(t, login).With("NPM_CONFIG_FETCH_RETRIES=0"),
		Dir:       t.TempDir(),
		Stdio:     npm.Stdio{Out: &out, Err: &out},
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		Out:       &out,
		TempDir:   t.TempDir(),
	}, &out
}

// puts lists the packages the front server saw published.
func puts(bed *testenv.Bed) []string {
	var names []string
	for _, r := range bed.Front.Requests() {
		if r.Method == http.MethodPut && !r.Fault {
			names = append(names, r.Package)
		}
	}
	return names
}

// placeholders lists the packages the registry has a placeholder of.
func placeholders(t *testing.T, bed *testenv.Bed) []string {
	t.Helper()
	reg, err := registry.New(bed.Verdaccio.URL)
	require.NoError(t, err)
	var names []string
	for _, name := range platforms.Packages() {
		p, err := reg.Packument(t.Context(), name)
		if err == nil {
			if _, ok := p.Version(seed.PlaceholderVersion); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// The maintainer's first run publishes 13 placeholders and says what to do
// next; the second run publishes nothing.
func TestSeedFromEmptyThenAgain(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	cfg, out := config(t, bed, true)
	results, err := seed.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	require.Len(t, results, 13)
	for _, r := range results {
		assert.Equal(t, seed.Published, r.State, r.Package)
	}
	assert.Equal(t, platforms.Packages(), placeholders(t, bed), "13 placeholders, the wrapper among them")
	assert.ElementsMatch(t, platforms.Packages(), puts(bed))
	text := out.String()
	assert.Contains(t, text, "registry "+bed.URL+"\n")
	assert.Contains(t, text, "logged in as facets\n")
	for _, f := range circleci.Facets().Fields() {
		assert.Regexp(t, `(?m)^  `+f.Name+` +`+f.Value+`$`, text)
	}
	for _, pkg := range platforms.Packages() {
		assert.Contains(t, text, "https://www.npmjs.com/package/"+pkg+"/access\n")
	}
	assert.Contains(t, text, "go tool mage trust")
	assert.NotContains(t, text, "All packages already exist on npm")
	entries, err := os.ReadDir(cfg.TempDir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the placeholders' directories are removed")

	// The placeholder is what the original published.
	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	p, err := reg.Packument(t.Context(), "agent-facets")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"latest": "0.0.1"}, p.DistTags)

	again, out2 := config(t, bed, true)
	results, err = seed.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	for _, r := range results {
		assert.Equal(t, seed.Existed, r.State, r.Package)
	}
	assert.Contains(t, out2.String(), "All packages already exist on npm\n")
	assert.Contains(t, out2.String(), "https://www.npmjs.com/package/agent-facets/access", "the next steps again")
	assert.Len(t, puts(bed), 13, "nothing published the second time")
}

func TestSeedSomeExist(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	cfg, out := config(t, bed, true)
	first := cfg
	first.Packages = []string{platforms.Wrapper, platforms.All()[4].Package()}
	_, err := seed.Run(t.Context(), first)
	require.NoError(t, err, out.String())

	out.Reset()
	results, err := seed.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	for _, r := range results {
		want := seed.Published
		if r.Package == platforms.Wrapper || r.Package == platforms.All()[4].Package() {
			want = seed.Existed
		}
		assert.Equal(t, want, r.State, r.Package)
	}
	assert.Len(t, puts(bed), 13, "each package published once")
	assert.Contains(t, out.String(), "publishing 0.0.1 placeholders of 11 packages")
}

func TestSeedNotLoggedIn(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	cfg, out := config(t, bed, false)
	_, err := seed.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Equal(t, "seed: npm is not logged in to "+bed.URL+": run npm login first", err.Error())
	for _, r := range bed.Front.Requests() {
		assert.Equal(t, "/-/whoami", r.Path, "nothing but npm whoami was asked")
	}
	assert.Empty(t, placeholders(t, bed))
	assert.NotContains(t, out.String(), "Next:")
}

func TestSeedDryRun(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	cfg, out := config(t, bed, true)
	cfg.DryRun = true
	results, err := seed.Run(t.Context(), cfg)
	require.NoError(t, err)
	for _, r := range results {
		assert.Equal(t, seed.WouldSeed, r.State)
	}
	assert.Empty(t, puts(bed), "nothing published")
	assert.Empty(t, placeholders(t, bed))
	assert.Contains(t, out.String(), "would publish 0.0.1 placeholders of 13 packages\n")
	assert.Regexp(t, `(?m)^  @agent-facets/cli-darwin-arm64 +would publish 0\.0\.1 \(dry run\)$`, out.String())
	assert.Equal(t, 1, strings.Count(out.String(), "@agent-facets/cli-darwin-arm64 "), "each package once")
}

// few is a shorter list of packages, for tests about one package among others.
func few() []string {
	return []string{platforms.All()[0].Package(), platforms.All()[5].Package(), platforms.Wrapper}
}

// A registry error is retried; one that persists is reported as an error,
// never as "missing": that package is not published, the others are.
func TestSeedRegistryErrors(t *testing.T) {
	t.Parallel()
	linuxX64 := platforms.All()[5].Package()
	for _, kind := range []registrytest.Kind{registrytest.Status500, registrytest.Drop, registrytest.Status429} {
		t.Run(kind.String()+" passing", func(t *testing.T) {
			t.Parallel()
			bed := testenv.RegistryBed(t)
			bed.Front.Inject(registrytest.Fault{Kind: kind, Package: linuxX64, Method: http.MethodGet, Times: 2})
			cfg, out := config(t, bed, true)
			cfg.Packages = few()
			_, err := seed.Run(t.Context(), cfg)
			require.NoError(t, err, out.String())
			assert.Contains(t, placeholders(t, bed), linuxX64)
		})
	}
	for _, kind := range []registrytest.Kind{registrytest.Status500, registrytest.Drop} {
		t.Run(kind.String()+" persisting", func(t *testing.T) {
			t.Parallel()
			bed := testenv.RegistryBed(t)
			bed.Front.Inject(registrytest.Fault{Kind: kind, Package: linuxX64, Method: http.MethodGet})
			cfg, out := config(t, bed, true)
			cfg.Packages = few()
			results, err := seed.Run(t.Context(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "seed: 1 of 3 packages failed")
			assert.Contains(t, err.Error(), linuxX64+": could not check whether it exists")
			assert.Equal(t, seed.Failed, results[1].State)
			assert.NotContains(t, puts(bed), linuxX64, "an error is never taken for missing")
			assert.Len(t, placeholders(t, bed), 2, "the others are seeded")
			assert.Contains(t, out.String(), "Next:")
		})
	}
}

// A failed publish does not stop the others; every failure is reported at
// the end.
func TestSeedGoesOnPastAFailure(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	wrapper, darwin := platforms.Wrapper, platforms.All()[0].Package()
	bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: wrapper, Method: http.MethodPut})
	bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: darwin, Method: http.MethodPut})
	cfg, out := config(t, bed, true)
	cfg.Packages = few()
	results, err := seed.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "seed: 2 of 3 packages failed")
	assert.Contains(t, err.Error(), "  "+darwin+": npm publish")
	assert.Contains(t, err.Error(), "  "+wrapper+": npm publish")
	assert.Equal(t, seed.Failed, results[0].State)
	assert.Equal(t, seed.Published, results[1].State)
	assert.Equal(t, seed.Failed, results[2].State)
	assert.Len(t, placeholders(t, bed), 1)

	// Fixed, the rerun finishes the job.
	bed.Front.ClearFaults()
	_, err = seed.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Len(t, placeholders(t, bed), 3)
}

// A package the registry said was missing but that npm finds published (a
// stale cache, or another maintainer's seed) counts as done.
func TestSeedPreviouslyPublishedCountsAsDone(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	cfg, out := config(t, bed, true)
	first := cfg
	first.Packages = []string{platforms.Wrapper}
	_, err := seed.Run(t.Context(), first)
	require.NoError(t, err, out.String())
	bed.Front.Inject(registrytest.Fault{Kind: registrytest.NotFound, Package: platforms.Wrapper, Method: http.MethodGet, Times: 1})
	out.Reset()
	results, err := seed.Run(t.Context(), first)
	require.NoError(t, err, out.String())
	assert.Equal(t, seed.Existed, results[0].State)
	assert.Contains(t, out.String(), "cannot publish over the previously published versions", "npm's words reach the terminal")
}

// The registry wants a second factor to publish (a maintainer with
// two-factor authentication): NPM_CONFIG_OTP, an authenticator's code,
// serves, and so does the terminal, where npm shows a page to approve in the
// browser because seed leaves it attached.
func TestSeedOneTimePassword(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Front.RequireOTPForPublish(true)
	bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)
	pkgs := few()

	cfg, out := config(t, bed, true)
	cfg.Packages = pkgs[:1]
	_, err := seed.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "npm publish: the registry wants a second factor (the registry asks for a one-time password) and did not get one: on a terminal, npm shows a page to approve", "no password and no terminal: npm cannot ask")
	for _, l := range bed.Front.WebLogins() {
		assert.NotContains(t, err.Error(), l.ID, "the web login's URLs are npm's to show")
	}
	assert.Empty(t, placeholders(t, bed))

	cfg.NPM = cfg.NPM.With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP)
	_, err = seed.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, pkgs[:1], placeholders(t, bed))

	control, term := testenv.PTY(t)
	user := testenv.AtTerminal(t, control)
	cfg, out = config(t, bed, true)
	cfg.Packages = pkgs[1:2]
	cfg.Stdio = npm.Stdio{In: term, Out: term, Err: term}
	_, err = seed.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	logins := bed.Front.WebLogins()
	require.NotEmpty(t, logins)
	last := logins[len(logins)-1]
	assert.Equal(t, []string{last.AuthURL}, user.Opened(), "npm showed the page to approve on the terminal")
	assert.True(t, last.Used)
	assert.Equal(t, pkgs[:2], placeholders(t, bed))
}

func TestAlreadyPublished(t *testing.T) {
	assert.False(t, seed.AlreadyPublished(nil))
	assert.False(t, seed.AlreadyPublished(&npm.Error{Code: "E500"}))
	assert.True(t, seed.AlreadyPublished(&npm.Error{Code: "E409"}))
	assert.True(t, seed.AlreadyPublished(&npm.Error{Stderr: "npm error You cannot publish over the previously published versions: 0.0.1."}))
	assert.False(t, seed.AlreadyPublished(&npm.Error{Stderr: strings.Repeat("x", 10)}))
}

// The website steps say to tick "npm publish", and why: a publisher made
// without it may only stage, and cannot be edited later.
func TestNextSteps(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := circleci.Facets()
	seed.NextSteps(&out, p, []string{"agent-facets", "@agent-facets/cli-linux-x64"})
	text := out.String()
	assert.Contains(t, text, "Run go tool mage trust,")
	assert.Contains(t, text, `tick "npm publish": without it the publisher may only stage, never publish, and a`+"\n"+
		"publisher cannot be edited later (delete it and make it again):\n")
	for _, f := range p.Fields() {
		assert.Regexp(t, `(?m)^  `+f.Name+` +`+f.Value+`$`, text)
	}
	assert.Contains(t, text, "  https://www.npmjs.com/package/agent-facets/access\n  https://www.npmjs.com/package/@agent-facets/cli-linux-x64/access\n")
	assert.Contains(t, text, "Then check the setup with go tool mage verify.")
}
