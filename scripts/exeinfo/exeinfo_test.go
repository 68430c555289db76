package exeinfo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/build"
	"github.com/agent-facets/facets/scripts/exeinfo"
	"github.com/agent-facets/facets/scripts/testenv"
)

func TestReadRealBinaries(t *testing.T) {
	root := testenv.RepoRoot(t)
	tests := []struct {
		target, format string
	}{
		{"linux-x64-baseline", "ELF"},
		{"linux-arm64", "ELF"},
		{"darwin-arm64", "Mach-O"},
		{"windows-x64", "PE"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			target, err := platforms.Lookup(tt.target)
			require.NoError(t, err)
			out := filepath.Join(t.TempDir(), target.Executable())
			cmd := exec.Command("go", build.GoBuildArgs("1.2.3-rc.1", "abc123", out, build.DefaultMain)...)
			cmd.Dir, cmd.Env = root, build.GoEnv(os.Environ(), target, runtime.Version())
			output, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", output)

			info, err := exeinfo.Read(out)
			require.NoError(t, err)
			assert.Equal(t, tt.format, info.Format)
			assert.Equal(t, target.GOOS(), info.GOOS)
			assert.Equal(t, target.GOARCH(), info.GOARCH)
			levelVar, level := target.ArchLevel()
			assert.Equal(t, level, info.Settings[levelVar])
			assert.Equal(t, "0", info.Settings["CGO_ENABLED"])
			assert.Equal(t, "true", info.Settings["-trimpath"])
			assert.Regexp(t, `^go1\.`, info.GoVersion)
			assert.Equal(t, []exeinfo.StampValue{{Version: "1.2.3-rc.1", Commit: "abc123"}}, info.Stamps)
			if tt.format == "ELF" {
				assert.Empty(t, info.Interp, "static")
				assert.Empty(t, info.Libraries, "static")
			}
		})
	}
}

func TestReadRejectsNonExecutables(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o644))
	_, err := exeinfo.Read(text)
	assert.ErrorContains(t, err, "not an ELF, Mach-O or PE executable")

	_, err = exeinfo.Read(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// An executable that Go did not build has no build information.
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	_, err = exeinfo.Read(sh)
	assert.ErrorContains(t, err, "reading Go build information")
}

func TestFindStamps(t *testing.T) {
	assert.Equal(t, "facetstamp/1.2.3/cafe/", exeinfo.Stamp("1.2.3", "cafe"))
	// Stamps are found wherever they sit among other bytes; malformed ones
	// (no terminator, characters outside semver and hex) are ignored.
	data := []byte("\x00\x01garbage" + exeinfo.Stamp("1.2.3", "cafe") + "more" +
		exeinfo.StampPrefix + "bad chars!/x/" + exeinfo.StampPrefix + "//" +
		exeinfo.Stamp("0.0.0-dev.gabc.dirty", "unknown") + exeinfo.StampPrefix + "no-terminator")
	assert.Equal(t, []exeinfo.StampValue{
		{Version: "1.2.3", Commit: "cafe"},
		{Version: "0.0.0-dev.gabc.dirty", Commit: "unknown"},
	}, exeinfo.FindStamps(data))
	assert.Empty(t, exeinfo.FindStamps([]byte("no stamp here")))
}
