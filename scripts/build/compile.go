package build

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// GoEnv is base with the variables that decide a target's binary set for t:
// GOOS, GOARCH, the CPU level (GOAMD64 or GOARM64) and CGO_ENABLED=0. GOFLAGS is
// cleared so that a developer's settings cannot change what is built; the
// other CPU-level variable is dropped.
func GoEnv(base []string, t platforms.Target) []string {
	drop := []string{"GOOS", "GOARCH", "GOAMD64", "GOARM64", "CGO_ENABLED", "GOFLAGS"}
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, name)
	})
	levelVar, level := t.ArchLevel()
	return append(env, "CGO_ENABLED=0", "GOFLAGS=", "GOOS="+t.GOOS(), "GOARCH="+t.GOARCH(), levelVar+"="+level)
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
	cmd.Env = GoEnv(b.cfg.Env, t)
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
