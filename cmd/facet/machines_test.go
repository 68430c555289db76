package main

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

// fixtureMachine is a fake machine of platforms/npm/test/machines.json, the
// machines the launcher's tests (machines.test.js) and install.sh's
// (scripts/installsh/machines_test.go) run.
type fixtureMachine struct {
	Name  string `json:"name"`
	Uname struct {
		S string `json:"s"`
		M string `json:"m"`
	} `json:"uname"`
	Files    map[string]string `json:"files"`
	Commands map[string]struct {
		Status int    `json:"status"`
		Output string `json:"output"`
	} `json:"commands"`
	Cache  *struct{ V3 bool } `json:"cache"`
	Expect []string           `json:"expect"`
}

// v3Lists are the launcher's x86-64-v3 feature lists: the /proc/cpuinfo
// flags every one of which a v3 CPU has (fastpath.js V3_CPUINFO_FLAGS), the
// groups of which it has one flag at least (V3_CPUINFO_ANY), and the words of
// macOS's sysctl (platform.js MACOS_V3_FEATURES).
type v3Lists struct {
	cpuinfo []string
	any     [][]string
	macOS   []string
}

// launcherV3Lists reads v3Lists from the launcher's source, so that the
// fixture's CPUs mean here what they mean to the launcher.
func launcherV3Lists(t *testing.T) v3Lists {
	t.Helper()
	lib := filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "lib")
	constant := func(file, name string) string {
		data, err := os.ReadFile(filepath.Join(lib, file))
		require.NoError(t, err)
		m := regexp.MustCompile(`(?s)const ` + name + ` = (\[.*?\]);\n`).FindSubmatch(data)
		require.NotNil(t, m, "no const %s in %s", name, file)
		return strings.ReplaceAll(string(m[1]), "'", `"`)
	}
	var l v3Lists
	require.NoError(t, json.Unmarshal([]byte(constant("fastpath.js", "V3_CPUINFO_FLAGS")), &l.cpuinfo))
	require.NoError(t, json.Unmarshal([]byte(constant("fastpath.js", "V3_CPUINFO_ANY")), &l.any))
	require.NoError(t, json.Unmarshal([]byte(constant("platform.js", "MACOS_V3_FEATURES")), &l.macOS))
	require.NotEmpty(t, l.cpuinfo)
	require.NotEmpty(t, l.macOS)
	return l
}

// v3 is whether the fixture's CPU runs x86-64-v3 builds, as the launcher
// reads its cpuinfo flags, sysctl features or Windows cache. facet asks
// the CPU itself (CPUID), which always answers: the launcher's "cannot be
// told" (no flags line, sysctl failing) is false here, as both rank baseline
// first then.
func (m fixtureMachine) v3(l v3Lists) bool {
	if m.Cache != nil {
		return m.Cache.V3
	}
	if c, ok := m.Commands["/usr/sbin/sysctl -n machdep.cpu.features machdep.cpu.leaf7_features machdep.cpu.extfeatures"]; ok {
		have := strings.Fields(c.Output)
		return c.Status == 0 && containsAll(have, l.macOS)
	}
	line := regexp.MustCompile(`(?m)^flags\s*:(.*)$`).FindStringSubmatch(m.Files["/proc/cpuinfo"])
	if line == nil {
		return false
	}
	have := strings.Fields(line[1])
	for _, group := range l.any {
		if !slices.ContainsFunc(group, func(f string) bool { return slices.Contains(have, f) }) {
			return false
		}
	}
	return containsAll(have, l.cpuinfo)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// probe is the fixture machine as facet's detect sees it: uname's names
// as Go's GOOS and GOARCH, its files, its CPU's level, and sysctl's
// proc_translated.
//
// What facet does not look at: Node's platform and arch (the binary knows
// its own), Node's report and ldd (facet runs neither: its libc comes from
// the files alone, as install.sh's does) and the launcher's other commands.
// So every machine of the fixture is expressible; those inputs are left out.
func (m fixtureMachine) probe(l v3Lists) probe {
	goos := map[string]string{"Linux": "linux", "Darwin": "darwin", "FreeBSD": "freebsd"}[m.Uname.S]
	if strings.HasPrefix(m.Uname.S, "MINGW") || strings.HasPrefix(m.Uname.S, "MSYS") || strings.HasPrefix(m.Uname.S, "CYGWIN") {
		goos = "windows"
	}
	goarch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386", "riscv64": "riscv64"}[m.Uname.M]
	translated := m.Commands["/usr/sbin/sysctl -in sysctl.proc_translated"]
	return probe{
		GOOS: goos, GOARCH: goarch,
		Glob: func(pattern string) []string {
			var out []string
			for name := range m.Files {
				if ok, _ := path.Match(pattern, name); ok {
					out = append(out, name)
				}
			}
			return out
		},
		Exists:     func(name string) bool { _, ok := m.Files[name]; return ok },
		V3:         func() bool { return m.v3(l) },
		Translated: func() bool { return translated.Status == 0 && strings.TrimSpace(translated.Output) == "1" },
	}
}

// facet picks, on each fake machine of the shared fixture, the packages the
// launcher and install.sh pick there, in the same order.
func TestDetectionMatchesTheMachines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "test", "machines.json"))
	require.NoError(t, err)
	var doc struct{ Machines []fixtureMachine }
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotEmpty(t, doc.Machines)
	lists := launcherV3Lists(t)
	for _, m := range doc.Machines {
		t.Run(m.Name, func(t *testing.T) {
			p := m.probe(lists)
			require.NotEmpty(t, p.GOOS, "uname -s %q has no GOOS here", m.Uname.S)
			require.NotEmpty(t, p.GOARCH, "uname -m %q has no GOARCH here", m.Uname.M)
			got := []string{}
			for _, c := range candidates(targets, detect(p)) {
				got = append(got, c.pkg)
			}
			assert.Equal(t, m.Expect, got)
		})
	}
}
