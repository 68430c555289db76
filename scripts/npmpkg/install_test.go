package npmpkg_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/testenv"
)

// End to end: the real binaries are built, assembled, packed, published to a
// real registry (Verdaccio) and installed with the real npm CLI, the way users
// get them.
func TestInstallFromRegistry(t *testing.T) {
	host := build.DetectHost()
	if host.GOOS != "linux" || host.GOARCH != "amd64" || host.AMD64Level < 3 {
		t.Skip("written for an x64 Linux machine with AVX2, where npm installs @agent-facets/cli-linux-x64")
	}
	if _, err := os.Stat("/etc/alpine-release"); err == nil {
		t.Skip("written for a glibc machine")
	}
	const version = "1.2.3"
	reg := testenv.Registry(t)
	root := testenv.RepoRoot(t)
	l := dist.Layout{Root: t.TempDir()}
	_, err := build.Run(t.Context(), build.Config{
		Root: root, Dist: l, Targets: platforms.All(), Version: version, Commit: "0123456789abcdef",
		Env: os.Environ(), Host: host,
	})
	require.NoError(t, err)
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	require.NoError(t, err)
	records, err := npmpkg.Run(t.Context(), npmpkg.Config{Dist: l, License: license, NPM: npm.CLI{}})
	require.NoError(t, err)
	var tarballs []string
	for _, r := range records { // platform packages first, the wrapper last
		tarballs = append(tarballs, filepath.Join(l.Root, r.Tarball))
	}
	require.NoError(t, reg.Publish(t.Context(), tarballs...))

	linuxX64 := platforms.All()[5]
	require.Equal(t, "linux-x64", linuxX64.Name())
	built, err := os.ReadFile(l.Binary(linuxX64))
	require.NoError(t, err)

	facet := func(t *testing.T, path string, args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(path, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), exit.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}
	about := func(t *testing.T, path string) map[string]string {
		out, stderr, code := facet(t, path, "version", "--json")
		require.Equal(t, 0, code, stderr)
		var a map[string]string
		require.NoError(t, json.Unmarshal([]byte(out), &a))
		return a
	}
	installed := func(t *testing.T, project string) []string {
		entries, err := os.ReadDir(filepath.Join(project, "node_modules", "@agent-facets"))
		if os.IsNotExist(err) {
			return nil
		}
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}

	t.Run("npm install runs the linux-x64 binary, with no Node process", func(t *testing.T) {
		project := t.TempDir()
		require.NoError(t, reg.Install(t.Context(), project, "agent-facets@"+version))
		bin := filepath.Join(project, "node_modules", ".bin", "facet")
		out, stderr, code := facet(t, bin, "--version")
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", out)

		// postinstall put the platform package's binary in place of the JS
		// launcher: the command is that binary, the very bytes that were built.
		launcher := filepath.Join(project, "node_modules", "agent-facets", "bin", "facet")
		platformBin := filepath.Join(project, "node_modules", "@agent-facets", "cli-linux-x64", "bin", "facet")
		runs, err := os.ReadFile(launcher)
		require.NoError(t, err)
		assert.Equal(t, built, runs, "the command is the linux-x64 binary")
		li, err := os.Stat(launcher)
		require.NoError(t, err)
		pi, err := os.Stat(platformBin)
		require.NoError(t, err)
		assert.True(t, os.SameFile(li, pi), "a hard link to @agent-facets/cli-linux-x64's binary")
		resolved, err := filepath.EvalSymlinks(launcher)
		require.NoError(t, err)
		assert.Equal(t, resolved, about(t, bin)["path"])

		// npm's os/cpu/libc fields leave the two glibc x64 packages: npm cannot
		// tell AVX2 from baseline.
		assert.Equal(t, []string{"cli-linux-x64", "cli-linux-x64-baseline"}, installed(t, project))
	})

	t.Run("with --ignore-scripts the JS launcher finds the binary", func(t *testing.T) {
		project := t.TempDir()
		require.NoError(t, reg.Install(t.Context(), project, "--ignore-scripts", "agent-facets@"+version))
		launcher, err := os.ReadFile(filepath.Join(project, "node_modules", "agent-facets", "bin", "facet"))
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(launcher, []byte("#!/usr/bin/env node")), "still the JS launcher")
		bin := filepath.Join(project, "node_modules", ".bin", "facet")
		out, stderr, code := facet(t, bin, "--version")
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", out)
		want, err := filepath.EvalSymlinks(filepath.Join(project, "node_modules", "@agent-facets", "cli-linux-x64", "bin", "facet"))
		require.NoError(t, err)
		assert.Equal(t, want, about(t, bin)["path"], "it ran @agent-facets/cli-linux-x64's binary")
	})

	t.Run("with --omit=optional facet explains what is missing", func(t *testing.T) {
		project := t.TempDir()
		require.NoError(t, reg.Install(t.Context(), project, "--omit=optional", "agent-facets@"+version))
		assert.Empty(t, installed(t, project))
		out, stderr, code := facet(t, filepath.Join(project, "node_modules", ".bin", "facet"), "--version")
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		for _, want := range []string{
			"facet: your package manager did not install the facet binary for this machine.",
			"agent-facets@1.2.3 runs one of these packages on linux x64 (glibc, AVX2), and none is installed:",
			"  @agent-facets/cli-linux-x64\n",
			"--omit=optional or --no-optional",
			"rm -rf node_modules package-lock.json && npm install",
		} {
			assert.Contains(t, stderr, want)
		}
	})

	t.Run("a global install into a prefix works", func(t *testing.T) {
		prefix := t.TempDir()
		_, err := reg.NPM().Run(t.Context(), t.TempDir(), "install", "--global", "--prefix", prefix, "agent-facets@"+version)
		require.NoError(t, err)
		bin := filepath.Join(prefix, "bin", "facet")
		out, stderr, code := facet(t, bin, "--version")
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", out)
		runs, err := os.ReadFile(bin)
		require.NoError(t, err)
		assert.Equal(t, built, runs, "the global command is the linux-x64 binary too")
	})
}
