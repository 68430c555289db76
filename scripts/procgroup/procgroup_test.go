package procgroup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

// The Windows job object cannot run here, but it must compile: build this
// package for Windows with the flags of the windows-x64 target, whose standard
// library the install tests compile anyway. (Cancellation on Unix is tested
// through the build: TestCancelKillsCompilers.)
func TestBuildsForWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("built for Windows already: this is Windows")
	}
	goTool := testenv.LookPath(t, "go", "install Go 1.26")
	// Reading the Windows files ties go test's cache to them: this package's
	// Unix build does not include them.
	files, err := filepath.Glob("*_windows.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := os.ReadFile(f)
		require.NoError(t, err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-trimpath", "-buildvcs=false", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "GOAMD64=v3", "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
