package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entry is one file of a crafted tarball.
type entry struct {
	name string
	kind byte
	body string
	size int64 // the header's size when not len(body)
}

// tgz is a gzipped tar of entries.
func tgz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: 0o755, Size: int64(len(e.body))}
		if e.kind == tar.TypeSymlink {
			h.Linkname, h.Size = e.body, 0
		}
		if e.size != 0 {
			h.Size = e.size
		}
		require.NoError(t, tw.WriteHeader(h))
		if e.kind == tar.TypeReg && e.size == 0 {
			_, err := tw.Write([]byte(e.body))
			require.NoError(t, err)
		}
	}
	if entries[len(entries)-1].size == 0 {
		require.NoError(t, tw.Close())
	}
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// unpack takes package/bin/facet only from a whole tarball that holds it
// once, as a regular file of a sane size.
func TestUnpack(t *testing.T) {
	const want = "package/bin/facet"
	good := tgz(t, entry{"package/package.json", tar.TypeReg, "{}", 0}, entry{want, tar.TypeReg, "binary", 0})
	var out bytes.Buffer
	require.NoError(t, unpack(bytes.NewReader(good), want, &out))
	assert.Equal(t, "binary", out.String())

	tests := []struct {
		name string
		data []byte
		err  string
	}{
		{"twice (npm's tar keeps the last)", tgz(t, entry{want, tar.TypeReg, "first", 0}, entry{"./" + want, tar.TypeReg, "second", 0}), "holds package/bin/facet twice"},
		{"a symlink", tgz(t, entry{want, tar.TypeSymlink, "/bin/sh", 0}), "is no regular file"},
		{"too big", tgz(t, entry{want, tar.TypeReg, "", maxDownload + 1}), "too big"},
		{"missing", tgz(t, entry{"package/package.json", tar.TypeReg, "{}", 0}), "no package/bin/facet in the tarball"},
		{"truncated gzip", good[:len(good)-6], "unexpected EOF"},
		{"a bad gzip trailer", append(append([]byte{}, good[:len(good)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorContains(t, unpack(bytes.NewReader(tt.data), want, &bytes.Buffer{}), tt.err)
		})
	}
}

// download: a slow body is fine while bytes come, a quiet one is given up,
// a big one refused, and https never gives way to http.
func TestDownload(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow": // slower in all than Idle, but a byte within each Idle
			for range 6 {
				_, _ = w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(30 * time.Millisecond)
			}
		case "/quiet":
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			<-stall
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2<<20+1))
		}
	}))
	defer srv.Close()
	defer close(stall) // before Close, which waits for the handlers
	reg := registry{URL: srv.URL, Client: newHTTPClient(), Idle: 100 * time.Millisecond, Max: 2 << 20}
	var out bytes.Buffer
	require.NoError(t, reg.download(t.Context(), srv.URL+"/slow", "", &out))
	assert.Equal(t, "xxxxxx", out.String())
	assert.ErrorContains(t, reg.download(t.Context(), srv.URL+"/quiet", "", &bytes.Buffer{}), "/quiet: no data came for 100ms")
	assert.ErrorContains(t, reg.download(t.Context(), srv.URL+"/big", "", &bytes.Buffer{}), "/big: more than 2 MB, refused")

	tls := httptest.NewTLSServer(http.RedirectHandler(srv.URL+"/slow", http.StatusFound))
	defer tls.Close()
	c := newHTTPClient()
	c.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
	reg.Client = c
	err := reg.download(t.Context(), tls.URL+"/x.tgz", "", &bytes.Buffer{})
	assert.ErrorContains(t, err, "refused a redirect from https to "+srv.URL+"/slow")
}

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := ln.Addr().String()
	require.NoError(t, ln.Close())
	return u
}

func testEnv(t *testing.T, exe string, vars map[string]string) (env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return env{
		Getenv: func(k string) string { return vars[k] }, Exe: exe, Version: "1.0.0", GOOS: "linux",
		Machine: machine{OS: "linux", CPU: "x64", Libc: "glibc", V3: true}, Out: &out, Err: &errOut,
	}, &out, &errOut
}

// doctor: the install it cannot tell, a binary built for another package, a
// registry with credentials it never shows.
func TestDoctor(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "facet")
	require.NoError(t, os.WriteFile(exe, nil, 0o755))
	host := closedURL(t)
	e, out, _ := testEnv(t, exe, map[string]string{"FACET_REGISTRY": "http://bob:s3cret@" + host + "/npm"})
	right := about{Version: "1.0.0", Commit: "abc", Go: "go1", GOOS: "linux", GOARCH: "amd64", LevelVar: "GOAMD64", Level: "v3"}
	assert.Equal(t, 0, doctor(context.Background(), e, right))
	assert.Contains(t, out.String(), "package    @agent-facets/cli-linux-x64 (this binary, linux/amd64 GOAMD64=v3, is built for it)\n")
	assert.Contains(t, out.String(), "latest     could not check (GET http://"+host+"/npm/agent-facets?write=true: ")
	assert.NotContains(t, out.String(), "s3cret")

	out.Reset()
	baseline := right
	baseline.Level = "v1"
	assert.Equal(t, 0, doctor(context.Background(), e, baseline), "it runs: said, not failed")
	assert.Contains(t, out.String(), "package    @agent-facets/cli-linux-x64 is this machine's best; this binary is @agent-facets/cli-linux-x64-baseline (linux/amd64 GOAMD64=v1), which runs here too\n")

	// The npm launcher's fast path puts the baseline build in its own
	// place (bin/facet of agent-facets) on purpose: not a wrong install.
	project := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"dependencies":{"agent-facets":"1.0.0"}}`), 0o644))
	swapped := filepath.Join(project, "node_modules", "agent-facets", "bin", "facet")
	require.NoError(t, os.MkdirAll(filepath.Dir(swapped), 0o755))
	require.NoError(t, os.WriteFile(swapped, nil, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(project, "node_modules", ".package-lock.json"), []byte(`{}`), 0o644))
	e, out, _ = testEnv(t, swapped, map[string]string{"FACET_REGISTRY": "http://" + host})
	assert.Equal(t, 0, doctor(context.Background(), e, baseline))
	assert.Contains(t, out.String(), "installed  npm, in the project ")
	assert.Contains(t, out.String(), "package    @agent-facets/cli-linux-x64 is this machine's best; this binary is @agent-facets/cli-linux-x64-baseline (linux/amd64 GOAMD64=v1), which the npm launcher put in its own place: it runs on every x64 CPU\n")

	// A binary that is none of this machine's packages.
	out.Reset()
	arm := right
	arm.GOARCH, arm.LevelVar, arm.Level = "arm64", "", ""
	e, out, _ = testEnv(t, exe, map[string]string{"FACET_REGISTRY": "http://" + host})
	assert.Equal(t, 0, doctor(context.Background(), e, arm))
	assert.Contains(t, out.String(), "package    @agent-facets/cli-linux-x64, but this binary is built for linux/arm64: reinstall to get the right one\n")
}

// self-update's flags: help on stdout with exit 0, a bad one in one line.
func TestSelfUpdateFlags(t *testing.T) {
	e, out, errOut := testEnv(t, "/nowhere/facet", nil)
	assert.Equal(t, 0, selfUpdate(context.Background(), e, []string{"--help"}))
	assert.Equal(t, selfUpdateHelp, out.String())
	assert.Empty(t, errOut.String())
	for args, msg := range map[string]string{
		"--bogus":                    "facet self-update: flag provided but not defined: -bogus (see facet self-update --help)\n",
		"--version 1.x":              "facet self-update: --version \"1.x\" is not a version X.Y.Z[-pre] (see facet self-update --help)\n",
		"--version 1.0.0 --tag next": "facet self-update: --version and --tag name a version each: give one (see facet self-update --help)\n",
		"now":                        "facet self-update: unexpected argument \"now\" (see facet self-update --help)\n",
	} {
		out.Reset()
		errOut.Reset()
		assert.Equal(t, 2, selfUpdate(context.Background(), e, strings.Fields(args)), args)
		assert.Equal(t, msg, errOut.String(), args)
		assert.Empty(t, out.String())
	}
}

// An install neither install.sh's nor a package manager's: self-update and
// doctor both send the user to install.sh, with its command.
func TestUnknownInstall(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "facet")
	require.NoError(t, os.WriteFile(exe, nil, 0o755))
	e, _, errOut := testEnv(t, exe, nil)
	assert.Equal(t, 1, selfUpdate(context.Background(), e, nil))
	assert.Contains(t, errOut.String(), "reinstall with: "+installSh+"\n")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"dist-tags":{"latest":"1.1.0"}}`))
	}))
	defer srv.Close()
	e, out, _ := testEnv(t, exe, map[string]string{"FACET_REGISTRY": srv.URL})
	doctor(context.Background(), e, about{Version: "1.0.0", GOOS: "linux", GOARCH: "amd64", Level: "v3"})
	assert.Contains(t, out.String(), "latest     1.1.0 on "+srv.URL+" is newer: update with install.sh: "+installSh+"\n")
	assert.NotContains(t, out.String(), "facet self-update")
}
