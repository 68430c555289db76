package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
)

// Measurement is the cost of one build: wall time and the CPU time of every
// process it ran.
type Measurement struct {
	Wall time.Duration
	CPU  time.Duration // zero where the OS does not report it
}

// BenchResult compares the parallel build with a sequential go build loop.
type BenchResult struct {
	Targets, CPUs int
	// Scenarios in the order they ran: "cold" (empty build caches), "relink"
	// (warm caches, a new version stamp) and "no-change" (nothing to do).
	Scenarios []Scenario
}

// Scenario is one build state measured both ways.
type Scenario struct {
	Name                 string
	Parallel, Sequential Measurement
}

// Bench measures cfg's build against a plain sequential go build loop over the
// same targets with the same flags and environment, each from its own empty
// build cache: first cold, then warm with a new version stamp (every binary
// relinks), then warm with nothing changed. It builds into a temporary
// directory with versions of its own; cfg.Dist, cfg.Version and cfg.Progress
// are not used. It prints a report to out.
func Bench(ctx context.Context, cfg Config, out io.Writer) (BenchResult, error) {
	tmp, err := os.MkdirTemp("", "facet-bench-")
	if err != nil {
		return BenchResult{}, err
	}
	defer os.RemoveAll(tmp)
	if cfg.Jobs <= 0 {
		cfg.Jobs = runtime.GOMAXPROCS(0)
	}
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	if cfg.Main == "" {
		cfg.Main = DefaultMain
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if err := platforms.Table(cfg.Targets).Check(); err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	if cfg.Pin == nil {
		pin, err := ReadPin(ctx, cfg.Go, cfg.Root, cfg.Main, cfg.Env, cfg.Targets[0])
		if err != nil {
			return BenchResult{}, err
		}
		cfg.Pin = &pin
	}
	parallel := cfg
	parallel.Dist = dist.Layout{Root: filepath.Join(tmp, "parallel")}
	parallel.Env = append(clean(cfg.Env), "GOCACHE="+filepath.Join(tmp, "cache-parallel"))
	parallel.Progress = nil
	sequential := cfg
	sequential.Env = append(clean(cfg.Env), "GOCACHE="+filepath.Join(tmp, "cache-sequential"))
	seqDir := filepath.Join(tmp, "sequential")

	res := BenchResult{Targets: len(cfg.Targets), CPUs: cfg.Jobs}
	fmt.Fprintf(out, "benchmark: %d targets, %d CPUs; parallel build vs sequential go build loop, each with its own build cache\n",
		res.Targets, res.CPUs)
	for _, sc := range []struct{ name, version string }{
		{"cold", "0.0.0-bench.1"},
		{"relink", "0.0.0-bench.2"},
		{"no-change", "0.0.0-bench.2"},
	} {
		s := Scenario{Name: sc.name}
		parallel.Version, sequential.Version = sc.version, sc.version
		fmt.Fprintf(out, "%-9s  parallel build ...\n", sc.name)
		if s.Parallel, err = measure(func() error { _, err := Run(ctx, parallel); return err }); err != nil {
			return res, fmt.Errorf("bench %s parallel: %w", sc.name, err)
		}
		fmt.Fprintf(out, "%-9s  sequential go build loop ...\n", sc.name)
		if s.Sequential, err = measure(func() error { return sequentialBuild(ctx, sequential, seqDir) }); err != nil {
			return res, fmt.Errorf("bench %s sequential: %w", sc.name, err)
		}
		res.Scenarios = append(res.Scenarios, s)
	}
	res.Print(out)
	return res, nil
}

// sequentialBuild is the baseline: one go build after another, one per target,
// with the build's own flags and environment.
func sequentialBuild(ctx context.Context, cfg Config, dir string) error {
	for _, t := range cfg.Targets {
		out := filepath.Join(dir, t.Name(), t.Executable())
		cmd := exec.CommandContext(ctx, cfg.Go, GoBuildArgs(cfg.Version, cfg.Commit, out, cfg.Main)...)
		cmd.Dir = cfg.Root
		cmd.Env = GoEnv(cfg.Env, t, cfg.Pin.Toolchain)
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: go build: %w\n%s", t.Name(), err, indent(string(output)))
		}
	}
	return nil
}

// clean drops GOCACHE from env.
func clean(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOCACHE=") {
			out = append(out, kv)
		}
	}
	return out
}

// measure runs f and returns its wall time and the CPU time of the child
// processes it waited for.
func measure(f func() error) (Measurement, error) {
	cpu0 := childCPU()
	start := time.Now()
	err := f()
	return Measurement{Wall: time.Since(start), CPU: childCPU() - cpu0}, err
}

// Print writes the comparison table: wall time, CPU time, the floor (CPU time
// divided by the CPUs: no schedule can beat it) and the ratios.
func (r BenchResult) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%-9s  %-10s  %9s  %9s  %9s  %s\n", "state", "build", "wall", "CPU", "floor", "wall ÷ floor")
	for _, s := range r.Scenarios {
		for _, row := range []struct {
			name string
			m    Measurement
		}{{"parallel", s.Parallel}, {"sequential", s.Sequential}} {
			floor := row.m.CPU / time.Duration(max(r.CPUs, 1))
			fmt.Fprintf(w, "%-9s  %-10s  %9s  %9s  %9s  %s\n", s.Name, row.name,
				seconds(row.m.Wall), seconds(row.m.CPU), seconds(floor), ratio(row.m.Wall, floor))
		}
	}
	fmt.Fprintln(w)
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "%-9s  parallel ÷ sequential: wall %s, CPU %s\n", s.Name,
			ratio(s.Parallel.Wall, s.Sequential.Wall), ratio(s.Parallel.CPU, s.Sequential.CPU))
	}
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}
