package tasks

import (
	"os"

	"github.com/agent-facets/facets/scripts/generate"
)

// Clean removes the dist directory.
func Clean(env Env) error { return os.RemoveAll(env.Layout().Root) }

// Generate rewrites the generated files: README.md's table of targets and the
// launcher's lib/platforms.json.
func Generate(env Env) error { return generate.Write(env.Root) }
