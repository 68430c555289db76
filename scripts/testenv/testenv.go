// Package testenv helps tests find the repository and the tools they need.
//
// A missing tool skips a test on a developer's machine but fails it under CI
// (CI set): CI must prove everything, so nothing may be skipped there silently.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

// InCI reports whether the tests run under CI (the CI variable is set).
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips t, or fails it under CI, because what is named is not
// available; hint says how to get it.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required under CI: %s", what, hint)
	}
	t.Skipf("%s is not available (%s)", what, hint)
}

// LookPath returns the path of the command name, skipping t (failing it under
// CI) when it is not installed.
func LookPath(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, hint)
	}
	return path
}

// RepoRoot returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// CopyModule copies what building ./cmd/facet needs (go.mod, go.sum and the
// command's source) from the repository into dir, a module of its own.
func CopyModule(t testing.TB, dir string) {
	t.Helper()
	root := RepoRoot(t)
	err := filepath.WalkDir(filepath.Join(root, "cmd", "facet"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		return copyFile(root, dir, path)
	})
	if err == nil {
		err = copyFile(root, dir, filepath.Join(root, "go.mod"))
	}
	if err == nil {
		err = copyFile(root, dir, filepath.Join(root, "go.sum"))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// copyFile copies path, which is inside root, to the same place inside dir.
func copyFile(root, dir, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// Registry starts a Verdaccio npm registry for t, installing it first if
// needed, and stops it when t ends. When it cannot be installed or started, t
// is skipped, and under CI it fails.
func Registry(t testing.TB) *verdaccio.Server {
	t.Helper()
	node := LookPath(t, "node", "install Node.js 20 or later")
	npmPath := LookPath(t, "npm", "install npm 11")
	s, err := verdaccio.Start(t.Context(), verdaccio.Options{
		Root: RepoRoot(t),
		Dir:  t.TempDir(),
		Node: node,
		NPM:  npm.CLI{Path: npmPath},
	})
	if err != nil {
		Missing(t, "a Verdaccio registry", err.Error())
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Clients returns the pinned pnpm, yarn and bun, installing them first if
// needed. When they cannot be installed, t is skipped, and under CI it fails.
func Clients(t testing.TB) *clients.Set {
	t.Helper()
	node := LookPath(t, "node", "install Node.js 20 or later")
	npmPath := LookPath(t, "npm", "install npm 11")
	s, err := clients.Ensure(t.Context(), clients.Options{Root: RepoRoot(t), NPM: npm.CLI{Path: npmPath}, Node: node})
	if err != nil {
		Missing(t, "pnpm, yarn and bun", err.Error())
	}
	return s
}
