package verify_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/circlecitest"
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

// clock is a fake clock that moves only when the code under test sleeps.
type clock struct {
	now   time.Time
	waits []time.Duration
}

func (c *clock) Now() time.Time { return c.now }

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

func client(t *testing.T, bed *testenv.Bed) *registry.Client {
	t.Helper()
	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	reg.Retry = retry.Policy{Attempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	return reg
}

// trusted makes p the trusted publisher of pkgs on the stand-in, as if set on
// the website.
func trusted(bed *testenv.Bed, p circleci.Publisher, pkgs ...string) {
	for _, pkg := range pkgs {
		ctx := make([]any, len(p.ContextIDs))
		for i, id := range p.ContextIDs {
			ctx[i] = id
		}
		bed.Front.SetTrust(pkg, registrytest.Trust{Type: "circleci", Permissions: []string{"createPackage", "createStagedPackage"}, Claims: map[string]any{
			registrytest.ClaimOrgID: p.OrgID, registrytest.ClaimProjectID: p.ProjectID,
			registrytest.ClaimPipelineDefinitionID: p.PipelineDefinitionID, registrytest.ClaimVCSOrigin: p.VCSOrigin,
			registrytest.ClaimContextIDs: ctx,
		}})
	}
}

// circleToken is the CircleCI API token of the tests: it must never show.
const circleToken = "CCIPAT_verifyTestToken_never_shown_0123456789abcdef"

// locked are the restrictions of a release context locked as README says.
func locked() []circlecitest.Restriction {
	return []circlecitest.Restriction{
		{ID: "e", Type: "expression", Pattern: circleci.LockExpression("agent-facets@")},
		{ID: "p", Type: "project", Pattern: circleci.Facets().ProjectID, Name: "facets"},
		{ID: "g", Type: "group", Pattern: "5678", Name: "release-managers"},
	}
}

// circleCI is CircleCI's API stand-in, with the release context restricted
// by rs, and a client of it whose retries wait on a fake clock.
func circleCI(t *testing.T, rs ...circlecitest.Restriction) (*circlecitest.Server, *circleci.API) {
	t.Helper()
	s, err := circlecitest.Start(circlecitest.Options{Token: circleToken})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	s.SetContext(circleci.Facets().ContextIDs[0], rs...)
	clk := &clock{now: time.Now()}
	return s, &circleci.API{BaseURL: s.URL, Token: circleToken, Retry: retry.Policy{Attempts: 3, Sleep: clk.Sleep}}
}

func setupConfig(t *testing.T, bed *testenv.Bed, login bool) (verify.SetupConfig, *syncbuf.Buffer) {
	var out syncbuf.Buffer
	clk := &clock{now: time.Now()}
	return verify.SetupConfig{
		Registry:  client(t, bed),
		Packages:  platforms.Packages(),
		Publisher: circleci.Facets(),
		Account: &npm.Account{CLI: bed.NPM(t, login).With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP), Dir: t.TempDir(),
			Pace: npm.TrustPace, Sleep: clk.Sleep, Now: clk.Now},
		Out: &out,
	}, &out
}

func TestSetup(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Packages()...)
	trusted(bed, circleci.Facets(), platforms.Packages()...)

	t.Run("complete", func(t *testing.T) {
		cfg, out := setupConfig(t, bed, true)
		_, cfg.CircleCI = circleCI(t, locked()...)
		results, err := verify.Setup(t.Context(), cfg)
		require.NoError(t, err, out.String())
		for _, r := range results {
			assert.True(t, r.Exists)
			assert.Equal(t, "ok", r.Trust, r.Package)
		}
		assert.Regexp(t, `(?m)^agent-facets +yes +ok +publish, stage publish$`, out.String())
		assert.Contains(t, out.String(), "\nCircleCI context release (84962527-275c-495e-83c3-31c79cf1e181)\n")
		assert.Regexp(t, `(?m)^expression +pipeline\.git\.tag starts-with "agent-facets@" and not job\.ssh\.enabled and not \(pipeline\.config_source starts-with "api"\) +confines to agent-facets@ tags; no configuration from the API; no SSH reruns$`, out.String())
		assert.Regexp(t, `(?m)^project +facets \(c7b3dd0a-e9b0-4e95-8345-fc984443e02b\) +only jobs of this project$`, out.String())
		assert.Regexp(t, `(?m)^group +release-managers \(5678\) +only members of this group$`, out.String())
		assert.NotContains(t, out.String(), "warning:")
		assert.Contains(t, out.String(), "release modes (the pipeline parameter release-mode in .circleci/config.yml):\n"+
			"  publish  (go tool mage release): ready, every publisher may publish\n"+
			"  stage    (go tool mage release:stage): ready, every publisher may stage publish\n")
		assert.True(t, strings.HasSuffix(out.String(), "\nThe setup is complete.\n"), out.String())
	})
	t.Run("publishers that may only publish: the direct release is ready, the staged one is not", func(t *testing.T) {
		old := platforms.All()[3].Package()
		bed.Front.SetTrust(old, registrytest.PublishOnlyTrust(circleci.Facets()))
		defer trusted(bed, circleci.Facets(), old)
		cfg, out := setupConfig(t, bed, true)
		_, cfg.CircleCI = circleCI(t, locked()...)
		results, err := verify.Setup(t.Context(), cfg)
		require.NoError(t, err, "one release mode is enough: %s", out.String())
		assert.Equal(t, []string{"createPackage"}, results[3].Permissions)
		assert.Regexp(t, `(?m)^@agent-facets/cli-linux-arm64 +yes +ok +publish$`, out.String())
		assert.Contains(t, out.String(), "  publish  (go tool mage release): ready, every publisher may publish\n"+
			"  stage    (go tool mage release:stage): not ready, 1 publishers lack stage publish: "+old+"\n")

		// The pipeline's mode is the one that counts.
		cfg, out = setupConfig(t, bed, true)
		cfg.Mode = "publish"
		_, err = verify.Setup(t.Context(), cfg)
		require.NoError(t, err, out.String())
		assert.Contains(t, out.String(), "  publish  (go tool mage release, the pipeline's): ready, every publisher may publish\n")
		cfg, out = setupConfig(t, bed, true)
		cfg.Mode = "stage"
		_, err = verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())

		assert.Contains(t, err.Error(), "  the pipeline releases in mode stage (go tool mage release:stage): not ready, 1 publishers lack stage publish: "+old+
			". A publisher cannot be edited on npmjs.com: FACET_TRUST_REPLACE=1 go tool mage trust replaces each with one that may publish and stage; or set release-mode to a mode every publisher allows")

		// A stage-only publisher where the pipeline publishes: an error, and
		// the stage mode is still shown as ready.
		bed.Front.SetTrust(old, registrytest.WebTrust(circleci.Facets(), false))
		cfg, out = setupConfig(t, bed, true)
		cfg.Mode = "publish"
		_, err = verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "  the pipeline releases in mode publish (go tool mage release): not ready, 1 publishers lack publish: "+old)
		assert.Contains(t, out.String(), "  stage    (go tool mage release:stage): ready, every publisher may stage publish\n", "every mode is shown")
	})
	t.Run("not logged in, no CircleCI token: trusted publishers and the release context not checked", func(t *testing.T) {
		cfg, out := setupConfig(t, bed, false)
		results, err := verify.Setup(t.Context(), cfg)
		require.NoError(t, err, out.String())
		for _, r := range results {
			assert.Equal(t, "not checked", r.Trust)
		}
		assert.Contains(t, out.String(), "Every package exists. Trusted publishers not checked: npm is not logged in to "+bed.URL+" (npm login, then verify again).")
		assert.Contains(t, out.String(), "\nThe release context's restrictions were not checked: set CIRCLE_TOKEN to a CircleCI personal API token (CircleCI → User Settings → Personal API Tokens) and run go tool mage verify again.\n",
			"on a line of its own")
		assert.NotContains(t, out.String(), "CircleCI context release")
		assert.NotContains(t, out.String(), "The setup is complete.")
	})
	t.Run("no CircleCI token: the release context not checked", func(t *testing.T) {
		cfg, out := setupConfig(t, bed, true)
		_, err := verify.Setup(t.Context(), cfg)
		require.NoError(t, err, out.String())
		assert.Regexp(t, `(?m)^agent-facets +yes +ok +publish, stage publish$`, out.String())
		assert.True(t, strings.HasSuffix(out.String(), "\nEvery package exists with its trusted publisher.\n"+verify.NotChecked+"\n"), out.String())
		assert.NotContains(t, out.String(), "The setup is complete.")
	})
	t.Run("npm whoami fails: a failure, not a setup left unchecked", func(t *testing.T) {
		// npm whoami asks the registry who the token is (GET /-/whoami);
		// the registry fails. npm retries a 500 after 10 s and more: not here.
		remove := bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Path: "/-/whoami"})
		defer remove()
		cfg, out := setupConfig(t, bed, true)
		cfg.Account.CLI = cfg.Account.CLI.With("NPM_CONFIG_FETCH_RETRIES=0")
		_, cfg.CircleCI = circleCI(t, locked()...)
		results, err := verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "verify: the setup is not complete:\n  the trusted publishers could not be read: npm whoami failed (E500): 500 Internal Server Error - GET "+bed.URL+"-/whoami - internal server error (registrytest fault); check the registry and your network, then verify again")
		assert.Equal(t, "not checked", results[0].Trust)
		assert.NotContains(t, out.String(), "not checked:")
		assert.NotContains(t, out.String(), "complete.")
		whoami := 0
		for _, r := range bed.Front.Requests() {
			if r.Path == "/-/whoami" && r.Fault {
				whoami++
			}
		}
		assert.Positive(t, whoami, "npm asked the registry, and the registry failed")
	})
	t.Run("npm whoami refused by a proxy (403): a failure, not a missing login", func(t *testing.T) {
		remove := bed.Front.Inject(registrytest.Fault{Kind: registrytest.Forbidden, Path: "/-/whoami"})
		defer remove()
		cfg, out := setupConfig(t, bed, true)
		_, cfg.CircleCI = circleCI(t, locked()...)
		_, err := verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "the trusted publishers could not be read: npm whoami failed (E403)")
		assert.NotContains(t, out.String(), "not logged in")
	})
	t.Run("npm too old to read trusted publishers: a failure", func(t *testing.T) {
		cfg, out := setupConfig(t, bed, true)
		cfg.Account.CLI = testenv.OldNPM(t, cfg.Account.CLI.Env)
		_, cfg.CircleCI = circleCI(t, locked()...)
		_, err := verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "  the trusted publishers could not be read: npm 11.10.1 is too old: reading trusted publishers needs npm 11.15.0 or later (npm install -g npm@11)")
	})
	t.Run("logged in, but the trusted publishers cannot be read: a failure", func(t *testing.T) {
		cfg, out := setupConfig(t, bed, true)
		cfg.Account.CLI = bed.NPM(t, true) // no one-time password, and no terminal to ask on
		results, err := verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "verify: the setup is not complete:\n  @agent-facets/cli-darwin-arm64: could not read its trusted publisher: the registry asks for a one-time password")
		assert.Contains(t, err.Error(), "set NPM_CONFIG_OTP")
		assert.Equal(t, "error", results[0].Trust)
		assert.Equal(t, "not checked", results[1].Trust, "the same would happen to every package: stop asking")
		assert.NotContains(t, out.String(), "complete.")
	})
}

// With a CircleCI API token, verify reads the release context's
// restrictions: it fails unless an expression restriction confines the
// context to release tags, saying what to add and where.
func TestSetupReleaseContext(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", platforms.Packages()...)
	const fix = "add the expression restriction pipeline.git.tag starts-with \"agent-facets@\" and not job.ssh.enabled and not (pipeline.config_source starts-with \"api\") at CircleCI → Organization Settings → Contexts → release → Restrictions (Add Expression Restriction)"
	const notConfined = "verify: the setup is not complete:\n  CircleCI context release (84962527-275c-495e-83c3-31c79cf1e181): no expression restriction confines it to agent-facets@ tags and to the repository's configuration, so a job on any branch, or a pipeline given its configuration through CircleCI's API on an existing tag, that names the context gets an ID token npm accepts: " + fix
	const api = ` and not (pipeline.config_source starts-with "api")`
	expr := func(s string) circlecitest.Restriction {
		return circlecitest.Restriction{ID: "e", Type: "expression", Pattern: s}
	}
	project, group := locked()[1], locked()[2]
	tests := []struct {
		name     string
		rs       []circlecitest.Restriction
		setup    func(*circlecitest.Server, *circleci.API)
		err      string   // "" for none
		out      []string // lines (regular expressions) of the output
		warnings int
	}{
		{name: "locked", rs: locked(), out: []string{`^expression +pipeline\.git\.tag starts-with "agent-facets@" and not job\.ssh\.enabled and not \(pipeline\.config_source starts-with "api"\) +confines to agent-facets@ tags; no configuration from the API; no SSH reruns$`}},
		{name: "an expression alone: warnings", rs: []circlecitest.Restriction{expr(`pipeline.git.tag starts-with "agent-facets@"` + api)},
			out: []string{
				"^warning: an expression restriction allows SSH reruns: add `and not job.ssh.enabled` to it",
				"^warning: no project restriction: any project of the organization may use the context; add a project restriction for project c7b3dd0a-e9b0-4e95-8345-fc984443e02b$",
				"^warning: no security group: every member of the organization may run a job with the context; add a security group of the release managers$",
			}, warnings: 3},
		{name: "a multi-line expression", rs: []circlecitest.Restriction{expr("pipeline.git.tag starts-with \"agent-facets@\"\n  and not job.ssh.enabled" + api), project, group},
			out: []string{`^expression +pipeline\.git\.tag starts-with "agent-facets@" and not job\.ssh\.enabled and not \(pipeline\.config_source starts-with "api"\) +confines`}},
		{name: "no restriction", err: notConfined,
			out: []string{`^\(none\) +anyone in the organization, any project, any branch$`}},
		{name: "project and group only", rs: []circlecitest.Restriction{project, group}, err: notConfined},
		{name: "tags alone: a configuration through the API passes", rs: []circlecitest.Restriction{expr(`pipeline.git.tag starts-with "agent-facets@" and not job.ssh.enabled`), project, group}, err: notConfined,
			out: []string{`^expression +pipeline\.git\.tag starts-with "agent-facets@" and not job\.ssh\.enabled +confines to agent-facets@ tags; allows a configuration from the API; no SSH reruns$`}},
		{name: "a second, wide expression", rs: []circlecitest.Restriction{locked()[0], {ID: "w", Type: "expression", Pattern: `pipeline.git.branch == "main"`}, project, group},
			err: `: the expression restriction "pipeline.git.branch == \"main\"" does not confine it to agent-facets@ tags and to the repository's configuration, and CircleCI's documentation does not say that every expression restriction must hold rather than any one: ` + fix + " (and remove every other expression restriction)"},
		{name: "too wide a prefix", rs: []circlecitest.Restriction{expr(`pipeline.git.tag starts-with "agent"` + api), project, group}, err: notConfined,
			out: []string{`^expression +pipeline\.git\.tag starts-with "agent" and not \(pipeline\.config_source starts-with "api"\) +does not confine to agent-facets@ tags; no configuration from the API$`}},
		{name: "or a branch", rs: []circlecitest.Restriction{expr(`pipeline.git.tag starts-with "agent-facets@" or pipeline.git.branch == "main"`), project, group}, err: notConfined},
		{name: "negated", rs: []circlecitest.Restriction{expr(`not (pipeline.git.tag starts-with "agent-facets@")`), project, group}, err: notConfined},
		{name: "unparsable", rs: []circlecitest.Restriction{expr(`pipeline.git.tag starts-with "agent-facets@`), project, group}, err: notConfined,
			out: []string{`^expression +pipeline\.git\.tag starts-with "agent-facets@ +cannot be parsed: at offset 29: a string without its closing '"'$`}},
		{name: "token refused", rs: locked(), setup: func(_ *circlecitest.Server, a *circleci.API) {
			a.Token = "CCIPAT_wrong_token_also_never_shown_0123456789"
		},
			err: "verify: the setup is not complete:\n  CircleCI context release (84962527-275c-495e-83c3-31c79cf1e181): could not read its restrictions: CircleCI refused the API token (GET ",
			out: []string{`^restrictions not read$`}},
		{name: "no such context", rs: locked(), setup: func(s *circlecitest.Server, _ *circleci.API) { s.DeleteContext(circleci.Facets().ContextIDs[0]) },
			err: "could not read its restrictions: context 84962527-275c-495e-83c3-31c79cf1e181: no such context, or the token's user may not see it"},
		{name: "server error", rs: locked(), setup: func(s *circlecitest.Server, _ *circleci.API) {
			s.Inject(circlecitest.Fault{Kind: circlecitest.Status500})
		},
			err: "could not read its restrictions: GET "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, api := circleCI(t, tt.rs...)
			s.LeakTokenInErrors(true)
			if tt.setup != nil {
				tt.setup(s, api)
			}
			cfg, out := setupConfig(t, bed, false)
			cfg.Account = nil // the trusted publishers are TestSetup's
			cfg.CircleCI = api
			_, err := verify.Setup(t.Context(), cfg)
			if tt.err == "" {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
				assert.Contains(t, err.Error(), tt.err)
				assert.NotContains(t, err.Error(), api.Token)
				assert.NotContains(t, err.Error(), circleToken)
			}
			for _, line := range tt.out {
				assert.Regexp(t, "(?m)"+line, out.String())
			}
			assert.Equal(t, tt.warnings, strings.Count(out.String(), "warning:"), out.String())
			assert.NotContains(t, out.String(), api.Token)
			assert.NotContains(t, out.String(), circleToken)
			assert.NotContains(t, out.String(), "restrictions were not checked")
		})
	}
	t.Run("a server error is retried before it fails", func(t *testing.T) {
		s, api := circleCI(t, locked()...)
		s.Inject(circlecitest.Fault{Kind: circlecitest.Status500})
		cfg, out := setupConfig(t, bed, false)
		cfg.Account, cfg.CircleCI = nil, api
		_, err := verify.Setup(t.Context(), cfg)
		require.Error(t, err, out.String())
		assert.Contains(t, err.Error(), "could not read its restrictions: GET "+s.URL+"context-restrictions?filter%5Bcontext_id%5D=84962527-275c-495e-83c3-31c79cf1e181: 500 Internal Server Error: Internal server error (circlecitest fault) (gave up after 3 attempts)")
		assert.Len(t, s.Requests(), 3)
	})
}

func TestSetupIncomplete(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := platforms.Packages()
	bed.Publish(t, "0.0.1", pkgs[1:]...)
	trusted(bed, circleci.Facets(), pkgs[1:12]...)
	other := circleci.Facets()
	other.PipelineDefinitionID = "11111111-1111-4111-8111-111111111111"
	trusted(bed, other, platforms.Wrapper)
	cfg, out := setupConfig(t, bed, true)
	_, err := verify.Setup(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "verify: the setup is not complete:")
	assert.Contains(t, err.Error(), "  @agent-facets/cli-darwin-arm64: does not exist (run go tool mage seed)")
	assert.Contains(t, err.Error(), "  agent-facets: its trusted publisher differs: Pipeline Definition ID: is 11111111-1111-4111-8111-111111111111, want "+circleci.Facets().PipelineDefinitionID+" (run go tool mage trust)")
	assert.Regexp(t, `(?m)^@agent-facets/cli-darwin-arm64 +no +not checked$`, out.String())
	assert.Regexp(t, `(?m)^agent-facets +yes +differs$`, out.String())

	bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: pkgs[3], Method: http.MethodGet})
	_, err = verify.Setup(t.Context(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "  @agent-facets/cli-linux-arm64: the registry could not say whether it exists", "an error is not taken for missing")
}

// release is a bed with version published from a packed dist.
type release struct {
	bed     *testenv.Bed
	dist    dist.Layout
	records []dist.PackRecord
}

func releaseConfig(t *testing.T, r release, version, tag string) (verify.ReleaseConfig, *syncbuf.Buffer, *clock) {
	var out syncbuf.Buffer
	clk := &clock{now: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
	return verify.ReleaseConfig{
		Registry: client(t, r.bed),
		Version:  version,
		Tag:      tag,
		Dist:     r.dist,
		Poll:     registry.Poll{Initial: time.Second, Max: 8 * time.Second, Timeout: time.Minute, Sleep: clk.Sleep, Now: clk.Now, Rand: func() float64 { return 0.5 }},
		NPM:      r.bed.NPM(t, false),
		TempDir:  t.TempDir(),
		Out:      &out,
	}, &out, clk
}

// getsOf counts the document reads of each package.
func getsOf(bed *testenv.Bed) map[string]int {
	n := map[string]int{}
	for _, r := range bed.Front.Requests() {
		if r.Method == http.MethodGet && r.Package != "" && !strings.Contains(r.Path, "/-/") {
			n[r.Package]++
		}
	}
	return n
}

func TestRelease(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	l, records := releasetest.Packed(t, "1.0.0")
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l, records)...)
	r := release{bed, l, records}

	t.Run("complete", func(t *testing.T) {
		cfg, out, clk := releaseConfig(t, r, "1.0.0", "latest")
		statuses, err := verify.Release(t.Context(), cfg)
		require.NoError(t, err, out.String())
		require.Len(t, statuses, 13)
		for _, s := range statuses {
			assert.True(t, s.OK(), s.Name)
		}
		assert.Empty(t, clk.waits, "nothing to wait for")
		assert.Regexp(t, `(?m)^@agent-facets/cli-linux-x64 +1\.0\.0 += dist +latest → 1\.0\.0 +ok$`, out.String())
		assert.Contains(t, out.String(), "Release 1.0.0 is complete: 13 packages under latest.")
	})
	t.Run("dist holds another version: integrity not compared", func(t *testing.T) {
		cfg, out, _ := releaseConfig(t, r, "1.0.0", "latest")
		cfg.Dist = dist.Layout{Root: t.TempDir()}
		_, err := verify.Release(t.Context(), cfg)
		require.NoError(t, err, out.String())
		assert.Contains(t, out.String(), "integrity not compared: dist/ holds no packed packages")
		assert.Regexp(t, `(?m)^agent-facets +1\.0\.0 +not compared +latest → 1\.0\.0 +ok$`, out.String())
	})
	t.Run("a version that is not there: polled until the time is up", func(t *testing.T) {
		before := getsOf(bed)
		cfg, out, clk := releaseConfig(t, r, "1.0.1", "latest")
		statuses, err := verify.Release(t.Context(), cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "verify: release 1.0.1 is not right:\n  @agent-facets/cli-darwin-arm64@1.0.1: version 1.0.1 is not there\n")
		assert.False(t, statuses[0].OK())
		s := time.Second
		assert.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s, 8 * s, 8 * s, 8 * s, 8 * s}, clk.waits,
			"exponential, at most 8 s, and no wait past the minute")
		assert.Contains(t, out.String(), "waiting ")
		gets := getsOf(bed)
		assert.Equal(t, len(clk.waits)+1, gets["agent-facets"]-before["agent-facets"], "one read per round")
	})
	t.Run("install check", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skip("the packed binaries run on linux/amd64 only")
		}
		cfg, out, _ := releaseConfig(t, r, "1.0.0", "latest")
		cfg.Install = true
		// The check runs the facet installed, whatever the shell overrides.
		cfg.NPM = cfg.NPM.With(platforms.OverrideVar + "=/nonexistent/facet")
		_, err := verify.Release(t.Context(), cfg)
		require.NoError(t, err, out.String())
		assert.Contains(t, out.String(), "npm install agent-facets@1.0.0: facet --version prints 1.0.0")
	})
}

// The install check fails when what npm installs does not run as facet of
// the version.
func TestReleaseInstallCheckFails(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	l, records := releasetest.StandIns(t, "1.2.0")
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l, records)...)
	cfg, out, _ := releaseConfig(t, release{bed, l, records}, "1.2.0", "latest")
	cfg.Install = true
	_, err := verify.Release(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "verify: release 1.2.0 is not right:\n  after npm install agent-facets@1.2.0, facet --version")
	entries, err := os.ReadDir(cfg.TempDir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the project is removed")
}

// Only the packages still pending are read again; one that shows up after a
// few reads completes the release.
func TestReleaseBecomesVisible(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	l, records := releasetest.Packed(t, "1.1.0")
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l, records)...)
	linuxArm := platforms.All()[3].Package()
	bed.Front.Inject(registrytest.Fault{Kind: registrytest.NotFound, Package: linuxArm, Method: http.MethodGet, Times: 3})
	before := getsOf(bed)
	cfg, out, clk := releaseConfig(t, release{bed, l, records}, "1.1.0", "latest")
	_, err := verify.Release(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Len(t, clk.waits, 3)
	gets := getsOf(bed)
	assert.Equal(t, 4, gets[linuxArm]-before[linuxArm], "read until it showed")
	assert.Equal(t, 1, gets[platforms.Wrapper]-before[platforms.Wrapper], "the others were read once")
	assert.Contains(t, out.String(), "waiting 1s for 1 packages: "+linuxArm)
}

func TestReleaseWrong(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	l, records := releasetest.Packed(t, "2.0.0")
	tarballs := releasetest.Tarballs(l, records)
	// darwin-arm64 and the wrapper are not the tarballs in dist/; the others
	// are, but under the tag next, with latest on an older version.
	bed.Publish(t, "2.0.0", platforms.All()[0].Package(), platforms.Wrapper)
	bed.Publish(t, "1.9.0", platforms.Packages()[1:12]...)
	bed.PublishTarballs(t, "next", tarballs[1:12]...)
	before := getsOf(bed)

	cfg, out, clk := releaseConfig(t, release{bed, l, records}, "2.0.0", "latest")
	statuses, err := verify.Release(t.Context(), cfg)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "  @agent-facets/cli-darwin-arm64@2.0.0: integrity sha512-")
	assert.Contains(t, msg, "want sha512-")
	assert.Contains(t, msg, "(the tarball in dist/)")
	assert.Contains(t, msg, "  @agent-facets/cli-linux-x64@2.0.0: dist-tag latest points at 1.9.0, want 2.0.0")
	assert.Contains(t, msg, "  agent-facets@2.0.0: integrity")
	assert.Contains(t, msg, "optionalDependencies missing @agent-facets/cli-darwin-arm64@2.0.0;")
	assert.True(t, statuses[0].Final, "a different tarball will not change by waiting")
	assert.False(t, statuses[1].Final, "a tag may yet move")
	assert.NotEmpty(t, clk.waits)
	assert.Regexp(t, `(?m)^@agent-facets/cli-darwin-arm64 +2\.0\.0 +≠ dist +latest → 2\.0\.0 +wrong$`, out.String())
	assert.Regexp(t, `(?m)^@agent-facets/cli-linux-x64 +2\.0\.0 += dist +latest → 1\.9\.0 +timed out$`, out.String())

	gets := getsOf(bed)
	darwinArm, darwinX64 := platforms.All()[0].Package(), platforms.All()[1].Package()
	assert.Equal(t, 1, gets[darwinArm]-before[darwinArm], "a final problem is not polled")
	assert.Equal(t, len(clk.waits)+1, gets[darwinX64]-before[darwinX64], "a pending one is")
}
