package main

import (
	"archive/zip"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

func TestIdentify(t *testing.T) {
	const module = "github.com/agent-facets/facets"
	built := func(version string, settings ...debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{Path: module + "/cmd/facet", Main: debug.Module{Path: module, Version: version}, Settings: settings}
	}
	tests := []struct {
		name            string
		stamp           string
		info            *debug.BuildInfo
		version, commit string
	}{
		{name: "the release build's stamp", stamp: "facetstamp/1.2.3/0123abc/", info: built("v9.9.9"), version: "1.2.3", commit: "0123abc"},
		{name: "go install @version", info: built("v1.4.0"), version: "1.4.0", commit: "unknown"},
		{name: "go install @version of a prerelease", info: built("v1.4.0-rc.1"), version: "1.4.0-rc.1", commit: "unknown"},
		{
			name:    "go build in a checkout, with version control information",
			info:    built("v0.0.0-20250102030405-0123456789ab+dirty", debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}),
			version: "0.0.0-20250102030405-0123456789ab+dirty", commit: "0123456789abcdef0123456789abcdef01234567",
		},
		{name: "go build in a checkout, without", info: built("(devel)"), version: "0.0.0-unstamped", commit: "unknown"},
		{name: "no main module version", info: built(""), version: "0.0.0-unstamped", commit: "unknown"},
		{name: "no build information", version: "0.0.0-unstamped", commit: "unknown"},
		{name: "a stamp of another shape", stamp: "1.2.3", info: built("(devel)"), version: "0.0.0-unstamped", commit: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version, commit := identify(tt.stamp, tt.info)
			assert.Equal(t, []string{tt.version, tt.commit}, []string{version, commit})
		})
	}
}

// go install github.com/agent-facets/facets/cmd/facet@v1.4.0 makes a facet
// that says it is 1.4.0. The module is served, as that version, from a file
// proxy of this checkout's go.mod, go.sum and cmd/facet; the modules its
// go.mod requires come from this machine's module cache, or else from the Go
// module proxy.
func TestGoInstallAtVersion(t *testing.T) {
	goCmd := testenv.LookPath(t, "go", "install Go")
	root := testenv.RepoRoot(t)
	const module, version = "github.com/agent-facets/facets", "v1.4.0"

	proxy := t.TempDir()
	at := filepath.Join(proxy, filepath.FromSlash(module), "@v")
	require.NoError(t, os.MkdirAll(at, 0o755))
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	info, err := json.Marshal(map[string]any{"Version": version, "Time": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	for name, data := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info, version + ".mod": goMod} {
		require.NoError(t, os.WriteFile(filepath.Join(at, name), data, 0o644))
	}
	zf, err := os.Create(filepath.Join(at, version+".zip"))
	require.NoError(t, err)
	zw := zip.NewWriter(zf)
	files := []string{"go.mod", "go.sum", "LICENSE"}
	sources, err := filepath.Glob(filepath.Join(root, "cmd", "facet", "*.go"))
	require.NoError(t, err)
	for _, s := range sources {
		if !strings.HasSuffix(s, "_test.go") {
			files = append(files, path.Join("cmd", "facet", filepath.Base(s)))
		}
	}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		require.NoError(t, err)
		w, err := zw.Create(module + "@" + version + "/" + name)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, zf.Close())

	env := func(name string) string {
		out, err := exec.Command(goCmd, "env", name).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	fileURL := func(dir string) string {
		p := filepath.ToSlash(dir)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // C:/... on Windows
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	proxies := []string{fileURL(proxy), fileURL(filepath.Join(env("GOMODCACHE"), "cache", "download"))}
	if upstream := env("GOPROXY"); upstream != "" && upstream != "off" {
		proxies = append(proxies, upstream)
	}
	bin := t.TempDir()
	cmd := exec.Command(goCmd, "install", module+"/cmd/facet@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"GOPROXY="+strings.Join(proxies, ","),
		"GOBIN="+bin,
		"GOMODCACHE="+t.TempDir(), // this test's version of the module is no one else's
		"GOFLAGS=-modcacherw",     // so that the test can remove it
		"GONOSUMDB="+module, "GONOSUMCHECK="+module, "GOPRIVATE=", "GONOPROXY=", "GOSUMDB=off",
		"GOTOOLCHAIN=local",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	exe := filepath.Join(bin, "facet")
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	got, err := exec.Command(exe, "--version").Output()
	require.NoError(t, err)
	assert.Equal(t, "facet 1.4.0\n", string(got))
}
