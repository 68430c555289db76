package npmpkg_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/testenv"
)

const license = "MIT License\n\nCopyright (c) 2026 Agent Facets, Inc.\n"

func TestPlatformManifests(t *testing.T) {
	for _, tg := range platforms.All() {
		m := npmpkg.Platform(tg, "1.2.3")
		assert.Equal(t, tg.Package(), m.Name)
		assert.Equal(t, "1.2.3", m.Version)
		assert.Contains(t, m.Description, tg.Title(), "the description names the platform")
		assert.Equal(t, "MIT", m.License)
		assert.Equal(t, "git+https://github.com/agent-facets/facets.git", m.Repository.URL)
		assert.Equal(t, []string{tg.OS}, m.OS)
		assert.Equal(t, []string{tg.CPU}, m.CPU)
		if tg.Libc == platforms.Musl {
			assert.Equal(t, []string{"musl"}, m.Libc, "a glibc host does not download the musl package")
		} else {
			assert.Empty(t, m.Libc, "a host whose libc npm cannot tell still installs it")
		}
		assert.True(t, m.PreferUnplugged)
		assert.Equal(t, []string{tg.BinPath()}, m.Files)
	}
}

func TestWrapperManifest(t *testing.T) {
	m := npmpkg.Wrapper(platforms.All(), "2.0.0-rc.1")
	assert.Equal(t, "agent-facets", m.Name)
	assert.Equal(t, "2.0.0-rc.1", m.Version)
	assert.Equal(t, map[string]string{"facet": "bin/facet"}, m.Bin)
	data, err := json.Marshal(m)
	require.NoError(t, err)
	assert.NotContains(t, string(data), `"scripts"`, "no install scripts: package managers block or warn about them")
	assert.Equal(t, map[string]string{"node": ">=18"}, m.Engines)
	assert.Len(t, m.OptionalDependencies, 12)
	for _, tg := range platforms.All() {
		assert.Equal(t, "2.0.0-rc.1", m.OptionalDependencies[tg.Package()], "pinned to the exact version")
	}
	assert.Equal(t, []string{"bin/facet", "install.sh", "lib/doctor.js", "lib/fastpath.js", "lib/platform.js", "lib/platforms.json"}, m.Files)
}

// fakeBuild lays out what a build leaves: a binary and a build record per
// target. The binaries are not real; the package stage trusts the records.
func fakeBuild(t *testing.T, version string) dist.Layout {
	t.Helper()
	l := dist.Layout{Root: t.TempDir()}
	for _, tg := range platforms.All() {
		data := []byte("binary of " + tg.Config().GOOS + "/" + tg.Config().GOARCH + "/" + tg.Config().Level)
		require.NoError(t, dist.WriteFileAtomic(l.Binary(tg), data, 0o755))
		sum := sha256.Sum256(data)
		require.NoError(t, l.WriteBuildRecord(tg, dist.BuildRecord{
			Target: tg.Name(), Package: tg.Package(), Version: version, Commit: "abc",
			Binary: l.BinaryRel(tg), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Checks: []string{"header"},
		}))
	}
	return l
}

func config(t *testing.T, l dist.Layout) npmpkg.Config {
	script, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "install.sh"))
	require.NoError(t, err)
	return npmpkg.Config{Dist: l, License: []byte(license), InstallScript: script, NPM: npm.CLI{Path: testenv.LookPath(t, "npm", "install npm 11")}}
}

// tarEntry returns the bytes of the file name in the gzipped tarball tgz.
func tarEntry(t *testing.T, tgz, name string) []byte {
	t.Helper()
	f, err := os.Open(tgz)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "%s holds %s", tgz, name)
		if h.Name == name {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			return data
		}
	}
}

func TestRunAssemblesPacksAndChecks(t *testing.T) {
	l := fakeBuild(t, "1.2.3")
	records, err := npmpkg.Run(t.Context(), config(t, l))
	require.NoError(t, err)
	require.Len(t, records, 13)

	for i, tg := range platforms.All() {
		r := records[i]
		assert.Equal(t, tg.Package(), r.Name)
		assert.Equal(t, tg.Name(), r.Target)
		assert.Equal(t, "agent-facets-cli-"+tg.Name()+"-1.2.3.tgz", r.Tarball)
		assert.Equal(t, []string{"LICENSE", "README.md", tg.BinPath(), "package.json"}, r.Files)
		assert.Regexp(t, `^sha512-`, r.Integrity)

		var m npmpkg.PlatformManifest
		data, err := os.ReadFile(filepath.Join(l.PackageDir(tg.Package()), "package.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &m))
		assert.Equal(t, npmpkg.Platform(tg, "1.2.3"), m)
		readme, err := os.ReadFile(filepath.Join(l.PackageDir(tg.Package()), "README.md"))
		require.NoError(t, err)
		assert.Contains(t, string(readme), "npm install -g agent-facets")
		lic, err := os.ReadFile(filepath.Join(l.PackageDir(tg.Package()), "LICENSE"))
		require.NoError(t, err)
		assert.Equal(t, license, string(lic))
	}
	w := records[12]
	assert.Equal(t, "agent-facets", w.Name)
	assert.Empty(t, w.Target)
	assert.Equal(t, "agent-facets-1.2.3.tgz", w.Tarball)
	assert.Equal(t, []string{"LICENSE", "README.md", "bin/facet", "install.sh", "lib/doctor.js", "lib/fastpath.js", "lib/platform.js", "lib/platforms.json", "package.json"}, w.Files)
	// install.sh, byte for byte, in the tarball users download.
	script, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "install.sh"))
	require.NoError(t, err)
	assert.Equal(t, string(script), string(tarEntry(t, filepath.Join(l.Root, w.Tarball), "package/install.sh")))
	info, err := os.Stat(filepath.Join(l.PackageDir("agent-facets"), "bin", "facet"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), info.Mode().Perm())
	manifest, err := os.ReadFile(filepath.Join(l.PackageDir("agent-facets"), "package.json"))
	require.NoError(t, err)
	assert.Contains(t, string(manifest), `"node": ">=18"`, "no HTML escaping")

	// SHA256SUMS: one line per tarball, sorted by name, in sha256sum's format.
	f, err := os.Open(l.SumsPath())
	require.NoError(t, err)
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		require.True(t, ok, sc.Text())
		data, err := os.ReadFile(filepath.Join(l.Root, name))
		require.NoError(t, err)
		digest := sha256.Sum256(data)
		assert.Equal(t, hex.EncodeToString(digest[:]), sum, name)
		names = append(names, name)
	}
	assert.Len(t, names, 13)
	assert.True(t, sort.StringsAreSorted(names))

	onDisk, err := l.ReadPackRecords()
	require.NoError(t, err)
	assert.Equal(t, records, onDisk)
}

// npm is a deterministic packer: packing the same build twice gives the same
// tarballs, byte for byte.
func TestPackingTwiceGivesTheSameTarballs(t *testing.T) {
	l := fakeBuild(t, "1.2.3")
	first, err := npmpkg.Run(t.Context(), config(t, l))
	require.NoError(t, err)
	second, err := npmpkg.Run(t.Context(), config(t, l))
	require.NoError(t, err)
	for i := range first {
		assert.Equal(t, first[i].Integrity, second[i].Integrity, first[i].Name)
		assert.Equal(t, first[i].SHA256, second[i].SHA256, first[i].Name)
	}
}

// A new version replaces the tarballs of the old one.
func TestOldTarballsGo(t *testing.T) {
	l := fakeBuild(t, "1.0.0")
	_, err := npmpkg.Run(t.Context(), config(t, l))
	require.NoError(t, err)
	for _, tg := range platforms.All() {
		r, err := l.ReadBuildRecord(tg)
		require.NoError(t, err)
		r.Version = "1.0.1"
		require.NoError(t, l.WriteBuildRecord(tg, r))
	}
	_, err = npmpkg.Run(t.Context(), config(t, l))
	require.NoError(t, err)
	tgz, err := filepath.Glob(filepath.Join(l.Root, "*.tgz"))
	require.NoError(t, err)
	assert.Len(t, tgz, 13)
	for _, f := range tgz {
		assert.Contains(t, f, "-1.0.1.tgz")
	}
}

// listing returns every path under root with its content, to prove that a
// refused run changed nothing.
func listing(t *testing.T, root string) map[string]string {
	files := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = info.Mode().String() + " " + string(data)
		return err
	}))
	return files
}

func TestRunRefusesBadBuilds(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, l dist.Layout)
		want  string
	}{
		{"a target not built", func(t *testing.T, l dist.Layout) {
			require.NoError(t, l.RemoveBuildRecord(platforms.All()[3]))
			require.NoError(t, l.RemoveBuildRecord(platforms.All()[7]))
		}, "package: not built: linux-arm64, linux-x64-baseline-musl (run go tool mage build)"},
		{"mixed versions", func(t *testing.T, l dist.Layout) {
			tg := platforms.All()[5]
			r, err := l.ReadBuildRecord(tg)
			require.NoError(t, err)
			r.Version = "1.2.4"
			require.NoError(t, l.WriteBuildRecord(tg, r))
		}, "package: linux-x64 was built as 1.2.4 (commit abc) but darwin-arm64 as 1.2.3 (commit abc)"},
		{"a binary changed after verification", func(t *testing.T, l dist.Layout) {
			require.NoError(t, os.WriteFile(l.Binary(platforms.All()[10]), []byte("patched"), 0o755))
		}, "package: windows-x64: the binary changed since it was built and verified (run go tool mage build)"},
		{"a binary removed", func(t *testing.T, l dist.Layout) {
			require.NoError(t, os.Remove(l.Binary(platforms.All()[0])))
		}, "package: darwin-arm64: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := fakeBuild(t, "1.2.3")
			tt.spoil(t, l)
			before := listing(t, l.Root)
			_, err := npmpkg.Run(t.Context(), config(t, l))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, before, listing(t, l.Root), "nothing changed")
		})
	}
	t.Run("no license", func(t *testing.T) {
		l := fakeBuild(t, "1.2.3")
		cfg := config(t, l)
		cfg.License = nil
		_, err := npmpkg.Run(t.Context(), cfg)
		assert.ErrorContains(t, err, "no license text")
	})
	t.Run("no install script", func(t *testing.T) {
		l := fakeBuild(t, "1.2.3")
		cfg := config(t, l)
		cfg.InstallScript = nil
		before := listing(t, l.Root)
		_, err := npmpkg.Run(t.Context(), cfg)
		assert.ErrorContains(t, err, "no install script (the repository's install.sh)")
		assert.Equal(t, before, listing(t, l.Root), "nothing changed")
	})
}

// Every tarball is checked against what its package must hold.
func TestRunChecksTarballs(t *testing.T) {
	t.Run("a stray file npm includes", func(t *testing.T) {
		l := fakeBuild(t, "1.2.3")
		tg := platforms.All()[5]
		// npm always packs LICENSE* files, whatever "files" says.
		require.NoError(t, os.WriteFile(filepath.Join(l.PackageDir(tg.Package()), "LICENSE.old"), []byte("old"), 0o644))
		_, err := npmpkg.Run(t.Context(), config(t, l))
		assert.ErrorContains(t, err, "agent-facets-cli-linux-x64-1.2.3.tgz: stray file LICENSE.old")
	})
	t.Run("a binary that is not executable", func(t *testing.T) {
		l := fakeBuild(t, "1.2.3")
		require.NoError(t, os.Chmod(l.Binary(platforms.All()[9]), 0o644))
		_, err := npmpkg.Run(t.Context(), config(t, l))
		assert.ErrorContains(t, err, "agent-facets-cli-windows-arm64-1.2.3.tgz: bin/facet.exe has mode 0644, want 0755")
	})
}
