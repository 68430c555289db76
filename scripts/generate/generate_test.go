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
	require.NoError(t, os.WriteFile(filepath.Join(root, "install.sh"),
		[]byte("#!/bin/sh\n# generated:platforms (note)\nPLATFORMS='old'\n# end:platforms\nmain\n"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".circleci"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, ".circleci", "config.yml"),
		[]byte("jobs:\n  targets:\n    # generated:matrix\n    - old\n    # end:matrix\n  next: 1\n"), 0o644))
	stale, err := generate.Stale(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"README.md", "platforms/npm/lib/platforms.json", "install.sh", ".circleci/config.yml", "cmd/facet/targets_gen.go"}, stale)

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
	script, err := os.ReadFile(filepath.Join(root, "install.sh"))
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\n# generated:platforms (note)\n"+platforms.InstallTable()+"# end:platforms\nmain\n", string(script))
	config, err := os.ReadFile(filepath.Join(root, ".circleci", "config.yml"))
	require.NoError(t, err)
	assert.Equal(t, "jobs:\n  targets:\n    # generated:matrix\n"+
		"    - darwin-arm64\n    - darwin-x64\n    - darwin-x64-baseline\n"+
		"    - linux-arm64 linux-arm64-musl\n    - linux-x64 linux-x64-musl\n    - linux-x64-baseline linux-x64-baseline-musl\n"+
		"    - windows-arm64\n    - windows-x64\n    - windows-x64-baseline\n"+
		"    # end:matrix\n  next: 1\n", string(config))
}

func TestReplaceYAMLSection(t *testing.T) {
	got, err := generate.ReplaceYAMLSection("a:\n  # generated:x (note)\n  - old\n  - older\n  # end:x\nb: 1\n", "x", "- new\n- newer\n")
	require.NoError(t, err)
	assert.Equal(t, "a:\n  # generated:x (note)\n  - new\n  - newer\n  # end:x\nb: 1\n", got)
	got, err = generate.ReplaceYAMLSection("  # generated:x\n  # end:x\n", "x", "- v\n")
	require.NoError(t, err)
	assert.Equal(t, "  # generated:x\n  - v\n  # end:x\n", got)

	_, err = generate.ReplaceYAMLSection("no markers", "x", "")
	assert.ErrorContains(t, err, `no "# generated:x" marker`)
	_, err = generate.ReplaceYAMLSection("# generated:x\n- unterminated\n", "x", "")
	assert.ErrorContains(t, err, `no "# end:x" marker`)
	_, err = generate.ReplaceYAMLSection("a: 1 # generated:x\n# end:x\n", "x", "")
	assert.ErrorContains(t, err, "not alone on its line")
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
