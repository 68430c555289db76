package installsh_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/installsh"
	"github.com/agent-facets/facets/scripts/testenv"
)

// machine is a fake machine of platforms/npm/test/machines.json.
type machine struct {
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
	Expect []string `json:"expect"`
}

func machines(t *testing.T) []machine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "test", "machines.json"))
	require.NoError(t, err)
	var doc struct{ Machines []machine }
	require.NoError(t, json.Unmarshal(data, &doc))
	require.NotEmpty(t, doc.Machines)
	return doc.Machines
}

// fake is a script that sources install.sh (its main does not run) and
// plays m: its files under root, its uname and sysctl answers, then prints
// the packages install.sh would take, best first.
func fake(t *testing.T, m machine, root string) string {
	t.Helper()
	for name, content := range m.Files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "FACET_INSTALL_SOURCED=1 . %s\n", shellQuote(script(t)))
	fmt.Fprintf(&b, "ROOT=%s\n", shellQuote(root))
	fmt.Fprintf(&b, "_uname() { case $1 in -s) echo %s ;; -m) echo %s ;; esac; }\n", shellQuote(m.Uname.S), shellQuote(m.Uname.M))
	b.WriteString("_read_file() { cat \"$ROOT$1\" 2>/dev/null; }\n")
	b.WriteString("_exists() { for _f in $ROOT$1; do [ -e \"$_f\" ] && return 0; done; return 1; }\n")
	b.WriteString("_sysctl() {\n  case \"$*\" in\n")
	keys := make([]string, 0, len(m.Commands))
	for k := range m.Commands {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args, ok := strings.CutPrefix(k, "/usr/sbin/sysctl ")
		if !ok {
			continue // the launcher's other commands (ldd, PowerShell): install.sh runs none
		}
		c := m.Commands[k]
		fmt.Fprintf(&b, "  %s) printf '%%s' %s; return %d ;;\n", shellQuote(args), shellQuote(c.Output), c.Status)
	}
	b.WriteString("  esac\n  return 1\n}\n")
	b.WriteString("candidates | while read -r pkg bin; do echo \"$pkg\"; done\n")
	file := filepath.Join(t.TempDir(), "machine.sh")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o644))
	return file
}

// install.sh picks, on each fake machine, the packages the launcher picks
// there (machines.test.js), in the same order, under every shell.
func TestDetectionMatchesTheLauncher(t *testing.T) {
	for _, sh := range shells(t) {
		path := toolbox(t, sh, "curl")
		for _, m := range machines(t) {
			t.Run(sh.name+"/"+m.Name, func(t *testing.T) {
				t.Parallel()
				r := run(t, installsh.Options{Shell: sh.argv, Script: fake(t, m, t.TempDir()), Home: t.TempDir(), Path: path})
				require.Zero(t, r.code, "%s", r.stderr)
				assert.Empty(t, r.stderr)
				got := strings.Fields(r.stdout)
				if got == nil {
					got = []string{}
				}
				assert.Equal(t, m.Expect, got)
			})
		}
	}
}

// jsList is the strings of the array constant name in the JavaScript
// source src (nested arrays flattened), in order.
func jsList(t *testing.T, src, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)const ` + name + ` = (\[.*?\]);\n`).FindStringSubmatch(src)
	require.NotNil(t, m, "no const %s in the launcher", name)
	return regexp.MustCompile(`'([^']*)'`).FindAllString(m[1], -1)
}

// install.sh's x86-64-v3 feature lists are the launcher's (fastpath.js
// for /proc/cpuinfo, platform.js for macOS's sysctl), word for word.
func TestV3FlagsMatchTheLauncher(t *testing.T) {
	lib := filepath.Join(testenv.RepoRoot(t), "platforms", "npm", "lib")
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(lib, name))
		require.NoError(t, err)
		return string(data)
	}
	fastpath, platform := read("fastpath.js"), read("platform.js")
	out, err := exec.Command("sh", "-c", "FACET_INSTALL_SOURCED=1 . "+shellQuote(script(t))+
		`; printf '%s\n' "$V3_CPUINFO_FLAGS" "$V3_CPUINFO_ANY" "$MACOS_V3_FEATURES"`).Output()
	require.NoError(t, err)
	lines := strings.Split(string(out), "\n")
	require.Len(t, lines, 4)
	unquote := func(words []string) []string {
		for i, w := range words {
			words[i] = strings.Trim(w, "'")
		}
		return words
	}
	assert.Equal(t, unquote(jsList(t, fastpath, "V3_CPUINFO_FLAGS")), strings.Fields(lines[0]))
	assert.Equal(t, unquote(jsList(t, fastpath, "V3_CPUINFO_ANY")), strings.Fields(lines[1]))
	assert.Equal(t, unquote(jsList(t, platform, "MACOS_V3_FEATURES")), strings.Fields(lines[2]))
}
