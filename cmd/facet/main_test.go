package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/agent-facets/facets/platforms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs this test binary as the facet command itself when
// FACET_TEST_AS_FACET is set: the override tests need a process to replace.
func TestMain(m *testing.M) {
	if os.Getenv("FACET_TEST_AS_FACET") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func facet(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := facet("--version")
	assert.Equal(t, 0, code)
	// Unstamped (go test), the version says so; installers read the last token.
	assert.Equal(t, "facet 0.0.0-unstamped\n", out)
}

func TestStamp(t *testing.T) {
	saved := stamp
	t.Cleanup(func() { stamp = saved })
	stamp = "facetstamp/1.2.3-rc.1/0123abc/"
	code, out, _ := facet("--version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "facet 1.2.3-rc.1\n", out)

	code, out, _ = facet("version", "--json")
	require.Equal(t, 0, code)
	var a map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	assert.Equal(t, "1.2.3-rc.1", a["version"])
	assert.Equal(t, "0123abc", a["commit"])
	assert.Equal(t, runtime.GOOS, a["goos"])
	assert.Equal(t, runtime.GOARCH, a["goarch"])
	assert.NotEmpty(t, a["path"])

	code, out, _ = facet("version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "facet 1.2.3-rc.1\ncommit  0123abc\n"), out)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}} {
		code, out, _ := facet(args...)
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "facet --version")
	}
	code, out, errOut := facet("deploy")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `facet: unknown command "deploy"`)
	code, _, _ = facet("version", "--yaml")
	assert.Equal(t, 2, code)
	assert.Contains(t, usage, "facet self-update [--version X.Y.Z | --tag TAG] [--dry-run]")
	assert.Contains(t, selfUpdateHelp, "facet.exe.old-<hex>", "the name swapIn gives the running binary")
}

// facet doctor --help (or -h) says what doctor shows; any other argument is
// one line on stderr and exit 2.
func TestDoctorArguments(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		code, out, errOut := facet("doctor", flag)
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, doctorHelp, out)
		assert.Empty(t, errOut)
	}
	code, out, errOut := facet("doctor", "--json")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Equal(t, "facet doctor: it takes no arguments, not \"--json\" (see facet doctor --help)\n", errOut)
}

// facetProcess runs this test binary as facet with args and env added.
func facetProcess(t *testing.T, args []string, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), append([]string{"FACET_TEST_AS_FACET=1", "FACET_TEST_SELF=" + self,
		overrideEnv + "=", followedEnv + "="}, env...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), o.String(), e.String()
	}
	require.NoError(t, err)
	return 0, o.String(), e.String()
}

func TestOverride(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in overrides are shell scripts")
	}
	dir := t.TempDir()
	script := func(name, body string) string {
		file := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(file, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
		return file
	}
	runs := filepath.Join(dir, "runs")
	// An override that runs facet again, as a user's wrapper of the command
	// may: it notes each of its runs, and gives up after three.
	wrapper := script("wrapper", `echo x >> '`+runs+`'
[ $(wc -l < '`+runs+`') -le 3 ] || { echo loop >&2; exit 99; }
echo "wrapper $* followed=$FACET_BIN_OVERRIDE_FOLLOWED"
exec "$FACET_TEST_SELF" "$@"`)

	code, out, errOut := facetProcess(t, []string{"--version"}, overrideEnv+"="+wrapper)
	assert.Equal(t, "", errOut)
	assert.Equal(t, "wrapper --version followed="+wrapper+"\nfacet 0.0.0-unstamped\n", out,
		"the override runs with the same arguments; facet, run again by it, runs itself")
	assert.Equal(t, 0, code)
	text, err := os.ReadFile(runs)
	require.NoError(t, err)
	assert.Equal(t, "x\n", string(text), "followed once, never round in a loop")

	code, out, _ = facetProcess(t, []string{"--version"}, overrideEnv+"="+wrapper, followedEnv+"="+wrapper)
	assert.Equal(t, []any{0, "facet 0.0.0-unstamped\n"}, []any{code, out}, "an override followed already is not followed again")

	other := script("other", `echo "other $*"; exit 7`)
	code, out, _ = facetProcess(t, []string{"a", "b c"}, overrideEnv+"="+other, followedEnv+"="+wrapper)
	assert.Equal(t, []any{7, "other a b c\n"}, []any{code, out}, "another override than the one followed; its exit code is facet's")

	code, out, errOut = facetProcess(t, []string{"--version"}, overrideEnv+"="+filepath.Join(dir, "missing"))
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "facet: cannot run "+filepath.Join(dir, "missing")+" (from FACET_BIN_OVERRIDE): ")
}

func TestRunningItselfClearsFollowed(t *testing.T) {
	// start returns here only when facet runs itself: with no override, or
	// the one followed already.
	for _, override := range []string{"", "/followed/facet"} {
		t.Setenv(overrideEnv, override)
		t.Setenv(followedEnv, "/followed/facet")
		code, out, _ := startIn(t, "--version")
		assert.Equal(t, 0, code)
		assert.Equal(t, "facet 0.0.0-unstamped\n", out)
		_, set := os.LookupEnv(followedEnv)
		assert.False(t, set, "the calls facet makes follow the override again")
	}
}

func startIn(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = start(args, &o, &e)
	return code, o.String(), e.String()
}

// The names are the launcher's (platforms/), which the binary replaces.
func TestOverrideNames(t *testing.T) {
	assert.Equal(t, platforms.OverrideVar, overrideEnv)
	assert.Equal(t, platforms.OverrideFollowedVar, followedEnv)
}

// An override named bare and found through "." in PATH runs, as the
// launcher's Node spawn runs it: the same override works before the swap and
// after it.
func TestOverrideThroughDotInPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in override is a shell script")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "over"), []byte("#!/bin/sh\necho \"over $*\"\n"), 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "a")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FACET_TEST_AS_FACET=1", "PATH=.:/usr/bin:/bin", overrideEnv+"=over", followedEnv+"=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "over a\n", string(out))
}
