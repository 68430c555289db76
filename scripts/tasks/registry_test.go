package tasks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/circlecitest"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/version"
)

// bedEnv is a task environment of a maintainer after npm login: the
// registry is set only in the repository's .npmrc (so every npm command must
// run with it, in whatever directory), the login in the user's npmrc; no
// terminal (see atTerminal).
func bedEnv(t *testing.T, bed *testenv.Bed, vars map[string]string) (tasks.Env, *syncbuf.Buffer) {
	t.Helper()
	var out syncbuf.Buffer
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, ".npmrc"), []byte("registry="+bed.URL+"\n"), 0o644))
	userconfig := filepath.Join(t.TempDir(), "npmrc")
	login := strings.TrimPrefix(bed.URL, "http:") + ":_authToken=" + bed.Verdaccio.Token + "\n"
	require.NoError(t, os.WriteFile(userconfig, []byte(login), 0o600))
	var environ []string
	for _, kv := range bed.NPM(t, false).Env {
		if !strings.HasPrefix(kv, "NPM_CONFIG_REGISTRY=") && !strings.HasPrefix(kv, "NPM_CONFIG_USERCONFIG=") {
			environ = append(environ, kv)
		}
	}
	environ = append(environ, "NPM_CONFIG_USERCONFIG="+userconfig)
	return tasks.Env{
		Root:        root,
		Getenv:      func(k string) string { return vars[k] },
		Environ:     environ,
		Stdout:      &out,
		Progress:    progress.NewPlain(&out),
		Terminal:    npm.Stdio{Out: &out, Err: &out},
		Interactive: false,
		TrustPace:   time.Millisecond,
	}, &out
}

// atTerminal puts env on a terminal where a maintainer sits, who opens every
// page npm asks to have approved.
func atTerminal(t *testing.T, env *tasks.Env) *testenv.User {
	t.Helper()
	control, term := testenv.PTY(t)
	env.Terminal = npm.Stdio{In: term, Out: term, Err: term}
	env.Interactive = true
	return testenv.AtTerminal(t, control)
}

// A maintainer's first-time setup, end to end through the tasks the Mage
// targets run, against the registry npm is configured with (in the
// repository's .npmrc only): seed, trust, verify, each dry run first. The
// maintainer has two-factor authentication with a security key, no
// authenticator app: at the terminal, npm shows a page to approve for every
// call that needs it, and the maintainer opens it.
func TestFirstTimeSetup(t *testing.T) {
	bed := testenv.RegistryBed(t)
	bed.Front.SetAuthenticator("")
	bed.Front.RequireOTPForPublish(true)
	bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)
	// verify, with a CircleCI API token in CIRCLE_TOKEN, reads the release
	// context's restrictions too; the token shows nowhere.
	const circleToken = "CCIPAT_tasksTestToken_never_shown_0123456789abcdef"
	api, err := circlecitest.Start(circlecitest.Options{Token: circleToken})
	require.NoError(t, err)
	t.Cleanup(func() { _ = api.Close() })
	api.SetContext(circleci.Facets().ContextIDs[0],
		circlecitest.Restriction{Type: "expression", Pattern: circleci.LockExpression(version.TagPrefix)},
		circlecitest.Restriction{Type: "project", Pattern: circleci.Facets().ProjectID, Name: "facets"},
		circlecitest.Restriction{Type: "group", Pattern: "5678", Name: "release-managers"})
	env, out := bedEnv(t, bed, map[string]string{"CIRCLE_TOKEN": circleToken + "\n"})
	env.CircleCIAPI = api.URL
	user := atTerminal(t, &env)
	dry, dryOut := bedEnv(t, bed, map[string]string{"FACET_DRY_RUN": "1"})
	atTerminal(t, &dry)

	require.NoError(t, tasks.Seed(t.Context(), dry), dryOut.String())
	assert.Contains(t, dryOut.String(), "would publish 0.0.1 placeholders of 13 packages")
	require.NoError(t, tasks.Seed(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "registry "+bed.URL+"\n", "the registry npm is configured with")
	for _, pkg := range platforms.Packages() {
		exists, err := bed.Verdaccio.NPM().Run(t.Context(), t.TempDir(), "view", pkg+"@0.0.1", "version")
		require.NoError(t, err, "seeded on the registry the repository names: %s", pkg)
		assert.Equal(t, "0.0.1", strings.TrimSpace(string(exists)))
	}
	assert.Len(t, user.Opened(), 13, "a page approved for each publish")

	dryOut.Reset()
	require.NoError(t, tasks.Trust(t.Context(), dry), dryOut.String())
	assert.Contains(t, dryOut.String(), "agent-facets  would create (dry run)")
	for _, pkg := range platforms.Packages() {
		assert.Empty(t, bed.Front.TrustOf(pkg), "a dry run creates nothing")
	}
	require.NoError(t, tasks.Trust(t.Context(), env), out.String())
	for _, pkg := range platforms.Packages() {
		assert.Len(t, bed.Front.TrustOf(pkg), 1, pkg)
	}
	assert.Len(t, user.Opened(), 13+2*13, "and for each read and each creation")
	require.NoError(t, tasks.VerifySetup(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "confines to agent-facets@ tags; no configuration from the API; no SSH reruns")
	assert.Contains(t, out.String(), "The setup is complete.")
	assert.NotContains(t, out.String(), circleToken)
	require.Len(t, api.Requests(), 1)
	assert.Equal(t, "bearer", api.Requests()[0].Auth, "the token, trimmed, as a Bearer header")
	assert.Len(t, user.Opened(), 13+3*13, "and for each read of verify")
	for _, l := range bed.Front.WebLogins() {
		if l.Approved {
			assert.True(t, l.Used, l.Request)
		}
		assert.NotContains(t, out.String()+dryOut.String(), l.ID, "npm's web login is shown on the terminal only")
	}

	// Off a terminal, without NPM_CONFIG_OTP, trust and verify say what to do.
	detached, detachedOut := bedEnv(t, bed, nil)
	err = tasks.Trust(t.Context(), detached)
	require.Error(t, err, detachedOut.String())
	assert.Contains(t, err.Error(), "npm asks for a second factor only on a terminal: run on a terminal, where npm shows a page to approve in your browser (or asks for a code), or set NPM_CONFIG_OTP")
	err = tasks.VerifySetup(t.Context(), detached)
	require.Error(t, err, detachedOut.String())
	assert.Contains(t, err.Error(), "npm asks for a second factor only on a terminal")

	// A trusted publisher set by hand for another project is replaced only
	// when asked.
	other := circleci.Facets()
	other.ProjectID = "33333333-3333-4333-8333-333333333333"
	bed.Front.SetTrust(platforms.Wrapper, registrytest.TrustFor(other))
	require.Error(t, tasks.Trust(t.Context(), env), out.String())
	replace, replaceOut := bedEnv(t, bed, map[string]string{"FACET_TRUST_REPLACE": "1"})
	atTerminal(t, &replace)
	require.NoError(t, tasks.Trust(t.Context(), replace), replaceOut.String())
	assert.Contains(t, replaceOut.String(), "agent-facets  replaced")

	out.Reset()
	require.NoError(t, tasks.Seed(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "All packages already exist on npm")
}

// verify:release reads FACET_WAIT and FACET_VERIFY_INSTALL.
func TestVerifyReleaseSwitches(t *testing.T) {
	bed := testenv.RegistryBed(t)
	l, records := releasetest.Packed(t, "3.0.0")
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l, records)...)

	env, out := bedEnv(t, bed, map[string]string{"FACET_VERIFY_INSTALL": "1"})
	require.NoError(t, tasks.VerifyRelease(t.Context(), env, "3.0.0"), out.String())
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		assert.Contains(t, out.String(), "npm install agent-facets@3.0.0: facet --version prints 3.0.0")
	}

	// 3.0.1 is not there: with a wait shorter than the first pause, verify
	// gives up at once instead of polling for the default five minutes.
	env, out = bedEnv(t, bed, map[string]string{"FACET_WAIT": "400ms"})
	err := tasks.VerifyRelease(t.Context(), env, "3.0.1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "version 3.0.1 is not there")
	assert.NotContains(t, out.String(), "waiting ")
}

// Bad switches are refused before anything is asked of npm or the registry.
func TestRegistryTasksRejectBadInput(t *testing.T) {
	// npm is not even on PATH here: a refusal must come first.
	noNPM := []string{"PATH=" + t.TempDir()}
	tests := []struct {
		name string
		run  func(tasks.Env) error
		vars map[string]string
		want string
	}{
		{"seed dry run", func(e tasks.Env) error { return tasks.Seed(t.Context(), e) }, map[string]string{"FACET_DRY_RUN": "maybe"}, `seed: FACET_DRY_RUN="maybe": want 1 or 0`},
		{"trust replace", func(e tasks.Env) error { return tasks.Trust(t.Context(), e) }, map[string]string{"FACET_TRUST_REPLACE": "please"}, `trust: FACET_TRUST_REPLACE="please": want 1 or 0`},
		{"release version", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2") }, nil,
			`verify:release: "1.2" is not a valid semantic version`},
		{"release tag", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2.3") },
			map[string]string{"FACET_DIST_TAG": "1.x"}, `verify:release: FACET_DIST_TAG="1.x": npm refuses a dist-tag that is a valid semver range`},
		{"release wait", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2.3") },
			map[string]string{"FACET_WAIT": "soon"}, `verify:release: FACET_WAIT="soon": want a duration such as 90s or 10m`},
		{"release install", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2.3") },
			map[string]string{"FACET_VERIFY_INSTALL": "y"}, `verify:release: FACET_VERIFY_INSTALL="y": want 1 or 0`},
		{"CircleCI token", func(e tasks.Env) error { return tasks.VerifySetup(t.Context(), e) },
			map[string]string{"CIRCLE_TOKEN": "CCIPAT_secret part\n, and another"},
			"verify: CIRCLE_TOKEN: the CircleCI API token has spaces or characters that are not printable ASCII: copy the token alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out := env(t, tt.vars)
			e.Environ = noNPM
			err := tt.run(e)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "secret part", "a token is never shown")
			assert.Empty(t, out.String())
		})
	}
}

// verify:release accepts the release tag itself as well as the version.
func TestVerifyReleaseTakesATag(t *testing.T) {
	e, _ := env(t, nil)
	e.Environ = []string{"PATH=" + t.TempDir()}
	err := tasks.VerifyRelease(t.Context(), e, "agent-facets@1.2.3")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "verify:release: asking npm which registry it uses", "the version was accepted")
}

// The targets' front door: mage verify is verify:setup, and a bad version
// given to verify:release fails with exit code 1. The aliases verify and
// release run the targets they name.
func TestMageRegistryTargets(t *testing.T) {
	root := testenv.RepoRoot(t)
	cmd := exec.Command("go", "tool", "mage", "verify:release", "not-a-version")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, string(out))
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), `verify:release: "not-a-version" is not a valid semantic version`)

	// The alias runs verify:setup, which starts by asking npm for its registry:
	// an npm that is not there makes that visible.
	cmd = exec.Command("go", "tool", "mage", "verify")
	cmd.Dir = root
	bin := t.TempDir()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(goBin, filepath.Join(bin, "go")))
	cmd.Env = append(os.Environ(), "PATH="+bin)
	out, err = cmd.CombinedOutput()
	require.ErrorAs(t, err, &exit, string(out))
	assert.Contains(t, string(out), "verify: asking npm which registry it uses")

	// go tool mage release is the direct publish (release:publish), and
	// release:stage the staged one; both start by asking npm too.
	for target, want := range map[string]string{"release": "release: asking npm which registry it uses", "release:stage": "release:stage: asking npm which registry it uses"} {
		cmd = exec.Command("go", "tool", "mage", target)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PATH="+bin)
		out, err = cmd.CombinedOutput()
		require.ErrorAs(t, err, &exit, string(out))
		assert.Contains(t, string(out), want, target)
	}
}

// A scope registry that differs from the registry is refused: npm would
// publish the platform packages where nothing here looks.
func TestScopedRegistryRefused(t *testing.T) {
	bed := testenv.RegistryBed(t)
	env, out := bedEnv(t, bed, nil)
	require.NoError(t, os.WriteFile(filepath.Join(env.Root, ".npmrc"),
		[]byte("registry="+bed.URL+"\n@agent-facets:registry=https://npm.example.com/\n"), 0o644))
	err := tasks.VerifySetup(t.Context(), env)
	require.Error(t, err)
	assert.Equal(t, "verify: npm sends @agent-facets packages to https://npm.example.com/ (@agent-facets:registry) and the others to "+bed.URL+": set one registry for all", err.Error())
	assert.Empty(t, out.String())
}
