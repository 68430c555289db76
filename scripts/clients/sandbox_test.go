package clients_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/clients"
)

// facet runs in a sandbox as installed: a FACET_BIN_OVERRIDE of the shell
// that runs the tests or the benchmark does not reach it.
func TestSandboxDropsTheOverride(t *testing.T) {
	box, err := clients.NewSandbox(t.TempDir(), "http://127.0.0.1:1/", []string{
		"FACET_BIN_OVERRIDE=/x", "FACET_BIN_OVERRIDE_FOLLOWED=/x", "KEEP=1",
	})
	require.NoError(t, err)
	env := strings.Join(box.Env(), "\n")
	assert.NotContains(t, env, "FACET_BIN_OVERRIDE")
	assert.Contains(t, box.Env(), "KEEP=1")
}
