package tasks_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
)

// mage release and mage release:stage refuse, before anything is published
// or staged, to run where they must not, and bad switches; the registry they
// would use is npm's, never reached. A bad switch is named with the target.
func TestReleaseRefuses(t *testing.T) {
	npmPath := testenv.LookPath(t, "npm", "install npm 11")
	tests := []struct {
		name string
		vars map[string]string
		want string // after "<target>: " when it starts with ":"
	}{
		{"outside CircleCI", map[string]string{"CIRCLE_TAG": "agent-facets@1.0.0"},
			"release: not in a CircleCI job (CIRCLECI is not true)"},
		{"a rehearsal against the public registry", map[string]string{"FACET_REHEARSAL": "1", "CIRCLE_TAG": "agent-facets@1.0.0"},
			"release: a rehearsal must not publish to the public registry, and npm is configured with https://registry.npmjs.org/"},
		{"a bad switch", map[string]string{"CIRCLECI": "true", "FACET_DRY_RUN": "sure"},
			`: FACET_DRY_RUN="sure": want 1 or 0`},
		{"a dry run in a CircleCI job", map[string]string{"CIRCLECI": "true", "FACET_DRY_RUN": "1", "CIRCLE_TAG": "agent-facets@1.0.0"},
			"release: FACET_DRY_RUN is set in a CircleCI release job, which would pass having published nothing: remove FACET_DRY_RUN from the release context"},
		{"a bad job count", map[string]string{"CIRCLECI": "true", "FACET_JOBS": "-1"},
			`: FACET_JOBS="-1": want a whole number of at least 1`},
		{"a bad wait", map[string]string{"CIRCLECI": "true", "FACET_WAIT": "0s"},
			`: FACET_WAIT="0s": want a duration such as 90s or 10m`},
	}
	for target, run := range map[string]func(context.Context, tasks.Env) error{"release": tasks.Release, "release:stage": tasks.ReleaseStage} {
		for _, tt := range tests {
			t.Run(target+" "+tt.name, func(t *testing.T) {
				e, out := env(t, tt.vars)
				// npm with its defaults (the public registry) and nothing else.
				e.Environ = []string{"PATH=" + filepath.Dir(npmPath), "HOME=" + t.TempDir(), "NPM_CONFIG_USERCONFIG=" + t.TempDir() + "/npmrc"}
				err := run(t.Context(), e)
				require.Error(t, err)
				want := tt.want
				if strings.HasPrefix(want, ":") {
					want = target + want
				}
				assert.Contains(t, err.Error(), want)
				assert.NotContains(t, out.String(), "OIDC probe")
			})
		}
	}
}
