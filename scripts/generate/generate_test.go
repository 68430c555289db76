package generate_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/generate"
	"github.com/agent-facets/facets/scripts/testenv"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := generate.Stale(testenv.RepoRoot(t))
	require.NoError(t, err)
	assert.Empty(t, stale, "stale generated files: run go tool mage generate")
}

func TestWrite(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "README.md"),
		[]byte("intro\n<!-- generated:targets -->\nold\n<!-- end:targets -->\nrest\n"), 0o644))
	stale, err := generate.Stale(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"README.md", "platforms/npm/lib/platforms.json"}, stale)

	require.NoError(t, generate.Write(root))
	stale, err = generate.Stale(root)
	require.NoError(t, err)
	assert.Empty(t, stale)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	assert.Equal(t, "intro\n<!-- generated:targets -->\n"+platforms.MarkdownTable()+"<!-- end:targets -->\nrest\n", string(readme))
	table, err := os.ReadFile(filepath.Join(root, "platforms", "npm", "lib", "platforms.json"))
	require.NoError(t, err)
	assert.Equal(t, platforms.LauncherJSON(), table)
}

func TestReplaceSection(t *testing.T) {
	got, err := generate.ReplaceSection("a\n<!-- generated:x -->\nold\n<!-- end:x -->\nb", "x", "new\n")
	require.NoError(t, err)
	assert.Equal(t, "a\n<!-- generated:x -->\nnew\n<!-- end:x -->\nb", got)

	_, err = generate.ReplaceSection("no markers", "x", "")
	assert.ErrorContains(t, err, `no "<!-- generated:x -->" marker`)
	_, err = generate.ReplaceSection("<!-- generated:x -->\nunterminated", "x", "")
	assert.ErrorContains(t, err, `no "<!-- end:x -->" marker`)
}
