package installsh_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	registry string   // the bed's URL without its trailing slash
	want     string   // the platform package install.sh takes on this machine
	cands    []string // the packages install.sh would take here, best first
	records  map[string][]dist.PackRecord
	tarballs map[string][]byte // the published tarball of want, by version
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

// newWorld publishes releases on one bed: 1.0.0, then 1.1.0 as latest,
// 1.2.0-beta.1 under next, 1.3.0 whose platform packages are published but
// not its wrapper, and 1.4.0 (under standin) whose facet does not run here.
// Only this machine's platform packages are published (the wrapper lists all
// twelve): that is all install.sh reads. Only the releases install.sh
// installs are built; the others are stand-ins.
func newWorld(t *testing.T) *world {
	bed := testenv.RegistryBed(t)
	w := &world{bed: bed, registry: strings.TrimSuffix(bed.URL, "/"), records: map[string][]dist.PackRecord{}, tarballs: map[string][]byte{}}
	host := build.DetectHost()
	// The packages install.sh takes here, best first.
	out, err := exec.Command("sh", "-c", "FACET_INSTALL_SOURCED=1 . "+shellQuote(script(t))+"; candidates").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, _, _ := strings.Cut(line, " ")
		w.cands = append(w.cands, name)
	}
	w.want = w.cands[0]
	tg, err := platforms.Lookup(w.want)
	require.NoError(t, err, "install.sh takes %q here", out)
	require.True(t, host.Runs(tg), "install.sh takes %s, which this machine runs", w.want)
	for _, rel := range []struct {
		version, tag string
		wrapper      bool
		standIns     bool
	}{{"1.0.0", "latest", true, false}, {"1.1.0", "latest", true, false}, {"1.2.0-beta.1", "next", true, false},
		{"1.3.0", "latest", false, true}, {"1.4.0", "standin", true, true}} {
		pack := releasetest.Packed
		if rel.standIns {
			pack = releasetest.StandIns
		}
		l, records := pack(t, rel.version)
		w.records[rel.version] = records
		for i, path := range releasetest.Tarballs(l, records) {
			if records[i].Name == w.want {
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				w.tarballs[rel.version] = data
			}
		}
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
			assert.Equal(t, installsh.Receipt{Installer: "install.sh", Version: "1.1.0", Tag: "latest", Package: w.want,
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
				tag  string // the dist-tag facet self-update is to follow
			}{
				{[]string{"--version", "v1.0.0"}, "1.0.0", "latest"}, // as a git tag writes it
				{[]string{"--tag", "next"}, "1.2.0-beta.1", "next"},
			} {
				o := w.options(t, sh)
				r := run(t, o, tc.args...)
				require.Zero(t, r.code, "%v: %s", tc.args, r.stderr)
				assert.Equal(t, "facet "+tc.want, version(t, filepath.Join(o.Dir, "facet")))
				receipt, err := installsh.ReadReceipt(o.Dir)
				require.NoError(t, err)
				assert.Equal(t, tc.want, receipt.Version)
				assert.Equal(t, tc.tag, receipt.Tag)
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

	t.Run("a re-run follows the receipt", func(t *testing.T) {
		mirror, asked := pathPrefix(t, front.URL)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		eachShell(t, shs, func(t *testing.T, sh shell) {
			// From a mirror, then without FACET_REGISTRY: the receipt's
			// registry, before npm's.
			o := w.options(t, sh)
			o.Registry = mirror + "/npm"
			r := run(t, o, "--version", "1.0.0")
			require.Zero(t, r.code, "%s", r.stderr)
			o.Registry = ""
			o.Env = []string{"npm_config_registry=" + closed}
			r = run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Contains(t, r.stdout, "updated facet 1.0.0 -> 1.1.0")
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, mirror+"/npm", receipt.Registry)

			// After --tag next, a plain re-run follows next.
			o = w.options(t, sh)
			bin := filepath.Join(o.Dir, "facet")
			r = run(t, o, "--tag", "next")
			require.Zero(t, r.code, "%s", r.stderr)
			r = run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Contains(t, r.stdout, "facet 1.2.0-beta.1 ("+w.want+") is already installed")
			assert.Equal(t, "facet 1.2.0-beta.1", version(t, bin))

			// A newer facet than its tag's is not downgraded, but for --version.
			o = w.options(t, sh)
			bin = filepath.Join(o.Dir, "facet")
			r = run(t, o, "--version", "1.2.0-beta.1")
			require.Zero(t, r.code, "%s", r.stderr)
			before := listing(t, o.Dir)
			for _, args := range [][]string{nil, {"--tag", "latest"}} {
				r = run(t, o, args...)
				require.Zero(t, r.code, "%s", r.stderr)
				assert.Equal(t, "facet 1.2.0-beta.1 is newer than latest's 1.1.0: nothing to do\n", r.stdout, "%v", args)
				assert.Equal(t, before, listing(t, o.Dir), "nothing changed")
			}
			r = run(t, o, "--version", "1.0.0")
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Contains(t, r.stdout, "downgraded facet 1.2.0-beta.1 -> 1.0.0")
			assert.Equal(t, "facet 1.0.0", version(t, bin))
		})
		assert.NotEmpty(t, asked())
	})

	t.Run("facet self-update and doctor after install.sh", func(t *testing.T) {
		eachShell(t, shs[:1], func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o, "--version", "1.0.0")
			require.Zero(t, r.code, "%s", r.stderr)
			bin := filepath.Join(o.Dir, "facet")
			// The installed facet, with no registry but its receipt's.
			facet := func(args ...string) string {
				cmd := exec.Command(bin, args...)
				cmd.Env = []string{"HOME=" + o.Home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "facet %v: %s", args, out)
				return string(out)
			}
			out := facet("self-update")
			assert.Contains(t, out, "facet 1.0.0 → 1.1.0")
			assert.Equal(t, "facet 1.1.0", version(t, bin))
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, installsh.Receipt{Installer: "install.sh", Version: "1.1.0", Tag: "latest", Package: w.want,
				Registry: w.registry, Binary: bin, Profiles: []string{}}, receipt)
			assert.Regexp(t, `(?m)^installed +install\.sh \(receipt `+regexp.QuoteMeta(filepath.Join(o.Dir, installsh.ReceiptName))+`\)$`, facet("doctor"))
		})
	})

	t.Run("an https registry redirects only to https", func(t *testing.T) {
		// It sends every request on to the http bed: curl must not follow.
		tls := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, w.registry+r.URL.RequestURI(), http.StatusFound)
		}))
		t.Cleanup(tls.Close)
		ca := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw}), 0o644))
		eachShell(t, shs[:1], func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Registry = tls.URL
			o.Env = []string{"CURL_CA_BUNDLE=" + ca}
			r := run(t, o)
			refused(t, r, "cannot reach "+tls.URL+"/agent-facets?write=true")
			assert.NoDirExists(t, o.Dir)
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

			// Again, and as an update: the line is not added twice.
			for _, args := range [][]string{{"--modify-path"}, {"--modify-path", "--version", "1.0.0"}} {
				r = run(t, o, args...)
				require.Zero(t, r.code, "%s", r.stderr)
				data, err = os.ReadFile(profile)
				require.NoError(t, err)
				assert.Equal(t, "# mine\n"+line+"\n", string(data), "%v", args)
			}

			r = run(t, o, "--uninstall")
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Equal(t, before, listing(t, o.Dir), "only what it installed is gone")
			assert.Equal(t, home, listing(t, o.Home), "the PATH line is gone")

			r = run(t, o, "--uninstall")
			refused(t, r, "nothing to uninstall")
		})
	})

	t.Run("tampered tarball", func(t *testing.T) {
		// The registry serves 1.0.0's tarball, valid in itself, as 1.1.0's:
		// refused for latest and for the pinned version alike.
		tampered := w.tarballs["1.0.0"]
		restore := front.ReplaceTarball(w.want, "1.1.0", tampered)
		defer restore()
		eachShell(t, shs, func(t *testing.T, sh shell) {
			for _, args := range [][]string{nil, {"--version", "1.1.0"}} {
				o := w.options(t, sh)
				r := run(t, o, args...)
				refused(t, r, "integrity mismatch for "+w.want+"@1.1.0", w.integrity(t, w.want, "1.1.0"), dist.Integrity(tampered))
				assert.NoDirExists(t, o.Dir, "nothing installed, no directory made")
			}
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

	t.Run("FACET_REGISTRY with a path prefix and credentials", func(t *testing.T) {
		// A private registry: every request, the tarball's too, needs them.
		prefixed, seen := forward(t, front.URL, "/npm", "facet:s3cret", nil)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			// curl, GNU wget and busybox wget.
			http := map[string]string{"dash": "curl", "bash": "wget", "busybox": "wget"}[sh.name]
			o := w.options(t, sh)
			o.Path = toolbox(t, sh, http)
			argv := spy(t, o.Path, http)
			// No output, no receipt, no argument list (which ps shows)
			// holds the password; busybox wget takes it only there.
			o.Registry = "http://facet:s3cret@" + strings.TrimPrefix(prefixed, "http://") + "/npm/"
			r := run(t, o)
			require.Zero(t, r.code, "%s: %s", http, r.stderr)
			assert.NotContains(t, r.stdout+r.stderr, "s3cret")
			assert.Equal(t, "facet 1.1.0", version(t, filepath.Join(o.Dir, "facet")))
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, prefixed+"/npm", receipt.Registry)
			data, err := os.ReadFile(filepath.Join(o.Dir, installsh.ReceiptName))
			require.NoError(t, err)
			assert.NotContains(t, string(data), "s3cret")
			if http == "wget" && sh.bin != "" {
				return
			}
			var args []string
			for _, a := range argv() {
				if strings.Contains(a, " -O ") || strings.Contains(a, " -o ") {
					args = append(args, a)
				}
			}
			assert.Len(t, args, 3, "%s ran for two packuments and a tarball", http)
			assert.NotContains(t, strings.Join(args, "\n"), "s3cret", http)
		})
		paths := seen()
		assert.NotEmpty(t, paths)
		for _, p := range paths {
			assert.True(t, strings.HasPrefix(p, "/npm/"), p)
		}
	})

	t.Run("credentials go to the registry's host only", func(t *testing.T) {
		// The registry's packuments name tarballs on another port of the
		// same address: another origin, which must not get them.
		var mu sync.Mutex
		var auths []string
		open, _ := forward(t, front.URL, "", "", nil)
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			auths = append(auths, r.Header.Get("Authorization"))
			mu.Unlock()
			resp, err := http.Get(open + r.URL.RequestURI())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
		}))
		t.Cleanup(other.Close)
		private, _ := forward(t, front.URL, "", "facet:s3cret", func(r *http.Request, body []byte) []byte {
			return []byte(strings.ReplaceAll(string(body), "http://"+r.Host+"/", other.URL+"/"))
		})
		eachShell(t, shs[:1], func(t *testing.T, sh shell) {
			for _, http := range []string{"curl", "wget"} {
				o := w.options(t, sh)
				o.Path = toolbox(t, sh, http)
				o.Registry = "http://facet:s3cret@" + strings.TrimPrefix(private, "http://")
				r := run(t, o)
				require.Zero(t, r.code, "%s: %s", http, r.stderr)
			}
		})
		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, auths, 2, "one tarball read a run")
		for _, a := range auths {
			assert.Empty(t, a, "no credentials for another host")
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
				o.Registry = "http://facet:s3cret@" + strings.TrimPrefix(closed, "http://")
				r := run(t, o)
				refused(t, r, "cannot reach "+closed+"/agent-facets?write=true", "check your network")
				assert.NotContains(t, r.stderr, "s3cret")
				// The tool's own reason, not "(no answer)".
				assert.Contains(t, strings.ToLower(r.stderr), "connect", http)
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
	t.Run("the wrapper must list the package at that version", func(t *testing.T) {
		// Every optionalDependency of agent-facets@1.1.0 says 1.0.0: refused.
		stale, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg != platforms.Wrapper {
				return
			}
			deps := dig(doc, "versions", "1.1.0", "optionalDependencies")
			for name := range deps {
				deps[name] = "1.0.0"
			}
		})
		// Only this machine's best package is missing: the next one is taken.
		without, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg == platforms.Wrapper {
				delete(dig(doc, "versions", "1.1.0", "optionalDependencies"), w.want)
			}
		})
		// Only this machine's best package is listed at another version:
		// refused, not passed over for the next (which the wrapper lists
		// right): an AVX2 machine does not silently get the baseline build.
		best, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg == platforms.Wrapper {
				dig(doc, "versions", "1.1.0", "optionalDependencies")[w.want] = "1.0.0"
			}
		})
		require.GreaterOrEqual(t, len(w.cands), 2)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Registry = stale
			r := run(t, o)
			refused(t, r, "agent-facets@1.1.0 lists "+w.want+"@1.0.0, not 1.1.0")
			assert.NoDirExists(t, o.Dir)

			o.Registry = best
			r = run(t, o)
			refused(t, r, "agent-facets@1.1.0 lists "+w.want+"@1.0.0, not 1.1.0")
			assert.NoDirExists(t, o.Dir)

			o = w.options(t, sh)
			o.Registry = without
			r = run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			receipt, err := installsh.ReadReceipt(o.Dir)
			require.NoError(t, err)
			assert.Equal(t, w.cands[1], receipt.Package, "the first candidate the wrapper lists")
		})
	})

	t.Run("a facet that does not run here", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			r := run(t, o, "--version", "1.4.0")
			refused(t, r, "does not run here")
			assert.NoDirExists(t, o.Dir, "the directory this run made is gone again")

			r = run(t, o, "--version", "1.0.0")
			require.Zero(t, r.code, "%s", r.stderr)
			before := listing(t, o.Dir)
			r = run(t, o, "--version", "1.4.0")
			refused(t, r, "does not run here")
			assert.Equal(t, before, listing(t, o.Dir), "the old facet and its receipt as they were, no temporary file")
			assert.Equal(t, "facet 1.0.0", version(t, filepath.Join(o.Dir, "facet")))
		})
	})

	t.Run("a profile that cannot be written", func(t *testing.T) {
		home := readOnlyDir(t)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Home = home
			o.Env = []string{"SHELL=/bin/bash"}
			r := run(t, o, "--modify-path")
			refused(t, r, "cannot add", "to PATH in "+filepath.Join(home, ".bashrc"))
			assert.NoDirExists(t, o.Dir, "no binary, no receipt")
		})
	})

	t.Run("uninstall removes only what is its own", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			require.NoError(t, os.MkdirAll(o.Dir, 0o755))
			o.Env = []string{"SHELL=/bin/bash"}
			// A receipt naming a file elsewhere.
			victim := filepath.Join(t.TempDir(), "victim")
			require.NoError(t, os.WriteFile(victim, []byte("mine"), 0o644))
			require.NoError(t, os.WriteFile(victim+".old", []byte("mine"), 0o644))
			writeReceipt(t, o.Dir, victim, nil)
			before := listing(t, o.Dir)
			r := run(t, o, "--uninstall")
			refused(t, r, "refusing to remove it")
			assert.FileExists(t, victim)
			assert.FileExists(t, victim+".old")
			assert.Equal(t, before, listing(t, o.Dir))

			// A listed profile without the line is not touched; a linked one
			// with it loses the line and stays a link.
			plain := filepath.Join(o.Home, ".profile")
			require.NoError(t, os.WriteFile(plain, []byte("# no line of ours\n"), 0o644))
			plainStat, err := os.Stat(plain)
			require.NoError(t, err)
			dotfiles := filepath.Join(t.TempDir(), "bashrc")
			line := fmt.Sprintf(`export PATH="%s:$PATH" %s`, o.Dir, pathMark)
			require.NoError(t, os.WriteFile(dotfiles, []byte("# mine\n"+line+"\n"), 0o600))
			linked := filepath.Join(o.Home, ".bashrc")
			require.NoError(t, os.Symlink(dotfiles, linked))
			require.NoError(t, os.WriteFile(filepath.Join(o.Dir, "facet"), []byte("facet"), 0o755))
			writeReceipt(t, o.Dir, filepath.Join(o.Dir, "facet"), []string{plain, linked})
			r = run(t, o, "--uninstall")
			require.Zero(t, r.code, "%s", r.stderr)
			assert.NotContains(t, r.stdout, "from "+plain)
			again, err := os.Stat(plain)
			require.NoError(t, err)
			assert.True(t, os.SameFile(plainStat, again), "a profile without the line is not rewritten")
			data, err := os.ReadFile(dotfiles)
			require.NoError(t, err)
			assert.Equal(t, "# mine\n", string(data))
			info, err := os.Lstat(linked)
			require.NoError(t, err)
			assert.NotZero(t, info.Mode()&os.ModeSymlink, "the link is kept")
			assert.Equal(t, map[string]string{"./": ""}, listing(t, o.Dir))
		})
	})

	t.Run("uninstall on Windows (MSYS)", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			require.NoError(t, os.MkdirAll(o.Dir, 0o755))
			// cygpath -w as MSYS2's: C:\msys64 and the path, with backslashes.
			require.NoError(t, os.WriteFile(filepath.Join(o.Path, "cygpath"),
				[]byte("#!/bin/sh\n[ \"$1\" = -w ] && printf 'C:\\\\msys64%s\\n' \"$2\" | sed 's|/|\\\\|g'\n"), 0o755))
			msys := filepath.Join(t.TempDir(), "msys.sh")
			require.NoError(t, os.WriteFile(msys, []byte("FACET_INSTALL_SOURCED=1 . "+shellQuote(o.Script)+
				"\n_uname() { case $1 in -s) echo MINGW64_NT-10.0-19045 ;; -m) echo x86_64 ;; esac; }\nmain \"$@\"\n"), 0o644))
			o.Script = msys
			exe := filepath.Join(o.Dir, "facet.exe")
			require.NoError(t, os.WriteFile(exe, []byte("new"), 0o755))
			require.NoError(t, os.WriteFile(exe+".old", []byte("old"), 0o755))
			require.NoError(t, os.WriteFile(exe+".old-1a2b3c", []byte("older"), 0o755))
			profile := filepath.Join(o.Home, ".bashrc")
			line := fmt.Sprintf(`export PATH="%s:$PATH" %s`, o.Dir, pathMark)
			require.NoError(t, os.WriteFile(profile, []byte(line+"\n"), 0o644))
			writeReceipt(t, o.Dir, `C:\msys64`+strings.ReplaceAll(exe, "/", `\`), []string{profile})
			r := run(t, o, "--uninstall")
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Equal(t, map[string]string{"./": ""}, listing(t, o.Dir))
			data, err := os.ReadFile(profile)
			require.NoError(t, err)
			assert.Empty(t, string(data), "the PATH line is gone")
		})
	})

	t.Run("macOS 12's base64, which decodes only with -D", func(t *testing.T) {
		eachShell(t, shs[:1], func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			real, err := os.Readlink(filepath.Join(o.Path, "base64"))
			require.NoError(t, err)
			require.NoError(t, os.Remove(filepath.Join(o.Path, "base64")))
			require.NoError(t, os.WriteFile(filepath.Join(o.Path, "base64"), []byte("#!/bin/sh\n"+
				"case \" $* \" in *\" -d \"* | *\" --decode \"*) echo \"base64: invalid option -- d\" >&2; exit 64 ;; esac\n"+
				"exec "+shellQuote(real)+" \"$@\"\n"), 0o755))
			r := run(t, o)
			require.Zero(t, r.code, "%s", r.stderr)
			assert.Equal(t, "facet 1.1.0", version(t, filepath.Join(o.Dir, "facet")))
		})
	})

	t.Run("wget and a connection lost half-way", func(t *testing.T) {
		cut := truncating(t, front.URL)
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Path = toolbox(t, sh, "wget")
			o.Registry = cut
			r := run(t, o)
			refused(t, r, "cannot reach "+cut+"/agent-facets?write=true")
			assert.NoDirExists(t, o.Dir)
		})
	})

	t.Run("bad arguments and environment", func(t *testing.T) {
		eachShell(t, shs, func(t *testing.T, sh shell) {
			for _, tc := range []struct {
				args []string
				edit func(o *installsh.Options)
				want string
			}{
				{args: []string{"--version", "1.0.0 x;$(id)"}, want: "is not a version X.Y.Z"},
				{args: []string{"--tag", ""}, want: "is not a dist-tag"},
				{edit: func(o *installsh.Options) { o.Home, o.Dir = "", "" }, want: "HOME is not set"},
				{args: []string{"--modify-path"}, edit: func(o *installsh.Options) { o.Dir += "/a\nb" }, want: "control character"},
				{args: []string{"--modify-path"}, edit: func(o *installsh.Options) { o.Dir += "/$HOME" }, want: "cannot add"},
			} {
				o := w.options(t, sh)
				if tc.edit != nil {
					tc.edit(&o)
				}
				r := run(t, o, tc.args...)
				refused(t, r, tc.want)
				if o.Dir != "" {
					assert.NoDirExists(t, o.Dir)
				}
			}
		})
	})

	t.Run("what the registry says is checked", func(t *testing.T) {
		noIntegrity, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg == w.want {
				delete(dig(doc, "versions", "1.1.0", "dist"), "integrity")
			}
		})
		option, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg == w.want {
				dig(doc, "versions", "1.1.0", "dist")["tarball"] = "-o/tmp/facet-owned"
			}
		})
		// A tarball URL with a token in its query, on a host that does not
		// answer: the message names the URL, not the token.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		token, _ := rewriting(t, front.URL, func(pkg string, doc map[string]any) {
			if pkg == w.want {
				dig(doc, "versions", "1.1.0", "dist")["tarball"] = closed + "/facet.tgz?access_token=s3cret"
			}
		})
		eachShell(t, shs, func(t *testing.T, sh shell) {
			o := w.options(t, sh)
			o.Registry = noIntegrity
			refused(t, run(t, o), "has no sha512 integrity", "only a sha1 shasum")
			o.Registry = option
			refused(t, run(t, o), "is not an http(s) URL")
			o.Registry = token
			r := run(t, o)
			refused(t, r, "cannot reach "+closed+"/facet.tgz?access_token=REDACTED (")
			assert.NotContains(t, r.stderr, "s3cret")
			assert.NoDirExists(t, o.Dir)
		})
	})
}

// spy replaces the tool name in the toolbox dir by a script that records
// its arguments, one run a line, then runs it; it returns the runs so far.
func spy(t *testing.T, dir, name string) func() []string {
	t.Helper()
	link := filepath.Join(dir, name)
	target, err := os.Readlink(link)
	require.NoError(t, err)
	require.NoError(t, os.Remove(link))
	run := shellQuote(target)
	if filepath.Base(target) == "busybox" {
		run += " " + name // the applet
	}
	log := filepath.Join(t.TempDir(), "argv")
	require.NoError(t, os.WriteFile(link, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >>"+shellQuote(log)+"\nexec "+run+" \"$@\"\n"), 0o755))
	return func() []string {
		data, err := os.ReadFile(log)
		require.NoError(t, err)
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}
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
	return forward(t, upstream, "/npm", "", nil)
}

// forward serves the registry at upstream under prefix ("" or "/npm"), its
// JSON answers changed by change (when not nil); when auth ("user:password")
// is set, every request without those Basic credentials is answered 401, as
// a private registry answers. It returns its URL and the paths it was asked.
func forward(t *testing.T, upstream, prefix, auth string, change func(r *http.Request, body []byte) []byte) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		if user, pass, ok := r.BasicAuth(); auth != "" && (!ok || user+":"+pass != auth) {
			w.Header().Set("WWW-Authenticate", `Basic realm="npm"`)
			http.Error(w, `{"error":"authentication required"}`, http.StatusUnauthorized)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix+"/")
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
			if prefix != "" {
				body = []byte(strings.ReplaceAll(string(body), "http://"+r.Host+"/", "http://"+r.Host+prefix+"/"))
			}
			if change != nil {
				body = change(r, body)
			}
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

// dig is the object at the keys of doc, a decoded JSON document.
func dig(doc map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		doc, _ = doc[k].(map[string]any)
	}
	return doc
}

// writeReceipt writes a receipt into dir naming binary and profiles.
func writeReceipt(t *testing.T, dir, binary string, profiles []string) {
	t.Helper()
	if profiles == nil {
		profiles = []string{}
	}
	data, err := json.Marshal(installsh.Receipt{Installer: "install.sh", Version: "1.0.0", Package: "@agent-facets/cli-linux-x64",
		Registry: "http://127.0.0.1:9", Binary: binary, Profiles: profiles})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, installsh.ReceiptName), data, 0o644))
}

// rewriting serves the registry at upstream with its JSON packuments changed
// by edit (pkg is the package's name), as a broken mirror might serve them;
// tarball URLs name it. It returns its URL and the paths it was asked.
func rewriting(t *testing.T, upstream string, edit func(pkg string, doc map[string]any)) (string, func() []string) {
	t.Helper()
	return forward(t, upstream, "", "", func(r *http.Request, body []byte) []byte {
		var doc map[string]any
		if json.Unmarshal(body, &doc) != nil {
			return body
		}
		name, _ := doc["name"].(string)
		edit(name, doc)
		out, err := json.Marshal(doc)
		if err != nil {
			return body
		}
		return out
	})
}

// truncating serves the registry at upstream, but every answer stops
// half-way and the connection is closed, its Content-Length promising more.
func truncating(t *testing.T, upstream string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(strings.TrimSuffix(upstream, "/") + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body[:len(body)/2])
		panic(http.ErrAbortHandler) // the connection is closed
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
