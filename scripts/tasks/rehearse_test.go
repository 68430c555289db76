package tasks_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

// rehearsal runs go tool mage rehearse as a maintainer would, with its
// temporary files in a directory of the test's.
func rehearsal(t *testing.T, vars ...string) (*exec.Cmd, string) {
	t.Helper()
	testenv.LookPath(t, "npm", "install npm 11")
	tmp := t.TempDir()
	cmd := exec.Command("go", "tool", "mage", "rehearse")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"TMPDIR=" + tmp}, vars...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C reaches the whole group
	return cmd, tmp
}

// running lists the processes whose command line names dir: what the
// rehearsal started there (Verdaccio, npm, the build) and left running.
func running(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var left []string
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), dir) {
			left = append(left, strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return left
}

// The project's end-to-end test: the whole release, as a maintainer and
// CircleCI would run it, on this machine: seed, trust, verify, the build one
// matrix job at a time, package:assemble, the release with OIDC tokens from
// the circleci stand-in, verify:release with an npm install of what was
// published. It leaves nothing running, and only its logs behind.
func TestRehearse(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("counts processes in /proc")
	}
	cmd, tmp := rehearsal(t, "FACET_VERSION=1.0.0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	for _, step := range []string{"seed", "trust", "verify", "build:target linux-x64 linux-x64-musl", "package:assemble", "release", "verify:release 1.0.0"} {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(step)+` +\S+ +ok +logs/\d\d-\S+\.log$`, text, step)
	}
	assert.Equal(t, 9, strings.Count(text, "ok       logs/")-6, "the 9 jobs of the build matrix, and the 6 other steps")
	assert.Contains(t, text, "The rehearsal of 1.0.0 passed")
	m := regexp.MustCompile(`logs in (\S+)`).FindStringSubmatch(text)
	require.NotNil(t, m)
	release, err := os.ReadFile(filepath.Join(m[1], "14-release.log"))
	require.NoError(t, err)
	assert.Contains(t, string(release), "release 1.0.0 to http://127.0.0.1:")
	assert.Contains(t, string(release), "under dist-tag latest: 13 to publish")
	install, err := os.ReadFile(filepath.Join(m[1], "15-verify-release-1.0.0.log"))
	require.NoError(t, err)
	assert.Contains(t, string(install), "npm install agent-facets@1.0.0: facet --version prints 1.0.0")
	assert.Empty(t, running(t, tmp), "nothing left running")
	entries, err := os.ReadDir(filepath.Dir(m[1]))
	require.NoError(t, err)
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	assert.Equal(t, []string{"logs"}, kept, "only the logs are kept")
}

// Interrupted (Ctrl-C), the rehearsal stops, says so, and leaves nothing
// running: not Verdaccio, not npm, not a compiler.
func TestRehearseInterrupted(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("counts processes in /proc")
	}
	cmd, tmp := rehearsal(t, "FACET_VERSION=1.0.0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	var text strings.Builder
	sc := bufio.NewScanner(stdout)
	interrupted := false
	for sc.Scan() {
		text.WriteString(sc.Text() + "\n")
		// seed is done and trust has started: Verdaccio and npm are running.
		if !interrupted && strings.HasPrefix(sc.Text(), "seed ") {
			require.NotEmpty(t, running(t, tmp), "the test bed runs")
			require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
			interrupted = true
		}
	}
	err = cmd.Wait()
	require.True(t, interrupted, text.String())
	require.Error(t, err, text.String())
	assert.Contains(t, text.String(), "rehearse: interrupted; the test bed is stopped")
	assert.Empty(t, running(t, tmp), "nothing left running")
}
