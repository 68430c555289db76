package build

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/exeinfo"
)

// CheckBinary compares what a binary says about itself with its target: the
// header's OS and architecture, the Go build settings (GOOS, GOARCH, CPU level,
// CGO_ENABLED=0, -trimpath), static linking for ELF, and the version stamp. The
// error lists every difference.
func CheckBinary(info *exeinfo.Info, t platforms.Target, version, commit string) error {
	var bad []string
	if info.GOOS != t.GOOS() || info.GOARCH != t.GOARCH() {
		bad = append(bad, fmt.Sprintf("%s header is for %s/%s, want %s/%s", info.Format, info.GOOS, info.GOARCH, t.GOOS(), t.GOARCH()))
	}
	levelVar, level := t.ArchLevel()
	for _, want := range [][2]string{
		{"GOOS", t.GOOS()},
		{"GOARCH", t.GOARCH()},
		{levelVar, level},
		{"CGO_ENABLED", "0"},
		{"-trimpath", "true"},
	} {
		if got, ok := info.Settings[want[0]]; got != want[1] {
			if !ok {
				got = "(unset)"
			}
			bad = append(bad, fmt.Sprintf("build setting %s=%s, want %s", want[0], got, want[1]))
		}
	}
	if info.Format == "ELF" && (info.Interp != "" || len(info.Libraries) > 0) {
		bad = append(bad, fmt.Sprintf("dynamically linked (interpreter %q, libraries %v), want static", info.Interp, info.Libraries))
	}
	want := exeinfo.StampValue{Version: version, Commit: commit}
	switch {
	case len(info.Stamps) == 0:
		bad = append(bad, "no version stamp, want version "+version)
	case len(info.Stamps) > 1:
		bad = append(bad, fmt.Sprintf("%d version stamps %v, want one", len(info.Stamps), info.Stamps))
	case info.Stamps[0] != want:
		bad = append(bad, fmt.Sprintf("stamped version %s (commit %s), want %s (commit %s)",
			info.Stamps[0].Version, info.Stamps[0].Commit, version, commit))
	}
	if len(bad) > 0 {
		return fmt.Errorf("binary does not match target %s: %s", t.Name(), strings.Join(bad, "; "))
	}
	return nil
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

// execChecks lists the runs that prove t's binary on this host.
func (b *builder) execChecks(t platforms.Target) []execCheck {
	h := b.cfg.Host
	var checks []execCheck
	if h.Runs(t) {
		checks = append(checks, execCheck{name: "run"})
	}
	if h.GOOS != "linux" || t.GOOS() != "linux" {
		return checks
	}
	switch {
	case t.GOARCH() == "arm64" && h.GOARCH != "arm64" && h.QemuAarch64 != "":
		checks = append(checks, execCheck{name: "qemu-aarch64", argv: []string{h.QemuAarch64}})
	case t.GOARCH() == "amd64" && h.QemuX8664 != "" && t.Baseline:
		checks = append(checks, execCheck{name: "qemu-nehalem-starts", argv: []string{h.QemuX8664, "-cpu", "Nehalem"}})
	case t.GOARCH() == "amd64" && h.QemuX8664 != "":
		checks = append(checks, execCheck{name: "qemu-nehalem-refuses", argv: []string{h.QemuX8664, "-cpu", "Nehalem"}, refuse: true})
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
	if err := CheckBinary(info, t, b.cfg.Version, b.cfg.Commit); err != nil {
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
