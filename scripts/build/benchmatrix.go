package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
)

// MatrixBench measures the CI matrix layout: each compilation built alone from
// an empty build cache, as one matrix job on a fresh machine builds it, and the
// build tool compiled once beforehand.
type MatrixBench struct {
	Jobs   []MatrixJob
	Tool   Measurement // compiling the build tool from an empty cache, once per pipeline
	Single Measurement // the whole build on one machine from an empty cache
}

// MatrixJob is one matrix job: the targets of one compilation.
type MatrixJob struct {
	Targets []string
	Measurement
}

// Slowest is the matrix job that took longest: the one the pipeline waits for.
func (m MatrixBench) Slowest() MatrixJob {
	var s MatrixJob
	for _, j := range m.Jobs {
		if j.Wall > s.Wall {
			s = j
		}
	}
	return s
}

// BenchMatrix builds each compilation of cfg.Targets on its own, with an empty
// build cache and dist directory of its own, and measures it; then it runs
// tool, which compiles the build tool, with an empty build cache (GOCACHE in
// the environment it is given). single is the whole build on one machine from
// an empty cache (Bench's cold parallel build), the baseline of the scale-out
// ratio. It prints a report to out.
func BenchMatrix(ctx context.Context, cfg Config, tool func(ctx context.Context, env []string) error, single Measurement, out io.Writer) (MatrixBench, error) {
	tmp, err := os.MkdirTemp("", "facet-bench-matrix-")
	if err != nil {
		return MatrixBench{}, err
	}
	defer os.RemoveAll(tmp)

	res := MatrixBench{Single: single}
	chosen := map[string]bool{}
	for _, t := range cfg.Targets {
		chosen[t.Name()] = true
	}
	var groups [][]platforms.Target
	for _, g := range platforms.Compilations() {
		var mine []platforms.Target
		for _, t := range g {
			if chosen[t.Name()] {
				mine = append(mine, t)
			}
		}
		if len(mine) > 0 {
			groups = append(groups, mine)
		}
	}
	fmt.Fprintf(out, "\nmatrix: %d jobs, one per compilation, each from an empty build cache\n", len(groups))
	for i, g := range groups {
		job := cfg
		job.Targets = g
		job.Version = "0.0.0-bench.matrix"
		job.Dist = dist.Layout{Root: filepath.Join(tmp, fmt.Sprint("job", i))}
		job.Env = append(clean(cfg.Env), "GOCACHE="+filepath.Join(tmp, fmt.Sprint("cache", i)))
		job.Progress = nil
		names := make([]string, len(g))
		for j, t := range g {
			names[j] = t.Name()
		}
		fmt.Fprintf(out, "matrix     %s ...\n", strings.Join(names, " "))
		m, err := measure(func() error { _, err := Run(ctx, job); return err })
		if err != nil {
			return res, fmt.Errorf("bench matrix %s: %w", strings.Join(names, " "), err)
		}
		res.Jobs = append(res.Jobs, MatrixJob{Targets: names, Measurement: m})
	}
	fmt.Fprintf(out, "matrix     build tool ...\n")
	env := append(clean(cfg.Env), "GOCACHE="+filepath.Join(tmp, "cache-tool"))
	if res.Tool, err = measure(func() error { return tool(ctx, env) }); err != nil {
		return res, fmt.Errorf("bench matrix: compiling the build tool: %w", err)
	}
	res.Print(out)
	return res, nil
}

// Print writes each matrix job's cost, the tool's, and the scale-out ratios.
func (m MatrixBench) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%-44s  %9s  %9s\n", "matrix job", "wall", "CPU")
	for _, j := range m.Jobs {
		fmt.Fprintf(w, "%-44s  %9s  %9s\n", strings.Join(j.Targets, " "), seconds(j.Wall), seconds(j.CPU))
	}
	fmt.Fprintf(w, "%-44s  %9s  %9s\n", "build tool (once, before the matrix)", seconds(m.Tool.Wall), seconds(m.Tool.CPU))
	fmt.Fprintf(w, "%-44s  %9s  %9s\n", "single machine, whole build", seconds(m.Single.Wall), seconds(m.Single.CPU))
	s := m.Slowest()
	fmt.Fprintf(w, "\nscale-out  slowest matrix job ÷ single-machine build: %s ÷ %s = %s (goal ≤ 0.20×)\n",
		seconds(s.Wall), seconds(m.Single.Wall), ratio(s.Wall, m.Single.Wall))
	fmt.Fprintf(w, "pipeline   (tool + slowest job) ÷ (tool + single-machine build): %s ÷ %s = %s\n",
		seconds(m.Tool.Wall+s.Wall), seconds(m.Tool.Wall+m.Single.Wall), ratio(m.Tool.Wall+s.Wall, m.Tool.Wall+m.Single.Wall))
}
