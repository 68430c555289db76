package npmpkg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	script, err := os.ReadFile(filepath.Join(root, "install.sh"))
	require.NoError(t, err)
	records, err := npmpkg.Run(t.Context(), npmpkg.Config{Dist: l, License: license, InstallScript: script, NPM: npm.CLI{}})
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
	pkgDir := "cli-" + picked.Name()
	// What takes the launcher's place on x64: the baseline build, which runs
	// on every x64 CPU (a node_modules may move to one without AVX2).
	swapped, err := platforms.Lookup("linux-x64-baseline")
	require.NoError(t, err)
	built, err := os.ReadFile(l.Binary(swapped))
	require.NoError(t, err)
	swappedDir := "cli-" + swapped.Name()
	// The launcher runs the picked build from its platform package (under
	// bun's --backend symlink, from bun's cache).
	launcherRan := regexp.MustCompile(`/@agent-facets/` + regexp.QuoteMeta(pkgDir) + `(@[^/]*)?/bin/facet$`)

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

	for _, c := range append(set.Clients(), set.Layouts()...) {
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
				// Through the launcher, which stays JavaScript: pnpm's shims and
				// yarn run it with node; bun's symlink backend keeps it in
				// bun's cache, which projects share.
				assert.Regexp(t, launcherRan, ran, "the launcher ran the %s build", picked.Name())
				if c.Name != "yarn "+set.Versions["@yarnpkg/cli-dist"]+" (PnP)" {
					require.NotEmpty(t, wrapper, "the wrapper is installed as a directory")
				}
				if wrapper != "" {
					launcher, err := os.ReadFile(filepath.Join(wrapper, "bin", "facet"))
					require.NoError(t, err)
					assert.True(t, bytes.HasPrefix(launcher, []byte("#!/usr/bin/env node")), "still the JS launcher")
				}
				return
			}
			// The launcher's first call put the baseline binary in its place:
			// the command is that binary (the same file, the very bytes that
			// were built), and it runs with no launcher in between.
			launcher := filepath.Join(wrapper, "bin", "facet")
			// Beside the wrapper, or inside it for a global install.
			platformBin := filepath.Join(wrapper, "node_modules", "@agent-facets", swappedDir, "bin", "facet")
			if _, err := os.Stat(platformBin); err != nil {
				platformBin = filepath.Join(filepath.Dir(wrapper), "@agent-facets", swappedDir, "bin", "facet")
			}
			li, err := os.Stat(launcher)
			require.NoError(t, err)
			pi, err := os.Stat(platformBin)
			require.NoError(t, err)
			assert.True(t, os.SameFile(li, pi), "bin/facet is a hard link to @agent-facets/%s's binary", swappedDir)
			runs, err := os.ReadFile(launcher)
			require.NoError(t, err)
			assert.Equal(t, built, runs, "the command is the %s binary", swapped.Name())
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
			"Installed by npm, with optional dependencies left out:\n",
			"To repair (installed by npm):\n  cd " + dir + " && npm install --include=optional\n",
			"Run `facet doctor` for details.",
		} {
			assert.Contains(t, stderr, want)
		}
	})

	// Issue 15: the swap never breaks a command, and never runs another
	// user's binary. Each case on an install of its own, from the same bed.
	install := func(t *testing.T, c clients.Client) string {
		t.Helper()
		dir := t.TempDir()
		_, err := c.Install(t.Context(), box, dir, spec)
		require.NoError(t, err)
		return dir
	}
	// facet runs the command file (or argv) in dir and requires facet's version from it.
	facetOK := func(t *testing.T, dir string, env []string, argv ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), argv[0], append(argv[1:], "--version")...)
		cmd.Dir, cmd.Env = dir, append(box.Env(), env...)
		stdout, stderr, code := run(t, cmd)
		require.Equal(t, []any{0, "facet " + version + "\n", ""}, []any{code, stdout, stderr}, "%s", strings.Join(argv, " "))
	}
	isLauncher := func(t *testing.T, dir string) bool {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", "agent-facets", "bin", "facet"))
		require.NoError(t, err)
		return bytes.HasPrefix(data, []byte("#!/usr/bin/env node"))
	}
	later := filepath.Join(t.TempDir(), "later.cjs")
	require.NoError(t, os.WriteFile(later, []byte("const now = Date.now; Date.now = () => now() + 61000;\n"), 0o644))

	t.Run("node or bun --bun running the launcher as JavaScript never swaps it", func(t *testing.T) {
		dir := install(t, npmClient)
		launcher := filepath.Join(dir, "node_modules", "agent-facets", "bin", "facet")
		command := filepath.Join(dir, "node_modules", ".bin", "facet")
		for range 2 {
			facetOK(t, dir, nil, set.Node, launcher) // Docker's CMD ["node", …], systemd, pm2
			require.True(t, isLauncher(t, dir), "node on bin/facet: it stays JavaScript")
		}
		facetOK(t, dir, nil, command)
		assert.False(t, isLauncher(t, dir), "the fast path stayed on: the command link swaps")
		facetOK(t, dir, nil, command)

		// bun --bun runs the link as JavaScript: this install keeps the launcher.
		dir = install(t, npmClient)
		command = filepath.Join(dir, "node_modules", ".bin", "facet")
		for range 2 {
			facetOK(t, dir, nil, set.Bun, "--bun", "./node_modules/.bin/facet")
			require.True(t, isLauncher(t, dir), "bun --bun: it stays JavaScript")
		}
		facetOK(t, dir, []string{"NODE_OPTIONS=--require " + later}, command)
		assert.True(t, isLauncher(t, dir), "the command link leaves it too")
		facetOK(t, dir, nil, set.Bun, "--bun", "./node_modules/.bin/facet")
	})

	t.Run("a CPU without x86-64-v3 runs the swapped command (qemu -cpu Nehalem)", func(t *testing.T) {
		qemu := testenv.LookPath(t, "qemu-x86_64", "install qemu-user (Debian: apt-get install qemu-user)")
		dir := install(t, npmClient)
		command := filepath.Join(dir, "node_modules", ".bin", "facet")
		facetOK(t, dir, nil, command)
		require.False(t, isLauncher(t, dir), "swapped")
		// That CPU lacks v3 indeed: the v3 build refuses to start there.
		v3 := filepath.Join(dir, "node_modules", "@agent-facets", pkgDir, "bin", "facet")
		out, err := exec.CommandContext(t.Context(), qemu, "-cpu", "Nehalem", v3, "--version").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "v3 microarchitecture")
		facetOK(t, dir, nil, qemu, "-cpu", "Nehalem", command)
	})

	t.Run("a swap killed half-way is swept by the next", func(t *testing.T) {
		dir := install(t, npmClient)
		kill := filepath.Join(t.TempDir(), "kill.cjs")
		require.NoError(t, os.WriteFile(kill, []byte(`const fs = require('fs'); const link = fs.linkSync;
fs.linkSync = function (from, to) { const r = link.call(this, from, to); if (/\.facet\.\d+\.[0-9a-f]+\.js$/.test(String(to))) process.kill(process.pid, 'SIGKILL'); return r; };
`), 0o644))
		cmd := npmClient.Facet(t.Context(), box, dir, "--version")
		cmd.Env = append(cmd.Env, "NODE_OPTIONS=--require "+kill)
		require.Error(t, cmd.Run(), "killed")
		bin := filepath.Join(dir, "node_modules", "agent-facets", "bin")
		entries, err := os.ReadDir(bin)
		require.NoError(t, err)
		require.Len(t, entries, 3, "the launcher, the placed binary and the kept launcher")
		require.True(t, isLauncher(t, dir))
		facetOK(t, dir, nil, filepath.Join(dir, "node_modules", ".bin", "facet"))
		assert.False(t, isLauncher(t, dir), "swapped")
		entries, err = os.ReadDir(bin)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "the leftovers are swept, under a minute old")
	})

	t.Run("a full, then read-only file system: facet works, and swaps once it can", func(t *testing.T) {
		mnt := t.TempDir()
		// Inodes are few: a full tmpfs refuses the hard link as well as the copy.
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=400", "tmpfs", mnt).CombinedOutput(); err != nil {
			testenv.Missing(t, "a tmpfs mount (root, CAP_SYS_ADMIN)", fmt.Sprintf("%v: %s", err, out))
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
		for _, how := range []string{"full", "read-only"} {
			dir := filepath.Join(mnt, how)
			_, err := npmClient.Install(t.Context(), box, dir, spec)
			require.NoError(t, err)
			command := filepath.Join(dir, "node_modules", ".bin", "facet")
			free := func() {}
			if how == "full" {
				fill := filepath.Join(mnt, "fill")
				require.NoError(t, os.Mkdir(fill, 0o755))
				for i := 0; ; i++ {
					f, err := os.Create(filepath.Join(fill, strconv.Itoa(i)))
					if err != nil {
						require.ErrorIs(t, err, syscall.ENOSPC)
						break
					}
					require.NoError(t, f.Close())
				}
				free = func() { require.NoError(t, os.RemoveAll(fill)) }
			} else {
				out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput()
				require.NoError(t, err, "%s", out)
				free = func() {
					out, err := exec.Command("mount", "-o", "remount,rw", mnt).CombinedOutput()
					require.NoError(t, err, "%s", out)
				}
			}
			for range 2 {
				facetOK(t, dir, nil, command)
				require.True(t, isLauncher(t, dir), "%s: the launcher stays", how)
			}
			free()
			facetOK(t, dir, nil, command)
			require.True(t, isLauncher(t, dir), "%s: not tried again within the minute", how)
			facetOK(t, dir, []string{"NODE_OPTIONS=--require " + later}, command)
			assert.False(t, isLauncher(t, dir), "%s: a minute later, with space or writes back, swapped", how)
			facetOK(t, dir, nil, command)
		}
	})

	t.Run("a platform package another user put above the project is never run", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.Missing(t, "root", "run as root to act as two other local users")
		}
		const victim, attacker = 65534, 4242 // nobody, and a user with no name
		shared, err := os.MkdirTemp("", "facet-shared-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(shared) })
		require.NoError(t, os.Chmod(shared, 0o1777)) // like /tmp
		as := func(uid int, dir string, env []string, argv ...string) *exec.Cmd {
			cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
			cmd.Dir, cmd.Env = dir, env
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
			return cmd
		}
		// The victim's project, its platform packages left out.
		project := filepath.Join(shared, "project")
		require.NoError(t, os.Mkdir(project, 0o755))
		require.NoError(t, reg.Install(t.Context(), project, "--omit=optional", spec))
		home := filepath.Join(shared, "home")
		require.NoError(t, os.Mkdir(home, 0o700))
		require.NoError(t, exec.Command("chown", "-R", fmt.Sprintf("%d:%d", victim, victim), project, home).Run())
		// The attacker plants the package the launcher looks for, in /tmp/node_modules as it were.
		pwned := filepath.Join(shared, "pwned")
		planted := filepath.Join(shared, "node_modules", "@agent-facets", pkgDir)
		script := fmt.Sprintf(`mkdir -p %[1]s/bin && echo '{"name":"@agent-facets/%[2]s","version":"%[3]s"}' > %[1]s/package.json &&
printf '#!/bin/sh\ntouch %[4]s\necho "facet %[3]s"\n' > %[1]s/bin/facet && chmod 755 %[1]s/bin/facet`, planted, pkgDir, version, pwned)
		out, err := as(attacker, shared, []string{"PATH=/usr/bin:/bin"}, "/bin/sh", "-c", script).CombinedOutput()
		require.NoError(t, err, "%s", out)

		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
		for range 2 {
			stdout, stderr, code := run(t, as(victim, project, env, filepath.Join(project, "node_modules", ".bin", "facet"), "--version"))
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "Found, but never run:\n  "+filepath.Join(planted, "bin", "facet")+" (@agent-facets/"+pkgDir+"): it lies outside this project's node_modules ("+filepath.Join(project, "node_modules")+
				"); it belongs to uid 4242, not to you (uid 65534), root or the owner of agent-facets (uid 65534)\n")
			assert.Contains(t, stderr, "facet: your package manager did not install the facet binary for this machine.")
			assert.NoFileExists(t, pwned, "the planted binary never ran")
		}
	})

	t.Run("Deno runs what npm installed: deno run npm:agent-facets and deno task", func(t *testing.T) {
		denoEnv := []string{"DENO_DIR=" + t.TempDir(), "DENO_NO_UPDATE_CHECK=1", "NO_COLOR=1"}
		deno := func(t *testing.T, dir string, args ...string) (string, string, int) {
			cmd := exec.CommandContext(t.Context(), set.Deno, args...)
			cmd.Dir, cmd.Env = dir, append(box.Env(), denoEnv...)
			return run(t, cmd)
		}
		project := func(t *testing.T, files map[string]string) string {
			dir := install(t, npmClient)
			pkg := `{"name":"facet-deno-test","private":true,"dependencies":{"agent-facets":"` + version + `"},"scripts":{"v":"facet --version"}}`
			require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644))
			for name, text := range files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
			}
			return dir
		}
		works := func(t *testing.T, dir, why string) {
			t.Helper()
			for _, args := range [][]string{{"task", "v"}, {"run", "-A", "npm:agent-facets", "--version"}} {
				stdout, stderr, code := deno(t, dir, args...)
				require.Equal(t, 0, code, "%s: deno %s: %s", why, strings.Join(args, " "), stderr)
				assert.Contains(t, stdout, "facet "+version+"\n", "%s: deno %s", why, strings.Join(args, " "))
			}
		}
		command := func(dir string) string { return filepath.Join(dir, "node_modules", ".bin", "facet") }

		// deno task first: it runs the launcher in node_modules/.bin with Deno,
		// which keeps it for good.
		dir := project(t, nil)
		works(t, dir, "the launcher, run by Deno")
		facetOK(t, dir, []string{"NODE_OPTIONS=--require " + later}, command(dir))
		assert.True(t, isLauncher(t, dir), "after Deno ran it, the command link leaves it")
		works(t, dir, "still the launcher")

		// A project with deno.json: never swapped.
		dir = project(t, map[string]string{"deno.json": "{}\n"})
		facetOK(t, dir, nil, command(dir))
		assert.True(t, isLauncher(t, dir), "a Deno project keeps the launcher")
		works(t, dir, "a Deno project")

		// A plain npm project swapped before Deno came: deno run npm: runs the
		// binary itself, deno task runs every node_modules/.bin command as
		// JavaScript and fails.
		dir = project(t, nil)
		facetOK(t, dir, nil, command(dir))
		require.False(t, isLauncher(t, dir), "swapped")
		stdout, stderr, code := deno(t, dir, "run", "-A", "npm:agent-facets", "--version")
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "facet "+version+"\n", stdout, "deno run npm: runs a native bin as a program")
		_, stderr, code = deno(t, dir, "task", "v")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "SyntaxError", "deno task reads the binary as JavaScript")
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
