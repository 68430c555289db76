package tasks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// bedEnv is a task environment whose npm is configured (its npmrc and
// NPM_CONFIG_* variables) for the test bed, as a maintainer's after npm login.
func bedEnv(t *testing.T, bed *testenv.Bed, vars map[string]string, login bool) (tasks.Env, *testenv.Buffer) {
	var out testenv.Buffer
	cli := bed.NPM(t, login).With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP)
	return tasks.Env{
		Root:      t.TempDir(),
		Getenv:    func(k string) string { return vars[k] },
		Environ:   cli.Env,
		Stdout:    &out,
		Progress:  progress.NewPlain(&out),
		Terminal:  npm.Stdio{In: strings.NewReader(""), Out: &out, Err: &out},
		TrustPace: time.Millisecond,
	}, &out
}

// A maintainer's first-time setup, end to end through the tasks the Mage
// targets run, against the registry npm is configured with: seed, trust,
// verify.
func TestFirstTimeSetup(t *testing.T) {
	bed := testenv.RegistryBed(t)
	env, out := bedEnv(t, bed, nil, true)

	require.NoError(t, tasks.Seed(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "registry "+bed.URL+"\n", "the registry npm is configured with")
	require.NoError(t, tasks.Trust(t.Context(), env), out.String())

	for _, pkg := range platforms.Packages() {
		assert.Len(t, bed.Front.TrustOf(pkg), 1, pkg)
	}
	out.Reset()
	require.NoError(t, tasks.VerifySetup(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "The setup is complete.")
	assert.NotContains(t, out.String(), "not checked")

	out.Reset()
	require.NoError(t, tasks.Seed(t.Context(), env), out.String())
	assert.Contains(t, out.String(), "All packages already exist on npm")
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
			map[string]string{"FACET_DIST_TAG": "beta"}, `verify:release: FACET_DIST_TAG="beta" applies to prereleases only`},
		{"release wait", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2.3") },
			map[string]string{"FACET_WAIT": "soon"}, `verify:release: FACET_WAIT="soon": want a duration such as 90s or 10m`},
		{"release install", func(e tasks.Env) error { return tasks.VerifyRelease(t.Context(), e, "1.2.3") },
			map[string]string{"FACET_VERIFY_INSTALL": "y"}, `verify:release: FACET_VERIFY_INSTALL="y": want 1 or 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out := env(t, tt.vars)
			e.Environ = noNPM
			err := tt.run(e)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
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
// given to verify:release fails with exit code 1.
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
}
