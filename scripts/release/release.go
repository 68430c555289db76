// Package release is the stage that publishes a release from CircleCI with
// npm's trusted publishing: no long-lived npm token anywhere. It never
// builds; it publishes the 13 tarballs dist/ holds, exactly, and it never
// leaves a half release: everything that can be checked is checked before the
// first publish, a rerun completes what a failed run left, and the wrapper
// goes out only once every platform package is on the registry with the
// right tarball.
//
// Each npm publish gets a fresh OIDC ID token (circleci run oidc get) in its
// own environment, as NPM_ID_TOKEN, and npm exchanges it for a token of that
// one package. Every line of output, ours and npm's, passes a redactor.
//
// In stage mode (Config.Stage, go tool mage release:stage) the same checks
// lead to npm stage publish instead: the 13 versions are uploaded, visible to
// nobody until a maintainer approves them (go tool mage approve), and what
// was staged is recorded in dist/staged.json (dist.StagedRelease).
package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/secret"
)

// NPMMinVersion is the first npm that uses NPM_ID_TOKEN on CircleCI; older
// ones ignore it silently.
const NPMMinVersion = "11.11.0"

// TokenSource mints OIDC ID tokens for an audience (circleci.Minter).
type TokenSource interface {
	Mint(ctx context.Context, audience string) (string, error)
}

// Config is what a release needs.
type Config struct {
	Dist     dist.Layout      // as the package stage left it
	Registry *registry.Client // the registry npm is configured with
	NPM      npm.CLI          // npm with the job's environment; tokens are added per process
	Dir      string           // where npm runs (the repository, whose .npmrc applies)
	Tokens   TokenSource      // mints a fresh ID token for each npm publish
	Job      circleci.Job     // the CircleCI job's environment
	// Rehearsal allows a run outside CircleCI, against a registry that is not
	// the public one (npm is then told it runs in CircleCI).
	Rehearsal bool
	// DistTag is the dist-tag to publish under (FACET_DIST_TAG); "" means
	// latest for a release, next for a prerelease.
	DistTag string
	Jobs    int  // platform packages published at once; 0 means 4
	DryRun  bool // the pre-flight and the plan, no publish; refused in a CircleCI job unless a rehearsal
	// Stage stages the 13 packages (npm stage publish) for a maintainer to
	// approve, instead of publishing them: after the same pre-flight, and
	// after reading what is staged already (see stage.go); nothing becomes
	// visible, so nothing is waited for.
	Stage bool
	// Deadline bounds every wait of the release (FACET_WAIT from its start):
	// retries of what failed, the registry showing what was published, the
	// CDN's max-age before the wrapper. Zero means DefaultWait from the start
	// of Run. No wait that would end later is begun.
	Deadline time.Time
	Retry    retry.Policy
	Poll     registry.Poll // waiting for the registry to show the platform packages
	// Now and Sleep are the release's clock; nil means the real one. Retry
	// and Poll use it unless they set their own.
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	Progress progress.Reporter // nil shows nothing
	Out      io.Writer
	LogDir   string // npm's output of each publish, redacted; "" means release under Dist.Logs()
}

// Action is what the release did with a package.
type Action string

// The actions.
const (
	Published Action = "published"
	Skipped   Action = "skipped" // already on the registry with the same tarball
	Staged    Action = "staged"  // stage mode: staged now, see Result.StageID
	// AlreadyStaged is stage mode's skip: staged by an earlier run with the
	// same tarball (Result.StageID is that stage's id).
	AlreadyStaged Action = "already staged"
	Failed        Action = "failed"   // see Result.Err
	NotDone       Action = "not done" // a dry run, or stopped before its turn
)

// Result is one package's part in the release.
type Result struct {
	Package  string
	Action   Action
	Attempts int
	Duration time.Duration
	Done     time.Time // when it was published, on the release's clock
	// StageID is the id of the staged version, in stage mode: the one this
	// run staged, or the newest found staged with the same tarball.
	StageID string
	Err     error
}

// DefaultWait is how long a release waits on the registry in all when
// Config.Deadline is not set: the CDN's max-age (5 minutes on npmjs.com) and
// room for rate limits.
const DefaultWait = 20 * time.Minute

// Plan is what the pre-flight found: the version, its dist-tag, and what
// each package needs.
type Plan struct {
	Version string
	Tag     string
	Items   []Item // the 12 platform packages, then the wrapper
	// CDNMaxAge is how long the registry's CDN may serve a package document
	// without asking the origin (its Cache-Control on a plain read): the
	// wrapper goes out no sooner than this after the last platform package.
	CDNMaxAge time.Duration
	// CDNWait is how long the release waited for it before the wrapper.
	CDNWait time.Duration
}

// Item is one package to release.
type Item struct {
	Record  dist.PackRecord
	Tarball string // its path
	Skip    bool   // already on the registry with this tarball
	// SupersededBy is the newer version the dist-tag points at, for a
	// package already published whose tag a later release moved on.
	SupersededBy string
	// StagedAs is, in stage mode, the ids of the versions already staged
	// with this tarball, oldest first: nothing more to stage.
	StagedAs []string
}

// done reports whether there is nothing to do for the item: published, or,
// in stage mode, staged already.
func (it Item) done() bool { return it.Skip || len(it.StagedAs) > 0 }

// Run checks everything, then publishes the platform packages, waits until
// the registry shows all of them with the right tarballs, and publishes the
// wrapper. It returns the plan and a result per package.
func Run(ctx context.Context, cfg Config) (*Plan, []Result, error) {
	r := &run{cfg: cfg, redactor: &secret.Redactor{}}
	if r.cfg.Jobs <= 0 {
		r.cfg.Jobs = 4
	}
	if r.cfg.Now == nil {
		r.cfg.Now = time.Now
	}
	if r.cfg.Sleep == nil {
		r.cfg.Sleep = retry.Sleep
	}
	// No wait is quiet for long: CircleCI ends a step that prints nothing
	// for 10 minutes.
	sleep := r.cfg.Sleep
	r.cfg.Sleep = func(ctx context.Context, d time.Duration) error { return r.sleep(ctx, sleep, d) }
	if r.cfg.Deadline.IsZero() {
		r.cfg.Deadline = r.cfg.Now().Add(DefaultWait)
	}
	// Every wait, the registry's retries among them, ends by the deadline,
	// on the release's clock.
	r.cfg.Retry = r.policy(r.cfg.Retry)
	reg := *cfg.Registry
	reg.Retry = r.policy(reg.Retry)
	r.cfg.Registry = &reg
	if r.cfg.Poll.Now == nil {
		// A Poll with a clock of its own keeps its own bounds.
		r.cfg.Poll.Now, r.cfg.Poll.Sleep = r.cfg.Now, r.cfg.Sleep
		r.cfg.Poll.Deadline = r.cfg.Deadline
	}
	if r.cfg.Poll.Notify == nil {
		r.cfg.Poll.Notify = func(pending []registry.Status, wait time.Duration) {
			names := make([]string, len(pending))
			for i, s := range pending {
				names[i] = s.Name
			}
			fmt.Fprintf(r.out, "waiting %s for the registry to show %d packages: %s\n", wait.Round(100*time.Millisecond), len(pending), strings.Join(names, ", "))
		}
	}
	if r.cfg.LogDir == "" {
		r.cfg.LogDir = filepath.Join(cfg.Dist.Logs(), "release")
	}
	if r.cfg.Progress == nil {
		r.cfg.Progress = progress.Discard
	}
	r.cfg.Progress = redacted{r.cfg.Progress, r.redactor}
	r.out = r.redactor.Writer(cfg.Out)
	defer r.out.Close()

	plan, err := r.preflight(ctx)
	if err != nil {
		return plan, nil, r.fail(err)
	}
	if cfg.Stage {
		if err := r.checkStaged(ctx, plan); err != nil {
			return plan, nil, r.fail(err)
		}
	}
	r.printPlan(plan)
	if err := r.probe(ctx, plan); err != nil {
		return plan, nil, r.fail(err)
	}
	if cfg.DryRun {
		fmt.Fprintf(r.out, "Dry run (FACET_DRY_RUN): the pre-flight passed; nothing was %s.\n", r.verb().past)
		return plan, nil, nil
	}
	var results []Result
	if cfg.Stage {
		results, err = r.stageAll(ctx, plan)
	} else {
		results, err = r.publishAll(ctx, plan)
	}
	r.printTable(results)
	if cfg.Stage {
		if err == nil {
			err = r.recordStaged(plan, results)
		} else if rerr := r.recordPartial(plan, results); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return plan, results, r.fail(err)
	}
	return plan, results, nil
}

// quiet is the longest a wait of the release goes without a line.
const quiet = time.Minute

// sleep waits d with sleep, saying every minute how long is left.
func (r *run) sleep(ctx context.Context, sleep func(context.Context, time.Duration) error, d time.Duration) error {
	until := r.cfg.Now().Add(d)
	for left := d; left > 0; left = until.Sub(r.cfg.Now()) {
		if err := sleep(ctx, min(left, quiet)); err != nil {
			return err
		}
		if left := until.Sub(r.cfg.Now()); left > 0 {
			fmt.Fprintf(r.out, "still waiting: %s left (FACET_WAIT ends at %s)\n", left.Round(time.Second), r.cfg.Deadline.Format(time.TimeOnly))
		}
	}
	return nil
}

// policy is p bounded by the release's deadline, on its clock.
// A policy with a clock of its own keeps its own bounds.
func (r *run) policy(p retry.Policy) retry.Policy {
	if p.Now == nil {
		p.Now = r.cfg.Now
		if p.Sleep == nil {
			p.Sleep = r.cfg.Sleep
		}
		if p.Deadline.IsZero() || r.cfg.Deadline.Before(p.Deadline) {
			p.Deadline = r.cfg.Deadline
		}
	}
	if p.What == "" {
		p.What = "FACET_WAIT"
	}
	if p.Notify == nil {
		// A line for each retry: no wait is quiet for long (CircleCI ends a
		// step that prints nothing for 10 minutes), and the log says why.
		p.Notify = func(attempt int, err error, wait time.Duration) {
			fmt.Fprintf(r.out, "attempt %d failed (%s); trying again in %s\n", attempt, firstLine(err), wait.Round(100*time.Millisecond))
		}
	}
	return p
}

// fail is err as the release returns it: prefixed, and its message redacted
// (it may quote npm).
func (r *run) fail(err error) error {
	return &redactedError{err: err, msg: "release: " + r.redactor.Redact(err.Error())}
}

// redactedError is an error whose message has passed the redactor.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// run is one release.
type run struct {
	cfg      Config
	redactor *secret.Redactor
	out      io.WriteCloser // cfg.Out, redacted
}

func (r *run) printPlan(p *Plan) {
	publish, skip, staged := 0, 0, 0
	for _, it := range p.Items {
		switch {
		case it.Skip:
			skip++
		case it.done():
			staged++
		default:
			publish++
		}
	}
	v := r.verb()
	fmt.Fprintf(r.out, "%s %s to %s under dist-tag %s: %d to %s, %d already published",
		v.mode, p.Version, r.cfg.Registry, p.Tag, publish, v.base, skip)
	if r.cfg.Stage {
		fmt.Fprintf(r.out, ", %d already staged", staged)
	}
	fmt.Fprintln(r.out)
	w := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	for _, it := range p.Items {
		what := v.base + " " + it.Record.Tarball
		switch {
		case len(it.StagedAs) > 0:
			what = "skip: already staged with this tarball (stage id " + strings.Join(it.StagedAs, ", ") + ")"

		case it.Skip && it.SupersededBy != "":
			what = fmt.Sprintf("skip: already published with this tarball (superseded: %s points at %s)", p.Tag, it.SupersededBy)
		case it.Skip:
			what = "skip: already published with this tarball"
		}
		fmt.Fprintf(w, "  %s\t%s\n", it.Record.Name, what)
	}
	w.Flush()
	if p.CDNMaxAge > 0 && !r.cfg.Stage {
		fmt.Fprintf(r.out, "the registry's CDN may serve a package document up to %s old (its Cache-Control): the wrapper goes out no sooner than that after the last platform package\n", p.CDNMaxAge)
	}
}

// verb is what the release does to a package, in words: publish or stage.
type verb struct{ mode, base, past, command string }

func (r *run) verb() verb {
	if r.cfg.Stage {
		return verb{"stage", "stage", "staged", "npm stage publish"}
	}
	return verb{"release", "publish", "published", "npm publish"}
}

// printTable prints the final table: package, action, attempts, duration.
func (r *run) printTable(results []Result) {
	w := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "package\taction\tattempts\tduration")
	for _, res := range results {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", res.Package, res.Action, res.Attempts, res.Duration.Round(10*time.Millisecond))
	}
	w.Flush()
}

// logFile opens the redacted log of pkg's npm runs, for appending.
func (r *run) logFile(pkg string) (io.WriteCloser, error) {
	if err := os.MkdirAll(r.cfg.LogDir, 0o755); err != nil {
		return nil, err
	}
	name := strings.NewReplacer("@", "", "/", "-").Replace(pkg) + ".log"
	f, err := os.OpenFile(filepath.Join(r.cfg.LogDir, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// redacted is a Reporter whose details pass the redactor.
type redacted struct {
	progress.Reporter
	r *secret.Redactor
}

func (p redacted) Update(item string, s progress.State, detail string) {
	p.Reporter.Update(item, s, p.r.Redact(detail))
}
