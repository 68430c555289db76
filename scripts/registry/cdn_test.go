package registry_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/registry"
)

// CDNClear counts from the last publish and names the package published
// last: of packages published at the same time, the last one seen done.
func TestCDNClear(t *testing.T) {
	t0 := time.Date(2026, 9, 3, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	tests := []struct {
		name     string
		shown    []registry.Status
		done     []time.Time
		wantAt   time.Time
		wantName string
	}{{
		name:     "the registry's times",
		shown:    []registry.Status{{Want: registry.Want{Name: "a"}, PublishedAt: t0.Add(time.Second)}, {Want: registry.Want{Name: "b"}, PublishedAt: t0}},
		wantAt:   t0.Add(time.Second),
		wantName: "a",
	}, {
		name:     "equal times: the last one",
		shown:    []registry.Status{{Want: registry.Want{Name: "a"}, PublishedAt: t0}, {Want: registry.Want{Name: "b"}, PublishedAt: t0}, {Want: registry.Want{Name: "c"}, PublishedAt: t0}},
		wantAt:   t0,
		wantName: "c",
	}, {
		name:     "seen done later than the registry's time",
		shown:    []registry.Status{{Want: registry.Want{Name: "a"}, PublishedAt: t0.Add(time.Second)}, {Want: registry.Want{Name: "b"}, PublishedAt: t0}},
		done:     []time.Time{{}, t0.Add(2 * time.Second)},
		wantAt:   t0.Add(2 * time.Second),
		wantName: "b",
	}, {
		name:     "no time known: now",
		shown:    []registry.Status{{Want: registry.Want{Name: "a"}, PublishedAt: t0}, {Want: registry.Want{Name: "b"}}},
		wantAt:   now,
		wantName: "b",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, name := registry.CDNClear(tt.shown, tt.done, 5*time.Minute, now)
			assert.Equal(t, tt.wantAt.Add(5*time.Minute+registry.CDNMargin), at)
			assert.Equal(t, tt.wantName, name)
		})
	}
}
