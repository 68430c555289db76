package trust_test

import (
	"context"
	"net/http"
	"slices"
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
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/trust"
)

// clock is the real clock, but its Sleep records the wait and returns at
// once: the pacing is computed from the real times of npm's calls, and the
// test does not wait for it.
type clock struct {
	skipped time.Duration // slept, in the clock's eyes
	waits   []time.Duration
}

func (c *clock) Now() time.Time { return time.Now().Add(c.skipped) }

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.skipped += d
	return nil
}

// config runs trust as a logged-in maintainer with a current one-time
// password, paced by a fake clock.
func config(t *testing.T, bed *testenv.Bed) (trust.Config, *syncbuf.Buffer, *clock) {
	t.Helper()
	var out syncbuf.Buffer
	c := &clock{}
	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	return trust.Config{
		Registry: reg,
		Account: &npm.Account{
			CLI:   bed.NPM(t, true).With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP),
			Dir:   t.TempDir(),
			Stdio: npm.Stdio{Out: &out, Err: &out},
			Pace:  npm.TrustPace,
			Sleep: c.Sleep,
			Now:   c.Now,
		},
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		Out:       &out,
	}, &out, c
}

// calls counts the stand-in's trusted-publisher API calls by method.
func calls(bed *testenv.Bed) map[string]int {
	n := map[string]int{}
	for _, r := range bed.Front.Requests() {
		if strings.Contains(r.Path, "/trust") && r.Status != http.StatusUnauthorized {
			n[r.Method]++
		}
	}
	return n
}

func matches(t *testing.T, bed *testenv.Bed, pkg string) bool {
	t.Helper()
	configs := bed.Front.TrustOf(pkg)
	if len(configs) != 1 {
		return false
	}
	c := configs[0]
	want := circleci.Facets()
	return c.Type == "circleci" && c.Claims[registrytest.ClaimOrgID] == want.OrgID &&
		c.Claims[registrytest.ClaimProjectID] == want.ProjectID &&
		c.Claims[registrytest.ClaimPipelineDefinitionID] == want.PipelineDefinitionID &&
		c.Claims[registrytest.ClaimVCSOrigin] == want.VCSOrigin &&
		slices.Equal(c.Permissions, []string{registrytest.PublishPermission, registrytest.StagePermission})
}

// Created for every package, paced two seconds apart; the second run finds
// every one ok and changes nothing.
func TestTrustCreatesThenFindsOK(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Packages()...)
	cfg, out, clk := config(t, bed)
	results, err := trust.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	for _, r := range results {
		assert.Equal(t, trust.Created, r.State, r.Package)
		assert.True(t, matches(t, bed, r.Package), r.Package)
	}
	assert.Equal(t, map[string]int{"GET": 13, "POST": 13}, calls(bed))
	require.Len(t, clk.waits, 2*13-1, "one pause between two calls")
	// 2 s from the end of one npm call (not its start) to the next: the
	// wait is 2 s less the little time between the call's end and the
	// wait, which a loaded machine may stretch now and then.
	paced := 0
	for _, w := range clk.waits {
		assert.LessOrEqual(t, w, 2*time.Second, "npm asks for 2 s between calls")
		if w > 2*time.Second-100*time.Millisecond {
			paced++
		}
	}
	assert.GreaterOrEqual(t, paced, len(clk.waits)-2, "paced from the end of each call: %v", clk.waits)
	assert.Contains(t, out.String(), "registry "+bed.URL+"\n")
	assert.Contains(t, out.String(), "  agent-facets  created\n")

	again, out2, _ := config(t, bed)
	results, err = trust.Run(t.Context(), again)
	require.NoError(t, err, out2.String())
	for _, r := range results {
		assert.Equal(t, trust.OK, r.State, r.Package)
	}
	assert.Equal(t, map[string]int{"GET": 26, "POST": 13}, calls(bed), "nothing created the second time")
}

// A trusted publisher that differs is shown and left alone, unless replacing
// is asked for.
func TestTrustMismatch(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := []string{platforms.All()[1].Package(), platforms.All()[7].Package(), platforms.Wrapper}
	bed.Publish(t, "0.0.1", pkgs...)
	want := circleci.Facets()
	wrong := registrytest.Trust{Type: "circleci", Permissions: []string{"createPackage"}, Claims: map[string]any{
		registrytest.ClaimOrgID: want.OrgID, registrytest.ClaimProjectID: "00000000-0000-4000-8000-000000000000",
		registrytest.ClaimPipelineDefinitionID: want.PipelineDefinitionID, registrytest.ClaimVCSOrigin: want.VCSOrigin,
		registrytest.ClaimContextIDs: []any{want.ContextIDs[0]},
	}}
	stagedOnly := registrytest.Trust{Type: "circleci", Permissions: []string{"createStagedPackage"}, Claims: map[string]any{
		registrytest.ClaimOrgID: want.OrgID, registrytest.ClaimProjectID: want.ProjectID,
		registrytest.ClaimPipelineDefinitionID: want.PipelineDefinitionID, registrytest.ClaimVCSOrigin: want.VCSOrigin,
		registrytest.ClaimContextIDs: []any{want.ContextIDs[0]},
	}}
	bed.Front.SetTrust(pkgs[0], wrong)
	bed.Front.SetTrust(pkgs[1], stagedOnly)
	before0, before1 := bed.Front.TrustOf(pkgs[0]), bed.Front.TrustOf(pkgs[1])

	cfg, out, _ := config(t, bed)
	cfg.Packages = pkgs
	results, err := trust.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Equal(t, trust.Differs, results[0].State)
	assert.Equal(t, []string{"Project ID: is 00000000-0000-4000-8000-000000000000, want " + want.ProjectID,
		"permissions: is publish, want publish, stage publish (npm trust … --allow-publish --allow-stage-publish)"}, results[0].Diff)
	assert.Equal(t, trust.Differs, results[1].State)
	assert.Equal(t, []string{"permissions: is stage publish, want publish, stage publish (npm trust … --allow-publish --allow-stage-publish)"}, results[1].Diff)
	assert.Equal(t, trust.Created, results[2].State, "the others are set up")
	assert.Contains(t, err.Error(), "trust: 2 of 3 packages are not set up")
	assert.Contains(t, err.Error(), "FACET_TRUST_REPLACE=1 replaces it")
	assert.Contains(t, out.String(), "      Project ID: is 00000000-0000-4000-8000-000000000000, want "+want.ProjectID+"\n")
	assert.Equal(t, before0, bed.Front.TrustOf(pkgs[0]), "left alone")
	assert.Equal(t, before1, bed.Front.TrustOf(pkgs[1]), "left alone")

	cfg.DryRun, cfg.Replace = true, true
	results, err = trust.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, trust.WouldReplace, results[0].State)
	assert.Equal(t, before0, bed.Front.TrustOf(pkgs[0]), "a dry run changes nothing")
	assert.Equal(t, trust.OK, results[2].State)

	cfg.DryRun = false
	results, err = trust.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, []trust.State{trust.Replaced, trust.Replaced, trust.OK}, []trust.State{results[0].State, results[1].State, results[2].State})
	for _, pkg := range pkgs {
		assert.True(t, matches(t, bed, pkg), pkg)
	}
}

// A dry run reads, and creates nothing.
func TestTrustDryRun(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := []string{platforms.All()[2].Package(), platforms.Wrapper}
	bed.Publish(t, "0.0.1", pkgs...)
	cfg, out, _ := config(t, bed)
	cfg.Packages, cfg.DryRun = pkgs, true
	results, err := trust.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	for _, r := range results {
		assert.Equal(t, trust.WouldCreate, r.State)
		assert.Empty(t, bed.Front.TrustOf(r.Package), "nothing created")
	}
	assert.Equal(t, map[string]int{"GET": 2}, calls(bed))
}

func TestTrustMissingPackage(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Wrapper)
	cfg, _, _ := config(t, bed)
	cfg.Packages = []string{platforms.All()[0].Package(), platforms.Wrapper}
	results, err := trust.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Equal(t, trust.Failed, results[0].State)
	assert.Contains(t, err.Error(), "@agent-facets/cli-darwin-arm64: the package does not exist on the registry: run go tool mage seed first")
	assert.Equal(t, trust.Created, results[1].State)

	// A 404 for a package that exists is not "run seed": npm's API answers so
	// to a user who may not manage it.
	bed.Front.Inject(registrytest.Fault{Kind: registrytest.NotFound, Package: platforms.Wrapper, Path: "/-/package/"})
	cfg.Packages = []string{platforms.Wrapper}
	_, err = trust.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "agent-facets: the registry has the package but npm's trusted-publisher API answers 404 for it: is facets one of its maintainers (npm owner ls agent-facets)?")
}

// Bad setups are refused before anything is read or changed.
func TestTrustRefuses(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Wrapper)

	t.Run("npm too old", func(t *testing.T) {
		cfg, _, _ := config(t, bed)
		cfg.Account.CLI = testenv.OldNPM(t, cfg.Account.CLI.Env)
		_, err := trust.Run(t.Context(), cfg)
		require.Error(t, err)
		assert.Equal(t, "trust: npm 11.10.1 is too old: npm trust needs npm 11.15.0 or later (npm install -g npm@11)", err.Error())
	})
	t.Run("not logged in", func(t *testing.T) {
		cfg, _, _ := config(t, bed)
		cfg.Account.CLI = bed.NPM(t, false)
		_, err := trust.Run(t.Context(), cfg)
		require.Error(t, err)
		assert.Equal(t, "trust: npm is not logged in to "+bed.URL+": run npm login first", err.Error())
	})
	assert.Empty(t, calls(bed), "no trusted-publisher call was made")
	assert.Empty(t, bed.Front.TrustOf(platforms.Wrapper))
}

// Off a terminal, the second factor the registry wants is NPM_CONFIG_OTP,
// an authenticator's code. Without it, or with one the registry refuses,
// trust fails saying what to do, changes nothing, and does not repeat the
// addresses of npm's web login.
func TestTrustOffTerminal(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := []string{platforms.All()[0].Package(), platforms.Wrapper}
	bed.Publish(t, "0.0.1", pkgs...)

	cfg, _, _ := config(t, bed)
	cfg.Packages = pkgs
	cfg.Account.CLI = bed.NPM(t, true)
	_, err := trust.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "@agent-facets/cli-darwin-arm64: the registry asks for a one-time password: npm trust list @agent-facets/cli-darwin-arm64: "+
		"npm asks for a second factor only on a terminal: run on a terminal, where npm shows a page to approve in your browser (or asks for a code), "+
		"or set NPM_CONFIG_OTP to a current one-time password from your authenticator app")
	require.NotEmpty(t, bed.Front.WebLogins(), "npm was offered a web login")
	for _, l := range bed.Front.WebLogins() {
		assert.NotContains(t, err.Error(), l.ID, "the web login's addresses are npm's to show, on a terminal")
	}
	assert.Empty(t, bed.Front.TrustOf(pkgs[0]))

	cfg.Account.CLI = bed.NPM(t, true).With("NPM_CONFIG_OTP=000000")
	_, err = trust.Run(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "npm trust list @agent-facets/cli-darwin-arm64: the registry refused NPM_CONFIG_OTP (an authenticator's code lasts 30 seconds): "+
		"set NPM_CONFIG_OTP to a current one-time password, or run on a terminal without it to approve each command in the browser")
	assert.Empty(t, bed.Front.TrustOf(pkgs[0]))
	assert.Empty(t, bed.Front.TrustOf(pkgs[1]))
}

// On the maintainer's terminal, with a security key or a passkey and no
// authenticator app: npm shows a page to approve for each call, the
// maintainer opens it, and trust reads, creates and replaces.
func TestTrustOnTerminal(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := []string{platforms.All()[3].Package(), platforms.Wrapper}
	bed.Publish(t, "0.0.1", pkgs...)
	other := circleci.Facets()
	other.ProjectID = "33333333-3333-4333-8333-333333333333"
	bed.Front.SetTrust(pkgs[1], registrytest.TrustFor(other))
	bed.Front.SetAuthenticator("")
	bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)

	control, term := testenv.PTY(t)
	user := testenv.AtTerminal(t, control)
	cfg, out, _ := config(t, bed)
	cfg.Packages, cfg.Replace = pkgs, true
	cfg.Account.CLI = bed.NPM(t, true) // no NPM_CONFIG_OTP
	cfg.Account.Stdio = npm.Stdio{In: term, Out: term, Err: term}
	cfg.Account.Terminal = true
	results, err := trust.Run(t.Context(), cfg)
	require.NoError(t, err, "%s\n--- terminal:\n%s", out, user.Screen())
	assert.Equal(t, trust.Created, results[0].State)
	assert.Equal(t, trust.Replaced, results[1].State)
	for _, pkg := range pkgs {
		assert.True(t, matches(t, bed, pkg), pkg)
	}

	// list, create; list, revoke, create: a web login each, opened by the
	// maintainer from the terminal, its token used once.
	logins := bed.Front.WebLogins()
	require.Len(t, logins, 5)
	var pages []string
	for _, l := range logins {
		assert.True(t, l.Used, l.Request)
		pages = append(pages, l.AuthURL)
		assert.NotContains(t, out.String()+user.Screen(), l.Token)
	}
	assert.Equal(t, pages, user.Opened())
	assert.Equal(t, map[string]int{"GET": 2, "POST": 2, "DELETE": 1}, calls(bed))
}
