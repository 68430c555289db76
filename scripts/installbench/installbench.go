// Package installbench measures what installing facet costs each call, with
// every install client (npm with and without scripts and globally, pnpm,
// yarn 1, yarn 4 with the node-modules linker and with PnP, bun): the first
// `facet --version` after the install (the launcher finds and checks the
// binary, and takes the fast path where it can) and the steady state, each
// against the bare platform binary.
package installbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/clients"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

// Config is what the benchmark needs.
type Config struct {
	Dist      dist.Layout       // packed by the package stage
	Verdaccio verdaccio.Options // the registry to install from; Dir is ignored
	Clients   clients.Options   // the pinned pnpm, yarn and bun
	Runs      int               // steady-state runs of each command; 0 means 50
}

// Row compares the installed command with the bare binary after one kind of
// install.
type Row struct {
	Install string        // the client and how it installed
	First   time.Duration // the first call after the install (one run)
	Steady  time.Duration // median wall time of one later call
	Bare    time.Duration // median wall time of one call of the bare binary
	Binary  string        // the bare binary
}

// FirstRatio is how many times slower the first call is than the binary.
func (r Row) FirstRatio() float64 { return float64(r.First) / float64(r.Bare) }

// SteadyRatio is how many times slower a later call is than the binary.
func (r Row) SteadyRatio() float64 { return float64(r.Steady) / float64(r.Bare) }

// Run publishes the packed packages to a fresh local registry, installs them
// with each client, times the commands and prints the table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]Row, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 50
	}
	records, err := cfg.Dist.ReadPackRecords()
	if err != nil {
		return nil, fmt.Errorf("%w (run go tool mage package)", err)
	}
	set, err := clients.Ensure(ctx, cfg.Clients)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "facet-installbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	opts := cfg.Verdaccio
	opts.Dir = filepath.Join(tmp, "registry")
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	reg, err := verdaccio.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer reg.Stop()
	var tarballs []string
	for _, r := range records {
		tarballs = append(tarballs, filepath.Join(cfg.Dist.Root, r.Tarball))
	}
	if err := reg.Publish(ctx, tarballs...); err != nil {
		return nil, err
	}
	box, err := clients.NewSandbox(filepath.Join(tmp, "sandbox"), reg.URL, reg.Env())
	if err != nil {
		return nil, err
	}
	spec := platforms.Wrapper + "@" + records[0].Version

	var rows []Row
	for i, c := range set.Clients() {
		dir := filepath.Join(tmp, fmt.Sprintf("project-%d", i))
		if _, err := c.Install(ctx, box, dir, spec); err != nil {
			return nil, err
		}
		row := Row{Install: c.Name}
		start := time.Now()
		if out, err := c.Facet(ctx, box, dir, "--version").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: facet --version: %w\n%s", c.Name, err, out)
		}
		row.First = time.Since(start)
		if row.Binary, err = binaryOf(ctx, c, box, dir); err != nil {
			return nil, err
		}
		command := func() *exec.Cmd { return c.Facet(ctx, box, dir, "--version") }
		bare := func() *exec.Cmd { return exec.CommandContext(ctx, row.Binary, "--version") }
		if row.Steady, row.Bare, err = race(cfg.Runs, command, bare); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		rows = append(rows, row)
	}
	Print(out, cfg.Runs, rows)
	// On x64 the launcher swaps in the baseline build, which runs on every
	// x64 CPU, rather than the x86-64-v3 one it runs itself: what that costs.
	modules := filepath.Join(tmp, "project-0", "node_modules", "@agent-facets")
	v3 := filepath.Join(modules, "cli-linux-x64", "bin", "facet")
	base := filepath.Join(modules, "cli-linux-x64-baseline", "bin", "facet")
	if runsHere(ctx, v3) && runsHere(ctx, base) {
		tb, tv, err := race(cfg.Runs, func() *exec.Cmd { return exec.CommandContext(ctx, base, "--version") },
			func() *exec.Cmd { return exec.CommandContext(ctx, v3, "--version") })
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "\nthe build swapped in on x64: baseline %s, x86-64-v3 %s: baseline ÷ v3 %.2f×\n", ms(tb), ms(tv), float64(tb)/float64(tv))
	}
	return rows, nil
}

// runsHere reports whether the binary file runs on this machine.
func runsHere(ctx context.Context, file string) bool {
	return exec.CommandContext(ctx, file, "--version").Run() == nil
}

// binaryOf returns the platform binary that facet runs after installing with
// c, as `facet version --json` reports it: inside its platform package.
func binaryOf(ctx context.Context, c clients.Client, box clients.Sandbox, dir string) (string, error) {
	out, err := c.Facet(ctx, box, dir, "version", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("%s: facet version --json: %w", c.Name, err)
	}
	var about struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(out, &about); err != nil {
		return "", err
	}
	wrapper := c.Wrapper(dir)
	if wrapper == "" {
		return about.Path, nil
	}
	// On the fast path facet runs as the wrapper's bin/facet, a link to the
	// platform package's file: time that file as the bare binary. The
	// platform packages are beside the wrapper, or inside it (npm -g).
	for _, t := range platforms.All() {
		for _, modules := range []string{filepath.Join(wrapper, "node_modules"), filepath.Dir(wrapper)} {
			candidate := filepath.Join(modules, filepath.FromSlash(t.Package()), filepath.FromSlash(t.BinPath()))
			if same(candidate, about.Path) {
				return candidate, nil
			}
		}
	}
	return "", fmt.Errorf("%s: facet runs %s, which is in no platform package", c.Name, about.Path)
}

func same(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// race runs the commands a and b make alternately, runs times each after a
// warm-up, and returns their median wall times.
func race(runs int, a, b func() *exec.Cmd) (time.Duration, time.Duration, error) {
	var ta, tb []time.Duration
	for i := -3; i < runs; i++ { // three warm-up rounds
		for _, c := range []struct {
			cmd  func() *exec.Cmd
			into *[]time.Duration
		}{{a, &ta}, {b, &tb}} {
			cmd := c.cmd()
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return 0, 0, fmt.Errorf("%s: %w\n%s", cmd, err, out)
			}
			if i >= 0 {
				*c.into = append(*c.into, time.Since(start))
			}
		}
	}
	return median(ta), median(tb), nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Print writes the comparison table.
func Print(w io.Writer, runs int, rows []Row) {
	fmt.Fprintf(w, "facet --version: the first call after the install (one run), then the median of %d calls each\n\n", runs)
	fmt.Fprintf(w, "%-30s  %10s  %12s  %11s  %12s  %13s\n", "install", "first call", "steady state", "bare binary", "first ÷ bare", "steady ÷ bare")
	for _, r := range rows {
		fmt.Fprintf(w, "%-30s  %10s  %12s  %11s  %11.2f×  %12.2f×\n", r.Install, ms(r.First), ms(r.Steady), ms(r.Bare), r.FirstRatio(), r.SteadyRatio())
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
