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
