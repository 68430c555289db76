package dist_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
)

func TestLayout(t *testing.T) {
	l := dist.Layout{Root: "dist"}
	win, err := platforms.Lookup("windows-x64")
	require.NoError(t, err)
	assert.Equal(t, "npm/@agent-facets/cli-windows-x64/bin/facet.exe", l.BinaryRel(win))
	assert.Equal(t, filepath.Join("dist", "npm", "@agent-facets", "cli-windows-x64", "bin", "facet.exe"), l.Binary(win))
	assert.Equal(t, filepath.Join("dist", "npm", "agent-facets"), l.PackageDir("agent-facets"))
	assert.Equal(t, filepath.Join("dist", "build", "windows-x64.json"), l.BuildRecordPath(win))
	assert.Equal(t, filepath.Join("dist", "logs"), l.Logs())
}

func TestBuildRecords(t *testing.T) {
	l := dist.Layout{Root: t.TempDir()}
	tg, err := platforms.Lookup("linux-x64")
	require.NoError(t, err)
	_, err = l.ReadBuildRecord(tg)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "linux-x64 has not been built")

	want := dist.BuildRecord{Target: "linux-x64", Version: "1.0.0", SHA256: "ab", Checks: []string{"header", "run"}}
	require.NoError(t, l.WriteBuildRecord(tg, want))
	got, err := l.ReadBuildRecord(tg)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	require.NoError(t, l.RemoveBuildRecord(tg))
	require.NoError(t, l.RemoveBuildRecord(tg), "removing a missing record is fine")
	_, err = l.ReadBuildRecord(tg)
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, err = l.ReadPackRecords()
	assert.ErrorContains(t, err, "nothing has been packed")
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "file")
	require.NoError(t, dist.WriteFileAtomic(path, []byte("one"), 0o755))
	require.NoError(t, dist.WriteFileAtomic(path, []byte("two"), 0o644))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(data))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
}
