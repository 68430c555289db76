//go:build unix

package build

import (
	"syscall"
	"time"
)

// childCPU is the user and system time of every child process this process
// has waited for, and of their waited-for descendants (the compilers go runs).
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
