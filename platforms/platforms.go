// Package platforms is the single source of truth for the platforms facet ships to.
//
// Each Target is one npm platform package. Everything else that lists targets (the
// Go build configurations, the npm package metadata, the launcher's run-time lookup
// table, the CI matrix and the docs) is derived from [All], never typed twice.
package platforms

import (
	"errors"
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
// process.arch), which are also npm's "os" and "cpu" values; the Go
// configuration, the CPU level and the package name are derived from them.
// Any pair that Node names and Go builds can be a row of [All]: see [Target.Check].
type Target struct {
	OS       string // Node's process.platform: darwin, linux, win32, freebsd, …
	CPU      string // Node's process.arch: x64, arm64, riscv64, …
	Libc     Libc   // Linux only, and required there: glibc or musl
	Baseline bool   // x64 only: for CPUs without AVX2 (GOAMD64=v1); other x64 targets need v3
}

// Table is a list of targets: [All], or a copy with rows added or removed.
// Everything derived from the targets (names, packages, compilations, the
// launcher's table, the README's table) is a method of Table, so that a copy
// is derived exactly as the real table is.
type Table []Target

// All returns the 12 targets, sorted by name. The slice is the caller's to keep.
func All() Table {
	return Table{
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
	if os := t.GOOS(); os != "" {
		b.WriteString(os)
	} else {
		b.WriteString(t.OS) // not a row (see Check), but named so that its error can say which
	}
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

// GOOS is the Go operating system of Node's platform name, or "" when Go has
// none for it.
func (t Target) GOOS() string {
	switch t.OS {
	case "win32":
		return "windows"
	case "sunos": // Node calls Solaris and illumos sunos; Go's solaris binaries run on both
		return "solaris"
	case "android", "darwin", "freebsd", "linux", "netbsd", "openbsd":
		return t.OS
	}
	// aix is left out: Go writes XCOFF there, whose header scripts/exeinfo
	// cannot read, so its binaries could not be verified.
	return ""
}

// GOARCH is the Go architecture of Node's CPU name, or "" when Go has none
// for it.
func (t Target) GOARCH() string {
	switch t.CPU {
	case "x64":
		return "amd64"
	case "ia32":
		return "386"
	case "mipsel":
		return "mipsle"
	case "mips64el":
		return "mips64le"
	case "ppc64": // Node's ppc64 is little-endian on Linux, big-endian elsewhere
		if t.OS == "linux" {
			return "ppc64le"
		}
		return "ppc64"
	case "arm", "arm64", "loong64", "mips", "riscv64", "s390x":
		return t.CPU
	}
	return ""
}

// ArchLevel is the Go environment variable that fixes the instruction-set
// level of the target's architecture, and the value facet is built with:
// GOAMD64 v1 (baseline) or v3 (AVX2) on x64, and Go's own default elsewhere
// (GOARM64 v8.0, GOARM 7, GORISCV64 rva20u64, …). Both are "" for an
// architecture Go has no such variable for (s390x, loong64).
func (t Target) ArchLevel() (name, value string) {
	switch t.GOARCH() {
	case "amd64":
		return "GOAMD64", fmt.Sprintf("v%d", t.amd64Level())
	case "arm64":
		return "GOARM64", "v8.0"
	case "arm":
		return "GOARM", "7"
	case "386":
		return "GO386", "sse2"
	case "ppc64", "ppc64le":
		return "GOPPC64", "power8"
	case "riscv64":
		return "GORISCV64", "rva20u64"
	case "mips", "mipsle":
		return "GOMIPS", "hardfloat"
	case "mips64", "mips64le":
		return "GOMIPS64", "hardfloat"
	}
	return "", ""
}

// LevelVars are all of Go's CPU-level variables. A build clears them all and
// sets its target's own, so that none leaks in from the environment.
func LevelVars() []string {
	return []string{"GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM"}
}

// ports are the GOOS/GOARCH pairs of Go's ports (go tool dist list) whose
// OS and CPU Node names, and that build with CGO_ENABLED=0: android/386,
// android/amd64 and android/arm need cgo's external linking.
func ports() []string {
	return []string{
		"android/arm64", "darwin/amd64", "darwin/arm64",
		"freebsd/386", "freebsd/amd64", "freebsd/arm", "freebsd/arm64",
		"linux/386", "linux/amd64", "linux/arm", "linux/arm64", "linux/loong64", "linux/mips", "linux/mips64le",
		"linux/mipsle", "linux/ppc64le", "linux/riscv64", "linux/s390x",
		"netbsd/386", "netbsd/amd64", "netbsd/arm", "netbsd/arm64",
		"openbsd/386", "openbsd/amd64", "openbsd/arm", "openbsd/arm64", "openbsd/ppc64", "openbsd/riscv64",
		"solaris/amd64", "windows/386", "windows/amd64", "windows/arm64",
	}
}

// Check returns an error unless t can be a row of the table: an OS and CPU
// that Node names and Go builds for with CGO_ENABLED=0, a libc on Linux only
// (and always there), and a baseline on x64 only.
func (t Target) Check() error {
	switch {
	case t.GOOS() == "":
		return fmt.Errorf("target %s: OS %q is not a Node process.platform that Go builds for (android, darwin, freebsd, linux, netbsd, openbsd, sunos, win32)", t.Name(), t.OS)
	case t.GOARCH() == "":
		return fmt.Errorf("target %s: CPU %q is not a Node process.arch that Go builds for (arm, arm64, ia32, loong64, mips, mipsel, mips64el, ppc64, riscv64, s390x, x64)", t.Name(), t.CPU)
	case t.OS == "linux" && t.Libc != Glibc && t.Libc != Musl:
		return fmt.Errorf("target %s: a Linux target names its libc, glibc or musl (got %q)", t.Name(), t.Libc)
	case t.OS != "linux" && t.Libc != "":
		return fmt.Errorf("target %s: libc %q is for Linux targets only", t.Name(), t.Libc)
	case !slices.Contains(ports(), t.GOOS()+"/"+t.GOARCH()):
		return fmt.Errorf("target %s: Go has no port %s/%s that builds without cgo; ports: %s", t.Name(), t.GOOS(), t.GOARCH(), strings.Join(ports(), ", "))
	case t.Baseline && t.CPU != "x64":
		return fmt.Errorf("target %s: baseline is for x64 targets only", t.Name())
	}
	return nil
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
	Level        string // value of the CPU-level variable (GOAMD64, GOARM64, …), if any
}

// Config returns the target's Go build configuration.
func (t Target) Config() Config {
	_, level := t.ArchLevel()
	return Config{GOOS: t.GOOS(), GOARCH: t.GOARCH(), Level: level}
}

// Title describes the machine t is for, for people: "Linux x64, glibc, AVX2".
func (t Target) Title() string {
	os := map[string]string{
		"android": "Android", "darwin": "macOS", "freebsd": "FreeBSD", "linux": "Linux",
		"netbsd": "NetBSD", "openbsd": "OpenBSD", "sunos": "Solaris", "win32": "Windows",
	}[t.OS]
	if os == "" {
		os = t.OS
	}
	parts := []string{os + " " + t.CPU}
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

// Check returns an error unless every row passes [Target.Check] and no two
// rows share a name.
func (tb Table) Check() error {
	if len(tb) == 0 {
		return errors.New("no targets")
	}
	seen := map[string]bool{}
	var errs []error
	for _, t := range tb {
		if err := t.Check(); err != nil {
			errs = append(errs, err)
		}
		if seen[t.Name()] {
			errs = append(errs, fmt.Errorf("target %s: listed twice", t.Name()))
		}
		seen[t.Name()] = true
	}
	return errors.Join(errs...)
}

// Names returns the names of the targets, in table order.
func (tb Table) Names() []string {
	names := make([]string, len(tb))
	for i, t := range tb {
		names[i] = t.Name()
	}
	return names
}

// Packages returns the names of the npm packages: the platform package of
// each target, in table order, then the wrapper.
func (tb Table) Packages() []string {
	var names []string
	for _, t := range tb {
		names = append(names, t.Package())
	}
	return append(names, Wrapper)
}

// Lookup finds a target by name ("linux-x64-musl") or package name
// ("@agent-facets/cli-linux-x64-musl"). An unknown name is an error that lists
// the valid ones.
func (tb Table) Lookup(name string) (Target, error) {
	key := strings.TrimPrefix(strings.TrimSpace(name), Scope+"/cli-")
	for _, t := range tb {
		if t.Name() == key {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("unknown target %q; valid targets: %s", name, strings.Join(tb.Names(), ", "))
}

// Select returns the named targets in table order, without duplicates. Each
// argument may hold several names separated by commas or spaces. No names at all
// is an error, as is any unknown name.
func (tb Table) Select(names ...string) (Table, error) {
	var fields []string
	for _, n := range names {
		fields = append(fields, strings.FieldsFunc(n, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("no target named; valid targets: %s", strings.Join(tb.Names(), ", "))
	}
	chosen := make(map[string]bool, len(fields))
	for _, f := range fields {
		t, err := tb.Lookup(f)
		if err != nil {
			return nil, err
		}
		chosen[t.Name()] = true
	}
	return slices.DeleteFunc(slices.Clone(tb), func(t Target) bool { return !chosen[t.Name()] }), nil
}

// Names returns the names of all targets, sorted.
func Names() []string { return All().Names() }

// Packages returns the names of the 13 npm packages: the platform package of
// each target, in table order, then the wrapper.
func Packages() []string { return All().Packages() }

// Lookup finds a target of [All] by name or package name; see [Table.Lookup].
func Lookup(name string) (Target, error) { return All().Lookup(name) }

// Select returns the named targets of [All]; see [Table.Select].
func Select(names ...string) (Table, error) { return All().Select(names...) }

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

// ForHost returns the target of [All] a build for h alone should produce; see
// [Table.ForHost].
func ForHost(h Host) (Target, error) { return All().ForHost(h) }

// ForHost returns the target a build for h alone should produce: the one h
// runs natively at the highest CPU level, glibc before musl (their binaries
// are the same). It is an error when h runs none of them.
func (tb Table) ForHost(h Host) (Target, error) {
	for _, t := range tb {
		// All lists the AVX2 target before its baseline twin, and glibc before musl.
		if h.Runs(t) {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("no target runs on this machine (%s/%s); valid targets: %s", h.GOOS, h.GOARCH, strings.Join(tb.Names(), ", "))
}

// MarkdownTable renders [All] as the Markdown table the README shows.
func MarkdownTable() string { return All().MarkdownTable() }

// MarkdownTable renders the targets as the Markdown table the README shows.
func (tb Table) MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| package | npm os | npm cpu | npm libc | Go | CPU level |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, t := range tb {
		libc := string(t.Libc)
		if libc == "" {
			libc = "–"
		}
		level := "–"
		if name, value := t.ArchLevel(); name != "" {
			level = name + "=" + value
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s/%s | %s |\n", t.Package(), t.OS, t.CPU, libc, t.GOOS(), t.GOARCH(), level)
	}
	return b.String()
}
