// Package testenv helps tests find the repository and the tools they need.
//
// A missing tool skips a test on a developer's machine but fails it under CI
// (CI set): CI must prove everything, so nothing may be skipped there silently.
package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registrytest"
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

// HermeticGit makes git, run by t and by the code under test, ignore the
// user's and the system's configuration (hooks, signing, aliases), and commit
// as a fixed author at a fixed time. It skips t (fails it under CI) when git
// is not installed.
func HermeticGit(t *testing.T) {
	t.Helper()
	LookPath(t, "git", "install git")
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   os.DevNull,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "t",
		"GIT_AUTHOR_EMAIL":    "t@example.com",
		"GIT_COMMITTER_NAME":  "t",
		"GIT_COMMITTER_EMAIL": "t@example.com",
		"GIT_AUTHOR_DATE":     "2025-01-02T03:04:05Z",
		"GIT_COMMITTER_DATE":  "2025-01-02T03:04:05Z",
	} {
		t.Setenv(k, v)
	}
}

// Git runs git with args in dir and returns its trimmed output, failing t
// when git fails.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
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

// Bed is the registry test bed (registrytest.Bed): a Verdaccio registry
// behind npmjs.com's stand-in, which adds the trusted-publisher API and the
// OIDC token exchange. npm talks to the stand-in.
type Bed struct {
	*registrytest.Bed
}

// RegistryBed starts a test bed for t and stops it when t ends. When it
// cannot be started, t is skipped, and under CI it fails.
func RegistryBed(t testing.TB) *Bed {
	t.Helper()
	LookPath(t, "node", "install Node.js 20 or later")
	npmPath := LookPath(t, "npm", "install npm 11")
	b, err := registrytest.StartBed(t.Context(), registrytest.BedOptions{Root: RepoRoot(t), Dir: t.TempDir(), NPM: npm.CLI{Path: npmPath}})
	if err != nil {
		Missing(t, "a Verdaccio registry", err.Error())
	}
	t.Cleanup(func() { _ = b.Close() })
	return &Bed{b}
}

// NPM is an npm CLI configured with the bed's registry and nothing else:
// logged in as the registry's user (a maintainer after npm login) when login
// is true, logged out otherwise.
func (b *Bed) NPM(t testing.TB, login bool) npm.CLI {
	t.Helper()
	env, err := b.NPMEnv(login)
	if err != nil {
		t.Fatal(err)
	}
	return npm.CLI{Path: LookPath(t, "npm", "install npm 11"), Env: env}
}

// NPMAs is an npm CLI configured with the bed's registry, logged in as a
// new user name (added as the bed's own user is, with npm's adduser
// request): another account, which maintains none of the bed's packages.
func (b *Bed) NPMAs(t testing.TB, name string) npm.CLI {
	t.Helper()
	token, err := b.Verdaccio.AddUser(t.Context(), name, name+"-test-password")
	if err != nil {
		t.Fatal(err)
	}
	env, err := b.Verdaccio.NPMEnv(b.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return npm.CLI{Path: LookPath(t, "npm", "install npm 11"), Env: env}
}

// Publish publishes a minimal package of each name at version, all at once,
// with the real npm CLI logged in to the bed: placeholders, or a registry in
// a state a test needs.
func (b *Bed) Publish(t testing.TB, version string, names ...string) {
	t.Helper()
	if err := b.Seed(t.Context(), version, circleci.Publisher{}, names...); err != nil {
		t.Fatal(err)
	}
}

// PublishTarballs publishes the tarballs under tag, in order, with the real
// npm CLI logged in to the bed.
func (b *Bed) PublishTarballs(t testing.TB, tag string, tarballs ...string) {
	t.Helper()
	cli := b.NPM(t, true)
	for _, tgz := range tarballs {
		if _, err := cli.Run(t.Context(), filepath.Dir(tgz), "publish", tgz, "--access", "public", "--tag", tag); err != nil {
			t.Fatalf("publishing %s: %v\n%s", filepath.Base(tgz), err, b.Verdaccio.Logs())
		}
	}
}

// Job is a CircleCI job of the bed (registrytest.Bed.CircleCIJob).
type Job struct {
	Env []string // PATH with the circleci stand-in first, its configuration, and CIRCLECI=true
}

// Configure changes the circleci stand-in's configuration (to make minting
// fail, say).
func (j *Job) Configure(t testing.TB, change func(*registrytest.StandInConfig)) {
	t.Helper()
	var path string
	for _, kv := range j.Env {
		if v, ok := strings.CutPrefix(kv, registrytest.StandInEnv+"="); ok {
			path = v
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg registrytest.StandInConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	change(&cfg)
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// CircleCIJob builds the circleci stand-in for a job of p's pipeline and
// makes the bed trust its tokens.
func (b *Bed) CircleCIJob(t testing.TB, p circleci.Publisher) *Job {
	t.Helper()
	env, err := b.Bed.CircleCIJob(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return &Job{Env: env}
}

// OldNPMDir is where the tests' old npm is pinned, relative to the
// repository root.
const OldNPMDir = "scripts/testenv/oldnpm"

// OldNPM returns an npm CLI of a version older than the release and npm trust
// need (pinned in OldNPMDir, installed on first use) with env as its
// environment.
func OldNPM(t testing.TB, env []string) npm.CLI {
	t.Helper()
	LookPath(t, "node", "install Node.js 20 or later")
	dir := filepath.Join(RepoRoot(t), OldNPMDir)
	if err := (npm.CLI{Path: LookPath(t, "npm", "install npm 11")}).InstallPinned(t.Context(), dir); err != nil {
		Missing(t, "an old npm for the tests", err.Error())
	}
	return npm.CLI{Path: filepath.Join(dir, "node_modules", ".bin", "npm"), Env: env}
}

// Clients returns the pinned pnpm, yarn, bun and Deno, installing them first if
// needed. When they cannot be installed, t is skipped, and under CI it fails.
func Clients(t testing.TB) *clients.Set {
	t.Helper()
	node := LookPath(t, "node", "install Node.js 20 or later")
	npmPath := LookPath(t, "npm", "install npm 11")
	s, err := clients.Ensure(t.Context(), clients.Options{Root: RepoRoot(t), NPM: npm.CLI{Path: npmPath}, Node: node})
	if err != nil {
		Missing(t, "pnpm, yarn, bun and Deno", err.Error())
	}
	return s
}
