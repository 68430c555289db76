// Package procgroup runs a command together with the processes it starts, so
// that cancelling it ends them all: `go build` runs the compiler and linker as
// children, and killing go alone would leave them running. On Unix the command
// gets a process group of its own, on Windows a job object. Helper.
package procgroup
