// Package platforms is the single source of truth for the platforms facet ships to.
//
// Each Target is one npm platform package. Everything else that lists targets (the
// Go build configurations, the npm package metadata, the launcher's run-time lookup
// table, the CI matrix and the docs) is derived from [All], never typed twice.
package platforms

import (
	"fmt"
	"slices"
	"strings"
)

// Fixed names of the npm distribution.
const (
	// Scope is the npm scope of the platform packages.
	Scope = "@agent-facets"
	// Wrapper is the npm package users install; its optionalDependencies are the
	// platform packages.
	Wrapper = "agent-facets"
	// Command is the name of the executable, without the Windows ".exe".
	Command = "facet"
	// OverrideVar names a binary that the launcher, and the binary that
	// replaced it, run instead of facet; OverrideFollowedVar is the override
	// followed already, which keeps that from going round in a loop.
	OverrideVar         = "FACET_BIN_OVERRIDE"
	OverrideFollowedVar = "FACET_BIN_OVERRIDE_FOLLOWED"
)

// WithoutOverride returns env without OverrideVar and OverrideFollowedVar:
// the environment in which a check of a built or installed facet runs that
// facet, whatever the user's shell has set.
// The result is never nil (nil would mean this process's environment to
// exec and npm), and names are compared as Windows does, without case.
func WithoutOverride(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.EqualFold(name, OverrideVar) && !strings.EqualFold(name, OverrideFollowedVar) {
			out = append(out, kv)
		}
	}
	return out
}

// Libc is the C library family of a Linux target, as npm's "libc" field names it.
type Libc string

// The C library families npm distinguishes.
const (
	Glibc Libc = "glibc"
	Musl  Libc = "musl"
)

// Target is one platform package. Its fields use Node's names (process.platform,
// process.arch), which are also npm's "os" and "cpu" values; the Go configuration
// and the package name are derived from them.
type Target struct {
	OS       string // darwin, linux or win32
	CPU      string // x64 or arm64
	Libc     Libc   // Linux only: glibc or musl
	Baseline bool   // x64 for CPUs without AVX2 (GOAMD64=v1); other x64 targets need v3
}

// All returns the 12 targets, sorted by name. The slice is the caller's to keep.
func All() []Target {
	return []Target{
		{OS: "darwin", CPU: "arm64"},
		{OS: "darwin", CPU: "x64"},
		{OS: "darwin", CPU: "x64", Baseline: true},
		{OS: "linux", CPU: "arm64", Libc: Glibc},
		{OS: "linux", CPU: "arm64", Libc: Musl},
		{OS: "linux", CPU: "x64", Libc: Glibc},
		{OS: "linux", CPU: "x64", Libc: Glibc, Baseline: true},
		{OS: "linux", CPU: "x64", Libc: Musl, Baseline: true},
		{OS: "linux", CPU: "x64", Libc: Musl},
		{OS: "win32", CPU: "arm64"},
		{OS: "win32", CPU: "x64"},
		{OS: "win32", CPU: "x64", Baseline: true},
	}
}

// Name is the target's name and package suffix: the OS ("windows" for win32),
// the CPU, then "-baseline" and "-musl" where they apply, as in
// "linux-x64-baseline-musl".
func (t Target) Name() string {
	var b strings.Builder
	b.WriteString(t.GOOS())
	b.WriteString("-")
	b.WriteString(t.CPU)
	if t.Baseline {
		b.WriteString("-baseline")
	}
	if t.Libc == Musl {
		b.WriteString("-musl")
	}
	return b.String()
}

// Package is the npm package name: "@agent-facets/cli-" followed by the name.
func (t Target) Package() string { return Scope + "/cli-" + t.Name() }

// GOOS is the Go operating system.
func (t Target) GOOS() string {
	if t.OS == "win32" {
		return "windows"
	}
	return t.OS
}

// GOARCH is the Go architecture.
func (t Target) GOARCH() string {
	if t.CPU == "x64" {
		return "amd64"
	}
	return t.CPU
}

// ArchLevel is the Go environment variable that fixes the instruction-set level
// of the architecture and its value: GOAMD64 v1 (baseline) or v3 (AVX2) on x64,
// GOARM64 v8.0 on arm64.
func (t Target) ArchLevel() (name, value string) {
	switch {
	case t.CPU == "arm64":
		return "GOARM64", "v8.0"
	default:
		return "GOAMD64", fmt.Sprintf("v%d", t.amd64Level())
	}
}

// Executable is the file name of the binary: "facet", or "facet.exe" on Windows.
func (t Target) Executable() string {
	if t.OS == "win32" {
		return Command + ".exe"
	}
	return Command
}

// BinPath is the binary's path inside the platform package, with forward slashes:
// "bin/facet" or "bin/facet.exe". Installers extract it from the tarball.
func (t Target) BinPath() string { return "bin/" + t.Executable() }

// Config is what the Go compiler sees of a target. Targets that differ only in
// their libc share a Config: with CGO_ENABLED=0 their binaries are byte-identical.
type Config struct {
	GOOS, GOARCH string
	Level        string // value of the GOAMD64 or GOARM64 variable
}

// Config returns the target's Go build configuration.
func (t Target) Config() Config {
	_, level := t.ArchLevel()
	return Config{GOOS: t.GOOS(), GOARCH: t.GOARCH(), Level: level}
}

// Title describes the machine t is for, for people: "Linux x64, glibc, AVX2".
func (t Target) Title() string {
	parts := []string{map[string]string{"darwin": "macOS", "linux": "Linux", "win32": "Windows"}[t.OS] + " " + t.CPU}
	if t.Libc != "" {
		parts = append(parts, string(t.Libc))
	}
	switch {
	case t.CPU == "x64" && t.Baseline:
		parts = append(parts, "baseline for CPUs without AVX2")
	case t.CPU == "x64":
		parts = append(parts, "AVX2")
	}
	return strings.Join(parts, ", ")
}

// String returns the target's name.
func (t Target) String() string { return t.Name() }

// Names returns the names of all targets, sorted.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, t := range all {
		names[i] = t.Name()
	}
	return names
}

// Packages returns the names of the 13 npm packages: the platform package of
// each target, in table order, then the wrapper.
func Packages() []string {
	var names []string
	for _, t := range All() {
		names = append(names, t.Package())
	}
	return append(names, Wrapper)
}

// Lookup finds a target by name ("linux-x64-musl") or package name
// ("@agent-facets/cli-linux-x64-musl"). An unknown name is an error that lists
// the valid ones.
func Lookup(name string) (Target, error) {
	key := strings.TrimPrefix(strings.TrimSpace(name), Scope+"/cli-")
	for _, t := range All() {
		if t.Name() == key {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("unknown target %q; valid targets: %s", name, strings.Join(Names(), ", "))
}

// Select returns the named targets in table order, without duplicates. Each
// argument may hold several names separated by commas or spaces. No names at all
// is an error, as is any unknown name.
func Select(names ...string) ([]Target, error) {
	var fields []string
	for _, n := range names {
		fields = append(fields, strings.FieldsFunc(n, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("no target named; valid targets: %s", strings.Join(Names(), ", "))
	}
	chosen := make(map[string]bool, len(fields))
	for _, f := range fields {
		t, err := Lookup(f)
		if err != nil {
			return nil, err
		}
		chosen[t.Name()] = true
	}
	return slices.DeleteFunc(All(), func(t Target) bool { return !chosen[t.Name()] }), nil
}

// Host describes a machine by Go's names and its CPU's x64 level.
type Host struct {
	GOOS, GOARCH string
	// AMD64Level is the highest GOAMD64 level the CPU runs (1 to 4); 0 when the
	// machine is not x64.
	AMD64Level int
}

// Runs reports whether h runs t's binary natively.
func (h Host) Runs(t Target) bool {
	if h.GOOS != t.GOOS() || h.GOARCH != t.GOARCH() {
		return false
	}
	return t.CPU != "x64" || h.AMD64Level >= t.amd64Level()
}

// amd64Level is the GOAMD64 level of an x64 target as a number.
func (t Target) amd64Level() int {
	if t.Baseline {
		return 1
	}
	return 3
}

// ForHost returns the target a build for h alone should produce: the one h runs
// natively at the highest CPU level, glibc before musl (their binaries are the
// same). It is an error when h runs none of them.
func ForHost(h Host) (Target, error) {
	for _, t := range All() {
		// All lists the AVX2 target before its baseline twin, and glibc before musl.
		if h.Runs(t) {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("no target runs on this machine (%s/%s); valid targets: %s", h.GOOS, h.GOARCH, strings.Join(Names(), ", "))
}

// MarkdownTable renders the targets as the Markdown table the README shows.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| package | npm os | npm cpu | npm libc | Go | CPU level |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, t := range All() {
		libc := string(t.Libc)
		if libc == "" {
			libc = "–"
		}
		levelVar, level := t.ArchLevel()
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s/%s | %s=%s |\n", t.Package(), t.OS, t.CPU, libc, t.GOOS(), t.GOARCH(), levelVar, level)
	}
	return b.String()
}
