package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/testenv"
)

// The binary's table is the platforms table (it is generated from it; the
// generate package's test says when the file is stale), and the names it
// keeps as constants are the table's.
func TestTargetsAreThePlatformsTable(t *testing.T) {
	all := platforms.All()
	require.Len(t, targets, len(all))
	for i, tg := range all {
		assert.Equal(t, target{pkg: tg.Package(), os: tg.OS, cpu: tg.CPU, goos: tg.GOOS(), goarch: tg.GOARCH(),
			libc: string(tg.Libc), baseline: tg.Baseline, bin: tg.BinPath()}, targets[i])
	}
	assert.Equal(t, platforms.Wrapper, wrapperName)
}

// fakeMachine is a probe of a machine that is not this one.
func fakeMachine(goos, goarch string, files []string, v3, rosetta bool) probe {
	has := func(name string) bool { return strings.Contains(strings.Join(files, "\n"), name) }
	return probe{
		GOOS: goos, GOARCH: goarch,
		Glob: func(p string) []string {
			var m []string
			for _, f := range files {
				if ok, _ := filepath.Match(p, f); ok {
					m = append(m, f)
				}
			}
			return m
		},
		Exists:     has,
		V3:         func() bool { return v3 },
		Translated: func() bool { return rosetta },
	}
}

// The machines of the launcher's tests (platforms/npm/test): each detected
// as the launcher detects it, and ranked as its candidates() ranks them,
// which node runs here for the same host.
func TestDetectAndCandidates(t *testing.T) {
	tests := []struct {
		name  string
		probe probe
		want  machine
		first string
	}{
		{"Linux x64 glibc with AVX2", fakeMachine("linux", "amd64", []string{"/lib64/ld-linux-x86-64.so.2"}, true, false),
			machine{OS: "linux", CPU: "x64", Libc: "glibc", V3: true}, "@agent-facets/cli-linux-x64"},
		{"Linux x64 glibc without AVX2", fakeMachine("linux", "amd64", nil, false, false),
			machine{OS: "linux", CPU: "x64", Libc: "glibc"}, "@agent-facets/cli-linux-x64-baseline"},
		{"Alpine x64 (musl loader)", fakeMachine("linux", "amd64", []string{"/lib/ld-musl-x86_64.so.1"}, true, false),
			machine{OS: "linux", CPU: "x64", Libc: "musl", V3: true}, "@agent-facets/cli-linux-x64-musl"},
		{"Alpine x64 without AVX2 (alpine-release only)", fakeMachine("linux", "amd64", []string{"/etc/alpine-release"}, false, false),
			machine{OS: "linux", CPU: "x64", Libc: "musl"}, "@agent-facets/cli-linux-x64-baseline-musl"},
		{"Alpine x64 with gcompat (a glibc loader name too)", fakeMachine("linux", "amd64", []string{"/etc/alpine-release", "/lib/ld-musl-x86_64.so.1", "/lib64/ld-linux-x86-64.so.2"}, true, false),
			machine{OS: "linux", CPU: "x64", Libc: "musl", V3: true}, "@agent-facets/cli-linux-x64-musl"},
		{"Linux arm64 musl", fakeMachine("linux", "arm64", []string{"/lib/ld-musl-aarch64.so.1"}, false, false),
			machine{OS: "linux", CPU: "arm64", Libc: "musl"}, "@agent-facets/cli-linux-arm64-musl"},
		{"Linux arm64 glibc", fakeMachine("linux", "arm64", nil, false, false),
			machine{OS: "linux", CPU: "arm64", Libc: "glibc"}, "@agent-facets/cli-linux-arm64"},
		{"Apple silicon", fakeMachine("darwin", "arm64", nil, false, false),
			machine{OS: "darwin", CPU: "arm64"}, "@agent-facets/cli-darwin-arm64"},
		{"x64 shell under Rosetta 2", fakeMachine("darwin", "amd64", nil, true, true),
			machine{OS: "darwin", CPU: "x64", V3: true, Rosetta: true}, "@agent-facets/cli-darwin-arm64"},
		{"Intel Mac without AVX2", fakeMachine("darwin", "amd64", nil, false, false),
			machine{OS: "darwin", CPU: "x64"}, "@agent-facets/cli-darwin-x64-baseline"},
		{"Windows x64", fakeMachine("windows", "amd64", nil, true, false),
			machine{OS: "win32", CPU: "x64", V3: true}, "@agent-facets/cli-windows-x64"},
		{"Windows arm64", fakeMachine("windows", "arm64", nil, false, false),
			machine{OS: "win32", CPU: "arm64"}, "@agent-facets/cli-windows-arm64"},
		{"FreeBSD: none", fakeMachine("freebsd", "amd64", nil, true, false),
			machine{OS: "freebsd", CPU: "x64", V3: true}, ""},
	}
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	launcher := filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "lib", "platform.js")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := detect(tt.probe)
			assert.Equal(t, tt.want, m)
			var got []string
			for _, c := range candidates(targets, m) {
				got = append(got, c.pkg)
			}
			if tt.first == "" {
				assert.Empty(t, got)
			} else {
				require.NotEmpty(t, got)
				assert.Equal(t, tt.first, got[0])
			}
			host, err := json.Marshal(map[string]any{"platform": m.OS, "arch": m.CPU, "libc": m.Libc, "v3": m.V3, "rosetta": m.Rosetta})
			require.NoError(t, err)
			out, err := exec.Command(node, "-e", `const p = require(process.argv[1]);
console.log(JSON.stringify(p.candidates(p.TABLE, JSON.parse(process.argv[2])).map((c) => c.package)))`, launcher, string(host)).Output()
			require.NoError(t, err)
			var want []string
			require.NoError(t, json.Unmarshal(out, &want))
			assert.Equal(t, want, append([]string{}, got...), "the launcher's order")
		})
	}
}

func TestJudge(t *testing.T) {
	root := t.TempDir()
	file := func(rel, content string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
		return p
	}
	// install.sh: the receipt names the binary.
	sh := file("sh/bin/facet", "")
	require.NoError(t, writeReceipt(filepath.Dir(sh), receipt{Installer: "install.sh", Version: "1.0.0", Binary: sh}))
	// A receipt beside another facet, not naming it.
	other := file("other/bin/facet", "")
	require.NoError(t, writeReceipt(filepath.Dir(other), receipt{Installer: "install.sh", Binary: "/elsewhere/facet"}))
	// A broken receipt.
	broken := file("broken/facet", "")
	file("broken/"+receiptName, "{")

	noProj := file("proj/node_modules/left-pad/bin/facet", "")

	tests := []struct {
		name      string
		exe       string
		goVersion bool
		by        string
		global    bool
		command   string
	}{
		{"install.sh", sh, false, byInstallSh, false, ""},
		{"a receipt of another binary", other, false, byUnknown, false, ""},
		{"a receipt of another binary, go install", other, true, byGoInstall, false, ""},
		{"another package's node_modules", noProj, false, byUnknown, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := judge(tt.exe, tt.goVersion)
			require.NoError(t, err)
			assert.Equal(t, tt.by, in.By)
			assert.Equal(t, tt.global, in.Global)
			if tt.command != "" {
				assert.Equal(t, tt.command, in.updateCommand())
			}
			if tt.by == byInstallSh {
				require.NotNil(t, in.Receipt)
				assert.Equal(t, "1.0.0", in.Receipt.Version)
			}
		})
	}
	_, err := judge(broken, false)
	assert.ErrorContains(t, err, filepath.Join(root, "broken", receiptName))
}

// The install layouts the launcher's detectManager is tested on
// (platforms/npm/test/layouts.json, layouts.test.js): judge names the same
// manager, global or not, and root, and the command that updates it.
func TestJudgeLayouts(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "test", "layouts.json"))
	require.NoError(t, err)
	var table struct {
		Layouts []struct {
			Name  string
			Files map[string]string
			Dir   string
			Want  struct {
				Name   string
				Global bool
				Root   string
			}
			Update string
		}
	}
	require.NoError(t, json.Unmarshal(data, &table))
	require.NotEmpty(t, table.Layouts)
	for _, l := range table.Layouts {
		t.Run(l.Name, func(t *testing.T) {
			root := t.TempDir()
			at := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
			for name, content := range l.Files {
				require.NoError(t, os.MkdirAll(filepath.Dir(at(name)), 0o755))
				require.NoError(t, os.WriteFile(at(name), []byte(content), 0o644))
			}
			exe := at(l.Dir + "/bin/facet")
			require.NoError(t, os.MkdirAll(filepath.Dir(exe), 0o755))
			require.NoError(t, os.WriteFile(exe, nil, 0o755))
			in, err := judge(exe, false)
			require.NoError(t, err)
			assert.Equal(t, l.Want.Name, in.By)
			assert.Equal(t, l.Want.Global, in.Global)
			assert.Equal(t, at(l.Want.Root), in.Root)
			if !l.Want.Global {
				assert.Equal(t, at(l.Want.Root), in.Project)
			}
			assert.Equal(t, l.Update, in.updateCommand())
		})
	}
}

func TestGoInstalled(t *testing.T) {
	info := func(v string) *debug.BuildInfo { return &debug.BuildInfo{Main: debug.Module{Version: v}} }
	assert.True(t, goInstalled("", info("v1.4.0")))
	assert.True(t, goInstalled("", info("v1.4.0-rc.1")))
	assert.False(t, goInstalled("facetstamp/1.4.0/abc/", info("v1.4.0")), "a release build")
	assert.False(t, goInstalled("", info("v0.0.0-20250102030405-0123456789ab+dirty")), "go build in a checkout")
	assert.False(t, goInstalled("", info("v1.4.1-0.20250102030405-0123456789ab")), "a pseudo-version after a tag")
	assert.False(t, goInstalled("", info("(devel)")))
	assert.False(t, goInstalled("", nil))
}

func TestRegistryURL(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	assert.Equal(t, "http://f/npm", registryURL(env("FACET_REGISTRY", "http://f/npm/", "npm_config_registry", "http://n"), "http://r"))
	// npm sets npm_config_registry for every script: the receipt's registry outranks it.
	assert.Equal(t, "http://r", registryURL(env("npm_config_registry", "http://n/"), "http://r"))
	assert.Equal(t, "http://n", registryURL(env("npm_config_registry", "http://n/"), ""))
	assert.Equal(t, "http://N", registryURL(env("NPM_CONFIG_REGISTRY", "http://N"), ""))
	assert.Equal(t, "http://r", registryURL(env(), "http://r/"))
	assert.Equal(t, "https://registry.npmjs.org", registryURL(env(), ""))
	assert.Equal(t, "http://host/x?write=true", redact("http://user:secret@host/x?write=true"))
	assert.Equal(t, "http://host/x?_authToken=REDACTED&write=true", redact("http://host/x?write=true&_authToken=s3cret"))
	assert.Equal(t, "http://host/npm", registry{URL: "http://bob:s3cret@host/npm"}.shown())
}

func TestCompareVersions(t *testing.T) {
	versions := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0", "10.0.0", "1.0.0+build.5"}
	for _, a := range versions {
		for _, b := range versions {
			got, ok := compareVersions(a, b)
			require.True(t, ok, "%s %s", a, b)
			assert.Equal(t, semver.MustParse(a).Compare(semver.MustParse(b)), got, "%s vs %s", a, b)
		}
	}
	// By hand: precedence past Masterminds' table, numbers past uint64.
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0.0-rc.1", "1.0.0-rc.1.0", -1},
		{"1.0.0-rc.1.0", "1.0.0-rc.1", 1},
		{"18446744073709551616.0.0", "18446744073709551615.0.0", 1},
		{"1.0.0-rc.18446744073709551616", "1.0.0-rc.18446744073709551617", -1},
		{"1.0.0-rc.99999999999999999999", "1.0.0-rc.a", -1},
		{"1.0.0+a", "1.0.0+b", 0},
	} {
		got, ok := compareVersions(c.a, c.b)
		require.True(t, ok, "%s %s", c.a, c.b)
		assert.Equal(t, c.want, got, "%s vs %s", c.a, c.b)
	}
	for _, bad := range []string{"", "1.0", "v1.0.0", "1.0.0-", "01.0.0", "1.0.0-a..b", "0.0.0-unstamped!", "1.0.0-rc.01", "1.0.0+", "1.0.0+a..b", "1.0.0+a!"} {
		_, ok := compareVersions(bad, "1.0.0")
		assert.False(t, ok, bad)
	}
}

func TestSwapIn(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		t.Run(goos, func(t *testing.T) {
			dir := t.TempDir()
			exe, tmp := filepath.Join(dir, "facet.exe"), filepath.Join(dir, ".facet-update-1")
			require.NoError(t, os.WriteFile(exe, []byte("old"), 0o755))
			// An older facet moved aside by an update before, still running.
			require.NoError(t, os.WriteFile(exe+".old-running", []byte("older, still running"), 0o755))
			require.NoError(t, os.WriteFile(tmp, []byte("new"), 0o755))
			require.NoError(t, swapIn(goos, tmp, exe))
			assertFile(t, exe, "new")
			assert.NoFileExists(t, tmp)
			assertFile(t, exe+".old-running", "older, still running")
			aside, _ := filepath.Glob(exe + ".old-*")
			if goos == "windows" {
				require.Len(t, aside, 2, "the running one, renamed aside under a name of its own")
				for _, f := range aside {
					if f != exe+".old-running" {
						assertFile(t, f, "old")
					}
				}
				require.NoError(t, os.WriteFile(exe+".old", []byte("left by an earlier version"), 0o755))
				removeAside("linux", exe)
				assert.FileExists(t, exe+".old", "only Windows leaves them")
				removeAside(goos, exe)
				aside, _ = filepath.Glob(exe + ".old*")
				assert.Empty(t, aside, "the next start removes them")
			} else {
				assert.Len(t, aside, 1, "Unix: one rename, nothing aside")
			}

			// The new one cannot be moved in (gone): the old one stays.
			require.Error(t, swapIn(goos, filepath.Join(dir, "missing"), exe))
			assertFile(t, exe, "new")
			aside, _ = filepath.Glob(exe + ".old-*")
			if goos == "windows" {
				assert.Empty(t, aside, "put back")
			}
		})
	}
}

// On Windows a rename that meets a file held a moment (antivirus: access
// denied, a sharing violation) is tried again, a bounded number of times.
func TestSwapRetries(t *testing.T) {
	denied := &os.LinkError{Op: "rename", Err: os.ErrPermission}
	run := func(goos string, failures int) (calls int, waits []time.Duration, err error) {
		s := swapper{goos: goos, sleep: func(d time.Duration) { waits = append(waits, d) }}
		s.rename = func(from, to string) error {
			calls++
			if calls <= failures {
				return denied
			}
			return nil
		}
		return calls, waits, s.swap("tmp", "facet.exe")
	}
	calls, waits, err := run("windows", 2)
	require.NoError(t, err)
	assert.Equal(t, 4, calls, "two failed, then both renames")
	assert.Len(t, waits, 2)
	_, waits, err = run("windows", 100)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.Len(t, waits, len(retries), "bounded")
	calls, waits, err = run("linux", 1)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.Equal(t, 1, calls, "Unix: no retry")
	assert.Empty(t, waits)
}

// A run removes what an interrupted one left, but not the files of a run
// going on now (younger than leftoverAge).
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	names := map[string]time.Time{
		tempPrefix + "old.tgz":        now.Add(-2 * leftoverAge),
		tempPrefix + "old":            now.Add(-2 * leftoverAge),
		"." + receiptName + ".tmp123": now.Add(-2 * leftoverAge),
		tempPrefix + "running.tgz":    now.Add(-time.Second),
		"." + receiptName + ".tmp456": now.Add(-time.Second),
		"facet":                       now.Add(-time.Hour),
		receiptName:                   now.Add(-time.Hour),
	}
	for name, mtime := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
		require.NoError(t, os.Chtimes(filepath.Join(dir, name), mtime, mtime))
	}
	removeLeftovers(dir, now)
	var left []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{tempPrefix + "running.tgz", "." + receiptName + ".tmp456", "facet", receiptName}, left)
}

func assertFile(t *testing.T, name, content string) {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, content, string(data), name)
}

// The new binary's --version must say the version being installed.
func TestCheckVersion(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
		return p
	}
	require.NoError(t, checkVersion(t.Context(), script("good", `echo "facet 1.2.0"; echo more`), "1.2.0"))
	assert.ErrorContains(t, checkVersion(t.Context(), script("other", `echo "facet 1.1.0"`), "1.2.0"), `says "facet 1.1.0", not 1.2.0`)
	assert.ErrorContains(t, checkVersion(t.Context(), script("fails", `exit 3`), "1.2.0"), "does not run here")
	standIn := filepath.Join(dir, "stand-in")
	require.NoError(t, os.WriteFile(standIn, []byte("stand-in binary"), 0o755))
	assert.ErrorContains(t, checkVersion(t.Context(), standIn, "1.2.0"), "does not run here")
}

// The registry's credentials go with a tarball on the registry's origin (as
// npm sends them), never to another scheme, host or port.
func TestTarballCredentials(t *testing.T) {
	tests := []struct {
		registry, tarball, want string
	}{
		{"https://bob:s3cret@r.example/npm", "https://r.example/npm/p/-/p-1.0.0.tgz", "https://bob:s3cret@r.example/npm/p/-/p-1.0.0.tgz"},
		{"https://bob:s3cret@r.example:443/npm", "https://R.example/p.tgz", "https://bob:s3cret@R.example/p.tgz"},
		{"http://bob:s3cret@127.0.0.1:4873", "http://127.0.0.1:4873/p.tgz", "http://bob:s3cret@127.0.0.1:4873/p.tgz"},
		{"https://bob:s3cret@r.example/npm", "https://cdn.example/p.tgz", "https://cdn.example/p.tgz"},
		{"https://bob:s3cret@r.example/npm", "http://r.example/p.tgz", "http://r.example/p.tgz"},
		{"https://bob:s3cret@r.example/npm", "https://r.example:8443/p.tgz", "https://r.example:8443/p.tgz"},
		{"https://bob:s3cret@r.example:8443/npm", "http://r.example:8443/p.tgz", "http://r.example:8443/p.tgz"},
		{"https://bob:s3cret@r.example/npm", "https://r.example.evil.test/p.tgz", "https://r.example.evil.test/p.tgz"},
		{"https://bob:s3cret@r.example/npm", "https://alice:x@r.example/p.tgz", "https://alice:x@r.example/p.tgz"},
		{"https://r.example/npm", "https://r.example/p.tgz", "https://r.example/p.tgz"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, registry{URL: tt.registry}.withCredentials(tt.tarball), "%s, %s", tt.registry, tt.tarball)
	}
}

// The new binary's temporary file is a program by its name on Windows
// (.exe), and a leftover of it is one removeLeftovers finds.
func TestTempBinaryName(t *testing.T) {
	for goos, suffix := range map[string]string{"windows": ".exe", "linux": "", "darwin": ""} {
		dir := t.TempDir()
		f, err := createTempBinary(dir, goos)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		name := filepath.Base(f.Name())
		assert.True(t, strings.HasPrefix(name, tempPrefix), name)
		// CreateTemp's random part is digits: what follows is the suffix.
		assert.Equal(t, suffix, strings.TrimLeft(strings.TrimPrefix(name, tempPrefix), "0123456789"), "%s: %s", goos, name)
		long := time.Now().Add(-2 * leftoverAge)
		require.NoError(t, os.Chtimes(f.Name(), long, long))
		removeLeftovers(dir, time.Now())
		assert.NoFileExists(t, f.Name())
	}
}
