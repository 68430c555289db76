//go:build !linux && !darwin

package npm

import (
	"context"
	"errors"
	"os"

	"golang.org/x/term"
)

// PTYSupported says whether RunOnTerminal can run npm here: pseudo-terminals
// are used on Linux and macOS only.
const PTYSupported = false

// RunOnTerminal fails: see PTYSupported.
func (c CLI) RunOnTerminal(ctx context.Context, dir string, s Stdio, args ...string) ([]byte, error) {
	return nil, errors.New("running npm on a pseudo-terminal: not supported on this system")
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// OpenTerminal fails: see PTYSupported.
func OpenTerminal() (control, terminal *os.File, err error) {
	return nil, nil, errors.New("opening a pseudo-terminal: not supported on this system")
}
