package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// asideSuffix starts the name of the running Windows binary once it is moved
// aside: facet.exe.old-<random>. Each update picks a new name, so that an
// older facet.exe.old-… still running (a long-lived facet) stands in no
// one's way; a later start removes those that no longer run (removeAside).
const asideSuffix = ".old"

// swapper moves a new binary over the installed one. goos is a field so that
// both ways are tested on any system; rename and sleep are os.Rename and
// time.Sleep but in tests.
type swapper struct {
	goos   string
	rename func(from, to string) error
	sleep  func(time.Duration)
}

// swapIn moves the new binary tmp over exe, atomically, never writing into
// the file that is running. On Unix that is one rename: a process killed at
// any point leaves the old binary or the new one in place. On Windows (goos
// "windows") a running executable cannot be replaced but can be renamed: exe
// goes aside first (as rustup does), and comes back if the new one cannot be
// moved in. A kill between those two renames leaves no exe (install.sh
// again is the remedy: see selfUpdateHelp).
func swapIn(goos, tmp, exe string) error {
	return swapper{goos: goos, rename: os.Rename, sleep: time.Sleep}.swap(tmp, exe)
}

func (s swapper) swap(tmp, exe string) error {
	if s.goos != "windows" {
		return s.rename(tmp, exe)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	aside := exe + asideSuffix + "-" + hex.EncodeToString(b[:])
	if err := s.retry(exe, aside); err != nil {
		return err
	}
	if err := s.retry(tmp, exe); err != nil {
		if back := s.retry(aside, exe); back != nil {
			return fmt.Errorf("%w; and putting %s back failed: %v (it is %s now)", err, exe, back, aside)
		}
		return err
	}
	return nil
}

// retries bounds retry: the waits between attempts, some 1.5 s in all.
var retries = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

// retry renames from to to, again after a short wait while Windows says the
// file is in use (an antivirus or indexer holds it a moment after it was
// written: rustup retries the same way).
func (s swapper) retry(from, to string) error {
	err := s.rename(from, to)
	for _, wait := range retries {
		if err == nil || !s.transient(err) {
			return err
		}
		s.sleep(wait)
		err = s.rename(from, to)
	}
	return err
}

// errorSharingViolation is Windows's ERROR_SHARING_VIOLATION.
const errorSharingViolation = syscall.Errno(32)

// transient reports whether a rename on Windows (the only one retry serves)
// failed for a moment only: access denied or a sharing violation.
func (s swapper) transient(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, errorSharingViolation)
}

// removeAside removes the exe.old-… files that self-updates on Windows left
// beside exe (see swapIn), and the exe.old of earlier versions. One that
// still runs (a facet started before the update) cannot be removed: it is
// left for a later start.
func removeAside(goos, exe string) {
	if goos != "windows" || exe == "" {
		return
	}
	old, _ := filepath.Glob(exe + asideSuffix + "-*")
	for _, f := range append(old, exe+asideSuffix) {
		_ = os.Remove(f)
	}
}
