// Package releasetest makes, for tests, what the registry stages read from
// dist/: the 13 packages of a version packed by the package stage. It is test
// support: only tests use it.
//
// The targets this machine runs natively are really built (so that an
// installed facet really runs); the others get stand-in bytes with build
// records to match, which the package stage accepts as it accepts any
// verified build.
package releasetest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
	"github.com/agent-facets/facets/scripts/testenv"
)

// Commit is the commit stamped into the packages.
const Commit = "0123456789abcdef0123456789abcdef01234567"

// Packed builds and packs the 13 packages of version into a new dist
// directory and returns its layout and the pack records.
func Packed(t testing.TB, version string) (dist.Layout, []dist.PackRecord) {
	t.Helper()
	return pack(t, version, true)
}

// StandIns packs the 13 packages of version with stand-in bytes for every
// binary, this machine's too: a release that installs, and whose facet does
// not run.
func StandIns(t testing.TB, version string) (dist.Layout, []dist.PackRecord) {
	t.Helper()
	return pack(t, version, false)
}

func pack(t testing.TB, version string, real bool) (dist.Layout, []dist.PackRecord) {
	t.Helper()
	root := testenv.RepoRoot(t)
	l := dist.Layout{Root: t.TempDir()}
	host := build.DetectHost()
	host.Qemu = nil // only native runs: quick
	var native []platforms.Target
	for _, tg := range platforms.All() {
		if real && host.Runs(tg) {
			native = append(native, tg)
			continue
		}
		data := []byte("stand-in binary of " + tg.Name() + " " + version)
		if err := dist.WriteFileAtomic(l.Binary(tg), data, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if err := l.WriteBuildRecord(tg, dist.BuildRecord{
			Target: tg.Name(), Package: tg.Package(), Version: version, Commit: Commit,
			Binary: l.BinaryRel(tg), Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Checks: []string{"stand-in"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(native) > 0 {
		if _, err := build.Run(t.Context(), build.Config{
			Root: root, Dist: l, Targets: native, Version: version, Commit: Commit, Host: host,
		}); err != nil {
			t.Fatal(err)
		}
	}
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, platforms.InstallScriptPath))
	if err != nil {
		t.Fatal(err)
	}
	records, err := npmpkg.Run(t.Context(), npmpkg.Config{Dist: l, License: license, InstallScript: script, NPM: npm.CLI{Path: testenv.LookPath(t, "npm", "install npm 11")}})
	if err != nil {
		t.Fatal(err)
	}
	return l, records
}

// Tarballs are the paths of the tarballs of records in l, in order.
func Tarballs(l dist.Layout, records []dist.PackRecord) []string {
	paths := make([]string, len(records))
	for i, r := range records {
		paths[i] = filepath.Join(l.Root, r.Tarball)
	}
	return paths
}
