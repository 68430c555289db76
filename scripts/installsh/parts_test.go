package installsh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sourced runs code in sh after sourcing install.sh (main does not run),
// with env as the whole environment besides PATH, and returns its stdout.
func sourced(t *testing.T, sh shell, code string, env ...string) string {
	t.Helper()
	cmd := exec.Command(sh.argv[0], append(append([]string{}, sh.argv[1:]...), "-c", "FACET_INSTALL_SOURCED=1 . "+shellQuote(script(t))+"\n"+code)...)
	cmd.Env = append([]string{"PATH=" + toolbox(t, sh, "curl")}, env...)
	out, err := cmd.Output()
	var stderr string
	if exit, ok := err.(*exec.ExitError); ok {
		stderr = string(exit.Stderr)
	}
	require.NoError(t, err, "%s", stderr)
	return string(out)
}

func TestProxyEnv(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			// wget reads only the lower-case names: the upper-case ones are
			// copied down, and exported to the tools it runs.
			show := `proxy_env; awk 'BEGIN { printf "%s|%s|%s", ENVIRON["https_proxy"], ENVIRON["http_proxy"], ENVIRON["no_proxy"] }'`
			got := sourced(t, sh, show, "HTTPS_PROXY=http://secure.example:3128", "HTTP_PROXY=http://plain.example:3128", "NO_PROXY=localhost")
			assert.Equal(t, "http://secure.example:3128|http://plain.example:3128|localhost", got)
			// A lower-case one that is set wins.
			got = sourced(t, sh, show, "HTTPS_PROXY=http://upper.example:1", "https_proxy=http://lower.example:2")
			assert.Equal(t, "http://lower.example:2||", got)
		})
	}
}

// TestWindowsSwap plays MSYS: the new facet.exe goes in under a temporary
// *.exe name, and the old one is moved aside under a name of its own each
// time (facet.exe.old-<random>), so that one still running stays in no one's
// way.
func TestWindowsSwap(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "facet.exe"), []byte("old"), 0o755))
			out := sourced(t, sh, `
_uname() { case $1 in -s) echo MINGW64_NT-10.0-19045 ;; -m) echo x86_64 ;; esac; }
OS=$(host_os) WORK=$(mktemp -d) INSTALL_DIR=$DIR EXE=facet.exe TARGET=$DIR/facet.exe
for v in new1 new2; do
  prepare_dir && printf %s $v >"$NEW" && echo "$NEW" && swap_in || exit 1
done
rm -rf "$WORK"`, "DIR="+dir)
			for _, tmp := range strings.Fields(out) {
				assert.True(t, strings.HasSuffix(tmp, ".exe"), "a temporary binary named *.exe: %s", tmp)
			}
			data, err := os.ReadFile(filepath.Join(dir, "facet.exe"))
			require.NoError(t, err)
			assert.Equal(t, "new2", string(data))
			aside, err := filepath.Glob(filepath.Join(dir, "facet.exe.old-*"))
			require.NoError(t, err)
			var got []string
			for _, f := range aside {
				data, err := os.ReadFile(f)
				require.NoError(t, err)
				got = append(got, string(data))
			}
			assert.ElementsMatch(t, []string{"old", "new1"}, got, "each one aside under its own name")
			assert.Len(t, names(t, dir), 3, "nothing else: %v", names(t, dir))
		})
	}
}
