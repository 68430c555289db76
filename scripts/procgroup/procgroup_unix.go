//go:build unix

package procgroup

import (
	"os/exec"
	"syscall"
	"time"
)

// Run runs cmd in a process group of its own and makes
// cancellation kill the whole group: go build runs the compiler and linker as
// children, and killing go alone would leave them running.
func Run(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}
