package version_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/version"
)

// git runs git in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testenv.Git(t, dir, args...)
}

// write writes files (name: content) below dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

// repo is a new repository with a module (go.mod, main.go, a .gitignore of
// dist/) committed twice; it returns its root and its two commits.
func repo(t *testing.T) (root, first, second string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "repo")
	git(t, t.TempDir(), "init", "-q", root)
	write(t, root, map[string]string{"go.mod": "module example.com/m\n", "main.go": "package main\n", ".gitignore": "/dist/\nnode_modules/\n"})
	git(t, root, "add", "-A")
	git(t, root, "commit", "-q", "-m", "first")
	first = git(t, root, "rev-parse", "HEAD")
	write(t, root, map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	git(t, root, "commit", "-q", "-am", "second")
	return root, first, git(t, root, "rev-parse", "HEAD")
}

// copyRepo copies the repository at root (see repo) for a subtest of t,
// faster than making it again.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	require.NoError(t, os.CopyFS(dst, os.DirFS(root)))
	return dst
}

// A source archive (git archive) unpacked inside another repository is not a
// git checkout: neither that repository's HEAD nor its changes make the
// version or the commit.
func TestCheckoutInsideAnotherRepository(t *testing.T) {
	testenv.HermeticGit(t)
	outer, _, outerHead := repo(t)
	src := filepath.Join(outer, "vendor", "facets")
	require.NoError(t, os.MkdirAll(src, 0o755))
	archive := exec.Command("sh", "-c", `git -C "$1" archive HEAD | tar -x -C "$2"`, "sh", outer, src)
	out, err := archive.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.FileExists(t, filepath.Join(src, "go.mod"))

	assert.Nil(t, version.Checkout(t.Context(), src), "the archive is inside the outer repository, not its root")
	require.NotNil(t, version.Checkout(t.Context(), outer))

	_, err = version.Resolve(t.Context(), version.Inputs{Git: version.Checkout(t.Context(), src)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no version: not a git checkout, no CIRCLE_TAG and no FACET_VERSION; set FACET_VERSION to build a version explicitly")

	info, err := version.Resolve(t.Context(), version.Inputs{Override: "1.0.0", Git: version.Checkout(t.Context(), src)})
	require.NoError(t, err)
	assert.Equal(t, version.Info{Version: "1.0.0", Commit: "unknown", Source: "override"}, info, "not the outer repository's commit %s", outerHead)
}

func TestCheckout(t *testing.T) {
	testenv.HermeticGit(t)
	root, _, head := repo(t)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(root, link))

	tests := []struct {
		name    string
		dir     string
		want    string // the development version; "" for no Git
		wantErr string // the error using the Git returned gives
	}{
		{name: "the root of the repository", dir: root, want: "0.0.0-dev.g" + head[:12]},
		{name: "the root, through a symbolic link", dir: link, want: "0.0.0-dev.g" + head[:12]},
		{name: "not in a repository", dir: t.TempDir()},
		{name: "a directory of the repository", dir: filepath.Join(root, "sub")},
		{name: "git cannot run there", dir: filepath.Join(t.TempDir(), "missing"), wantErr: "cannot change to"},
	}
	require.NoError(t, os.Mkdir(filepath.Join(root, "sub"), 0o755))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := version.Checkout(t.Context(), tt.dir)
			if tt.want == "" && tt.wantErr == "" {
				assert.Nil(t, g)
				return
			}
			require.NotNil(t, g)
			info, err := version.Resolve(t.Context(), version.Inputs{Git: g})
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, version.Info{Version: tt.want, Commit: head, Source: "git"}, info)
		})
	}
}

// The work tree has changes when a tracked file changed, was staged or
// deleted, or a file git does not ignore is untracked (an untracked .go file
// changes the binary); ignored files (dist/, node_modules/) are not changes.
func TestDevelopmentVersionDirty(t *testing.T) {
	testenv.HermeticGit(t)
	tests := []struct {
		name   string
		change func(t *testing.T, root string)
		dirty  bool
	}{
		{name: "clean", change: func(*testing.T, string) {}},
		{name: "a tracked file changed", dirty: true, change: func(t *testing.T, root string) {
			write(t, root, map[string]string{"main.go": "package main // changed\n"})
		}},
		{name: "a change staged", dirty: true, change: func(t *testing.T, root string) {
			write(t, root, map[string]string{"main.go": "package main // changed\n"})
			git(t, root, "add", "main.go")
		}},
		{name: "a tracked file deleted", dirty: true, change: func(t *testing.T, root string) {
			require.NoError(t, os.Remove(filepath.Join(root, "main.go")))
		}},
		{name: "an untracked .go file", dirty: true, change: func(t *testing.T, root string) {
			write(t, root, map[string]string{"extra.go": "package main\n"})
		}},
		{name: "an untracked file in a new directory", dirty: true, change: func(t *testing.T, root string) {
			write(t, root, map[string]string{"internal/x/x.go": "package x\n"})
		}},
		{name: "an untracked file, with untracked files hidden in git's configuration", dirty: true, change: func(t *testing.T, root string) {
			git(t, root, "config", "status.showUntrackedFiles", "no")
			write(t, root, map[string]string{"extra.go": "package main\n"})
		}},
		{name: "ignored files", change: func(t *testing.T, root string) {
			write(t, root, map[string]string{"dist/npm/facet": "binary", "node_modules/x/index.js": ""})
		}},
	}
	template, _, head := repo(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyRepo(t, template)
			tt.change(t, root)
			info, err := version.Resolve(t.Context(), version.Inputs{Git: version.Checkout(t.Context(), root)})
			require.NoError(t, err)
			want := "0.0.0-dev.g" + head[:12]
			if tt.dirty {
				want += ".dirty"
			}
			assert.Equal(t, want, info.Version)
		})
	}
}

// A tag build is believed only when git shows it: the tag is in the clone,
// at HEAD, and the work tree is clean.
func TestTagBuild(t *testing.T) {
	testenv.HermeticGit(t)
	const tag = "agent-facets@9.9.9"
	tests := []struct {
		name     string
		setup    func(t *testing.T, root, first, second string)
		override string
		commit   func(head string) string // CIRCLE_SHA1
		wantErr  []string                 // with %[1]s the first commit, %[2]s HEAD
	}{
		{name: "a tag at HEAD", setup: func(t *testing.T, root, _, _ string) { git(t, root, "tag", tag) }},
		{name: "an annotated tag at HEAD", setup: func(t *testing.T, root, _, _ string) { git(t, root, "tag", "-a", "-m", "release", tag) }},
		{name: "ignored files", setup: func(t *testing.T, root, _, _ string) {
			git(t, root, "tag", tag)
			write(t, root, map[string]string{"dist/tool/mage": "tool"})
		}},
		{
			name:     "the override agrees, at the tag",
			setup:    func(t *testing.T, root, _, _ string) { git(t, root, "tag", tag) },
			override: "9.9.9",
		},
		{
			name:   "CIRCLE_SHA1 is HEAD",
			setup:  func(t *testing.T, root, _, _ string) { git(t, root, "tag", tag) },
			commit: func(head string) string { return head },
		},
		{
			name:   "CIRCLE_SHA1 abbreviates HEAD",
			setup:  func(t *testing.T, root, _, _ string) { git(t, root, "tag", tag) },
			commit: func(head string) string { return head[:7] },
		},
		{
			name:    "no such tag",
			setup:   func(*testing.T, string, string, string) {},
			wantErr: []string{"tag agent-facets@9.9.9 (CIRCLE_TAG) does not exist in this clone: fetch tags (git fetch --tags) or build the tagged commit"},
		},
		{
			name:    "a tag of another commit",
			setup:   func(t *testing.T, root, first, _ string) { git(t, root, "tag", tag, first) },
			wantErr: []string{"tag agent-facets@9.9.9 (CIRCLE_TAG) points at %[1]s, but HEAD is %[2]s: check out the tag (git checkout agent-facets@9.9.9), or unset CIRCLE_TAG"},
		},
		{
			name:    "an annotated tag of another commit",
			setup:   func(t *testing.T, root, first, _ string) { git(t, root, "tag", "-a", "-m", "release", tag, first) },
			wantErr: []string{"points at %[1]s, but HEAD is %[2]s"},
		},
		{
			name:     "the override agrees, but the tag is elsewhere",
			setup:    func(t *testing.T, root, first, _ string) { git(t, root, "tag", tag, first) },
			override: "9.9.9",
			wantErr:  []string{"points at %[1]s, but HEAD is %[2]s"},
		},
		{
			name: "a tracked file changed",
			setup: func(t *testing.T, root, _, _ string) {
				git(t, root, "tag", tag)
				write(t, root, map[string]string{"main.go": "package main // changed\n"})
			},
			wantErr: []string{"CIRCLE_TAG agent-facets@9.9.9: the work tree has changes, so it is not the tagged commit: M main.go; commit or stash them (git stash -u), or unset CIRCLE_TAG"},
		},
		{
			name: "an untracked .go file",
			setup: func(t *testing.T, root, _, _ string) {
				git(t, root, "tag", tag)
				write(t, root, map[string]string{"extra.go": "package main\n"})
			},
			wantErr: []string{"the work tree has changes, so it is not the tagged commit: ?? extra.go;"},
		},
		{
			name: "many changes, the first few named",
			setup: func(t *testing.T, root, _, _ string) {
				git(t, root, "tag", tag)
				write(t, root, map[string]string{"a.go": "", "b.go": "", "c.go": "", "d.go": "", "e.go": "", "f.go": "", "g.go": ""})
			},
			wantErr: []string{"changes, so it is not the tagged commit: ?? a.go, ?? b.go, ?? c.go, ?? d.go, ?? e.go and 2 more;"},
		},
		{
			name:    "CIRCLE_SHA1 is not HEAD",
			setup:   func(t *testing.T, root, _, _ string) { git(t, root, "tag", tag) },
			commit:  func(string) string { return "feedface" },
			wantErr: []string{"CIRCLE_SHA1 feedface is not the commit checked out (HEAD is %[2]s)"},
		},
	}
	template, first, head := repo(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyRepo(t, template)
			tt.setup(t, root, first, head)
			in := version.Inputs{Override: tt.override, Tag: tag, Git: version.Checkout(t.Context(), root)}
			if tt.commit != nil {
				in.Commit = tt.commit(head)
			}
			info, err := version.Resolve(t.Context(), in)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), strings.ReplaceAll(strings.ReplaceAll(w, "%[1]s", first), "%[2]s", head))
				}
				return
			}
			require.NoError(t, err)
			source := "tag"
			if tt.override != "" {
				source = "override"
			}
			wantCommit := head
			if in.Commit != "" {
				wantCommit = in.Commit
			}
			assert.Equal(t, version.Info{Version: "9.9.9", Commit: wantCommit, Source: source}, info)
		})
	}
}
