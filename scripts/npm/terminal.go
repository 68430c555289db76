package npm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// ErrInterrupted is a command the user interrupted at the terminal
// (Ctrl-C), which npm, on a pseudo-terminal of its own, received instead of
// this process.
var ErrInterrupted = errors.New("interrupted at the terminal")

// errNotTerminal is a Stdio that is not a terminal, given to RunOnTerminal.
var errNotTerminal = errors.New("standard input and output are not a terminal")

// terminalOf returns the files of s's terminal: its input and output must be
// terminals.
func terminalOf(s Stdio) (in, out *os.File, err error) {
	in, okIn := s.In.(*os.File)
	out, okOut := s.Out.(*os.File)
	if !okIn || !okOut || !isTerminal(in) || !isTerminal(out) {
		return nil, nil, errNotTerminal
	}
	return in, out, nil
}

// screen is what npm wrote on its terminal: shown on the user's and kept.
// A user's terminal that fails to take it does not stop npm.
type screen struct {
	out io.Writer
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	_, _ = s.out.Write(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// crlf writes to a terminal in raw mode, where a line feed does not return
// the carriage.
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	if c.w == nil {
		return len(p), nil
	}
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
