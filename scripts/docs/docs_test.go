package docs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/docs"
	"github.com/agent-facets/facets/scripts/testenv"
)

func TestReadmeIsCurrent(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "README.md"))
	require.NoError(t, err)
	got, err := docs.Update(string(readme))
	require.NoError(t, err)
	assert.Equal(t, string(readme), got, "README.md is stale: run go tool mage docs")
}

func TestUpdate(t *testing.T) {
	in := "intro\n<!-- generated:targets -->\nold table\n<!-- end:targets -->\nrest\n"
	got, err := docs.Update(in)
	require.NoError(t, err)
	assert.Equal(t, "intro\n<!-- generated:targets -->\n"+platforms.MarkdownTable()+"<!-- end:targets -->\nrest\n", got)
	for _, name := range platforms.Names() {
		assert.Contains(t, got, "`@agent-facets/cli-"+name+"`")
	}

	_, err = docs.Update("no markers")
	assert.ErrorContains(t, err, `no "<!-- generated:targets -->" marker`)
	_, err = docs.Update("<!-- generated:targets -->\nunterminated")
	assert.ErrorContains(t, err, `no "<!-- end:targets -->" marker`)
}
