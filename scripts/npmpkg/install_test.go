package npmpkg_test

import (
	"bytes"
	"encoding/json"
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
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/testenv"
)

// buildScriptWarning is what package managers print about a dependency's
// install scripts: npm's allowScripts notice, pnpm's ignored builds, yarn's
// YN0004/YN0007, bun's blocked postinstall.
var buildScriptWarning = regexp.MustCompile(`(?i)(build|install)[ -]?scripts?|postinstall|allow-?scripts|approve-builds|untrusted|YN0004|YN0007`)

// End to end: the real binaries are built, assembled, packed, published to a
// real registry (Verdaccio) and installed with the real npm, pnpm, yarn and
// bun, the way users get them. One registry and one sandbox serve every
// client.
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
	set := testenv.Clients(t)
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

	// The glibc x64 package the launcher picks here: the x86-64-v3 ("AVX2")
	// one when /proc/cpuinfo lists every flag of the level, else the
	// baseline one (a hypervisor can hide flags its CPU has: LZCNT, say).
	picked := launcherPick(t)
	built, err := os.ReadFile(l.Binary(picked))
	require.NoError(t, err)
	pkgDir := "cli-" + picked.Name()

	box, err := clients.NewSandbox(t.TempDir(), reg.URL, reg.Env())
	require.NoError(t, err)
	spec := "agent-facets@" + version

	run := func(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
		t.Helper()
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), exit.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}
	// about is what `facet version --json` says, path being the file that runs.
	about := func(t *testing.T, c clients.Client, dir string) map[string]string {
		t.Helper()
		out, stderr, code := run(t, c.Facet(t.Context(), box, dir, "version", "--json"))
		require.Equal(t, 0, code, stderr)
		var a map[string]string
		require.NoError(t, json.Unmarshal([]byte(out), &a))
		return a
	}
	realPath := func(t *testing.T, path string) string {
		t.Helper()
		real, err := filepath.EvalSymlinks(path)
		require.NoError(t, err)
		return real
	}

	for _, c := range set.Clients() {
		t.Run(c.Name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := c.Install(t.Context(), box, dir, spec)
			require.NoError(t, err)
			assert.NotRegexp(t, buildScriptWarning, string(out), "no warning about build scripts")

			for _, call := range []string{"first", "second"} {
				stdout, stderr, code := run(t, c.Facet(t.Context(), box, dir, "--version"))
				require.Equal(t, 0, code, "%s call: %s", call, stderr)
				assert.Equal(t, "facet "+version+"\n", stdout, call)
				assert.Empty(t, stderr, call)
			}

			wrapper := c.Wrapper(dir)
			ran := about(t, c, dir)["path"]
			if !c.FastPath {
				// Through the launcher, which stays JavaScript: pnpm's shim and
				// yarn run it with node.
				assert.True(t, strings.HasSuffix(ran, "/@agent-facets/"+pkgDir+"/bin/facet"), "the launcher ran %s", ran)
				if wrapper != "" {
					launcher, err := os.ReadFile(filepath.Join(wrapper, "bin", "facet"))
					require.NoError(t, err)
					assert.True(t, bytes.HasPrefix(launcher, []byte("#!/usr/bin/env node")), "still the JS launcher")
				}
				return
			}
			// The launcher's first call put the picked binary in its place:
			// the command is that binary (the same file, the very bytes that
			// were built), and it runs with no launcher in between.
			launcher := filepath.Join(wrapper, "bin", "facet")
			// Beside the wrapper, or inside it for a global install.
			platformBin := filepath.Join(wrapper, "node_modules", "@agent-facets", pkgDir, "bin", "facet")
			if _, err := os.Stat(platformBin); err != nil {
				platformBin = filepath.Join(filepath.Dir(wrapper), "@agent-facets", pkgDir, "bin", "facet")
			}
			li, err := os.Stat(launcher)
			require.NoError(t, err)
			pi, err := os.Stat(platformBin)
			require.NoError(t, err)
			assert.True(t, os.SameFile(li, pi), "bin/facet is a hard link to @agent-facets/%s's binary", pkgDir)
			runs, err := os.ReadFile(launcher)
			require.NoError(t, err)
			assert.Equal(t, built, runs, "the command is the %s binary", picked.Name())
			assert.Equal(t, realPath(t, launcher), ran, "run directly: no Node process started it")
		})
	}

	// Details of some clients, on installs of their own.
	t.Run("npm installs the two glibc x64 packages", func(t *testing.T) {
		c, err := set.Find("npm install")
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = c.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		// npm's os/cpu/libc fields cannot tell AVX2 from baseline.
		entries, err := os.ReadDir(filepath.Join(dir, "node_modules", "@agent-facets"))
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		assert.Equal(t, []string{"cli-linux-x64", "cli-linux-x64-baseline"}, names)
	})

	// The glibc packages declare no libc, so that an npm that cannot tell the
	// host's libc still installs a binary (they are static); the musl ones
	// declare theirs and are left out on glibc.
	t.Run("npm that cannot tell the libc installs the glibc x64 packages", func(t *testing.T) {
		preload, err := filepath.Abs(filepath.Join("testdata", "libc-unknown.cjs"))
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"libc-unknown","private":true}`), 0o644))
		cmd := exec.CommandContext(t.Context(), "npm", "install", "--no-audit", "--no-fund", spec)
		cmd.Dir, cmd.Env = dir, append(box.Env(), "NODE_OPTIONS=--require "+preload)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		entries, err := os.ReadDir(filepath.Join(dir, "node_modules", "@agent-facets"))
		require.NoError(t, err, "no platform package installed: %s", out)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		assert.Equal(t, []string{"cli-linux-x64", "cli-linux-x64-baseline"}, names)
		stdout, stderr, code := run(t, exec.CommandContext(t.Context(), filepath.Join(dir, "node_modules", ".bin", "facet"), "--version"))
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", stdout)
	})

	t.Run("yarn 4 runs the binary that replaced the launcher", func(t *testing.T) {
		yarn, err := set.Find("yarn " + set.Versions["@yarnpkg/cli-dist"] + " (node-modules)")
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = yarn.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		_, stderr, code := run(t, yarn.Facet(t.Context(), box, dir, "--version"))
		require.Equal(t, 0, code, stderr)
		// yarn run starts a bin with node only when it is not a native executable.
		cmd := exec.CommandContext(t.Context(), set.Node, set.Yarn4, "facet", "--version")
		cmd.Dir, cmd.Env = dir, box.Env()
		stdout, stderr, code := run(t, cmd)
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", stdout)
	})

	t.Run("bun's cache keeps the launcher it hard-linked into node_modules", func(t *testing.T) {
		bun, err := set.Find("bun")
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = bun.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		_, stderr, code := run(t, bun.Facet(t.Context(), box, dir, "--version"))
		require.Equal(t, 0, code, stderr)
		// The launcher in node_modules was replaced by rename, never written through.
		stored, err := filepath.Glob(filepath.Join(box.Dir, "bun-cache", "agent-facets@"+version+"*", "bin", "facet"))
		require.NoError(t, err)
		require.Len(t, stored, 1, "bun's cache holds the wrapper")
		data, err := os.ReadFile(stored[0])
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(data, []byte("#!/usr/bin/env node")), "bun's cache still holds the JS launcher")
	})

	npmClient, err := set.Find("npm install")
	require.NoError(t, err)

	t.Run("concurrent first calls all succeed", func(t *testing.T) {
		dir := t.TempDir()
		_, err := npmClient.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		const n = 6
		var wg sync.WaitGroup
		outs := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := npmClient.Facet(t.Context(), box, dir, "--version").CombinedOutput()
				outs[i], errs[i] = string(out), err
			}()
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "call %d: %s", i, outs[i])
			assert.Equal(t, "facet "+version+"\n", outs[i], "call %d", i)
		}
		// A swap held back by the others waits a minute before it is tried
		// again: the next call comes a minute later by the launcher's clock.
		later := filepath.Join(t.TempDir(), "later.js")
		require.NoError(t, os.WriteFile(later, []byte("const now = Date.now; Date.now = () => now() + 61000;\n"), 0o644))
		next := npmClient.Facet(t.Context(), box, dir, "--version")
		next.Env = append(next.Env, "NODE_OPTIONS=--require "+later)
		stdout, _, code := run(t, next)
		require.Equal(t, 0, code)
		assert.Equal(t, "facet "+version+"\n", stdout)
		launcher := filepath.Join(dir, "node_modules", "agent-facets", "bin", "facet")
		assert.Equal(t, realPath(t, launcher), about(t, npmClient, dir)["path"], "the fast path is taken")
		entries, err := os.ReadDir(filepath.Dir(launcher))
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file left")
	})

	t.Run("the binary in the launcher's place honours FACET_BIN_OVERRIDE", func(t *testing.T) {
		dir := t.TempDir()
		_, err := npmClient.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		_, stderr, code := run(t, npmClient.Facet(t.Context(), box, dir, "--version"))
		require.Equal(t, 0, code, stderr)
		launcher := filepath.Join(dir, "node_modules", "agent-facets", "bin", "facet")
		require.Equal(t, realPath(t, launcher), about(t, npmClient, dir)["path"], "the fast path is taken")

		override := filepath.Join(t.TempDir(), "facet")
		require.NoError(t, os.WriteFile(override, []byte("#!/bin/sh\necho \"override $* followed=$FACET_BIN_OVERRIDE_FOLLOWED\"\n"), 0o755))
		cmd := npmClient.Facet(t.Context(), box, dir, "a", "b c")
		cmd.Env = append(cmd.Env, "FACET_BIN_OVERRIDE="+override)
		stdout, stderr, code := run(t, cmd)
		assert.Equal(t, []any{0, "override a b c followed=" + override + "\n", ""}, []any{code, stdout, stderr})
	})

	t.Run("a read-only node_modules works through the launcher", func(t *testing.T) {
		dir := t.TempDir()
		_, err := npmClient.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		modules := filepath.Join(dir, "node_modules")
		require.NoError(t, exec.Command("chmod", "-R", "a-w", modules).Run())
		t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", modules).Run() })
		for _, call := range []string{"first", "second"} {
			stdout, stderr, code := run(t, npmClient.Facet(t.Context(), box, dir, "--version"))
			require.Equal(t, 0, code, "%s call: %s", call, stderr)
			assert.Equal(t, "facet "+version+"\n", stdout, call)
			assert.Empty(t, stderr, call)
		}
		launcher, err := os.ReadFile(filepath.Join(modules, "agent-facets", "bin", "facet"))
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(launcher, []byte("#!/usr/bin/env node")), "nothing written in node_modules")
		assert.Equal(t, realPath(t, filepath.Join(modules, "@agent-facets", pkgDir, "bin", "facet")), about(t, npmClient, dir)["path"])
	})

	t.Run("npm install --omit=optional: facet explains what is missing", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, reg.Install(t.Context(), dir, "--omit=optional", spec))
		_, err := os.Stat(filepath.Join(dir, "node_modules", "@agent-facets"))
		assert.True(t, os.IsNotExist(err), "no platform package")
		stdout, stderr, code := run(t, npmClient.Facet(t.Context(), box, dir, "--version"))
		assert.Equal(t, 1, code)
		assert.Empty(t, stdout)
		for _, want := range []string{
			"facet: your package manager did not install the facet binary for this machine.",
			"agent-facets@1.2.3 runs one of these packages on linux x64 (glibc, " + map[bool]string{true: "AVX2", false: "no AVX2"}[!picked.Baseline] + "), and none is installed:",
			"  @agent-facets/" + pkgDir + "\n",
			"--omit=optional or --no-optional",
			"rm -rf node_modules package-lock.json && npm install",
		} {
			assert.Contains(t, stderr, want)
		}
	})
}

// launcherPick is the glibc x64 target whose package the launcher must run
// on this machine: linux-x64 where Go's own check (CPUID) says the CPU runs
// GOAMD64=v3, which this test requires, whatever /proc/cpuinfo lists.
func launcherPick(t *testing.T) platforms.Target {
	t.Helper()
	require.GreaterOrEqual(t, build.DetectHost().AMD64Level, 3)
	target, err := platforms.Lookup("linux-x64")
	require.NoError(t, err)
	return target
}
