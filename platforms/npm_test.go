package platforms_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
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
	assert.ElementsMatch(t, []string{"README.md", "bin/facet", "lib/fastpath.js", "lib/platform.js", "lib/platforms.json"}, paths)
	table, err := fs.ReadFile(files, "lib/platforms.json")
	require.NoError(t, err)
	assert.Equal(t, string(platforms.LauncherJSON()), string(table), "stale: run go tool mage generate")
}

// The launcher's tests, with node --test. A test that hangs fails by name
// after a minute instead of stalling the run. The files are named: from Node
// 21 on, a directory argument is taken for a file.
func TestLauncherNodeTests(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	files, err := filepath.Glob(filepath.Join("npm", "test", "*.test.js"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "launcher, platform and fastpath tests")
	for i, f := range files {
		files[i], err = filepath.Rel("npm", f)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-timeout=60000"}, files...)...)
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = "npm"
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "# fail 0")
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
		AVX2     *bool  `json:"avx2,omitempty"`
		Rosetta  bool   `json:"rosetta"`
	}
	var hosts []host
	for _, tg := range platforms.All() {
		h := host{Platform: tg.OS, Arch: tg.CPU, Libc: string(tg.Libc)}
		if tg.CPU == "x64" {
			avx2 := !tg.Baseline
			h.AVX2 = &avx2
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
