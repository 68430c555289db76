package installbench_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/installbench"
)

func TestPrint(t *testing.T) {
	rows := []installbench.Row{
		{Install: "npm install", Command: 2 * time.Millisecond, Bare: 2 * time.Millisecond},
		{Install: "npm install --ignore-scripts", Command: 80 * time.Millisecond, Bare: 2 * time.Millisecond},
	}
	assert.InDelta(t, 40.0, rows[1].Ratio(), 1e-9)
	var out bytes.Buffer
	installbench.Print(&out, 50, rows)
	assert.Equal(t, `facet --version, median of 50 runs each

install                         node_modules/.bin/facet  bare binary  ratio
npm install                                     2.0 ms       2.0 ms  1.00×
npm install --ignore-scripts                   80.0 ms       2.0 ms  40.00×
`, out.String())
}
