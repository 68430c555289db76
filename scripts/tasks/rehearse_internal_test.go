package tasks

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/version"
)

// The rehearsal's CI jobs clone a snapshot of the checkout at the release
// tag, so that their tag builds pass the checks CircleCI's pass: the tag is
// there, at HEAD, the work tree clean and CIRCLE_SHA1 the commit. Work in
// progress is in the snapshot, a file git ignores in the checkout is not.
func TestSnapshotIsATagBuild(t *testing.T) {
	testenv.HermeticGit(t)
	root := t.TempDir()
	testenv.Git(t, root, "init", "-q")
	for name, content := range map[string]string{".gitignore": "/dist/\n", "go.mod": "module example.com/m\n", "main.go": "package main\n", "dist/old": "built"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(content), 0o644))
	}
	testenv.Git(t, root, "add", ".gitignore", "go.mod")
	testenv.Git(t, root, "commit", "-q", "-m", "first")
	source, err := checkoutFiles(t.Context(), root)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{".gitignore", "go.mod", "main.go"}, source)

	dir := t.TempDir()
	origin := filepath.Join(dir, "origin")
	const tag = version.TagPrefix + "1.0.0"
	commit, err := snapshot(t.Context(), root, source, origin, tag, "a test")
	require.NoError(t, err)

	checkout := filepath.Join(dir, "job")
	require.NoError(t, os.Mkdir(checkout, 0o755))
	require.NoError(t, cloneAt(t.Context(), origin, tag, checkout))
	assert.FileExists(t, filepath.Join(checkout, "main.go"), "work in progress is rehearsed")
	assert.NoFileExists(t, filepath.Join(checkout, "dist", "old"))
	info, err := version.Resolve(t.Context(), version.Inputs{Tag: tag, Commit: commit, Git: version.Checkout(t.Context(), checkout)})
	require.NoError(t, err)
	assert.Equal(t, version.Info{Version: "1.0.0", Commit: commit, Source: "tag"}, info)
}

// The maintainer's CircleCI API token never reaches npm, nor what npm runs.
func TestNPMGetsNoCircleToken(t *testing.T) {
	e := Env{Environ: []string{"PATH=/bin", "CIRCLE_TOKEN=CCIPAT_secret", "circle_token=x", "NPM_CONFIG_OTP=123456"}}
	assert.Equal(t, []string{"PATH=/bin", "NPM_CONFIG_OTP=123456"}, e.npm().Env)
	assert.Equal(t, []string{"PATH=/bin", "NPM_CONFIG_OTP=123456"}, e.npm().With().Env)
}
