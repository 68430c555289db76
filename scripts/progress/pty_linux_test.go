package progress_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/testenv"
)

// openPTY opens a pseudo-terminal that reports 0 columns, as some terminals
// (serial consoles, some CI runners and containers) do.
func openPTY(t *testing.T) (control, term *os.File) {
	t.Helper()
	control, term = testenv.PTY(t)
	ws, err := unix.IoctlGetWinsize(int(term.Fd()), unix.TIOCGWINSZ)
	require.NoError(t, err)
	require.Zero(t, ws.Col, "a new terminal reports 0 columns")
	return control, term
}

// On a terminal that reports 0 columns the bars still show: pb would size its
// overall bar to nothing. The bars run in a child process whose controlling
// terminal is the pseudo-terminal, where pb looks for its size.
func TestBarsOnATerminalOfNoWidth(t *testing.T) {
	screen := barsOnPTY(t, 0)
	assert.Contains(t, screen, "total", "the overall bar is drawn:\n%q", screen)
	assert.Contains(t, screen, "[==============================] 2 / 2", "at a sane width:\n%q", screen)
	assert.Contains(t, screen, "2/2 finished, 2 built")
}

// A terminal that reports its width gets a bar of that width, as pb draws it.
func TestBarsOnATerminal(t *testing.T) {
	screen := barsOnPTY(t, 60)
	assert.Regexp(t, `total +\[=+\] 2 / 2`, screen)
	assert.NotContains(t, screen, "[==============================] 2 / 2", "sized by pb, not the fallback")
}

// barsOnPTY runs the bars in a child process on a pseudo-terminal of cols
// columns and returns what the terminal received.
func barsOnPTY(t *testing.T, cols uint16) string {
	t.Helper()
	control, term := openPTY(t)
	size := unix.Winsize{Col: cols}
	if cols > 0 {
		size.Row = 24
	}
	require.NoError(t, unix.IoctlSetWinsize(int(term.Fd()), unix.TIOCSWINSZ, &size))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FACET_PROGRESS_CHILD=1", "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, term, term
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	term.Close()
	var out bytes.Buffer
	_, err := io.Copy(&out, control) // until the child and its terminal are gone
	if !errors.Is(err, syscall.EIO) {
		require.NoError(t, err)
	}
	require.NoError(t, cmd.Wait(), out.String())
	return out.String()
}

// TestMain runs the tests, or, in the child process of barsOnPTY, the bars.
func TestMain(m *testing.M) {
	if os.Getenv("FACET_PROGRESS_CHILD") != "1" {
		os.Exit(m.Run())
	}
	b := progress.NewBars(os.Stderr, os.Stdout)
	b.Start("building 2 targets", []string{"linux-x64", "darwin-arm64"})
	b.Update("linux-x64", progress.Done, "")
	b.Update("darwin-arm64", progress.Done, "")
	b.Stop()
}
