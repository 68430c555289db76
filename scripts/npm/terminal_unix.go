//go:build linux || darwin

package npm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// PTYSupported says whether RunOnTerminal can run npm here.
const PTYSupported = true

// RunOnTerminal runs npm with args in dir on a pseudo-terminal of its own,
// relayed to the user's terminal s: what npm writes there is shown on s.Out
// and returned, and what the user types is passed on to it, so that npm asks
// what it asks on a terminal (it follows the registry's web login or asks for
// a one-time password only when its standard input and output are one) and
// the caller still gets npm's answer. npm's standard error goes to s.Err and
// into the error, as RunAttached's. s.In and s.Out must be the terminal's
// files.
//
// The user's terminal is in raw mode during the call (npm's terminal does
// the echoing and line editing), and restored after; nothing reads s.In once
// the call has returned. A Ctrl-C goes to npm, as it would on the terminal
// itself; the error of an npm that ends after one wraps ErrInterrupted.
func (c CLI) RunOnTerminal(ctx context.Context, dir string, s Stdio, args ...string) ([]byte, error) {
	in, out, err := terminalOf(s)
	if err != nil {
		return nil, fmt.Errorf("npm %s: %w", strings.Join(args, " "), err)
	}
	inFD, err := fdOf(in)
	if err != nil {
		return nil, err
	}
	cmd := c.command(ctx, dir, args)
	var errBuf bytes.Buffer
	cmd.Stderr = io.MultiWriter(crlf{s.Err}, &errBuf)
	size, err := pty.GetsizeFull(out)
	if err != nil || size.Cols == 0 || size.Rows == 0 {
		size = nil
	}

	saved, err := term.MakeRaw(inFD)
	if err != nil {
		return nil, fmt.Errorf("npm %s: putting the terminal in raw mode: %w", strings.Join(args, " "), err)
	}
	defer func() { _ = term.Restore(inFD, saved) }()

	master, err := pty.StartWithSize(cmd, size)
	if err != nil {
		return nil, fmt.Errorf("npm %s: starting it on a pseudo-terminal: %w", strings.Join(args, " "), err)
	}
	defer master.Close()

	stopR, stopW, err := os.Pipe()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	defer stopR.Close()
	interrupted := make(chan bool, 1)
	go func() { interrupted <- relay(inFD, stopR, master) }()

	shown := &screen{out: out}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// Until npm's side of the terminal is closed (EIO on Linux).
		_, _ = io.Copy(shown, master)
	}()

	err = cmd.Wait()
	<-copied
	stopW.Close() // the relay returns
	ctrlC := <-interrupted
	err = failed(args, errBuf.String, err)
	if err != nil && ctrlC {
		err = fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	return shown.Bytes(), err
}

// relay passes what the user types on the terminal in to npm's terminal
// until stop is readable (closed), reading only what is there to read, so
// that nothing is left waiting on the user's input after the call. It
// reports whether the user typed Ctrl-C.
func relay(in int, stop *os.File, to io.Writer) (ctrlC bool) {
	stopFD, err := fdOf(stop)
	if err != nil {
		return false
	}
	buf := make([]byte, 1024)
	for {
		var ready unix.FdSet
		ready.Set(in)
		ready.Set(stopFD)
		if _, err := unix.Select(max(in, stopFD)+1, &ready, nil, nil, nil); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return ctrlC
		}
		if ready.IsSet(stopFD) {
			return ctrlC
		}
		n, err := unix.Read(in, buf)
		if n > 0 {
			ctrlC = ctrlC || bytes.IndexByte(buf[:n], 0x03) >= 0
			if _, werr := to.Write(buf[:n]); werr != nil {
				return ctrlC
			}
		}
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		case err != nil, n == 0: // the terminal is gone
			// Wait for the end of the call all the same.
			waitReadable(stopFD)
			return ctrlC
		}
	}
}

// waitReadable waits until fd can be read.
func waitReadable(fd int) {
	for {
		var ready unix.FdSet
		ready.Set(fd)
		if _, err := unix.Select(fd+1, &ready, nil, nil, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// fdOf is f's file descriptor, left in the mode it is in (File.Fd would make
// it blocking, and the file's deadlines would stop working).
func fdOf(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd int
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return 0, err
	}
	return fd, nil
}

func isTerminal(f *os.File) bool {
	fd, err := fdOf(f)
	return err == nil && term.IsTerminal(fd)
}

// OpenTerminal opens a pseudo-terminal: its controlling side, which shows
// what is written to the terminal, and the terminal itself, for a program to
// run on as if a user sat at it (the rehearsal's maintainer).
func OpenTerminal() (control, terminal *os.File, err error) { return pty.Open() }
