package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// asideSuffix names the running Windows binary once it is moved aside:
// facet.exe.old.
const asideSuffix = ".old"

// swapIn moves the new binary tmp over exe, atomically, never writing into
// the file that is running. On Windows (goos "windows") a running executable
// cannot be replaced but can be renamed: exe goes aside to exe.old first (as
// rustup does), and comes back if the new one cannot be moved in; the next
// start removes exe.old (removeAside). goos is a parameter so that both ways
// are tested on any system.
func swapIn(goos, tmp, exe string) error {
	if goos != "windows" {
		return os.Rename(tmp, exe)
	}
	old := exe + asideSuffix
	if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the previous %s: %w", old, err)
	}
	if err := os.Rename(exe, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, exe); err != nil {
		if back := os.Rename(old, exe); back != nil {
			return fmt.Errorf("%w; and putting %s back failed: %v", err, exe, back)
		}
		return err
	}
	return nil
}

// removeAside removes the exe.old that a self-update on Windows left beside
// exe (see swapIn). It may still run (another facet started before the
// update): it is then left for a later start.
func removeAside(goos, exe string) {
	if goos == "windows" && exe != "" {
		_ = os.Remove(exe + asideSuffix)
	}
}
