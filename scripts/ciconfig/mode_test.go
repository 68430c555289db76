package ciconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/testenv"
)

// The release mode verify holds the trusted publishers to is the default of
// the pipeline parameter release-mode.
func TestReleaseMode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), ciconfig.Path))
	require.NoError(t, err)
	mode, err := ciconfig.ReleaseMode(data)
	require.NoError(t, err)
	assert.Equal(t, "publish", mode, "the direct release is the default")

	tests := []struct{ name, config, want string }{
		{"stage", "parameters:\n  release-mode:\n    type: enum\n    enum: [publish, stage]\n    default: stage\n", ""},
		{"no parameter", "parameters:\n  scale-out:\n    type: boolean\n    default: true\n", ".circleci/config.yml declares no pipeline parameter release-mode"},
		{"another default", "parameters:\n  release-mode:\n    default: both\n", ".circleci/config.yml: the default of release-mode is both, want one of publish, stage"},
		{"not YAML", "parameters: [", ".circleci/config.yml: yaml: "},
	}
	for _, tt := range tests {
		mode, err := ciconfig.ReleaseMode([]byte(tt.config))
		if tt.want == "" {
			require.NoError(t, err, tt.name)
			assert.Equal(t, tt.name, mode)
			continue
		}
		require.Error(t, err, tt.name)
		assert.Contains(t, err.Error(), tt.want, tt.name)
	}
}
