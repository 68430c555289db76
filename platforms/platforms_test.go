package platforms_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
)

// The table as ../shared/REFERENCE.md §2 gives it: name, npm os/cpu/libc, Go
// GOOS/GOARCH and x64 level. The test states it once more on purpose, to catch
// a change to the generated values.
var reference = []struct {
	name, os, cpu, libc, goos, goarch, levelVar, level string
}{
	{"darwin-arm64", "darwin", "arm64", "", "darwin", "arm64", "GOARM64", "v8.0"},
	{"darwin-x64", "darwin", "x64", "", "darwin", "amd64", "GOAMD64", "v3"},
	{"darwin-x64-baseline", "darwin", "x64", "", "darwin", "amd64", "GOAMD64", "v1"},
	{"linux-arm64", "linux", "arm64", "glibc", "linux", "arm64", "GOARM64", "v8.0"},
	{"linux-arm64-musl", "linux", "arm64", "musl", "linux", "arm64", "GOARM64", "v8.0"},
	{"linux-x64", "linux", "x64", "glibc", "linux", "amd64", "GOAMD64", "v3"},
	{"linux-x64-baseline", "linux", "x64", "glibc", "linux", "amd64", "GOAMD64", "v1"},
	{"linux-x64-baseline-musl", "linux", "x64", "musl", "linux", "amd64", "GOAMD64", "v1"},
	{"linux-x64-musl", "linux", "x64", "musl", "linux", "amd64", "GOAMD64", "v3"},
	{"windows-arm64", "win32", "arm64", "", "windows", "arm64", "GOARM64", "v8.0"},
	{"windows-x64", "win32", "x64", "", "windows", "amd64", "GOAMD64", "v3"},
	{"windows-x64-baseline", "win32", "x64", "", "windows", "amd64", "GOAMD64", "v1"},
}

func TestTableMatchesReference(t *testing.T) {
	all := platforms.All()
	require.Len(t, all, len(reference))
	for i, want := range reference {
		got := all[i]
		t.Run(want.name, func(t *testing.T) {
			assert.Equal(t, want.name, got.Name())
			assert.Equal(t, "@agent-facets/cli-"+want.name, got.Package())
			assert.Equal(t, want.os, got.OS)
			assert.Equal(t, want.cpu, got.CPU)
			assert.Equal(t, want.libc, string(got.Libc))
			assert.Equal(t, want.goos, got.GOOS())
			assert.Equal(t, want.goarch, got.GOARCH())
			levelVar, level := got.ArchLevel()
			assert.Equal(t, want.levelVar, levelVar)
			assert.Equal(t, want.level, level)
			if want.os == "win32" {
				assert.Equal(t, "facet.exe", got.Executable())
				assert.Equal(t, "bin/facet.exe", got.BinPath())
			} else {
				assert.Equal(t, "facet", got.Executable())
				assert.Equal(t, "bin/facet", got.BinPath())
			}
		})
	}
}

func TestNamesAreUniqueAndSorted(t *testing.T) {
	names := platforms.Names()
	seen := map[string]bool{}
	for i, n := range names {
		assert.False(t, seen[n], "duplicate name %s", n)
		seen[n] = true
		if i > 0 {
			assert.Less(t, names[i-1], n, "names must be sorted")
		}
	}
	assert.Len(t, seen, 12)
}

// The 13 packages a release publishes: the wrapper last, after every
// platform package it depends on.
func TestPackages(t *testing.T) {
	pkgs := platforms.Packages()
	require.Len(t, pkgs, 13)
	for i, tg := range platforms.All() {
		assert.Equal(t, tg.Package(), pkgs[i])
	}
	assert.Equal(t, "agent-facets", pkgs[12])
}

func TestLibcOnlyOnLinux(t *testing.T) {
	for _, tg := range platforms.All() {
		if tg.OS == "linux" {
			assert.Contains(t, []platforms.Libc{platforms.Glibc, platforms.Musl}, tg.Libc, tg.Name())
		} else {
			assert.Empty(t, tg.Libc, tg.Name())
		}
		if tg.Baseline {
			assert.Equal(t, "x64", tg.CPU, "%s: only x64 has a baseline", tg.Name())
		}
	}
}

func TestConfigsShareOnlyAcrossLibc(t *testing.T) {
	byConfig := map[platforms.Config][]string{}
	for _, tg := range platforms.All() {
		byConfig[tg.Config()] = append(byConfig[tg.Config()], tg.Name())
	}
	assert.Len(t, byConfig, 9, "12 targets are 9 distinct compilations")
	for c, names := range byConfig {
		if len(names) > 1 {
			assert.Equal(t, "linux", c.GOOS, "only glibc/musl twins share a configuration: %v", names)
			assert.Len(t, names, 2)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"linux-x64-musl", "@agent-facets/cli-linux-x64-musl", " linux-x64-musl "} {
		got, err := platforms.Lookup(name)
		require.NoError(t, err, name)
		assert.Equal(t, "linux-x64-musl", got.Name())
	}
	_, err := platforms.Lookup("linux-x86")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown target "linux-x86"`)
	for _, n := range platforms.Names() {
		assert.Contains(t, err.Error(), n, "the error lists the valid names")
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: []string{"linux-x64-musl"}, want: []string{"linux-x64-musl"}},
		{args: []string{"windows-x64,darwin-arm64"}, want: []string{"darwin-arm64", "windows-x64"}},
		{args: []string{"linux-x64 linux-x64", "@agent-facets/cli-linux-x64"}, want: []string{"linux-x64"}},
		{args: []string{"linux-x64,bogus"}, wantErr: `unknown target "bogus"`},
		{args: []string{" , "}, wantErr: "no target named"},
		{args: nil, wantErr: "no target named"},
	}
	for _, tt := range tests {
		got, err := platforms.Select(tt.args...)
		if tt.wantErr != "" {
			require.Error(t, err, tt.args)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "linux-x64-baseline-musl", "lists the valid names")
			continue
		}
		require.NoError(t, err, tt.args)
		var names []string
		for _, tg := range got {
			names = append(names, tg.Name())
		}
		assert.Equal(t, tt.want, names, tt.args)
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		host platforms.Host
		want string
		runs []string
	}{
		{platforms.Host{GOOS: "linux", GOARCH: "amd64", AMD64Level: 3}, "linux-x64",
			[]string{"linux-x64", "linux-x64-baseline", "linux-x64-baseline-musl", "linux-x64-musl"}},
		{platforms.Host{GOOS: "linux", GOARCH: "amd64", AMD64Level: 2}, "linux-x64-baseline",
			[]string{"linux-x64-baseline", "linux-x64-baseline-musl"}},
		{platforms.Host{GOOS: "linux", GOARCH: "arm64"}, "linux-arm64", []string{"linux-arm64", "linux-arm64-musl"}},
		{platforms.Host{GOOS: "darwin", GOARCH: "arm64"}, "darwin-arm64", []string{"darwin-arm64"}},
		{platforms.Host{GOOS: "windows", GOARCH: "amd64", AMD64Level: 4}, "windows-x64", []string{"windows-x64", "windows-x64-baseline"}},
	}
	for _, tt := range tests {
		got, err := platforms.ForHost(tt.host)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Name(), "%+v", tt.host)
		var runs []string
		for _, tg := range platforms.All() {
			if tt.host.Runs(tg) {
				runs = append(runs, tg.Name())
			}
		}
		assert.Equal(t, tt.runs, runs, "%+v", tt.host)
	}
	_, err := platforms.ForHost(platforms.Host{GOOS: "freebsd", GOARCH: "amd64", AMD64Level: 3})
	assert.ErrorContains(t, err, "no target runs on this machine (freebsd/amd64)")
}

func TestWithoutOverride(t *testing.T) {
	env := []string{"A=1", platforms.OverrideVar + "=/x", "FACET_BIN_OVERRIDE_X=2", platforms.OverrideFollowedVar + "=/y", "B="}
	assert.Equal(t, []string{"A=1", "FACET_BIN_OVERRIDE_X=2", "B="}, platforms.WithoutOverride(env))
	assert.Equal(t, []string{"A=1", platforms.OverrideVar + "=/x"}, env[:2], "env itself is left as it was")
	assert.Equal(t, []string{}, platforms.WithoutOverride([]string{"facet_bin_override=/x"}),
		"names without case, as on Windows; empty, never nil (which means this process's environment)")
}

func TestInstallTable(t *testing.T) {
	table := platforms.Table{
		{OS: "linux", CPU: "x64", Libc: platforms.Musl, Baseline: true},
		{OS: "win32", CPU: "arm64"},
		{OS: "darwin", CPU: "x64"},
	}
	assert.Equal(t, "PLATFORMS='\n"+
		"linux x64 musl baseline @agent-facets/cli-linux-x64-baseline-musl bin/facet\n"+
		"win32 arm64 - - @agent-facets/cli-windows-arm64 bin/facet.exe\n"+
		"darwin x64 - v3 @agent-facets/cli-darwin-x64 bin/facet\n"+
		"'\n", table.InstallTable())
}
