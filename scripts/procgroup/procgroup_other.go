//go:build !unix

package build

import (
	"os/exec"
	"time"
)

// killProcessGroupOnCancel keeps exec's default: cancellation kills the go
// command itself.
func killProcessGroupOnCancel(cmd *exec.Cmd) {
	cmd.WaitDelay = 10 * time.Second
}
