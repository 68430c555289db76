// Package build cross-compiles facet for its platform targets, in parallel, and
// proves every binary right before anyone packs it.
//
// Targets that differ only in their libc share one compilation: with
// CGO_ENABLED=0 their binaries are byte-identical, so each distinct Go
// configuration is compiled once and copied to its twins. Compilations run in a
// pool bounded by the CPUs Go may use: each go build already compiles packages
// in parallel, so more builds than cores is slower, not faster. The first
// failure cancels the rest, and cancellation kills the compilers it started.
//
// The build is sealed: nothing outside the repository changes the bytes (see
// [GoEnv]), and go.mod's toolchain line names the Go that builds.
//
// Every binary is verified as part of the build: its header and Go build
// information must show the target's OS, architecture, CPU level, CGO_ENABLED=0,
// -trimpath, the pinned toolchain and no other setting, and the version stamp;
// and every binary the host can execute (natively
// or under qemu-user) must print the version. A record of what was proven goes to
// dist/build/<target>.json; a binary whose record is current is not verified again.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/progress"
)

// DefaultMain is the package that builds the facet command.
const DefaultMain = "./cmd/facet"

// Config is everything a build needs; Run reads nothing else.
type Config struct {
	Root    string             // module root: the directory holding go.mod
	Main    string             // main package, relative to Root; "" means DefaultMain
	Dist    dist.Layout        // where binaries and records go
	Targets []platforms.Target // what to build, in display order
	Version string             // semver stamped into the binaries
	Commit  string             // commit stamped into the binaries
	Jobs    int                // compilations at once; 0 means runtime.GOMAXPROCS(0)
	Go      string             // the go command; "" means "go"
	Env     []string           // environment of go and of the checks (nil: this process's); the build sets GOOS and the rest itself
	Host    Host               // what this machine can execute
	// Pin is the toolchain and default GODEBUG every binary must show; nil
	// reads them from the module (see [ReadPin]).
	Pin *Pin
	// Progress shows the build; nil shows nothing.
	Progress progress.Reporter
	// Now is the clock used for timings; nil means time.Now.
	Now func() time.Time
}

// Run builds and verifies cfg.Targets. It returns their build records in the
// order of cfg.Targets, or an error naming every target that failed and why.
func Run(ctx context.Context, cfg Config) ([]dist.BuildRecord, error) {
	b, err := newBuilder(cfg)
	if err != nil {
		return nil, err
	}
	if b.cfg.Pin == nil {
		pin, err := ReadPin(ctx, b.cfg.Go, b.cfg.Root, b.cfg.Main, b.cfg.Env, b.cfg.Targets[0])
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		b.cfg.Pin = &pin
	}
	return b.run(ctx)
}

// builder is one run of the build.
type builder struct {
	cfg    Config
	groups []group
}

// group is one compilation: the targets sharing a Go configuration. The first
// is compiled; the others are its twins and get a copy.
type group struct {
	targets []platforms.Target
}

func (g group) primary() platforms.Target { return g.targets[0] }

func (g group) names() string {
	names := make([]string, len(g.targets))
	for i, t := range g.targets {
		names[i] = t.Name()
	}
	return strings.Join(names, ", ")
}

func newBuilder(cfg Config) (*builder, error) {
	if err := platforms.Table(cfg.Targets).Check(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if cfg.Version == "" || cfg.Commit == "" {
		return nil, errors.New("build: version and commit are required")
	}
	if cfg.Main == "" {
		cfg.Main = DefaultMain
	}
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = runtime.GOMAXPROCS(0)
	}
	if cfg.Progress == nil {
		cfg.Progress = progress.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	b := &builder{cfg: cfg}
	for _, targets := range platforms.Table(cfg.Targets).Compilations() {
		b.groups = append(b.groups, group{targets: targets})
	}
	return b, nil
}

func (b *builder) run(ctx context.Context) ([]dist.BuildRecord, error) {
	cfg := b.cfg
	names := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		names[i] = t.Name()
	}
	cfg.Progress.Start(fmt.Sprintf("facet %s: building %d targets (%d compilations, %d at a time)",
		cfg.Version, len(cfg.Targets), len(b.groups), min(cfg.Jobs, len(b.groups))), names)

	var mu sync.Mutex
	records := map[string]dist.BuildRecord{}
	errs := make([]error, len(b.groups))
	p := pool.New().WithErrors().WithContext(ctx).WithMaxGoroutines(cfg.Jobs).WithCancelOnError()
	for i, g := range b.groups {
		p.Go(func(ctx context.Context) error {
			recs, err := b.buildGroup(ctx, g)
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				records[r.Target] = r
			}
			errs[i] = err
			return err
		})
	}
	_ = p.Wait() // errs holds every group's outcome
	cfg.Progress.Stop()

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build canceled: %w", err)
	}
	var failures []error
	for _, err := range errs {
		// A group canceled because another failed is not a failure of its own.
		if err != nil && !errors.Is(err, context.Canceled) {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return nil, fmt.Errorf("build failed:\n%w", errors.Join(failures...))
	}
	out := make([]dist.BuildRecord, len(cfg.Targets))
	for i, t := range cfg.Targets {
		out[i] = records[t.Name()]
	}
	return out, nil
}

// buildGroup compiles one configuration, copies it to the twins and verifies
// every target of the group.
func (b *builder) buildGroup(ctx context.Context, g group) ([]dist.BuildRecord, error) {
	report := b.cfg.Progress
	if err := ctx.Err(); err != nil {
		b.reportAll(g, progress.Canceled)
		return nil, err
	}
	// Read the records of the previous build, then remove them: a record is
	// written again only once its binary has been verified.
	previous := map[string]dist.BuildRecord{}
	for _, t := range g.targets {
		if r, err := b.cfg.Dist.ReadBuildRecord(t); err == nil {
			previous[t.Name()] = r
		}
		if err := b.cfg.Dist.RemoveBuildRecord(t); err != nil {
			b.reportAll(g, progress.Failed)
			return nil, fmt.Errorf("%s: %w", g.names(), err)
		}
	}

	start := b.cfg.Now()
	report.Update(g.primary().Name(), progress.Compiling, "")
	for _, t := range g.targets[1:] {
		report.Update(t.Name(), progress.Compiling, "same binary as "+g.primary().Name())
	}
	if err := b.compile(ctx, g.primary()); err != nil {
		state := progress.Failed
		if ctx.Err() != nil {
			state = progress.Canceled
			err = errors.Join(err, ctx.Err())
		}
		b.reportAll(g, state)
		return nil, fmt.Errorf("%s: %w", g.names(), err)
	}
	binary := b.cfg.Dist.Binary(g.primary())
	data, err := os.ReadFile(binary)
	if err != nil {
		b.reportAll(g, progress.Failed)
		return nil, fmt.Errorf("%s: %w", g.names(), err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	for _, t := range g.targets[1:] {
		if err := copyIfChanged(b.cfg.Dist.Binary(t), data); err != nil {
			b.reportAll(g, progress.Failed)
			return nil, fmt.Errorf("%s: copying the binary of %s: %w", t.Name(), g.primary().Name(), err)
		}
	}

	var records []dist.BuildRecord
	var failures []error
	for _, t := range g.targets {
		r := dist.BuildRecord{
			Target:  t.Name(),
			Package: t.Package(),
			Version: b.cfg.Version,
			Commit:  b.cfg.Commit,
			Binary:  b.cfg.Dist.BinaryRel(t),
			Size:    int64(len(data)),
			SHA256:  digest,
			Checks:  b.checksFor(t),
		}
		state := progress.UpToDate
		if old, ok := previous[t.Name()]; ok && sameRecord(old, r) {
			r.Go = old.Go
		} else {
			state = progress.Done
			report.Update(t.Name(), progress.Verifying, "")
			goVersion, err := b.verify(ctx, t)
			if err != nil {
				if ctx.Err() != nil { // stopped by another target's failure or Ctrl-C
					report.Update(t.Name(), progress.Canceled, "")
					failures = append(failures, ctx.Err())
					continue
				}
				report.Update(t.Name(), progress.Failed, "")
				failures = append(failures, fmt.Errorf("%s: %w", t.Name(), err))
				continue
			}
			r.Go = goVersion
		}
		if err := b.cfg.Dist.WriteBuildRecord(t, r); err != nil {
			report.Update(t.Name(), progress.Failed, "")
			failures = append(failures, fmt.Errorf("%s: %w", t.Name(), err))
			continue
		}
		records = append(records, r)
		report.Update(t.Name(), state, fmt.Sprintf("%s in %s", size(r.Size), b.cfg.Now().Sub(start).Round(10*time.Millisecond)))
	}
	return records, errors.Join(failures...)
}

// reportAll puts every target of g in state s.
func (b *builder) reportAll(g group, s progress.State) {
	for _, t := range g.targets {
		b.cfg.Progress.Update(t.Name(), s, "")
	}
}

// sameRecord reports whether old proves what r needs: the same bytes, stamp and
// checks.
func sameRecord(old, r dist.BuildRecord) bool {
	return old.SHA256 == r.SHA256 && old.Version == r.Version && old.Commit == r.Commit &&
		old.Binary == r.Binary && slices.Equal(old.Checks, r.Checks)
}

// copyIfChanged writes data to path, executable, unless path already holds it.
func copyIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	return dist.WriteFileAtomic(path, data, 0o755)
}

// size formats a byte count for people.
func size(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
