package tasks_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// approve and reject say what they need before doing anything: a version,
// a terminal (npm asks for the second factor there), an npm login, and, for
// approve, a clean checkout of the tag to rebuild from.
func TestApproveNeeds(t *testing.T) {
	bed := testenv.RegistryBed(t)

	env, _ := bedEnv(t, bed, nil)
	err := tasks.Approve(t.Context(), env, "1.2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `approve: "1.2" is not a release: want a version X.Y.Z or its tag agent-facets@X.Y.Z`)

	err = tasks.Reject(t.Context(), env, "agent-facets@1.2.3")
	require.Error(t, err)
	assert.Equal(t, "reject: npm asks for the second factor of each reject on a terminal (a page to approve in the browser, or a one-time password), and standard input and output are not one: run go tool mage reject 1.2.3 in a terminal", err.Error())

	// Logged out: npm login first.
	env, _ = bedEnv(t, bed, nil)
	atTerminal(t, &env)
	empty := filepath.Join(t.TempDir(), "npmrc")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	env.Environ = append(env.Environ, "NPM_CONFIG_USERCONFIG="+empty)
	err = tasks.Approve(t.Context(), env, "1.2.3")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "approve: npm is not logged in to "+bed.URL+": run npm login (as a maintainer of the packages, with two-factor authentication), then run go tool mage approve 1.2.3 again")

	// Not a checkout of the tag: nothing is built.
	env, out := bedEnv(t, bed, map[string]string{"FACET_DRY_RUN": "1"})
	err = tasks.Approve(t.Context(), env, "1.2.3")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "approve: it rebuilds the release from a clean checkout of its tag (git checkout agent-facets@1.2.3), and this one is not: ")
	assert.NoDirExists(t, filepath.Join(env.Root, "dist"))
	assert.NotContains(t, out.String(), bed.Verdaccio.Token)
}
