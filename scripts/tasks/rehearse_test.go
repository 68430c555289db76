package tasks_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// running lists the processes started in dir or for it: whose command line
// or environment names it (Verdaccio, npm, the build tool, a compiler).
func running(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	var left []string
	for _, p := range procs {
		if p == "/proc/"+strconv.Itoa(os.Getpid()) {
			continue // this test, whose TMPDIR is dir
		}
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		environ, _ := os.ReadFile(filepath.Join(p, "environ"))
		if strings.Contains(string(cmdline), dir) || strings.Contains(string(environ), dir) {
			left = append(left, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return left
}

// The project's end-to-end test: the whole release, as a maintainer and
// CircleCI would run it, on this machine, through go tool mage rehearse:
// seed, trust, verify; the release workflow's jobs, each in a checkout of
// its own with the workspace attached, the tool job compiling the build tool
// and the others running it (the 9 build jobs of the matrix, package,
// release with OIDC tokens from the circleci stand-in); verify:release with
// an npm install of what was published. Nothing is left running, and only the
// logs are left behind.
func TestRehearse(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("looks for processes in /proc")
	}
	testenv.LookPath(t, "npm", "install npm 11")
	tmp := t.TempDir()
	cmd := exec.Command("go", "tool", "mage", "rehearse")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "FACET_VERSION=1.0.0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	steps := []string{"seed", "trust", "verify", "tool"}
	for _, j := range tasks.ReleaseJobs()[1:] {
		steps = append(steps, j.Name)
	}
	steps = append(steps, "verify:release 1.0.0", "install.sh --version 1.0.0")
	require.Len(t, steps, 17, "seed, trust, verify, tool, 9 build jobs, package, release, verify:release, install.sh")
	for i, step := range steps {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(step)+` +\S+ +ok +logs/`+fmt.Sprintf("%02d", i+1)+`-\S+\.log$`, text, step)
	}
	assert.Contains(t, text, "The rehearsal of 1.0.0 passed")
	m := regexp.MustCompile(`logs in (\S+)`).FindStringSubmatch(text)
	require.NotNil(t, m)
	logs := m[1]
	read := func(pattern string) string {
		files, err := filepath.Glob(filepath.Join(logs, pattern))
		require.NoError(t, err)
		require.Len(t, files, 1, pattern)
		data, err := os.ReadFile(files[0])
		require.NoError(t, err)
		return string(data)
	}
	// npmjs.com as it is: a maintainer approving npm's web logins at a
	// terminal, the release context's restrictions read from CircleCI's API,
	// a CDN whose max-age the release waits out before the wrapper.
	if npm.PTYSupported {
		assert.Contains(t, read("01-seed.log"), "Authenticate your account at", "npm followed the web login on the terminal")
		assert.Contains(t, read("02-trust.log"), "Authenticate your account at")
	}
	assert.Contains(t, read("03-verify.log"), "confines to agent-facets@ tags; no configuration from the API; no SSH reruns")
	assert.Contains(t, read("03-verify.log"), "The setup is complete.")
	assert.Contains(t, read("03-verify.log"), "  publish  (go tool mage release, the pipeline's): ready, every publisher may publish\n",
		"verify holds the publishers to the pipeline's release mode, read from .circleci/config.yml")
	assert.Contains(t, read("15-release.log"), "the registry's CDN may serve a package document up to 3s old")
	// The release job's artifact: npm's output of each publish.
	npmLogs, err := filepath.Glob(filepath.Join(logs, "artifacts", "release", "release", "*.log"))
	require.NoError(t, err)
	assert.Len(t, npmLogs, 13, "npm's output of each publish is kept")
	assert.Contains(t, read("04-tool.log"), "go tool mage -compile ")
	assert.Regexp(t, `\$ \S+/dist/tool/mage build:target linux-x64 linux-x64-musl`, read("09-build-*.log"), "the compiled tool runs the job")
	assert.Contains(t, read("09-build-*.log"), "facet 1.0.0: 2 verified binaries", "the version from CIRCLE_TAG, not this shell's FACET_VERSION")
	assert.Contains(t, read("14-package.log"), "13 packages of version 1.0.0")
	assert.Contains(t, read("15-release.log"), "under dist-tag latest: 13 to publish, 0 already published")
	assert.Contains(t, read("16-verify-release-1.0.0.log"), "npm install agent-facets@1.0.0: facet --version prints 1.0.0")
	// Last, a user without Node: install.sh installs the release and its facet runs.
	assert.Regexp(t, `installed facet 1\.0\.0 \(@agent-facets/cli-\S+\) at `, read("17-*.log"))
	assert.Regexp(t, `(?m)/facet --version: facet 1\.0\.0$`, read("17-*.log"))
	assert.Empty(t, running(t, tmp), "nothing left running")
	entries, err := os.ReadDir(filepath.Dir(logs))
	require.NoError(t, err)
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	assert.Equal(t, []string{"logs"}, kept, "only the logs are kept")
}

// The staged release, rehearsed end to end through go tool mage
// rehearse:stage: the release job stages the 13 (release:stage, OIDC), and
// nothing is visible; the maintainer, in a fresh clone of the tag, rebuilds,
// finds every staged tarball byte for byte the rebuilt one, approves the
// platform packages, waits out the CDN, approves the wrapper and verifies;
// then npm installs what was approved.
func TestRehearseStage(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("looks for processes in /proc")
	}
	testenv.LookPath(t, "npm", "install npm 11")
	if !npm.PTYSupported {
		t.Skip("the maintainer approves on a terminal: no pseudo-terminals here")
	}
	tmp := t.TempDir()
	cmd := exec.Command("go", "tool", "mage", "rehearse:stage")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "FACET_VERSION=1.0.0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	steps := []string{"seed", "trust", "verify", "tool"}
	for _, j := range tasks.StagedReleaseJobs()[1:] {
		steps = append(steps, j.Name)
	}
	steps = append(steps, "approve 1.0.0", "verify:release 1.0.0", "install.sh --version 1.0.0")
	require.Len(t, steps, 18)
	for i, step := range steps {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(step)+` +\S+ +ok +logs/`+fmt.Sprintf("%02d", i+1)+`-\S+\.log$`, text, step)
	}
	assert.Contains(t, text, "The rehearsal of 1.0.0 passed: seeded, trusted, built, packed, staged with OIDC, rebuilt, compared and approved, verified, installed with npm and with install.sh.")
	m := regexp.MustCompile(`logs in (\S+)`).FindStringSubmatch(text)
	require.NotNil(t, m)
	logs := m[1]
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(logs, name))
		require.NoError(t, err)
		return string(data)
	}
	release := read("15-release.log")
	assert.Regexp(t, `\$ \S+/dist/tool/mage release:stage\n`, release)
	assert.Regexp(t, `(?m)^13/13 finished, 13 staged$`, release)
	assert.Contains(t, release, "Nothing is visible until approved. Next, in a clean checkout of the tag agent-facets@1.0.0, logged in to npm:\n  go tool mage approve 1.0.0\n")
	staged, err := os.ReadFile(filepath.Join(logs, "artifacts", "release", "release", "staged.json"))
	require.NoError(t, err, "the stage ids are kept with the job's artifacts")
	assert.Contains(t, string(staged), `"agent-facets"`)
	approved := read("16-approve-1.0.0.log")
	assert.Contains(t, approved, "rebuilding 1.0.0 from agent-facets@1.0.0")
	assert.Equal(t, 13, strings.Count(approved, "byte for byte the rebuilt tarball"), approved)
	assert.Equal(t, 13, strings.Count(approved, "approved and published successfully."), approved)
	assert.Contains(t, approved, "Authenticate your account at", "npm ran the web login on the maintainer's terminal")
	wait := strings.Index(approved, "before approving the wrapper")
	wrapper := strings.Index(approved, "approving agent-facets@1.0.0")
	require.Positive(t, wait, approved)
	assert.Greater(t, wrapper, wait, "the wrapper after the CDN's max-age")
	assert.Greater(t, wrapper, strings.LastIndex(approved, "approving @agent-facets/cli-"), "the wrapper last")
	assert.Contains(t, approved, "Release 1.0.0 is complete: 13 packages under latest.")
	assert.Contains(t, read("17-verify-release-1.0.0.log"), "npm install agent-facets@1.0.0: facet --version prints 1.0.0")
	installed, err := filepath.Glob(filepath.Join(logs, "18-*.log"))
	require.NoError(t, err)
	require.Len(t, installed, 1)
	assert.Regexp(t, `(?m)/facet --version: facet 1\.0\.0$`, read(filepath.Base(installed[0])), "what was approved installs with install.sh")
	assert.Empty(t, running(t, tmp), "nothing left running")
	entries, err := os.ReadDir(filepath.Dir(logs))
	require.NoError(t, err)
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	assert.Equal(t, []string{"logs"}, kept, "only the logs are kept")
}

// cancelOn cancels when a line starting with prefix is written: a maintainer
// pressing Ctrl-C once that step is done.
type cancelOn struct {
	mu     sync.Mutex
	prefix string
	cancel context.CancelFunc
	buf    strings.Builder
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for line := range strings.SplitSeq(w.buf.String(), "\n") {
		if strings.HasPrefix(line, w.prefix) {
			w.cancel()
		}
	}
	return len(p), nil
}

func (w *cancelOn) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Interrupted (Ctrl-C cancels the targets' context), the rehearsal stops the
// step under way, stops the test bed itself and says so: nothing is left
// running, not Verdaccio, not npm, not the build tool.
func TestRehearseInterrupted(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("looks for processes in /proc")
	}
	testenv.LookPath(t, "npm", "install npm 11")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelOn{prefix: "seed ", cancel: cancel}
	err := tasks.Rehearse(ctx, tasks.Env{
		Root:     testenv.RepoRoot(t),
		Getenv:   func(k string) string { return map[string]string{"FACET_VERSION": "1.0.0"}[k] },
		Environ:  append(os.Environ(), "TMPDIR="+tmp),
		Stdout:   out,
		Progress: progress.NewPlain(out),
		Host:     build.DetectHost(),
	})
	require.Error(t, err, out.String())
	assert.Contains(t, err.Error(), "rehearse: interrupted; the test bed is stopped")
	assert.Regexp(t, `(?m)^trust +interrupted `, out.String())
	assert.Regexp(t, `(?m)^release +– +not run`, out.String())
	assert.Empty(t, running(t, tmp), "nothing left running")
}
