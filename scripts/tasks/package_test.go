package tasks_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// checkout is a task environment rooted in a copy of what building and
// packaging facet needs: the module, cmd/facet, the LICENSE and install.sh.
func checkout(t *testing.T, vars map[string]string) tasks.Env {
	t.Helper()
	e, _ := env(t, vars)
	e.Environ = os.Environ()
	testenv.CopyModule(t, e.Root)
	license, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "LICENSE"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(e.Root, "LICENSE"), license, 0o644))
	script, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "install.sh"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(e.Root, "install.sh"), script, 0o755))
	return e
}

// The CI matrix path: each compilation group is built on a machine of its own
// (build:target), their dist/ trees are merged as the CircleCI workspace merges
// them, and package:assemble packs them without building. The 13 tarballs are
// byte for byte those of the single-machine package:all.
func TestPackageAssemblePacksWhatTheMatrixBuilt(t *testing.T) {
	testenv.LookPath(t, "npm", "install npm 11")
	vars := map[string]string{"FACET_VERSION": "3.0.0", "CIRCLE_SHA1": "0123456789abcdef0123456789abcdef01234567"}

	workspace := checkout(t, vars)
	for _, group := range platforms.Compilations() {
		job := checkout(t, vars)
		var names []string
		for _, tg := range group {
			names = append(names, tg.Name())
		}
		require.NoError(t, tasks.Build(t.Context(), job, names...))
		mergeTree(t, job.Layout().Root, workspace.Layout().Root)
	}
	require.NoError(t, tasks.PackageAssemble(t.Context(), workspace))

	single := checkout(t, vars)
	require.NoError(t, tasks.Package(t.Context(), single))

	matrixPacks, err := workspace.Layout().ReadPackRecords()
	require.NoError(t, err)
	singlePacks, err := single.Layout().ReadPackRecords()
	require.NoError(t, err)
	require.Len(t, matrixPacks, 13)
	assert.Equal(t, singlePacks, matrixPacks)
	matrixSums, err := os.ReadFile(workspace.Layout().SumsPath())
	require.NoError(t, err)
	singleSums, err := os.ReadFile(single.Layout().SumsPath())
	require.NoError(t, err)
	assert.Equal(t, string(singleSums), string(matrixSums))
}

// package:assemble builds nothing: with part of the build missing it names
// what is missing, says how to build it, and writes no package.
func TestPackageAssembleDoesNotBuild(t *testing.T) {
	e := checkout(t, map[string]string{"FACET_VERSION": "3.0.0"})
	require.NoError(t, tasks.Build(t.Context(), e, "windows-arm64"))
	before := listing(t, e.Layout().Root)

	err := tasks.PackageAssemble(t.Context(), e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "package: not built: darwin-arm64, darwin-x64,")
	assert.Contains(t, err.Error(), "(run go tool mage build)")
	assert.NotContains(t, err.Error(), "windows-arm64")
	assert.Equal(t, before, listing(t, e.Layout().Root), "nothing built or written")
	_, err = os.Stat(e.Layout().Binary(platforms.All()[0]))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// mergeTree copies the files under src into dst, keeping their modes, as
// CircleCI merges the workspaces of concurrent jobs: a file already in dst is
// one two jobs persisted, and the attach fails.
func mergeTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(filepath.Join(dst, rel)); err == nil {
			return fmt.Errorf("%s is in the dist/ of two jobs: CircleCI fails the attach (Concurrent upstream jobs persisted the same file(s))", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return dist.WriteFileAtomic(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	require.NoError(t, err)
}

// listing maps every file under root to its size.
func listing(t *testing.T, root string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[path] = info.Size()
		return nil
	})
	require.NoError(t, err)
	return files
}
