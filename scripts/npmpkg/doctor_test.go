package npmpkg_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/testenv"
)

// shellQuote is path as a POSIX shell reads it, quoted as the launcher
// quotes it (test directories hold parentheses).
func shellQuote(path string) string {
	if regexp.MustCompile(`^[\w@%+=:,./-]+$`).MatchString(path) {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// fixLine is the command facet doctor prints to repair the install.
var fixLine = regexp.MustCompile(`(?m)^To fix:\n  (.+)$`)

// facet doctor, answered by the launcher when the package manager left the
// binary out: installs made for real with npm (in a project and global),
// pnpm, yarn 1 and bun against the test bed, with their own ways of leaving
// optional dependencies out. Each report names its manager and the fix, and
// the fix's first line, run as printed, makes facet run. One bed and one
// release serve every case.
func TestLauncherDoctor(t *testing.T) {
	if host := build.DetectHost(); host.GOOS != "linux" {
		t.Skip("the installs leave out Linux's platform packages")
	}
	const version = "1.2.3"
	bed := testenv.RegistryBed(t)
	l, records := releasetest.Packed(t, version)
	bed.PublishTarballs(t, "latest", releasetest.Tarballs(l, records)...)
	set := testenv.Clients(t)
	npmEnv, err := bed.NPMEnv(false)
	require.NoError(t, err)
	box, err := clients.NewSandbox(t.TempDir(), bed.URL, npmEnv)
	require.NoError(t, err)
	// pnpm, yarn 1 and bun on PATH, as a user who runs the printed fix has them.
	path := strings.Join([]string{filepath.Dir(set.PNPM), filepath.Dir(set.Yarn1), filepath.Dir(set.Bun), os.Getenv("PATH")}, string(os.PathListSeparator))
	env := append(box.Env(), "PATH="+path)
	spec := "agent-facets@" + version

	// run runs argv in dir; it returns stdout, stderr and the exit code.
	run := func(t *testing.T, dir string, argv ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), exit.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}
	must := func(t *testing.T, dir string, argv ...string) {
		t.Helper()
		stdout, stderr, code := run(t, dir, argv...)
		require.Equal(t, 0, code, "%s:\n%s%s", strings.Join(argv, " "), stdout, stderr)
	}
	project := func(t *testing.T) string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"doctor-test","private":true}`+"\n"), 0o644))
		return dir
	}
	// fixCase is an install where no binary runs: facet, its command; the
	// manager facet doctor names; the first line of the fix it prints; signs
	// it must print; and, optionally, what a user does before the fix.
	type fixCase struct {
		facet, manager, fix string
		signs               []string
		before              func()
	}
	// check runs facet doctor and facet --version in dir, where no binary
	// runs, then the first line of the fix doctor printed, after which facet runs.
	check := func(t *testing.T, dir string, c fixCase) string {
		t.Helper()
		facet, manager, fix := c.facet, c.manager, c.fix
		if facet == "" {
			facet = filepath.Join(dir, "node_modules", ".bin", "facet")
		}
		report, stderr, code := run(t, dir, facet, "doctor")
		require.Equal(t, 1, code, "facet doctor: facet cannot run here\n%s%s", report, stderr)
		assert.Empty(t, stderr)
		assert.Contains(t, report, "facet doctor: agent-facets@"+version+" found no facet binary that runs on this machine.\n")
		assert.Contains(t, report, ": not installed\n")
		assert.Contains(t, report, "Installed by: "+manager+" (")
		for _, s := range c.signs {
			assert.Contains(t, report, s)
		}
		m := fixLine.FindStringSubmatch(report)
		require.NotNil(t, m, "a fix:\n%s", report)
		assert.Equal(t, fix, m[1])
		if !strings.HasPrefix(manager, "npm") {
			assert.NotRegexp(t, `(^|\s)npm install`, report, "%s's fix, not npm's", manager)
		}

		_, short, code := run(t, dir, facet, "--version")
		assert.Equal(t, 1, code)
		assert.Contains(t, short, "To repair (installed by "+manager+"):\n  "+fix+"\n")
		assert.True(t, strings.HasSuffix(short, "\nRun `facet doctor` for details.\n"), short)

		if c.before != nil {
			c.before()
		}
		must(t, dir, "sh", "-c", m[1])
		stdout, stderr, code := run(t, dir, facet, "--version")
		require.Equal(t, 0, code, "after %s: %s", m[1], stderr)
		assert.Equal(t, "facet "+version+"\n", stdout, "the fix repaired the install")
		return report
	}

	t.Run("npm install --omit=optional", func(t *testing.T) {
		dir := project(t)
		must(t, dir, "npm", "install", "--omit=optional", spec)
		report := check(t, dir, fixCase{manager: "npm", fix: "cd " + shellQuote(dir) + " && npm install --include=optional", signs: []string{
			"Optional dependencies: left out.\n",
			filepath.Join(dir, "package-lock.json") + " lists @agent-facets/cli-linux-"}})
		t.Logf("facet doctor after npm install --omit=optional:\n%s", report)
	})

	t.Run("omit=optional in the project's .npmrc", func(t *testing.T) {
		dir := project(t)
		rc := filepath.Join(dir, ".npmrc")
		require.NoError(t, os.WriteFile(rc, []byte("omit=optional\n"), 0o644))
		must(t, dir, "npm", "install", spec)
		check(t, dir, fixCase{manager: "npm", fix: "cd " + shellQuote(dir) + " && npm install --include=optional", signs: []string{
			rc + " says omit=optional\n", "and remove the setting that leaves optional dependencies out"}})
	})

	// npm/cli#4828: npm 8 (Node 16's) rewrote package-lock.json from the
	// node_modules of the machine it ran on, and its npm ci then installed
	// none of this machine's packages from it. npm 11 refuses such a lockfile
	// in npm ci and completes it in npm install; the node_modules npm 8 left
	// is made here from one without optional dependencies.
	t.Run("a package-lock.json written on another OS (npm/cli#4828)", func(t *testing.T) {
		dir := project(t)
		must(t, dir, "npm", "install", "--omit=optional", spec)
		// What npm on another OS wrote: no entry of this machine's packages.
		lockPath := filepath.Join(dir, "package-lock.json")
		data, err := os.ReadFile(lockPath)
		require.NoError(t, err)
		var lock map[string]any
		require.NoError(t, json.Unmarshal(data, &lock))
		packages := lock["packages"].(map[string]any)
		for key := range packages {
			if strings.HasPrefix(key, "node_modules/@agent-facets/cli-linux-") {
				delete(packages, key)
			}
		}
		data, err = json.MarshalIndent(lock, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(lockPath, data, 0o644))
		_, stderr, code := run(t, dir, "npm", "ci", "--dry-run")
		require.NotEqual(t, 0, code, "npm 11's ci refuses the lockfile")
		assert.Contains(t, stderr, "Missing: @agent-facets/cli-linux-x64@"+version+" from lock file")
		// The first line alone repairs it (npm 11 completes the lockfile); the
		// lockfile is deleted only in the fallback line.
		q := shellQuote(dir)
		report := check(t, dir, fixCase{manager: "npm", fix: "cd " + q + " && npm install --include=optional", signs: []string{
			lockPath + " lists other platforms' packages but none of these: it was written on another OS (npm/cli#4828).\n",
			"\n  if facet still finds no binary: cd " + q + " && rm -rf node_modules package-lock.json && npm install --include=optional\n"}})
		assert.FileExists(t, lockPath, "the first line kept the lockfile")
		t.Logf("facet doctor after a lockfile of another OS:\n%s", report)
	})

	t.Run("pnpm install --no-optional", func(t *testing.T) {
		dir := project(t)
		store := "--store-dir=" + filepath.Join(box.Dir, "pnpm-store")
		must(t, dir, set.PNPM, "add", spec, "--registry", bed.URL, store)
		must(t, dir, set.PNPM, "install", "--no-optional", "--registry", bed.URL, store)
		check(t, dir, fixCase{manager: "pnpm", fix: "cd " + shellQuote(dir) + " && pnpm install", signs: []string{
			filepath.Join(dir, "node_modules", ".modules.yaml") + " says optionalDependencies were not included (pnpm install --no-optional)\n"}})
	})

	t.Run("bun add --omit=optional", func(t *testing.T) {
		dir := project(t)
		must(t, dir, set.Bun, "add", spec, "--omit=optional", "--registry", bed.URL)
		check(t, dir, fixCase{manager: "bun", fix: "cd " + shellQuote(dir) + " && bun install", signs: []string{filepath.Join(dir, "bun.lock") + " lists @agent-facets/cli-linux-"}})
	})

	// yarn 1 records no --ignore-optional: its .yarnrc says it, and its
	// yarn.lock lists the packages it left out. The user removes the setting,
	// as the report says, and runs the fix.
	t.Run("yarn 1 with ignore-optional true in .yarnrc", func(t *testing.T) {
		dir := project(t)
		rc := filepath.Join(dir, ".yarnrc")
		require.NoError(t, os.WriteFile(rc, []byte("ignore-optional true\n"), 0o644))
		must(t, dir, set.Node, set.Yarn1, "add", spec, "--registry", bed.URL, "--no-progress", "--non-interactive")
		check(t, dir, fixCase{manager: "yarn 1", fix: "cd " + shellQuote(dir) + " && yarn install --force",
			signs: []string{rc + " says ignore-optional true\n", filepath.Join(dir, "yarn.lock") + " lists @agent-facets/cli-linux-",
				"and remove the setting that leaves optional dependencies out"},
			before: func() { require.NoError(t, os.Remove(rc)) }})
	})

	// npm install --global --omit=optional installs the optional
	// dependencies all the same (npm 11): the state a user meets (a global
	// node_modules copied from another machine, a cleaner) is planted by
	// removing the platform packages. The fix reinstalls into the same prefix.
	t.Run("npm install --global", func(t *testing.T) {
		prefix := t.TempDir()
		must(t, prefix, "npm", "install", "--global", "--prefix", prefix, spec)
		scope := filepath.Join(prefix, "lib", "node_modules", "agent-facets", "node_modules", "@agent-facets")
		platformDirs, err := filepath.Glob(filepath.Join(scope, "cli-*"))
		require.NoError(t, err)
		require.NotEmpty(t, platformDirs, "npm installed the platform packages inside the wrapper")
		for _, d := range platformDirs {
			require.NoError(t, os.RemoveAll(d))
		}
		check(t, prefix, fixCase{facet: filepath.Join(prefix, "bin", "facet"), manager: "npm (global install)",
			fix: "npm install --global --prefix " + shellQuote(prefix) + " " + spec + " --include=optional"})
	})
}
