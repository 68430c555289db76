package installbench_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/installbench"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

func TestPrint(t *testing.T) {
	rows := []installbench.Row{
		{Install: "npm install", First: 120 * time.Millisecond, Steady: 2 * time.Millisecond, Bare: 2 * time.Millisecond},
		{Install: "pnpm 12.4.2", First: 150 * time.Millisecond, Steady: 80 * time.Millisecond, Bare: 2 * time.Millisecond},
	}
	assert.InDelta(t, 60.0, rows[0].FirstRatio(), 1e-9)
	assert.InDelta(t, 40.0, rows[1].SteadyRatio(), 1e-9)
	var out bytes.Buffer
	installbench.Print(&out, 50, rows)
	assert.Equal(t, `facet --version: the first call after the install (one run), then the median of 50 calls each

install                         first call  steady state  bare binary  first ÷ bare  steady ÷ bare
npm install                       120.0 ms        2.0 ms       2.0 ms        60.00×          1.00×
pnpm 12.4.2                       150.0 ms       80.0 ms       2.0 ms        75.00×         40.00×
`, out.String())
}

// Run, end to end with two runs a command: every client installs from a
// fresh registry, its first call works, and what it times as the bare binary
// is the file of the platform package that facet runs from.
func TestRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the installs are tested on Linux")
	}
	set := testenv.Clients(t) // installs the pinned clients, or says what is missing
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	npmCLI := npm.CLI{Path: testenv.LookPath(t, "npm", "install npm 11")}
	root := testenv.RepoRoot(t)
	l, _ := releasetest.Packed(t, "1.2.3")

	var out bytes.Buffer
	rows, err := installbench.Run(t.Context(), installbench.Config{
		Dist:      l,
		Verdaccio: verdaccio.Options{Root: root, Node: node, NPM: npmCLI},
		Clients:   clients.Options{Root: root, NPM: npmCLI, Node: node},
		Runs:      2,
	}, &out)
	require.NoError(t, err, out.String())

	var names []string
	for _, c := range set.Clients() {
		names = append(names, c.Name)
	}
	require.Len(t, rows, len(names))
	for i, r := range rows {
		assert.Equal(t, names[i], r.Install)
		assert.Positive(t, r.First, r.Install)
		assert.Positive(t, r.Steady, r.Install)
		assert.Positive(t, r.Bare, r.Install)
		assert.Regexp(t, `/@agent-facets/cli-linux-[a-z0-9-]+/bin/facet$`, r.Binary, r.Install)
		assert.Contains(t, out.String(), "\n"+r.Install+" ", "the table has a row for "+r.Install)
	}
	assert.Contains(t, out.String(), "the median of 2 calls each")
}
