package tasks_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

// The kinds of package under scripts/, as the README's layout table groups
// them: a new package must be given one here.
var kinds = map[string]string{
	"tasks": "pipeline",
	// stages: one per Mage target family, run only by tasks
	"build": "stage", "npmpkg": "stage", "generate": "stage", "installbench": "stage",
	"seed": "stage", "trust": "stage", "verify": "stage", "release": "stage", "approve": "stage",
	// helpers: used by stages, knowing nothing of them
	"dist": "helper", "exeinfo": "helper", "npm": "helper", "progress": "helper", "version": "helper",
	"registry": "helper", "retry": "helper", "circleci": "helper", "secret": "helper", "procgroup": "helper", "ciconfig": "helper", "syncbuf": "helper",
	// test support: for tests, benchmarks and rehearsals only
	"testenv": "test", "verdaccio": "test", "registrytest": "test", "circlecitest": "test", "registrytest/cmd/circleci": "test", "releasetest": "test", "clients": "test", "installsh": "test",
}

// mayUseTestSupport are the non-test packages allowed to import test support:
// the benchmarks and rehearsals run a local registry, and tasks wires them.
var mayUseTestSupport = map[string]bool{"tasks": true, "installbench": true}

// The flat scripts/ stays readable: only tasks (and test fixtures) import
// stages, helpers import no stage, and test support is not part of what a
// release runs.
func TestPackageLayout(t *testing.T) {
	const module = "github.com/agent-facets/facets/"
	cmd := exec.Command("go", "list", "-json", "./scripts/...")
	cmd.Dir = testenv.RepoRoot(t)
	out, err := cmd.Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		name := strings.TrimPrefix(p.ImportPath, module+"scripts/")
		kind, ok := kinds[name]
		if !assert.True(t, ok, "scripts/%s has no kind: add it to kinds (and to README.md's layout table)", name) {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module+"scripts/")
			if !ok {
				continue
			}
			switch kinds[dep] {
			case "stage":
				// Test support may run a stage to make a fixture.
				assert.Contains(t, []string{"pipeline", "test"}, kind, "%s (%s) imports the stage %s: only tasks runs stages", name, kind, dep)
			case "test":
				assert.True(t, kind == "test" || mayUseTestSupport[name], "%s (%s) imports the test support %s", name, kind, dep)
			case "pipeline":
				t.Errorf("%s imports tasks", name)
			}
		}
	}
	assert.Equal(t, len(kinds), seen, "every kind names a package")
}
