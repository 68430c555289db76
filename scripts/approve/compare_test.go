package approve_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/approve"
)

// file is one file of a test tarball.
type file struct {
	name string
	mode int64
	data string
}

// tgz packs files as npm does, under package/; mtime goes in the gzip
// header, so that two packings of the same files can differ in bytes.
func tgz(t *testing.T, mtime time.Time, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = mtime
	tw := tar.NewWriter(zw)
	for _, f := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "package/" + f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(f.data))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestCompare(t *testing.T) {
	manifest := file{"package.json", 0o644, `{"name":"@agent-facets/cli-linux-x64","version":"1.0.0","os":["linux"]}`}
	bin := file{"bin/facet", 0o755, "binary"}
	readme := file{"README.md", 0o644, "readme"}
	at := time.Unix(0, 0)
	rebuilt := tgz(t, at, manifest, bin, readme)
	tests := []struct {
		name      string
		staged    []byte
		identical bool
		diffs     []string
	}{
		{"the same bytes", tgz(t, at, manifest, bin, readme), true, nil},
		{"the same files packed otherwise", tgz(t, at.Add(time.Hour), manifest, bin, readme), false, nil},
		{"a file added", tgz(t, at, manifest, bin, readme, file{"evil.js", 0o644, "x"}), false, []string{"file evil.js added"}},
		{"a file missing", tgz(t, at, manifest, bin), false, []string{"file README.md missing"}},
		{"a file changed", tgz(t, at, manifest, file{"bin/facet", 0o755, "other binary"}, readme), false,
			[]string{"file bin/facet changed (sha256 3c5b5e0b1e0f…, rebuilt 9a2ba5f3b1b1…)"}},
		{"a mode changed", tgz(t, at, manifest, file{"bin/facet", 0o644, "binary"}, readme), false, []string{"file bin/facet mode 644, rebuilt 755"}},
		{"a manifest field changed", tgz(t, at, file{"package.json", 0o644, `{"name":"@agent-facets/cli-linux-x64","version":"1.0.0","os":["darwin"],"scripts":{"postinstall":"x"}}`}, bin, readme), false,
			[]string{
				"file package.json changed (sha256 ",
				`manifest field os is ["darwin"], rebuilt ["linux"]`,
				`manifest field scripts added ({"postinstall":"x"})`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := approve.Compare(rebuilt, tt.staged)
			require.NoError(t, err)
			assert.Equal(t, tt.identical, c.Identical)
			assert.Equal(t, len(tt.diffs) == 0, c.Same())
			require.Len(t, c.Diffs, len(tt.diffs), "%q", c.Diffs)
			for i, d := range tt.diffs {
				if tt.name == "a file changed" {
					assert.Regexp(t, `^file bin/facet changed \(sha256 [0-9a-f]{12}…, rebuilt [0-9a-f]{12}…\)$`, c.Diffs[i])
					continue
				}
				assert.Contains(t, c.Diffs[i], d)
			}
		})
	}
}

// A refusal names the first differences and counts the others.
func TestCompareManyDifferences(t *testing.T) {
	at := time.Unix(0, 0)
	manifest := file{"package.json", 0o644, `{"name":"x","version":"1.0.0"}`}
	rebuilt := tgz(t, at, manifest)
	staged := tgz(t, at, manifest, file{"a", 0o644, "a"}, file{"b", 0o644, "b"}, file{"c", 0o644, "c"}, file{"d", 0o644, "d"}, file{"e", 0o644, "e"}, file{"f", 0o644, "f"}, file{"g", 0o644, "g"})
	c, err := approve.Compare(rebuilt, staged)
	require.NoError(t, err)
	assert.Equal(t, []string{"file a added", "file b added", "file c added", "file d added", "file e added"}, c.Diffs)
	assert.Equal(t, 2, c.More)
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{"1.2.3": "1.2.3", "agent-facets@1.2.3": "1.2.3", " 1.3.0-rc.1 ": "1.3.0-rc.1", "agent-facets@2.0.0-beta.2": "2.0.0-beta.2"} {
		v, err := approve.ParseVersion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, v)
	}
	for _, in := range []string{"", "1.2", "v1.2.3", "facets@1.2.3", "1.2.3+build", "agent-facets@", "latest"} {
		_, err := approve.ParseVersion(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), "is not a release: want a version X.Y.Z or its tag agent-facets@X.Y.Z, such as 1.2.3 or agent-facets@1.2.3", in)
	}
}
