package main

import "golang.org/x/sys/unix"

// translated reports whether this process runs under Rosetta 2
// (sysctl.proc_translated is 1); the sysctl is missing on Intel Macs.
func translated() bool {
	v, err := unix.SysctlUint32("sysctl.proc_translated")
	return err == nil && v == 1
}
