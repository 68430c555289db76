package platforms_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/testenv"
)

// Every CPU Node names and Go builds for, on an OS where Go has it.
var nodeCPUs = map[string]string{
	"arm": "linux", "arm64": "linux", "ia32": "linux", "loong64": "linux", "mips": "linux", "mipsel": "linux",
	"mips64el": "linux", "ppc64": "linux", "riscv64": "linux", "s390x": "linux", "x64": "linux",
}

// Every OS Node names and Go builds for, with a CPU Go has there.
var nodeOSes = map[string]string{
	"android": "arm64", "darwin": "arm64", "freebsd": "x64", "linux": "x64", "netbsd": "arm64",
	"openbsd": "x64", "sunos": "x64", "win32": "x64",
}

// A row of any OS and CPU that Node names maps to a port Go has (go tool dist
// list), and its CPU level is Go's default for the architecture, except on
// x64, where it is v3 or the baseline v1.
func TestAnyPortCanBeARow(t *testing.T) {
	goCmd := testenv.LookPath(t, "go", "install Go")
	out, err := exec.Command(goCmd, "tool", "dist", "list").Output()
	require.NoError(t, err)
	ports := strings.Fields(string(out))

	var rows []platforms.Target
	for cpu, os := range nodeCPUs {
		rows = append(rows, platforms.Target{OS: os, CPU: cpu, Libc: platforms.Glibc})
	}
	for os, cpu := range nodeOSes {
		row := platforms.Target{OS: os, CPU: cpu}
		if os == "linux" {
			row.Libc = platforms.Musl
		}
		rows = append(rows, row)
	}
	for _, row := range rows {
		t.Run(row.Name(), func(t *testing.T) {
			require.NoError(t, row.Check())
			assert.Contains(t, ports, row.GOOS()+"/"+row.GOARCH())
			levelVar, level := row.ArchLevel()
			if levelVar == "" {
				assert.Equal(t, []string{"", ""}, []string{levelVar, level})
				return
			}
			assert.Contains(t, platforms.LevelVars(), levelVar)
			if row.CPU == "x64" {
				assert.Equal(t, "GOAMD64=v3", levelVar+"="+level)
				return
			}
			cmd := exec.Command(goCmd, "env", levelVar)
			cmd.Env = append(clearLevels(), "GOOS="+row.GOOS(), "GOARCH="+row.GOARCH())
			def, err := cmd.Output()
			require.NoError(t, err)
			assert.Equal(t, strings.TrimSpace(string(def)), level, "Go's default %s for %s", levelVar, row.GOARCH())
		})
	}
}

// clearLevels is this environment without Go's CPU-level variables.
func clearLevels() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(platforms.LevelVars(), name) {
			env = append(env, kv)
		}
	}
	return env
}

// Every OS and CPU that Node names is a row exactly when Go has that port and
// builds it without cgo (Android's 386, amd64 and arm ports need cgo).
func TestCheckKnowsGoPorts(t *testing.T) {
	out, err := exec.Command(testenv.LookPath(t, "go", "install Go"), "tool", "dist", "list").Output()
	require.NoError(t, err)
	ports := strings.Fields(string(out))
	needCgo := []string{"android/386", "android/amd64", "android/arm"}
	for os := range nodeOSes {
		for cpu := range nodeCPUs {
			row := platforms.Target{OS: os, CPU: cpu}
			if os == "linux" {
				row.Libc = platforms.Glibc
			}
			pair := row.GOOS() + "/" + row.GOARCH()
			want := slices.Contains(ports, pair) && !slices.Contains(needCgo, pair)
			err := row.Check()
			assert.Equal(t, want, err == nil, "%s (%s): %v", row.Name(), pair, err)
		}
	}
	assert.ErrorContains(t, platforms.Target{OS: "darwin", CPU: "s390x"}.Check(), "target darwin-s390x: Go has no port darwin/s390x that builds without cgo")
}

func TestTargetCheck(t *testing.T) {
	tests := []struct {
		row  platforms.Target
		want string
	}{
		{platforms.Target{OS: "aix", CPU: "ppc64"}, `target aix-ppc64: OS "aix" is not a Node process.platform that Go builds for`},
		{platforms.Target{OS: "plan9", CPU: "x64"}, `OS "plan9"`},
		{platforms.Target{OS: "linux", CPU: "sparc", Libc: platforms.Glibc}, `CPU "sparc" is not a Node process.arch that Go builds for`},
		{platforms.Target{OS: "linux", CPU: "x64"}, "a Linux target names its libc, glibc or musl"},
		{platforms.Target{OS: "linux", CPU: "x64", Libc: "bionic"}, "a Linux target names its libc"},
		{platforms.Target{OS: "darwin", CPU: "x64", Libc: platforms.Musl}, `libc "musl" is for Linux targets only`},
		{platforms.Target{OS: "darwin", CPU: "arm64", Baseline: true}, "baseline is for x64 targets only"},
	}
	for _, tt := range tests {
		assert.ErrorContains(t, tt.row.Check(), tt.want, tt.row.Name())
	}
	assert.NoError(t, platforms.All().Check())
	twice := append(platforms.All(), platforms.All()[0])
	assert.ErrorContains(t, twice.Check(), "target darwin-arm64: listed twice")
	assert.ErrorContains(t, platforms.Table{}.Check(), "no targets")
}

func TestTitleOfAnyRow(t *testing.T) {
	assert.Equal(t, "FreeBSD x64, AVX2", platforms.Target{OS: "freebsd", CPU: "x64"}.Title())
	assert.Equal(t, "Linux riscv64, glibc", platforms.Target{OS: "linux", CPU: "riscv64", Libc: platforms.Glibc}.Title())
	assert.Equal(t, "Solaris x64, baseline for CPUs without AVX2", platforms.Target{OS: "sunos", CPU: "x64", Baseline: true}.Title())
	assert.Equal(t, "ppc64le", platforms.Target{OS: "linux", CPU: "ppc64", Libc: platforms.Glibc}.GOARCH())
	assert.Equal(t, "ppc64", platforms.Target{OS: "openbsd", CPU: "ppc64"}.GOARCH(), "big-endian off Linux")
}

// The launcher reads the header of every CPU a row may name: a CPU of the Go
// table that its header table lacked would make it refuse every binary there.
func TestLauncherReadsEveryRowsCPU(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	out, err := exec.Command(node, "-e", `console.log(JSON.stringify(require('./npm/lib/platform.js').CPUS.map((c) => c.cpu)))`).Output()
	require.NoError(t, err)
	var cpus []string
	require.NoError(t, json.Unmarshal(out, &cpus))
	for cpu := range nodeCPUs {
		assert.Contains(t, cpus, cpu, "lib/platform.js CPUS")
	}
}
