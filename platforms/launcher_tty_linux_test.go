package platforms_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/testenv"
)

// On a real terminal, Ctrl-C reaches the whole foreground process group, the
// binary included: the launcher does not send it a second SIGINT (a second
// one ends at once many a program that ends gracefully on the first).
func TestCtrlCOnATerminalReachesTheBinaryOnce(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	control, term := testenv.PTY(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "facet")
	require.NoError(t, os.WriteFile(bin, []byte(`#!`+node+`
let first = true;
process.on('SIGINT', () => {
  console.log('got SIGINT');
  // Ask the launcher for a SIGUSR2 back: it passes signals on in the order
  // they came, so any SIGINT of its own arrives before that one.
  if (first) process.kill(process.ppid, 'SIGUSR2');
  first = false;
});
process.on('SIGUSR2', () => console.log('launcher caught up'));
process.stdin.on('data', (d) => { if (String(d).includes('done')) process.exit(3); });
console.log('ready');
`), 0o755))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("npm", "bin", "facet"))
	cmd.Env = append(platforms.WithoutOverride(os.Environ()), platforms.OverrideVar+"="+bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, term, term
	// The launcher leads a session whose controlling terminal is term: it and
	// the binary are its foreground process group, as a shell's job is.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	term.Close() // the launcher and the binary hold it now

	var out bytes.Buffer
	read := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), want) {
			n, err := control.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				require.Failf(t, "terminal closed", "waiting for %q: %v; the terminal showed %q", want, err, out.String())
			}
		}
	}
	read("ready")
	_, err := control.Write([]byte{0x03}) // Ctrl-C
	require.NoError(t, err)
	read("launcher caught up")
	_, err = control.Write([]byte("done\n"))
	require.NoError(t, err)
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v; the terminal showed %q", err, out.String())
	assert.Equal(t, 3, exit.ExitCode(), "the launcher ends as the binary did")
	// Whatever the terminal still had to show.
	rest := make([]byte, 4096)
	for {
		n, err := control.Read(rest)
		out.Write(rest[:n])
		if err != nil {
			break
		}
	}
	assert.Equal(t, 1, strings.Count(out.String(), "got SIGINT"), "the terminal showed %q", out.String())
}
