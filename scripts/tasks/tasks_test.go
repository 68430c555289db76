package tasks_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// env is a task environment rooted in an empty directory (not a git checkout)
// with the given variables.
func env(t *testing.T, vars map[string]string) (tasks.Env, *bytes.Buffer) {
	var out bytes.Buffer
	return tasks.Env{
		Root:     t.TempDir(),
		Getenv:   func(k string) string { return vars[k] },
		Stdout:   &out,
		Progress: progress.NewPlain(&out),
		Host:     build.DetectHost(),
	}, &out
}

// Bad input is an error that says what to do, and nothing is written.
func TestBuildRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		names []string
		want  []string
	}{
		{"unknown target", map[string]string{"FACET_VERSION": "1.0.0"}, []string{"linux-x64,linux-x86"},
			append([]string{`unknown target "linux-x86"`}, platforms.Names()...)},
		{"bad version", map[string]string{"FACET_VERSION": "1.0"}, nil,
			[]string{`version override (FACET_VERSION): "1.0" is not a valid semantic version`}},
		{"bad tag", map[string]string{"CIRCLE_TAG": "v1.0.0"}, nil,
			[]string{`tag "v1.0.0" (CIRCLE_TAG) is not a release tag: want agent-facets@X.Y.Z`}},
		{"no version source", nil, nil,
			[]string{"set FACET_VERSION to build a version explicitly"}},
		{"a tag, and no git to show it", map[string]string{"CIRCLE_TAG": "agent-facets@1.0.0"}, nil,
			[]string{"CIRCLE_TAG agent-facets@1.0.0 is set, but this source is not a git checkout", "unset CIRCLE_TAG and set FACET_VERSION=1.0.0"}},
		{"bad job count", map[string]string{"FACET_VERSION": "1.0.0", "FACET_JOBS": "0"}, nil,
			[]string{`FACET_JOBS="0": want a whole number of at least 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := env(t, tt.vars)
			err := tasks.Build(t.Context(), e, tt.names...)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			entries, err := os.ReadDir(e.Root)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
}

// The version comes from the repository whose root is the module's: a
// source archive unpacked inside another repository builds with
// FACET_VERSION only, and never takes that repository's commit.
func TestBuildInsideAnotherRepository(t *testing.T) {
	testenv.HermeticGit(t)
	outer := t.TempDir()
	testenv.Git(t, outer, "init", "-q")
	testenv.Git(t, outer, "commit", "-q", "--allow-empty", "-m", "another project")
	e, _ := env(t, nil)
	e.Root = filepath.Join(outer, "facets")
	e.Environ = os.Environ()
	testenv.CopyModule(t, e.Root)

	err := tasks.Build(t.Context(), e, "windows-arm64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no version: not a git checkout, no CIRCLE_TAG and no FACET_VERSION; set FACET_VERSION")
	assert.NoDirExists(t, e.Layout().Root, "nothing written")
}

// A tag build builds the tag: in a clone with the tag at HEAD and a clean
// work tree, and nowhere else.
func TestBuildTag(t *testing.T) {
	testenv.HermeticGit(t)
	e, out := env(t, map[string]string{"CIRCLE_TAG": "agent-facets@9.9.9"})
	e.Environ = os.Environ()
	testenv.CopyModule(t, e.Root)
	testenv.Git(t, e.Root, "init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(e.Root, ".gitignore"), []byte("/dist/\n"), 0o644))
	testenv.Git(t, e.Root, "add", "-A")
	testenv.Git(t, e.Root, "commit", "-q", "-m", "release")

	err := tasks.Build(t.Context(), e, "windows-arm64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tag agent-facets@9.9.9 (CIRCLE_TAG) does not exist in this clone: fetch tags (git fetch --tags)")
	testenv.Git(t, e.Root, "tag", "-a", "-m", "9.9.9", "agent-facets@9.9.9")

	extra := filepath.Join(e.Root, "cmd", "facet", "extra.go")
	require.NoError(t, os.WriteFile(extra, []byte("package main\n"), 0o644))
	err = tasks.Build(t.Context(), e, "windows-arm64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the work tree has changes, so it is not the tagged commit: ?? cmd/facet/extra.go")
	assert.NoDirExists(t, e.Layout().Root, "nothing written")

	require.NoError(t, os.Remove(extra))
	require.NoError(t, tasks.Build(t.Context(), e, "windows-arm64"))
	assert.Contains(t, out.String(), "facet 9.9.9: 1 verified binary")
}

func TestBuildTargetWritesOnlyThatTarget(t *testing.T) {
	e, out := env(t, map[string]string{"FACET_VERSION": "2.0.0"})
	e.Root = t.TempDir()
	e.Environ = os.Environ()
	testenv.CopyModule(t, e.Root)
	require.NoError(t, tasks.Build(t.Context(), e, "windows-arm64"))
	assert.Contains(t, out.String(), "facet 2.0.0: 1 verified binary in dist/npm")
	entries, err := os.ReadDir(filepath.Join(e.Root, "dist", "npm", "@agent-facets"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "cli-windows-arm64", entries[0].Name())
	_, err = os.Stat(filepath.Join(e.Root, "dist", "npm", "@agent-facets", "cli-windows-arm64", "bin", "facet.exe"))
	assert.NoError(t, err)

	require.NoError(t, tasks.Clean(e))
	_, err = os.Stat(filepath.Join(e.Root, "dist"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The Mage front door: go tool mage works with nothing installed but Go, lists
// every target with its description, and turns a bad target name into an error.
func TestMage(t *testing.T) {
	root := testenv.RepoRoot(t)
	mage := func(args ...string) (string, error) {
		cmd := exec.Command("go", append([]string{"tool", "mage"}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	list, err := mage("-l")
	require.NoError(t, err, list)
	for _, target := range [][2]string{
		{`build:all\*`, "builds and verifies the 12 targets in parallel into dist/ (alias: build)."},
		{"build:host", "builds only the target this machine runs, for quick local work."},
		{"build:target", "builds only the named targets, separated by commas or spaces: build:target linux-x64,linux-x64-musl."},
		{"package:all", "builds, then assembles and packs the 12 platform packages and the agent-facets wrapper (alias: package)."},
		{"package:assemble", "assembles and packs the 13 packages from the binaries already built in dist/, without building."},
		{"bench:build", "times the parallel build against a sequential go build loop, cold and warm, and the slowest CI matrix job against the whole build."},
		{"bench:launcher", "times facet --version as npm, pnpm, yarn and bun users run it, first call and steady state, against the bare binary."},
		{"bench:release", "times the release of the 13 packages to a local registry against a sequential npm publish loop."},
		{"release:publish", "publishes the release in dist/ from CircleCI with npm trusted publishing (OIDC), the wrapper last, then verifies it (alias: release)."},
		{"release:stage", "stages the release in dist/ from CircleCI (npm stage publish, OIDC) for a maintainer to approve, and prints the stage ids."},
		{"generate", "rewrites the files derived from the platforms table: README.md's table, lib/platforms.json, install.sh's table, cmd/facet's table, the CircleCI build matrix."},
		{"clean", "removes dist/."},
		{"seed", "publishes a 0.0.1 placeholder of each package the registry lacks (run after npm login) and prints the next steps."},
		{"trust", "makes the CircleCI release pipeline the trusted publisher of the 13 packages, with npm trust."},
		{"verify:setup", "checks that the 13 packages exist with CircleCI as their trusted publisher (alias: verify)."},
		{"verify:release", "checks a release on the registry, its packages, tarballs, dist-tag and dependencies: verify:release 1.2.3."},
	} {
		assert.Regexp(t, `(?m)^  `+target[0]+` +`+regexp.QuoteMeta(target[1])+`$`, list)
	}

	out, err := mage("build:target", "linux-x86")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, out)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, out, `unknown target "linux-x86"; valid targets: `+strings.Join(platforms.Names(), ", "))
}
