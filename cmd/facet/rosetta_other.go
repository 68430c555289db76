//go:build !darwin

package main

// translated is false: Rosetta is macOS's.
func translated() bool { return false }
