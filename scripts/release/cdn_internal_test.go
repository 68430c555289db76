package release

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// The wrapper waits the CDN's max-age, and a margin, from the last platform
// package's publish: the later of the registry's time for it and when npm
// said it was done (a registry stamps a version before it shows it).
func TestAwaitCDNFromTheLast(t *testing.T) {
	clock := registrytest.NewClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	t0 := clock.Now()
	var out bytes.Buffer
	r := &run{cfg: Config{Now: clock.Now, Sleep: clock.Sleep, Deadline: t0.Add(time.Hour)}, out: nopCloser{&out}}
	plan := &Plan{CDNMaxAge: 5 * time.Minute}
	shown := []registry.Status{
		{Want: registry.Want{Name: "a"}, PublishedAt: t0.Add(-time.Minute)},
		{Want: registry.Want{Name: "b"}, PublishedAt: t0.Add(-2 * time.Minute)},
		{Want: registry.Want{Name: "c"}, PublishedAt: t0.Add(-40 * time.Second)},
	}
	results := []Result{
		{Action: Published, Done: t0.Add(-30 * time.Second)}, // stamped a minute ago, shown only when npm was done
		{Action: Skipped, Done: t0},                          // an earlier run's: its registry time counts
		{Action: Skipped},
	}
	require.NoError(t, r.awaitCDN(t.Context(), plan, results, shown))
	assert.Equal(t, 4*time.Minute+35*time.Second, plan.CDNWait, "5 min + 5 s from 30 s ago")
	assert.Contains(t, out.String(), "waiting 4m35s before publishing the wrapper")
	assert.Contains(t, out.String(), "the last platform package, a, was published 30s ago")

	// Past the deadline: no wait, and no word of one.
	out.Reset()
	r.cfg.Deadline = clock.Now().Add(time.Minute)
	results[0].Done = clock.Now()
	err := r.awaitCDN(t.Context(), plan, results, shown)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the wrapper must wait until")
	assert.NotContains(t, out.String(), "waiting")
}
