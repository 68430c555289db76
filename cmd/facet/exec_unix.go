//go:build unix

package main

import "syscall"

// execve replaces this process with file: the override gets this process's
// id, signals and terminal, and its exit status is the caller's.
func execve(file string, argv, env []string) error {
	return syscall.Exec(file, argv, env)
}
