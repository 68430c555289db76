package release

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/agent-facets/facets/scripts/secret"
	"github.com/agent-facets/facets/scripts/version"
)

// BenchConfig is what Bench needs.
type BenchConfig struct {
	// Fresh starts a new registry for one run, with every package seeded and
	// trusting the pipeline, and returns a release's configuration for it
	// (Registry, NPM, Dir, Tokens, Job, Dist) and how to stop it.
	Fresh func(ctx context.Context) (Config, func(), error)
	Runs  int // runs of each way; 0 means 3
	Out   io.Writer
}

// BenchRow is one way of releasing, timed.
type BenchRow struct {
	Method string
	NPMs   int           // npm processes per run
	Wall   time.Duration // median
	// CDNWait is the median wait for the registry's CDN before the wrapper
	// (part of Wall): time spent waiting, not working.
	CDNWait time.Duration
}

// Bench times this stage's release of the 13 packages against a plain loop
// that publishes the same tarballs one after the other, each with a fresh
// token, the way the original pipeline did, on fresh registries, the two
// ways alternating; and prints the ratio.
func Bench(ctx context.Context, cfg BenchConfig) ([]BenchRow, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 3
	}
	var ours, loop, cdn []time.Duration
	jobs := 0
	for i := 0; i < cfg.Runs; i++ {
		for _, way := range []func(context.Context, Config) error{
			func(ctx context.Context, c Config) error {
				c.Out, c.Progress = io.Discard, nil
				plan, _, err := Run(ctx, c)
				if plan != nil {
					cdn = append(cdn, plan.CDNWait)
				}
				return err
			},
			sequential,
		} {
			c, stop, err := cfg.Fresh(ctx)
			if err != nil {
				return nil, err
			}
			if c.Jobs <= 0 {
				c.Jobs = 4
			}
			jobs = c.Jobs
			start := time.Now()
			err = way(ctx, c)
			took := time.Since(start)
			stop()
			if err != nil {
				return nil, err
			}
			if len(ours) == len(loop) {
				ours = append(ours, took)
			} else {
				loop = append(loop, took)
			}
		}
	}
	rows := []BenchRow{
		{Method: fmt.Sprintf("go tool mage release (%d at a time)", jobs), NPMs: 26, Wall: median(ours), CDNWait: median(cdn)},
		{Method: "sequential npm publish loop", NPMs: 13, Wall: median(loop)},
	}
	fmt.Fprintf(cfg.Out, "releasing 13 packages to a local registry, a fresh OIDC token per npm publish; median of %d runs each\n\n", cfg.Runs)
	fmt.Fprintf(cfg.Out, "%-36s  %8s  %8s  %8s  %s\n", "method", "wall", "CDN wait", "working", "npm runs")
	for i, row := range rows {
		runs := fmt.Sprint(row.NPMs)
		if i == 0 {
			runs += " (13 OIDC probes, 13 publishes)"
		}
		fmt.Fprintf(cfg.Out, "%-36s  %8s  %8s  %8s  %s\n", row.Method, row.Wall.Round(10*time.Millisecond), row.CDNWait.Round(10*time.Millisecond), (row.Wall - row.CDNWait).Round(10*time.Millisecond), runs)
	}
	fmt.Fprintf(cfg.Out, "\nrelease ÷ loop: %.2f× (working, the CDN wait apart: %.2f×)\n",
		float64(rows[0].Wall)/float64(rows[1].Wall), float64(rows[0].Wall-rows[0].CDNWait)/float64(rows[1].Wall))
	if rows[0].CDNWait > 0 {
		fmt.Fprintln(cfg.Out, "The CDN wait is the registry's max-age after the last platform package: the loop publishes the wrapper without it, so that users may see the wrapper before its platform packages.")
	}
	return rows, nil
}

// sequential publishes the tarballs of c.Dist one after another, the wrapper
// last, each with a fresh token: no checks, no probe, no retries.
func sequential(ctx context.Context, c Config) error {
	v, err := version.FromTag(c.Job.Tag)
	if err != nil {
		return err
	}
	tag, err := version.DistTag(v, c.DistTag)
	if err != nil {
		return err
	}
	r := &run{cfg: c, redactor: &secret.Redactor{}}
	items, err := checkDist(c.Dist, v, c.Job.Tag, c.Job.SHA1)
	if err != nil {
		return err
	}
	for _, it := range items {
		if _, err := r.npmPublish(ctx, it, tag, false); err != nil {
			return fmt.Errorf("%s: %w", it.Record.Name, err)
		}
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
