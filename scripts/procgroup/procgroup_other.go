//go:build !unix && !windows

package procgroup

import (
	"os/exec"
	"time"
)

// Run runs cmd with exec's default, elsewhere: cancellation kills the
// command itself.
func Run(cmd *exec.Cmd) error {
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}
