package installsh_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/installsh"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/testenv"
)

// pathMark ends the line --modify-path adds.
const pathMark = "# added by agent-facets install.sh"

// world is the shared bed and what is published on it.
type world struct {
	bed      *testenv.Bed
	registry string // the bed's URL without its trailing slash
	want     string // the platform package install.sh takes on this machine
	records  map[string][]dist.PackRecord
}

// integrity is the published integrity of the package name at version.
func (w *world) integrity(t *testing.T, name, version string) string {
	for _, r := range w.records[version] {
		if r.Name == name {
			return r.Integrity
		}
	}
	t.Fatalf("%s@%s was not packed", name, version)
	return ""
}

// newWorld publishes real releases on one bed: 1.0.0, then 1.1.0 as latest,
// 1.2.0-beta.1 under next, and 1.3.0 whose platform packages are published but
// not its wrapper. Only this machine's platform packages are published (the
// wrapper lists all twelve): that is all install.sh reads.
func newWorld(t *testing.T) *world {
	bed := testenv.RegistryBed(t)
	w := &world{bed: bed, registry: strings.TrimSuffix(bed.URL, "/"), records: map[string][]dist.PackRecord{}}
	host := build.DetectHost()
	for _, rel := range []struct {
		version, tag string
		wrapper      bool
	}{{"1.0.0", "latest", true}, {"1.1.0", "latest", true}, {"1.2.0-beta.1", "next", true}, {"1.3.0", "latest", false}} {
		l, records := releasetest.Packed(t, rel.version)
		w.records[rel.version] = records
		var keep []dist.PackRecord
		for _, r := range records {
			if r.Name == platforms.Wrapper {
				if rel.wrapper {
					keep = append(keep, r)
				}
				continue
			}
			tg, err := platforms.Lookup(r.Name)
			require.NoError(t, err)
			if host.Runs(tg) {
				keep = append(keep, r)
			}
		}
		bed.PublishTarballs(t, rel.tag, releasetest.Tarballs(l, keep)...)
	}
	// The package install.sh takes here: its first candidate.
	out, err := exec.Command("sh", "-c", "FACET_INSTALL_SOURCED=1 . "+shellQuote(script(t))+"; candidates").Output()
	require.NoError(t, err)
	w.want, _, _ = strings.Cut(string(out), " ")
	tg, err := platforms.Lookup(w.want)
	require.NoError(t, err, "install.sh takes %q here", out)
	require.True(t, host.Runs(tg), "install.sh takes %s, which this machine runs", w.want)
	return w
}

// options are a run against the bed into a new install dir, with curl.
func (w *world) options(t *testing.T, sh shell) installsh.Options {
	return installsh.Options{
		Shell: sh.argv, Script: script(t), Registry: w.bed.URL,
		Dir: filepath.Join(t.TempDir(), "bin"), Home: t.TempDir(), Path: toolbox(t, sh, "curl"),
	}
}

// eachShell runs test under every shell, in parallel, and returns when all
// have ended.
func eachShell(t *testing.T, shs []shell, test func(t *testing.T, sh shell)) {
	t.Helper()
	t.Run("sh", func(t *testing.T) {
		for _, sh := range shs {
			t.Run(sh.name, func(t *testing.T) {
				t.Parallel()
				test(t, sh)
			})
		}
	})
}

// version is what the installed binary says with --version.
func version(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "--version")
	cmd.Env = platforms.WithoutOverride(os.Environ())
	out, err := cmd.Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// refused asserts that r failed with one line naming what.
func refused(t *testing.T, r result, what ...string) {
	t.Helper()
	assert.NotZero(t, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "facet install: "), r.stderr)
	for _, s := range what {
		assert.Contains(t, r.stderr, s)
	}
}

func TestInstallSh(t *testing.T) {
	shs := shells(t)
	w := newWorld(t)
	front := w.bed.Front

	t.Run("fresh install of latest", func(t *testing.T) {
		start := len(front.Requests())
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Empty(t, r.stderr)
			bin := filepath.Join(o.Dir, "facet")
			assert.Equal(t, "facet 1.1.0", version(t, bin))
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, installsh.Receipt{Installer: "install.sh", Version: "1.1.0", Package: w.want,
				Registry: w.registry, Binary: bin, Profiles: []string{}}, receipt)
			assert.Equal(t, []string{".facet-install.json", "facet"}, names(t, o.Dir), "nothing else left in the install dir")
			// No profile edited; the line to add is printed.
			assert.Equal(t, map[string]string{"./": ""}, listing(t, o.Home))
			assert.Contains(t, r.stdout, fmt.Sprintf(`export PATH="%s:$PATH" %s`, o.Dir, pathMark))
		})
		// Every packument was read from the origin; the tarball is this machine's.
		var tarballs int
		for _, req := range front.Requests()[start:] {
			if strings.Contains(req.Path, "/-/") {
				tarballs++
				assert.Contains(t, req.Path, "-1.1.0.tgz")
				assert.Equal(t, w.want, req.Package)
				continue
			}
			assert.Equal(t, "write=true", req.Query, "%s is an origin read", req.Path)
		}
		assert.Equal(t, len(shs), tarballs)
	})

	t.Run("pinned version and dist-tag", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--version", "1.0.0"}, "1.0.0"},
				{[]string{"--tag", "next"}, "1.2.0-beta.1"},
			} {
				o := w.options(t, sh)
				r := run(t, o, tc.args...)
				require.Zero(t, r.code, "%v: %s", tc.args, r.stderr)
				assert.Equal(t, "facet "+tc.want, version(t, filepath.Join(o.Dir, "facet")))
				receipt, err := installsh.ReadReceipt(o.Dir)
				require.NoError(t, err)
				assert.Equal(t, tc.want, receipt.Version)
			}
		})
	})

	t.Run("update, then the same version again", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o, "--version", "1.0.0")
			require.Zero(t, r.code, "%s", r.stderr)
			bin := filepath.Join(o.Dir, "facet")
			oldBytes, err := os.ReadFile(bin)
			require.NoError(t, err)
			// A hard link to the old binary (a running one, a package manager's store).
			old := filepath.Join(filepath.Dir(o.Dir), "old-facet")
			require.NoError(t, os.Link(bin, old))

			r = run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Contains(t, r.stdout, "updated facet 1.0.0 -> 1.1.0")
			assert.Equal(t, "facet 1.1.0", version(t, bin))
			kept, err := os.ReadFile(old)
			require.NoError(t, err)
			assert.Equal(t, oldBytes, kept, "the old binary was replaced, not written through")
			assert.Equal(t, "facet 1.0.0", version(t, old))

			before := listing(t, o.Dir)
			stat, err := os.Stat(bin)
			require.NoError(t, err)
			r = run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Contains(t, r.stdout, "facet 1.1.0 ("+w.want+") is already installed at "+bin)
			assert.Equal(t, before, listing(t, o.Dir))
			again, err := os.Stat(bin)
			require.NoError(t, err)
			assert.True(t, os.SameFile(stat, again), "nothing changed")
		})
	})

	t.Run("--modify-path, then --uninstall", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Env = []string{"SHELL=/bin/bash"}
			require.NoError(t, os.MkdirAll(o.Dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(o.Dir, "other-tool"), []byte("not ours"), 0o755))
			profile := filepath.Join(o.Home, ".bashrc")
			require.NoError(t, os.WriteFile(profile, []byte("# mine\n"), 0o644))
			before, home := listing(t, o.Dir), listing(t, o.Home)

			r := run(t, o, "--modify-path")
			require.Zero(t, r.code, "%s", r.stderr)
			line := fmt.Sprintf(`export PATH="%s:$PATH" %s`, o.Dir, pathMark)
			data, err := os.ReadFile(profile)
			require.NoError(t, err)
			assert.Equal(t, "# mine\n"+line+"\n", string(data))
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, []string{profile}, receipt.Profiles)

			r = run(t, o, "--uninstall")
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Equal(t, before, listing(t, o.Dir), "only what it installed is gone")
			assert.Equal(t, home, listing(t, o.Home), "the PATH line is gone")

			r = run(t, o, "--uninstall")
			refused(t, r, "nothing to uninstall")
		})
	})

	t.Run("tampered tarball", func(t *testing.T) {
		tampered := []byte("not the tarball that was published")
		restore := front.ReplaceTarball(w.want, "1.1.0", tampered)
		defer restore()
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o)
			refused(t, r, "integrity mismatch for "+w.want+"@1.1.0", w.integrity(t, w.want, "1.1.0"), dist.Integrity(tampered))
			assert.NoDirExists(t, o.Dir, "nothing installed, no directory made")
		})
	})

	t.Run("wrapper not yet published", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o, "--version", "1.3.0")
			refused(t, r, "agent-facets@1.3.0 is not published")
			assert.NoDirExists(t, o.Dir, "no directory made")
		})
	})

	t.Run("unknown platform", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			freebsd := filepath.Join(t.TempDir(), "freebsd.sh")
			require.NoError(t, os.WriteFile(freebsd, []byte("FACET_INSTALL_SOURCED=1 . "+shellQuote(o.Script)+
				"\n_uname() { case $1 in -s) echo FreeBSD ;; -m) echo amd64 ;; esac; }\nmain \"$@\"\n"), 0o644))
			o.Script = freebsd
			r := run(t, o)
			refused(t, r, "no facet build for this platform (FreeBSD amd64); supported: "+strings.Join(platforms.Names(), ", "))
			assert.NoDirExists(t, o.Dir)
		})
	})

	t.Run("read-only install dir", func(t *testing.T) {
		dir := readOnlyDir(t)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Dir = dir
			r := run(t, o)
			refused(t, r, "no permission to write in "+dir)
			assert.Empty(t, names(t, dir))
		})
	})

	t.Run("disk full", func(t *testing.T) {
		dir := tinyDir(t)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Dir = dir
			r := run(t, o)
			refused(t, r, "disk full")
		})
		assert.Empty(t, names(t, dir), "no temporary file left")
	})

	t.Run("FACET_REGISTRY with a path prefix", func(t *testing.T) {
		prefixed, seen := pathPrefix(t, front.URL)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Registry = prefixed + "/npm/"
			r := run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Equal(t, "facet 1.1.0", version(t, filepath.Join(o.Dir, "facet")))
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, prefixed+"/npm", receipt.Registry)
		})
		paths := seen()
		assert.NotEmpty(t, paths)
		for _, p := range paths {
			assert.True(t, strings.HasPrefix(p, "/npm/"), p)
		}
	})

	for _, http := range []string{"curl", "wget"} {
		t.Run(http+" only, through a proxy", func(t *testing.T) {
			proxy, proxied := recordingProxy(t)
			start := len(front.Requests())
			eachShell(t, shs, func(t *testing.T, sh shell) {
				o := w.options(t, sh)
				o.Path = toolbox(t, sh, http)
				// The upper-case name, which wget alone would not read.
				o.Env = []string{"HTTP_PROXY=" + proxy}
				r := run(t, o)
				require.Zero(t, r.code, "%s", r.stderr)
				assert.Equal(t, "facet 1.1.0", version(t, filepath.Join(o.Dir, "facet")))
			})
			agent := map[string]string{"curl": "curl/", "wget": "Wget"}[http]
			reqs := front.Requests()[start:]
			assert.Len(t, reqs, 3*len(shs))
			for _, req := range reqs {
				assert.True(t, strings.HasPrefix(req.Agent, agent), "%s by %q", req.Path, req.Agent)
			}
			assert.Contains(t, proxied(), w.registry+"/agent-facets?write=true")
		})
	}

	t.Run("no network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		eachShell(t, shs, func(t *testing.T, sh shell) {
			for _, http := range []string{"curl", "wget"} {
				o := w.options(t, sh)
				o.Path = toolbox(t, sh, http)
				o.Registry = closed
				r := run(t, o)
				refused(t, r, "cannot reach "+closed+"/agent-facets?write=true", "check your network")
				assert.NoDirExists(t, o.Dir, "no directory made")
			}
		})
	})

	t.Run("registry error", func(t *testing.T) {
		remove := front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: platforms.Wrapper})
		defer remove()
		eachShell(t, shs, func(t *testing.T, sh shell) {
			for _, http := range []string{"curl", "wget"} {
				o := w.options(t, sh)
				o.Path = toolbox(t, sh, http)
				r := run(t, o)
				refused(t, r, "the registry answered HTTP 500 for "+w.registry+"/agent-facets?write=true")
				assert.NoDirExists(t, o.Dir, "no directory made")
			}
		})
	})
}

// names are the names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// readOnlyDir is an empty directory nobody may write in: a read-only tmpfs
// for root (who ignores permission bits), mode 0555 for others.
func readOnlyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Getuid() != 0 {
		require.NoError(t, os.Chmod(dir, 0o555))
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return dir
	}
	mount(t, dir, "ro,size=64k")
	return dir
}

// tinyDir is an empty directory on a file system too small for facet.
func tinyDir(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		testenv.Missing(t, "a tmpfs mount", "run as root (CAP_SYS_ADMIN) to fill a file system")
	}
	dir := t.TempDir()
	mount(t, dir, "size=256k")
	return dir
}

func mount(t *testing.T, dir, options string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "a tmpfs mount (root, CAP_SYS_ADMIN)", fmt.Sprintf("%v: %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// pathPrefix serves the registry at upstream under /npm/, as Artifactory and
// Nexus serve an npm repository: tarball URLs carry the prefix too, and
// nothing answers outside it. It returns its URL and the paths it was asked.
func pathPrefix(t *testing.T, upstream string) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/npm/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		target := strings.TrimSuffix(upstream, "/") + "/" + rest
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Accept", r.Header.Get("Accept"))
		req.Host = r.Host // the registry writes tarball URLs for this host
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if strings.Contains(resp.Header.Get("Content-Type"), "json") {
			body = []byte(strings.ReplaceAll(string(body), "http://"+r.Host+"/", "http://"+r.Host+"/npm/"))
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

// recordingProxy is a forward HTTP proxy that records the URLs it is asked for.
func recordingProxy(t *testing.T) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var urls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		urls = append(urls, r.URL.String())
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Connection")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}
