// Package tasks is what the Mage targets run. Each task reads the environment
// once, turns it into a stage's configuration and runs the stage; the magefile
// only wires target names to these functions.
//
// Environment variables:
//
//	FACET_VERSION  version to build, overriding CIRCLE_TAG and git
//	CIRCLE_TAG     release tag agent-facets@X.Y.Z (set by CircleCI on tag builds)
//	CIRCLE_SHA1    commit being built (set by CircleCI)
//	FACET_JOBS     compilations at once (default: the CPUs Go may use)
//	CI             set: plain progress lines instead of live bars
package tasks

import (
	"io"
	"os"
	"path/filepath"

	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/progress"
)

// Env is the outside world as tasks see it.
type Env struct {
	Root     string              // repository root
	Getenv   func(string) string // environment variables
	Environ  []string            // the whole environment, for child processes
	Stdout   io.Writer
	Progress progress.Reporter // how builds show progress
	Host     build.Host        // what this machine can execute
}

// OS returns the Env of this process, rooted at the working directory (Mage
// runs targets in the repository root).
func OS() Env {
	root, err := os.Getwd()
	if err != nil {
		root = "."
	}
	return Env{
		Root:     root,
		Getenv:   os.Getenv,
		Environ:  os.Environ(),
		Stdout:   os.Stdout,
		Progress: progress.Auto(os.Stdout, os.Stderr, os.Getenv),
		Host:     build.DetectHost(),
	}
}

// Layout is the dist directory of the repository.
func (e Env) Layout() dist.Layout { return dist.Layout{Root: filepath.Join(e.Root, "dist")} }

// relative is path relative to root when it lies inside it.
func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}
