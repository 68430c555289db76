package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/exeinfo"
)

// Want is what a binary must say about itself to be the build of Target.
type Want struct {
	Target          platforms.Target
	Version, Commit string // the version stamp
	Pin                    // the toolchain and default GODEBUG of a sealed build
}

// CheckBinary compares what a binary says about itself with what it must be:
// the header's OS and architecture; the Go version; exactly the build settings
// of a sealed build (GOOS, GOARCH, CPU level, CGO_ENABLED=0, -trimpath,
// -buildmode=exe, -compiler=gc, the default GODEBUG, and nothing else: no
// GOEXPERIMENT, GOFIPS140, -tags …); static linking for an ELF binary of an
// OS where Go links statically; and the version stamp. The error lists every
// difference.
func CheckBinary(info *exeinfo.Info, w Want) error {
	t := w.Target
	var bad []string
	if info.GOOS != t.GOOS() || info.GOARCH != t.GOARCH() {
		bad = append(bad, fmt.Sprintf("%s header is for %s/%s, want %s/%s", info.Format, info.GOOS, info.GOARCH, t.GOOS(), t.GOARCH()))
	}
	if info.GoVersion != w.Toolchain {
		bad = append(bad, fmt.Sprintf("built by %s, want %s (go.mod's toolchain)", info.GoVersion, w.Toolchain))
	}
	want := map[string]string{
		"GOOS":        t.GOOS(),
		"GOARCH":      t.GOARCH(),
		"CGO_ENABLED": "0",
		"-trimpath":   "true",
		"-buildmode":  "exe",
		"-compiler":   "gc",
	}
	if levelVar, level := t.ArchLevel(); levelVar != "" {
		want[levelVar] = level
	}
	if w.DefaultGODEBUG != "" {
		want["DefaultGODEBUG"] = w.DefaultGODEBUG
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if got, ok := info.Settings[key]; got != want[key] {
			if !ok {
				got = "(unset)"
			}
			bad = append(bad, fmt.Sprintf("build setting %s=%s, want %s", key, got, want[key]))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(info.Settings)) {
		if _, ok := want[key]; !ok {
			bad = append(bad, fmt.Sprintf("build setting %s=%s, want none (set outside the repository?)", key, info.Settings[key]))
		}
	}
	if info.Format == "ELF" && linksStatically(t.GOOS()) && (info.Interp != "" || len(info.Libraries) > 0) {
		bad = append(bad, fmt.Sprintf("dynamically linked (interpreter %q, libraries %v), want static", info.Interp, info.Libraries))
	}
	stamp := exeinfo.StampValue{Version: w.Version, Commit: w.Commit}
	switch {
	case len(info.Stamps) == 0:
		bad = append(bad, "no version stamp, want version "+w.Version)
	case len(info.Stamps) > 1:
		bad = append(bad, fmt.Sprintf("%d version stamps %v, want one", len(info.Stamps), info.Stamps))
	case info.Stamps[0] != stamp:
		bad = append(bad, fmt.Sprintf("stamped version %s (commit %s), want %s (commit %s)",
			info.Stamps[0].Version, info.Stamps[0].Commit, w.Version, w.Commit))
	}
	if len(bad) > 0 {
		return fmt.Errorf("binary does not match target %s: %s", t.Name(), strings.Join(bad, "; "))
	}
	return nil
}

// linksStatically reports whether Go links a binary for goos statically with
// CGO_ENABLED=0. Elsewhere (OpenBSD, Solaris, Android) the system's libc is
// the only way into the kernel, and Go asks for its loader.
func linksStatically(goos string) bool {
	switch goos {
	case "linux", "freebsd", "netbsd":
		return true
	}
	return false
}

// ReportedVersion is the version in the output of facet --version: the last
// whitespace-separated token of the first line, as installers read it.
func ReportedVersion(output string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(output), "\n")
	fields := strings.Fields(first)
	if len(fields) == 0 {
		return ""
	}
	return fields[len(fields)-1]
}

// An execCheck runs a binary with --version, natively or under an emulator.
type execCheck struct {
	name   string   // as recorded in the build record
	argv   []string // the command before the binary: empty natively, or a qemu-user command
	refuse bool     // the binary must refuse to start (a v3 binary on a CPU without AVX2)
}

// execChecks lists the runs that prove t's binary on this host: natively when
// the host runs it, and on Linux under qemu-user: x64 binaries on a CPU without
// AVX2 (the baseline must start, the others must refuse), binaries of other
// architectures on their emulator.
func (b *builder) execChecks(t platforms.Target) []execCheck {
	h := b.cfg.Host
	var checks []execCheck
	if h.Runs(t) {
		checks = append(checks, execCheck{name: "run"})
	}
	if h.GOOS != "linux" || t.GOOS() != "linux" {
		return checks
	}
	qemu := h.Qemu[t.GOARCH()]
	switch {
	case qemu == "":
	case t.GOARCH() == "amd64" && t.Baseline:
		checks = append(checks, execCheck{name: "qemu-nehalem-starts", argv: []string{qemu, "-cpu", "Nehalem"}})
	case t.GOARCH() == "amd64":
		checks = append(checks, execCheck{name: "qemu-nehalem-refuses", argv: []string{qemu, "-cpu", "Nehalem"}, refuse: true})
	case t.GOARCH() != h.GOARCH:
		checks = append(checks, execCheck{name: filepath.Base(qemu), argv: []string{qemu}})
	}
	return checks
}

// checksFor names what verifying t proves on this host, in a stable order.
func (b *builder) checksFor(t platforms.Target) []string {
	names := []string{"header"}
	for _, c := range b.execChecks(t) {
		names = append(names, c.name)
	}
	return names
}

// verify proves t's binary right and returns the Go version that built it.
func (b *builder) verify(ctx context.Context, t platforms.Target) (string, error) {
	path := b.cfg.Dist.Binary(t)
	info, err := exeinfo.Read(path)
	if err != nil {
		return "", err
	}
	if err := CheckBinary(info, Want{Target: t, Version: b.cfg.Version, Commit: b.cfg.Commit, Pin: *b.cfg.Pin}); err != nil {
		return "", err
	}
	for _, c := range b.execChecks(t) {
		if err := b.execute(ctx, c, path); err != nil {
			return "", fmt.Errorf("%s check: %w", c.name, err)
		}
	}
	return info.GoVersion, nil
}

// execTimeout bounds one run of a binary, so that a hung binary fails the
// build instead of stalling it.
const execTimeout = time.Minute

// execute runs one check.
func (b *builder) execute(ctx context.Context, c execCheck, binary string) error {
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	argv := append(slices.Clone(c.argv), binary, "--version")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = platforms.WithoutOverride(b.cfg.Env)
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	command := strings.Join(argv, " ")
	if c.refuse {
		var exit *exec.ExitError
		switch {
		case err == nil:
			return fmt.Errorf("%s started on a CPU without AVX2, but a GOAMD64=v3 binary must refuse to", command)
		case !errors.As(err, &exit) || !strings.Contains(text, "v3 microarchitecture"):
			return fmt.Errorf("%s failed without Go's CPU-level message: %w: %s", command, err, text)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w: %s", command, err, text)
	}
	if got := ReportedVersion(text); got != b.cfg.Version {
		return fmt.Errorf("%s printed %q, want version %s", command, text, b.cfg.Version)
	}
	return nil
}
