package npmpkg_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/testenv"
)

// Adding a target is one row: a copy of the table with freebsd-x64 and
// linux-riscv64 added is built, verified (under qemu-riscv64 where qemu-user
// is installed), packed, and offered by the launcher, with no other edit; the
// README's table and the CI matrix follow from it too.
func TestAddingATargetIsOneRow(t *testing.T) {
	freebsd := platforms.Target{OS: "freebsd", CPU: "x64"}
	riscv := platforms.Target{OS: "linux", CPU: "riscv64", Libc: platforms.Glibc}
	table := append(platforms.All(), freebsd, riscv)
	require.NoError(t, table.Check())

	host := build.DetectHost()
	if runtime.GOOS == "linux" && testenv.InCI() {
		testenv.LookPath(t, "qemu-riscv64", "apt-get install qemu-user")
	}
	const version, commit = "1.2.3-rows.1", "0123456789abcdef"
	root := testenv.RepoRoot(t)
	l := dist.Layout{Root: t.TempDir()}
	records, err := build.Run(t.Context(), build.Config{
		Root: root, Dist: l, Targets: table, Version: version, Commit: commit, Env: os.Environ(), Host: host,
	})
	require.NoError(t, err)
	require.Len(t, records, 14)
	checks := map[string][]string{}
	for _, r := range records {
		checks[r.Target] = r.Checks
	}
	assert.Equal(t, []string{"header"}, checks["freebsd-x64"])
	if host.GOOS == "linux" && host.GOARCH != "riscv64" && host.Qemu["riscv64"] != "" {
		assert.Equal(t, []string{"header", "qemu-riscv64"}, checks["linux-riscv64"], "the binary ran under qemu and printed the version")
		// And it describes itself, its CPU level included.
		out, err := exec.CommandContext(t.Context(), host.Qemu["riscv64"], l.Binary(riscv), "version", "--json").Output()
		require.NoError(t, err)
		var about map[string]string
		require.NoError(t, json.Unmarshal(out, &about))
		assert.Equal(t, map[string]string{"goos": "linux", "goarch": "riscv64", "goriscv64": "rva20u64", "version": version, "commit": commit},
			map[string]string{"goos": about["goos"], "goarch": about["goarch"], "goriscv64": about["goriscv64"], "version": about["version"], "commit": about["commit"]})
	}

	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	require.NoError(t, err)
	installScript, err := os.ReadFile(filepath.Join(root, "install.sh"))
	require.NoError(t, err)
	packed, err := npmpkg.Run(t.Context(), npmpkg.Config{
		Dist: l, License: license, InstallScript: installScript, NPM: npm.CLI{Path: testenv.LookPath(t, "npm", "install npm 11")}, Targets: table,
	})
	require.NoError(t, err)
	require.Len(t, packed, 15, "14 platform packages and the wrapper")

	manifest := func(name string) map[string]any {
		data, err := os.ReadFile(filepath.Join(l.PackageDir(name), "package.json"))
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		return m
	}
	for _, tt := range []struct {
		target  platforms.Target
		os, cpu string
	}{{freebsd, "freebsd", "x64"}, {riscv, "linux", "riscv64"}} {
		m := manifest(tt.target.Package())
		assert.Equal(t, []any{tt.os}, m["os"], tt.target.Name())
		assert.Equal(t, []any{tt.cpu}, m["cpu"], tt.target.Name())
		assert.NotContains(t, m, "libc", tt.target.Name())
	}
	deps := manifest(platforms.Wrapper)["optionalDependencies"].(map[string]any)
	assert.Len(t, deps, 14)
	assert.Equal(t, version, deps[freebsd.Package()])
	assert.Equal(t, version, deps[riscv.Package()])

	// The launcher of the packed wrapper offers each new package on its own
	// machine, and nothing else there.
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	// Its header check takes each new binary for its own machine only.
	script := `const fs = require('fs');
const [lib, bsd, rv] = process.argv.slice(1);
const p = require(lib);
const pick = (host) => p.candidates(p.TABLE, { rosetta: false, ...host }).map((e) => e.package);
const runs = (file, host) => p.runsOn(p.readExecutable(fs.readFileSync(file)), { rosetta: false, ...host });
const freebsd = { platform: 'freebsd', arch: 'x64' };
const riscv = { platform: 'linux', arch: 'riscv64', libc: 'glibc', endian: 'LE' };
const linux = { platform: 'linux', arch: 'x64', libc: 'glibc', endian: 'LE' };
console.log(JSON.stringify({
  picks: [pick(freebsd), pick(riscv), pick({ ...riscv, libc: 'musl' })],
  runs: [runs(bsd, freebsd), runs(bsd, linux), runs(rv, riscv), runs(rv, linux)],
}));`
	out, err := exec.CommandContext(t.Context(), node, "-e", script,
		filepath.Join(l.PackageDir(platforms.Wrapper), "lib", "platform.js"), l.Binary(freebsd), l.Binary(riscv)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var launcher struct {
		Picks [][]string
		Runs  []bool
	}
	require.NoError(t, json.Unmarshal(out, &launcher), "%s", out)
	assert.Equal(t, [][]string{{freebsd.Package()}, {riscv.Package()}, {riscv.Package()}}, launcher.Picks)
	assert.Equal(t, []bool{true, false, true, false}, launcher.Runs, "freebsd on freebsd, not linux; riscv64 on linux riscv64, not x64")

	// The README's table and the CI matrix are derived from the same rows.
	md := table.MarkdownTable()
	assert.Contains(t, md, "| `@agent-facets/cli-freebsd-x64` | freebsd | x64 | – | freebsd/amd64 | GOAMD64=v3 |")
	assert.Contains(t, md, "| `@agent-facets/cli-linux-riscv64` | linux | riscv64 | glibc | linux/riscv64 | GORISCV64=rva20u64 |")
	matrix := ciconfig.MatrixValues(table)
	assert.Len(t, matrix, 11)
	assert.Contains(t, strings.Join(matrix, "\n"), "freebsd-x64\nlinux-riscv64")
}
