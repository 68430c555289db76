package testenv

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// PTY opens a pseudo-terminal for t: its controlling side, which a test reads
// what a program shows and types into, and the terminal a program runs on.
// A new one reports 0 rows and 0 columns, as some terminals do.
func PTY(t testing.TB) (control, term *os.File) {
	t.Helper()
	control, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { control.Close() })
	// Through SyscallConn, not Fd, which would make the file blocking: its
	// reads could not be ended by closing it, nor have deadlines.
	rc, err := control.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	ctlErr := rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err = errors.Join(ctlErr, err); err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return control, term
}
