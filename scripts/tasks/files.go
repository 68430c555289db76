package tasks

import (
	"os"

	"github.com/agent-facets/facets/scripts/generate"
)

// Clean removes the dist directory.
func Clean(env Env) error { return os.RemoveAll(env.Layout().Root) }

// Generate rewrites the generated files (see generate.Files): README.md's
// table of targets, the launcher's lib/platforms.json, install.sh's table,
// cmd/facet's table and the CircleCI build matrix.
func Generate(env Env) error { return generate.Write(env.Root) }
