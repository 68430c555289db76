package build

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/exeinfo"
	"github.com/agent-facets/facets/scripts/procgroup"
)

// GoBuildArgs are the arguments of the go command that builds main into out,
// stamped with version and commit: static (see [GoEnv]), reproducible
// (-trimpath, -buildvcs=false, nothing machine-, path- or time-dependent) and
// stripped (-s -w). The build ID stays: it is derived from the inputs, and it
// lets go skip the link when out is already up to date.
func GoBuildArgs(version, commit, out, main string) []string {
	ldflags := "-s -w -X main.stamp=" + exeinfo.Stamp(version, commit)
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, main}
}

// GoEnv is base sealed for building t with toolchain: the variables that
// decide t's binary are set (GOOS, GOARCH, the CPU level, CGO_ENABLED=0), and
// every other variable that could change the bytes is cleared or fixed, so
// that nothing outside the repository does:
//   - GOTOOLCHAIN is the toolchain go.mod pins (go1.26.8): a different local
//     Go fetches that one from the module proxy instead of building with itself;
//   - GOWORK=off: a go.work in a parent directory (with its godebug lines and
//     replacements) is not read;
//   - GOFLAGS is -buildvcs=false (what the build passes anyway: a value, so
//     that the go env file of `go env -w` cannot add flags), GOFIPS140=off, and
//     GOEXPERIMENT, the other CPU-level variables and GOROOT (another Go's
//     standard library) are dropped. (An empty GOEXPERIMENT cannot override the go env file, and no
//     value means "none", so [ReadPin] refuses a go env file that sets one.)
func GoEnv(base []string, t platforms.Target, toolchain string) []string {
	drop := append(platforms.LevelVars(), "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT",
		"GOFIPS140", "GOWORK", "GOTOOLCHAIN", "GOROOT")
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, name)
	})
	env = append(env, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOFIPS140=off", "GOWORK=off",
		"GOTOOLCHAIN="+toolchain, "GOOS="+t.GOOS(), "GOARCH="+t.GOARCH())
	if levelVar, level := t.ArchLevel(); levelVar != "" {
		env = append(env, levelVar+"="+level)
	}
	return env
}

// Pin is what every binary of a sealed build of the module shows in its
// build information beyond its target: the Go toolchain that built it, and
// the module's default GODEBUG.
type Pin struct {
	Toolchain      string // go.mod's toolchain line: go1.26.8
	DefaultGODEBUG string // as go list reports it for the main package; "" for none
}

// ReadPin reads the pin of the module at root, whose main package is main:
// go.mod's toolchain line (an error when there is none), and the default
// GODEBUG that go list, in the sealed environment of target, reports.
func ReadPin(ctx context.Context, goCmd, root, main string, env []string, target platforms.Target) (Pin, error) {
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir, cmd.Env = root, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, indent(stderr.String()))
		}
		return string(out), nil
	}
	// Reading go.mod must not fetch a toolchain.
	out, err := run(GoEnv(env, target, "local"), "mod", "edit", "-json")
	if err != nil {
		return Pin{}, fmt.Errorf("reading go.mod: %w", err)
	}
	var mod struct{ Toolchain string }
	if err := json.Unmarshal([]byte(out), &mod); err != nil {
		return Pin{}, fmt.Errorf("reading go.mod: %w", err)
	}
	if mod.Toolchain == "" {
		return Pin{}, fmt.Errorf("%s has no toolchain line: add one (go mod edit -toolchain=%s) so that every build uses the same Go",
			filepath.Join(root, "go.mod"), runtime.Version())
	}
	pin := Pin{Toolchain: mod.Toolchain}
	out, err = run(GoEnv(env, target, "local"), "env", "GOEXPERIMENT")
	if err != nil {
		return Pin{}, err
	}
	if exp := strings.TrimSpace(out); exp != "" {
		return Pin{}, fmt.Errorf("GOEXPERIMENT=%s is set in the go env file (go env -w), and would change the binaries: remove it with go env -u GOEXPERIMENT", exp)
	}
	out, err = run(GoEnv(env, target, pin.Toolchain), "list", "-f", "{{.DefaultGODEBUG}}", main)
	if err != nil {
		return Pin{}, fmt.Errorf("reading the default GODEBUG: %w", err)
	}
	pin.DefaultGODEBUG = strings.TrimSpace(out)
	return pin, nil
}

// compile runs go build for t into t's binary path. Its error carries the
// compiler's output.
func (b *builder) compile(ctx context.Context, t platforms.Target) error {
	out := b.cfg.Dist.Binary(t)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	// go build refuses to overwrite a file that is not a Go executable (a
	// truncated or tampered copy); the output path is ours, so replace it.
	if _, err := os.Stat(out); err == nil {
		if _, err := buildinfo.ReadFile(out); err != nil {
			if err := os.Remove(out); err != nil {
				return err
			}
		}
	}
	cmd := exec.CommandContext(ctx, b.cfg.Go, GoBuildArgs(b.cfg.Version, b.cfg.Commit, out, b.cfg.Main)...)
	cmd.Dir = b.cfg.Root
	cmd.Env = GoEnv(b.cfg.Env, t, b.cfg.Pin.Toolchain)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := procgroup.Run(cmd); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, indent(output.String()))
	}
	return nil
}

// indent prefixes every line of s, so that a compiler's output stands apart in
// an error message.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
