package main

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/testenv"
)

// TestSelfUpdateEndToEnd installs a real 1.0.0 as install.sh does (the
// binary and a receipt), then updates it from one test bed with 1.0.0 and
// 1.1.0 published, as a user would run it.
func TestSelfUpdateEndToEnd(t *testing.T) {
	bed := testenv.RegistryBed(t)
	l1, r1 := releasetest.Packed(t, "1.0.0")
	l2, r2 := releasetest.Packed(t, "1.1.0")
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l1, r1)...)
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l2, r2)...)

	m := detect(realProbe())
	cands := candidates(targets, m)
	require.NotEmpty(t, cands, "this machine has a package")
	pkg := cands[0].pkg
	tg := tableTarget(t, pkg)
	old, err := os.ReadFile(l1.Binary(tg))
	require.NoError(t, err)

	dir := t.TempDir()
	exe := filepath.Join(dir, tg.Executable())
	require.NoError(t, os.WriteFile(exe, old, 0o755))
	first := receipt{Installer: "install.sh", Version: "1.0.0", Package: pkg, Registry: strings.TrimRight(bed.URL, "/"), Binary: exe, Profiles: []string{}}
	require.NoError(t, writeReceipt(dir, first))
	// The registry comes from the receipt: none of the environment's.
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(strings.ToUpper(kv), "=")
		return slices.Contains([]string{"FACET_REGISTRY", "NPM_CONFIG_REGISTRY", overrideEnv, followedEnv}, name)
	})
	facetAt := func(bin string, env []string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(slices.Clone(base), env...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), o.String(), e.String()
		}
		require.NoError(t, err)
		return 0, o.String(), e.String()
	}
	facet := func(args ...string) (int, string, string) { t.Helper(); return facetAt(exe, nil, args...) }
	version := func() string { t.Helper(); _, out, _ := facet("--version"); return out }
	files := func() []string {
		t.Helper()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	readReceiptT := func() receipt {
		t.Helper()
		r, err := readReceipt(dir)
		require.NoError(t, err)
		require.NotNil(t, r)
		return *r
	}
	installed := []string{receiptName, tg.Executable()}

	t.Run("doctor: a newer release exists", func(t *testing.T) {
		code, out, errOut := facet("doctor")
		assert.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "facet 1.0.0 (commit "+releasetest.Commit)
		assert.Contains(t, out, "path       "+exe+"\n")
		assert.Contains(t, out, "installed  install.sh (receipt "+filepath.Join(dir, receiptName)+")\n")
		assert.Contains(t, out, "machine    "+m.String()+"\n")
		assert.Contains(t, out, "package    "+pkg+" (this binary, ")
		assert.Contains(t, out, "latest     1.1.0 on "+first.Registry+" is newer: update with facet self-update\n")
		t.Log("\n" + out)
	})

	t.Run("--dry-run changes nothing", func(t *testing.T) {
		code, out, errOut := facet("self-update", "--dry-run")
		assert.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "would replace "+exe+" (facet 1.0.0, "+pkg+") with "+pkg+"@1.1.0 from "+first.Registry)
		assert.Equal(t, "facet 1.0.0\n", version())
		assert.Equal(t, first, readReceiptT())
		assert.Equal(t, installed, files())
	})

	t.Run("updates to latest", func(t *testing.T) {
		link := filepath.Join(t.TempDir(), "old-facet")
		require.NoError(t, os.Link(exe, link))
		code, out, errOut := facet("self-update")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "facet 1.0.0 → 1.1.0: "+pkg+"@1.1.0 installed at "+exe+"\n", out)
		assert.Equal(t, "facet 1.1.0\n", version())
		want := first
		want.Version, want.Tag = "1.1.0", "latest"
		assert.Equal(t, want, readReceiptT())
		kept, err := os.ReadFile(link)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(old, kept), "the old binary was replaced, not written into")
		assert.Equal(t, installed, files(), "no temporary file left")
	})

	t.Run("up to date", func(t *testing.T) {
		code, out, errOut := facet("self-update")
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, "facet 1.1.0 is up to date ("+pkg+"@1.1.0 on "+first.Registry+")\n", out)
		code, out, _ = facet("doctor")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "latest     1.1.0 on "+first.Registry+": up to date\n")
	})

	t.Run("credentials in the registry's URL are used, never shown nor saved", func(t *testing.T) {
		front, unauthorized := basicAuthFront(t, first.Registry, "bob", "s3cret")
		u, err := url.Parse(front)
		require.NoError(t, err)
		u.User = url.UserPassword("bob", "s3cret")
		creds := []string{"FACET_REGISTRY=" + u.String()}
		var all strings.Builder
		for _, args := range [][]string{{"doctor"}, {"self-update"}, {"self-update", "--dry-run", "--version", "1.0.0"}, {"self-update", "--version", "9.9.9"}, {"self-update", "--version", "1.0.0"}} {
			_, o, e := facetAt(exe, creds, args...)
			all.WriteString(o + e)
		}
		t.Log(all.String())
		assert.NotContains(t, all.String(), "s3cret")
		assert.Contains(t, all.String(), "latest     1.1.0 on "+front+": up to date\n")
		assert.Contains(t, all.String(), "facet 1.1.0 is up to date ("+pkg+"@1.1.0 on "+front+")\n")
		assert.Contains(t, all.String(), "with "+pkg+"@1.0.0 from "+front+" (")
		assert.Contains(t, all.String(), "agent-facets@9.9.9 is not published on "+front+" (latest: 1.1.0)")
		assert.Contains(t, all.String(), "facet 1.1.0 → 1.0.0: "+pkg+"@1.0.0 installed at "+exe+"\n")
		assert.Equal(t, "facet 1.0.0\n", version(), "the credentials went with the tarball too")
		assert.Empty(t, unauthorized(), "requests without the credentials")
		data, err := os.ReadFile(filepath.Join(dir, receiptName))
		require.NoError(t, err)
		assert.NotContains(t, string(data), "s3cret")
		assert.NotContains(t, string(data), "bob")
		r := readReceiptT()
		assert.Equal(t, front, r.Registry)
		r.Registry = first.Registry
		require.NoError(t, writeReceipt(dir, r))
		code, _, errOut := facet("self-update")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "facet 1.1.0\n", version())
	})

	t.Run("another package at the same version is no update to skip", func(t *testing.T) {
		before := readReceiptT()
		other := before
		other.Package = "@agent-facets/cli-another"
		require.NoError(t, writeReceipt(dir, other))
		defer func() { require.NoError(t, writeReceipt(dir, before)) }()
		code, out, errOut := facet("self-update", "--dry-run")
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, "would replace "+exe+" (facet 1.1.0, @agent-facets/cli-another) with "+pkg+"@1.1.0 from "+first.Registry+" ("+recordOf(t, r2, pkg).Integrity+"); nothing was changed\n", out)
	})

	t.Run("a release whose binary does not run here is refused", func(t *testing.T) {
		l4, r4 := releasetest.StandIns(t, "1.3.0") // complete, but its binaries are stand-in bytes
		bed.PublishTarballs(t, "standin", releasetest.Tarballs(l4, r4)...)
		before := readReceiptT()
		code, out, errOut := facet("self-update", "--version", "1.3.0")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.True(t, strings.HasPrefix(errOut, "facet self-update: the new binary of "+pkg+"@1.3.0 does not run here ("), errOut)
		assert.True(t, strings.HasSuffix(errOut, "; nothing was changed\n"), errOut)
		assert.Equal(t, "facet 1.1.0\n", version())
		assert.Equal(t, before, readReceiptT())
		assert.Equal(t, installed, files())
	})

	t.Run("doctor: registry unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		code, out, _ := facetAt(exe, []string{"FACET_REGISTRY=" + closed}, "doctor")
		assert.Equal(t, 0, code, "offline is no fault of this install")
		assert.Contains(t, out, "latest     could not check (GET "+closed+"/agent-facets?write=true: ")
	})

	t.Run("--version names an older one", func(t *testing.T) {
		code, out, errOut := facet("self-update", "--version", "1.0.0")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "facet 1.1.0 → 1.0.0")
		assert.Equal(t, "facet 1.0.0\n", version())
		assert.Equal(t, "1.0.0", readReceiptT().Version)
	})

	t.Run("a tarball changed on the registry is refused", func(t *testing.T) {
		forged, err := os.ReadFile(filepath.Join(l1.Root, recordOf(t, r1, pkg).Tarball))
		require.NoError(t, err)
		restore := bed.Front.ReplaceTarball(pkg, "1.1.0", forged)
		defer restore()
		sum := sha512.Sum512(forged)
		before := readReceiptT()
		code, out, errOut := facet("self-update")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, "facet self-update: refused "+pkg+"@1.1.0: its tarball is sha512-"+base64.StdEncoding.EncodeToString(sum[:])+
			", the registry's integrity is "+recordOf(t, r2, pkg).Integrity+"; nothing was changed\n", errOut)
		assert.Equal(t, "facet 1.0.0\n", version())
		assert.Equal(t, before, readReceiptT())
		assert.Equal(t, installed, files())
	})

	t.Run("a release whose wrapper is not published is refused", func(t *testing.T) {
		l3, r3 := releasetest.StandIns(t, "1.2.0")
		var platformsOnly []string
		for _, r := range r3 {
			if r.Target != "" {
				platformsOnly = append(platformsOnly, filepath.Join(l3.Root, r.Tarball))
			}
		}
		bed.PublishTarballs(t, "next", platformsOnly...)
		code, out, errOut := facet("self-update", "--version", "1.2.0")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, "facet self-update: agent-facets@1.2.0 is not published on "+first.Registry+" (latest: 1.1.0); nothing was changed\n", errOut)
		assert.Equal(t, "facet 1.0.0\n", version())
		assert.Equal(t, installed, files())

		// A wrapper that lists this machine's package at another version.
		wrapper := filepath.Join(l3.Root, filepath.FromSlash(recordOf(t, r3, wrapperName).Dir))
		var manifest map[string]any
		data, err := os.ReadFile(filepath.Join(wrapper, "package.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &manifest))
		manifest["optionalDependencies"].(map[string]any)[pkg] = "1.1.0"
		data, err = json.Marshal(manifest)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(wrapper, "package.json"), data, 0o644))
		out, err = bed.NPM(t, true).RunCombined(t.Context(), wrapper, "publish", "--access", "public", "--tag", "next")
		require.NoError(t, err, out)
		code, out, errOut = facet("self-update", "--version", "1.2.0")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Equal(t, "facet self-update: agent-facets@1.2.0 lists "+pkg+"@1.1.0, not 1.2.0: an incomplete release, not installed; nothing was changed\n", errOut)
		assert.Equal(t, "facet 1.0.0\n", version())
		assert.Equal(t, installed, files())

		// --tag follows a dist-tag: next is that release.
		code, _, errOut = facet("self-update", "--tag", "next")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "agent-facets@1.2.0 lists "+pkg+"@1.1.0, not 1.2.0")
		// So does the receipt's tag (install.sh --tag next).
		tagged := readReceiptT()
		tagged.Tag = "next"
		require.NoError(t, writeReceipt(dir, tagged))
		code, _, errOut = facet("self-update")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "agent-facets@1.2.0 lists "+pkg+"@1.1.0, not 1.2.0")
		tagged.Tag = ""
		require.NoError(t, writeReceipt(dir, tagged))
	})

	// Killed while it downloads. The swap itself has no half-way on Unix: it
	// is one rename (see swapIn); on Windows it is two, and a kill between
	// them leaves no facet.exe (selfUpdateHelp says to run install.sh again).
	t.Run("killed during the download, the old binary runs and a rerun succeeds", func(t *testing.T) {
		reached, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		bed.Front.Before(func(r registrytest.Request) {
			if r.Method == "GET" && r.Package == pkg && strings.HasSuffix(r.Path, ".tgz") {
				once.Do(func() { close(reached); <-release })
			}
		})
		defer bed.Front.Before(nil)
		cmd := exec.Command(exe, "self-update")
		cmd.Env = base
		require.NoError(t, cmd.Start())
		select {
		case <-reached:
		case <-time.After(time.Minute):
			t.Fatal("self-update never asked for the tarball")
		}
		require.NoError(t, cmd.Process.Kill()) // SIGKILL: no clean-up of its own
		_ = cmd.Wait()
		close(release)
		assert.Equal(t, "facet 1.0.0\n", version(), "the old binary still runs")
		assert.Equal(t, "1.0.0", readReceiptT().Version)
		assert.Len(t, files(), len(installed)+1, "the download it was killed in: %v", files())
		// A run leaves alone the temporary files of a run younger than a
		// minute (it may go on): this one is from a while ago.
		left, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
		require.NoError(t, err)
		for _, f := range left {
			long := time.Now().Add(-2 * leftoverAge)
			require.NoError(t, os.Chtimes(f, long, long))
		}

		code, _, errOut := facet("self-update")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, "facet 1.1.0\n", version())
		assert.Equal(t, installed, files(), "the rerun removed what the killed one left")
	})

	t.Run("never downgrades to an older latest", func(t *testing.T) {
		npm := bed.NPM(t, true)
		out, err := npm.RunCombined(t.Context(), t.TempDir(), "dist-tag", "add", "agent-facets@1.0.0", "latest")
		require.NoError(t, err, out)
		defer func() {
			out, err := npm.RunCombined(t.Context(), t.TempDir(), "dist-tag", "add", "agent-facets@1.1.0", "latest")
			require.NoError(t, err, out)
		}()
		code, stdout, errOut := facet("self-update")
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, "facet 1.1.0 is newer than agent-facets@latest (1.0.0) on "+first.Registry+": not downgraded (name it with --version to go back)\n", stdout)
		assert.Equal(t, "facet 1.1.0\n", version())
	})

	t.Run("a package manager's install: its command, nothing changed", func(t *testing.T) {
		project := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","version":"1.0.0","private":true}`), 0o644))
		npm := bed.NPM(t, false)
		out, err := npm.RunCombined(t.Context(), project, "install", "agent-facets@1.0.0")
		require.NoError(t, err, out)
		bin := filepath.Join(project, "node_modules", filepath.FromSlash(pkg), filepath.FromSlash(tg.BinPath()))
		before, err := os.ReadFile(bin)
		require.NoError(t, err)
		launcher := filepath.Join(project, "node_modules", ".bin", "facet")
		code, stdout, errOut := facetAt(launcher, []string{"FACET_REGISTRY=" + bed.URL}, "self-update")
		assert.Equal(t, 0, code, errOut)
		real, err := filepath.EvalSymlinks(project)
		require.NoError(t, err)
		assert.Contains(t, stdout, "was installed by npm in the project "+real+"; update it with npm:\n  npm install agent-facets@latest\n")
		after, err := os.ReadFile(bin)
		require.NoError(t, err)
		assert.Equal(t, before, after)
		code, stdout, _ = facetAt(launcher, []string{"FACET_REGISTRY=" + bed.URL}, "doctor")
		assert.Equal(t, 0, code, stdout)
		assert.Contains(t, stdout, "installed  npm, in the project "+real+"\n")
		assert.Contains(t, stdout, "is newer: update with npm install agent-facets@latest\n")
	})
}

// basicAuthFront serves the registry at upstream, as a private registry
// does, to requests with the user name and password only (401 otherwise);
// the registry writes its tarball URLs for the front's host. It returns its
// URL and the requests that came without them.
func basicAuthFront(t *testing.T, upstream, user, password string) (string, func() []string) {
	t.Helper()
	target, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.Out.Header.Del("Authorization") // the registry behind has no such user
	}}
	var mu sync.Mutex
	var refused []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			mu.Lock()
			refused = append(refused, r.Method+" "+r.URL.String())
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(refused)
	}
}

// tableTarget is the row of the platforms table of the package pkg.
func tableTarget(t *testing.T, pkg string) platforms.Target {
	t.Helper()
	for _, tg := range platforms.All() {
		if tg.Package() == pkg {
			return tg
		}
	}
	t.Fatalf("no target %s", pkg)
	return platforms.Target{}
}

// recordOf is the pack record of the package name.
func recordOf(t *testing.T, records []dist.PackRecord, name string) dist.PackRecord {
	t.Helper()
	for _, r := range records {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no pack record of %s", name)
	return dist.PackRecord{}
}
