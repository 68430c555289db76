// Package testenv helps tests find the repository and the tools they need.
//
// A missing tool skips a test on a developer's machine but fails it under CI
// (CI set): CI must prove everything, so nothing may be skipped there silently.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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

// Environ is the environment for child processes of a test, with GOFLAGS
// dropped so that the machine's settings cannot change what a test builds.
func Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 8 || kv[:8] != "GOFLAGS=" {
			env = append(env, kv)
		}
	}
	return env
}
