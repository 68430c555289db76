// Package installbench measures what installing facet through npm costs each
// call: `facet --version` through the command npm puts in node_modules/.bin
// against the bare platform binary, after a normal install (postinstall puts
// the binary in place of the launcher) and after --ignore-scripts (the Node.js
// launcher finds the binary on every call).
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
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/verdaccio"
)

// Config is what the benchmark needs.
type Config struct {
	Dist      dist.Layout       // packed by the package stage
	Verdaccio verdaccio.Options // the registry to install from; Dir is ignored
	Runs      int               // runs of each command; 0 means 50
}

// Row compares the installed command with the bare binary after one kind of
// install.
type Row struct {
	Install             string        // the kind of install
	Command, Bare       time.Duration // median wall time of one call
	CommandPath, Binary string        // what was run
}

// Ratio is how many times slower the installed command is than the binary.
func (r Row) Ratio() float64 { return float64(r.Command) / float64(r.Bare) }

// Run publishes the packed packages to a fresh local registry, installs them
// twice (normally and with --ignore-scripts) and times both commands, printing
// the table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]Row, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 50
	}
	records, err := cfg.Dist.ReadPackRecords()
	if err != nil {
		return nil, fmt.Errorf("%w (run go tool mage package)", err)
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
	spec := platforms.Wrapper + "@" + records[0].Version

	var rows []Row
	for _, install := range []struct{ name, flag string }{
		{"npm install", ""},
		{"npm install --ignore-scripts", "--ignore-scripts"},
	} {
		project := filepath.Join(tmp, fmt.Sprintf("project-%d", len(rows)))
		args := []string{spec}
		if install.flag != "" {
			args = append([]string{install.flag}, args...)
		}
		if err := reg.Install(ctx, project, args...); err != nil {
			return nil, err
		}
		command := filepath.Join(project, "node_modules", ".bin", platforms.Command)
		bare, err := binaryOf(ctx, project, command)
		if err != nil {
			return nil, err
		}
		row := Row{Install: install.name, CommandPath: command, Binary: bare}
		if row.Command, row.Bare, err = race(ctx, cfg.Runs, command, bare); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	Print(out, cfg.Runs, rows)
	return rows, nil
}

// binaryOf returns the platform binary the installed command runs, as
// `facet version --json` reports it, inside the platform package.
func binaryOf(ctx context.Context, project, command string) (string, error) {
	out, err := exec.CommandContext(ctx, command, "version", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("%s version --json: %w", command, err)
	}
	var about struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(out, &about); err != nil {
		return "", err
	}
	// After a normal install the command is a link to the binary; time the
	// platform package's own file as the bare binary either way.
	for _, t := range platforms.All() {
		candidate := filepath.Join(project, "node_modules", filepath.FromSlash(t.Package()), filepath.FromSlash(t.BinPath()))
		if same(candidate, about.Path) {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%s runs %s, which is in no platform package", command, about.Path)
}

func same(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// race runs a and b with --version alternately, runs times each after a
// warm-up, and returns their median wall times.
func race(ctx context.Context, runs int, a, b string) (time.Duration, time.Duration, error) {
	var ta, tb []time.Duration
	for i := -3; i < runs; i++ { // three warm-up rounds
		for _, c := range []struct {
			path string
			into *[]time.Duration
		}{{a, &ta}, {b, &tb}} {
			start := time.Now()
			if err := exec.CommandContext(ctx, c.path, "--version").Run(); err != nil {
				return 0, 0, fmt.Errorf("%s --version: %w", c.path, err)
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
	fmt.Fprintf(w, "facet --version, median of %d runs each\n\n", runs)
	fmt.Fprintf(w, "%-30s  %22s  %11s  %s\n", "install", "node_modules/.bin/facet", "bare binary", "ratio")
	for _, r := range rows {
		fmt.Fprintf(w, "%-30s  %22s  %11s  %.2f×\n", r.Install, ms(r.Command), ms(r.Bare), r.Ratio())
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
