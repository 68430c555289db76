// Command facet is the agent-facets CLI.
//
// It is small on purpose: it says which version it is and where it runs from,
// so a user (or an installer) can tell which npm platform package it came from.
//
// Like the npm launcher it may replace (platforms/npm/lib/platform.js), it
// runs the binary FACET_BIN_OVERRIDE names instead of itself, with the same
// arguments and FACET_BIN_OVERRIDE_FOLLOWED set to that name, unless that
// name was followed already on the way here. The binary that finally runs
// itself clears FACET_BIN_OVERRIDE_FOLLOWED, so that the calls it makes follow
// the override again.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// stamp is set at link time by the build (go tool mage build) with
// -ldflags "-X main.stamp=facetstamp/<version>/<commit>/". One self-describing
// string lets the build prove, from the bytes of a binary it cannot run, which
// version the binary carries.
var stamp string

func main() {
	os.Exit(start(os.Args[1:], os.Stdout, os.Stderr))
}

const (
	// overrideEnv names a binary to run instead of this one.
	overrideEnv = "FACET_BIN_OVERRIDE"
	// followedEnv is the override that was followed on the way here: when the
	// override runs a launcher (or this binary) again, that one runs itself
	// instead of following the override round in a loop.
	followedEnv = "FACET_BIN_OVERRIDE_FOLLOWED"
)

// start runs the override (see the package comment) or else args, and
// returns the exit code. On Unix the override replaces this process.
func start(args []string, stdout, stderr io.Writer) int {
	if override := os.Getenv(overrideEnv); override != "" && override != os.Getenv(followedEnv) {
		err := follow(override, args)
		fmt.Fprintf(stderr, "facet: cannot run %s (from %s): %v\n", override, overrideEnv, err)
		return 1
	}
	os.Unsetenv(followedEnv)
	if runtime.GOOS == "windows" {
		// A self-update moved the binary that ran it aside (swapIn).
		if exe, err := os.Executable(); err == nil {
			removeAside(runtime.GOOS, exe)
		}
	}
	return run(args, stdout, stderr)
}

// follow runs the override with args and followedEnv set to it, and ends
// this process as the override ended (see execve). It returns only when the
// override cannot be started.
func follow(override string, args []string) error {
	// As Node's spawn (the launcher's) does, a bare name found through "."
	// in PATH is run too.
	file, err := exec.LookPath(override)
	if errors.Is(err, exec.ErrDot) {
		err = nil
	}
	if err != nil {
		return err
	}
	env := []string{followedEnv + "=" + override}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, followedEnv+"=") {
			env = append(env, kv)
		}
	}
	return execve(file, append([]string{override}, args...), env)
}

const usage = `facet: the agent-facets CLI

Usage:
  facet --version        print the version
  facet version [--json] print the version, commit, platform and executable path
  facet self-update [--version X.Y.Z | --tag TAG] [--dry-run]
                         update facet where install.sh put it (a package
                         manager's install: print its update command)
  facet doctor           show this binary, how it was installed, the package
                         this machine should run and whether a newer one exists
  facet help             print this help

facet self-update --help and facet doctor --help say more.
`

// doctorHelp is `facet doctor --help`.
const doctorHelp = `Usage: facet doctor

Shows this binary (version, commit, path), how it was installed (install.sh's
receipt, a package manager, go install), this machine (OS, CPU, libc, CPU
level, Rosetta), the package it should run and whether this binary is that
one, and the latest release on the registry (FACET_REGISTRY, else the
receipt's, else npm_config_registry, else https://registry.npmjs.org). It
changes nothing. It exits 1 only when something is wrong here (an unreadable
receipt, no package for this machine); a registry it cannot reach is said,
not a failure.
`

// run executes the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	about := describe()
	switch {
	case len(args) == 0, args[0] == "help", args[0] == "-h", args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-v"):
		// Installers read the last token of the first line as the version.
		fmt.Fprintf(stdout, "facet %s\n", about.Version)
		return 0
	case args[0] == "version" && len(args) == 1:
		fmt.Fprintf(stdout, "facet %s\ncommit  %s\ngo      %s\ntarget  %s/%s%s\npath    %s\n",
			about.Version, about.Commit, about.Go, about.GOOS, about.GOARCH, levelSuffix(about), about.Path)
		return 0
	case args[0] == "version" && len(args) == 2 && args[1] == "--json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(about.fields()); err != nil {
			fmt.Fprintf(stderr, "facet: %v\n", err)
			return 1
		}
		return 0
	case args[0] == "self-update":
		return selfUpdate(context.Background(), processEnv(about, stdout, stderr), args[1:])
	case args[0] == "doctor" && len(args) == 1:
		return doctor(context.Background(), processEnv(about, stdout, stderr), about)
	case args[0] == "doctor" && len(args) == 2 && (args[1] == "--help" || args[1] == "-h"):
		fmt.Fprint(stdout, doctorHelp)
		return 0
	case args[0] == "doctor":
		fmt.Fprintf(stderr, "facet doctor: it takes no arguments, not %q (see facet doctor --help)\n", strings.Join(args[1:], " "))
		return 2
	default:
		fmt.Fprintf(stderr, "facet: unknown command %q\n\n%s", strings.Join(args, " "), usage)
		return 2
	}
}

// processEnv is the env of this process, for self-update and doctor.
func processEnv(a about, stdout, stderr io.Writer) env {
	info, _ := debug.ReadBuildInfo()
	return env{
		Getenv: os.Getenv, Exe: a.Path, Version: a.Version, GoVersion: goInstalled(stamp, info),
		GOOS: runtime.GOOS, Machine: detect(realProbe()), Out: stdout, Err: stderr,
	}
}

// pseudoVersion reports whether v holds the tail of a Go pseudo-version
// (…-20250102030405-0123456789ab, or ….20250102030405-…): 14 digits, a dash
// and 12 lower-case hex digits. By hand: a package-level regexp would be
// compiled at every start.
func pseudoVersion(v string) bool {
	for i := 0; i+27 <= len(v); i++ {
		if strings.Trim(v[i:i+14], "0123456789") == "" && v[i+14] == '-' &&
			strings.Trim(v[i+15:i+27], "0123456789abcdef") == "" {
			return true
		}
	}
	return false
}

// goInstalled reports whether this binary was made by go install of a
// released version: no release stamp, and the build information records a
// module version that is no pseudo-version of a checkout.
func goInstalled(stamp string, info *debug.BuildInfo) bool {
	if stamp != "" || info == nil {
		return false
	}
	v := info.Main.Version
	return v != "" && v != "(devel)" && !pseudoVersion(v) && !strings.Contains(v, "+dirty")
}

// about is what `facet version --json` prints.
type about struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	GOOS    string `json:"goos"`
	GOARCH  string `json:"goarch"`
	// LevelVar and Level are the CPU-level setting the binary was built
	// with (GOAMD64 v3, GORISCV64 rva20u64, …), empty where Go has none; the
	// JSON names it by the variable in lower case: "goamd64": "v3".
	LevelVar string `json:"-"`
	Level    string `json:"-"`
	Path     string `json:"path"`
}

// levelVars are Go's CPU-level variables, as the build information records them.
func levelVars() []string {
	return []string{"GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM"}
}

// fields is a as the JSON object `facet version --json` prints.
func (a about) fields() map[string]string {
	m := map[string]string{"version": a.Version, "commit": a.Commit, "go": a.Go, "goos": a.GOOS, "goarch": a.GOARCH, "path": a.Path}
	if a.LevelVar != "" {
		m[strings.ToLower(a.LevelVar)] = a.Level
	}
	return m
}

// describe collects the facts: the stamp, the build information and the
// executable's resolved path.
func describe() about {
	a := about{Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	info, _ := debug.ReadBuildInfo()
	a.Version, a.Commit = identify(stamp, info)
	if info != nil {
		for _, s := range info.Settings {
			if slices.Contains(levelVars(), s.Key) {
				a.LevelVar, a.Level = s.Key, s.Value
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		a.Path = exe
	}
	return a
}

// unstamped is the version of a binary that says nothing of its version.
const unstamped = "0.0.0-unstamped"

// identify returns the version and commit of this binary: the stamp the
// release build links in (see stamp), else what the go command recorded in
// the build information (info, nil when there is none). go install
// github.com/agent-facets/facets/cmd/facet@v1.2.3 records the main module's
// version, v1.2.3, printed as 1.2.3; go build in a checkout may record a
// pseudo-version and the commit (vcs.revision). A binary that says neither
// is 0.0.0-unstamped, of commit unknown.
func identify(stamp string, info *debug.BuildInfo) (version, commit string) {
	if parts := strings.Split(stamp, "/"); len(parts) == 4 {
		return parts[1], parts[2]
	}
	version, commit = unstamped, "unknown"
	if info == nil {
		return version, commit
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		version = strings.TrimPrefix(v, "v")
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			commit = s.Value
		}
	}
	return version, commit
}

// levelSuffix renders the CPU level for the human-readable version output.
func levelSuffix(a about) string {
	if a.LevelVar == "" {
		return ""
	}
	return " (" + a.LevelVar + "=" + a.Level + ")"
}
