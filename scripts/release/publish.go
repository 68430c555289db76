package release

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/retry"
)

// npmPublish runs npm publish of a tarball (npm stage publish in stage mode)
// with a fresh ID token, as a CircleCI job runs it: the token in NPM_ID_TOKEN of this one process, npm
// verbose (its OIDC exchange logs only at that level), no retries of its own
// (this stage retries, knowing what failed), no log files of its own (its
// output is kept, redacted, in the stage's log). It returns npm's output,
// redacted.
func (r *run) npmPublish(ctx context.Context, it Item, tag string, dryRun bool) (string, error) {
	token, err := r.cfg.Tokens.Mint(ctx, circleci.Audience(r.cfg.Registry.Host()))
	if err != nil {
		err = fmt.Errorf("%w: %w", errMint, err)
		if errors.Is(err, circleci.ErrNoCLI) {
			return "", err // no circleci command: another try will not find one
		}
		return "", retry.Transient(err, 0) // CircleCI's OIDC service may pass
	}
	r.redactor.Add(token)
	args := []string{"publish", it.Tarball, "--access", "public", "--tag", tag, "--loglevel", "verbose",
		"--fetch-retries", "0", "--logs-max", "0", "--no-provenance"}
	if r.cfg.Stage {
		args = append([]string{"stage"}, args...)
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	cli := r.cfg.NPM.With("NPM_ID_TOKEN="+token, "CIRCLECI=true")
	out, err := cli.RunCombined(ctx, r.cfg.Dir, args...)
	text := r.redactor.Redact(out)
	if f, lerr := r.logFile(it.Record.Name); lerr == nil {
		what := r.verb().base
		if dryRun {
			what = "OIDC probe (" + r.verb().command + " --dry-run)"
		}
		fmt.Fprintf(f, "=== %s %s, %s\n%s\n", time.Now().UTC().Format(time.RFC3339), what, it.Record.Tarball, text)
		f.Close()
	}
	if err != nil {
		// The error carries npm's output too: redact it, keep the exit status.
		var e *npm.Error
		if errors.As(err, &e) {
			e.Stderr = r.redactor.Redact(e.Stderr)
		}
	}
	return text, err
}

// exchanged reports whether npm's output says it exchanged the ID token.
func exchanged(out string) bool {
	return strings.Contains(out, "oidc Successfully retrieved and set token")
}

var (
	// exchangeFailed is npm's verbose line for a failed exchange.
	exchangeFailed = regexp.MustCompile(`oidc Failed token exchange request with body message: (.*)`)
	// exchangeStatus is npm's http line for the exchange request.
	exchangeStatus = regexp.MustCompile(`http fetch POST (\d{3}) \S*/-/npm/v1/oidc/token/exchange/`)
	// transientCodes are npm error codes of failures that may pass.
	transientCodes = regexp.MustCompile(`^(E5\d\d|E429|E408|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|EPIPE|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|ESOCKETTIMEDOUT)$`)
)

// exchangeFailure reads npm's verbose output about an exchange that did not
// give a token: what npm said, whether npm tried it at all (it logs the
// attempt: the exchange's http line or its "Failed token exchange" line),
// and whether another try may do better: a server error, rate limiting or a
// lost connection may pass; a 400, 401 or 404 will not (see likelyCauses).
func exchangeFailure(out string) (msg string, tried, transient bool) {
	failed := exchangeFailed.FindStringSubmatch(out)
	code := exchangeCode(out)
	if failed == nil && code == 0 {
		return "", false, false
	}
	msg = "the OIDC token exchange failed"
	if failed != nil {
		msg += ": " + clip(strings.TrimSpace(failed[1]))
	}
	if code == 0 {
		return msg + " (no answer)", true, true
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, code), true, code >= 500 || code == 429 || code == 408
}

// exchangeCode is the status of npm's last exchange request in its output, 0
// when it logged none.
func exchangeCode(out string) int {
	status := exchangeStatus.FindAllStringSubmatch(out, -1)
	if len(status) == 0 {
		return 0
	}
	code, _ := strconv.Atoi(status[len(status)-1][1])
	return code
}

// causesOf is what the exchange's answer code says went wrong (likelyCauses),
// for a registry whose host is host.
func causesOf(code int, host string) string {
	var causes string
	switch {
	case code == 404:
		causes = causesNotFound
	case code == 401:
		causes = causesUnauthorized
	case code == 400:
		causes = causesBadRequest
	case code == 429 || code == 408 || code >= 500:
		causes = causesTransient
	default:
		return likelyCauses
	}
	return "likely causes: " + strings.ReplaceAll(causes, "<registry host>", host)
}

// npmFailure is a failed npm command that is not about the exchange: a
// transient error when npm's error lines say so (a 5xx, a 429, a lost
// connection), a permanent one otherwise.
func npmFailure(what string, out string, err error) error {
	line := telling(out, err)
	if transientCodes.MatchString(npm.ErrorCode(err)) || strings.Contains(line, "socket hang up") || strings.Contains(line, "network") {
		return retry.Transient(fmt.Errorf("%s: %s", what, line), 0)
	}
	return fmt.Errorf("%s: %s", what, line)
}

// What each answer of npm's OIDC exchange means. npmjs.com answers with one
// of four messages and nothing more, and gives the same 404 "package not
// found" for every mismatch, so the release names every cause of each.
const (
	causesNotFound = "the package has no trusted publisher (go tool mage trust), or one for another organization, project, pipeline definition, VCS origin or context (go tool mage verify); " +
		"or this job is an SSH rerun, whose tokens npm refuses (rerun the workflow without SSH); or the package does not exist (go tool mage seed)"
	causesUnauthorized = "the ID token is older than about 5 minutes (npm accepts a CircleCI token only that long after it was issued: rerun the job), or the job's clock is off; " +
		"or its audience is not npm:<registry host>; or CircleCI did not sign it"
	causesBadRequest = "npm sent a malformed request (no or a malformed ID token): an npm bug, see the package's npm output in the release's logs"
	causesTransient  = "the registry's trouble (a server error, a rate limit), already retried"
	// likelyCauses explains a refused exchange by its answer.
	likelyCauses = "what the exchange's answer means:\n" +
		"  404 package not found: " + causesNotFound + "\n" +
		"  401 unauthorized: " + causesUnauthorized + "\n" +
		"  400 bad request: " + causesBadRequest + "\n" +
		"  5xx, 429: " + causesTransient
)

// probe proves, before anything is published, that npm can exchange an ID
// token for every package: npm publish --dry-run (npm stage publish
// --dry-run in stage mode) does the exchange and publishes nothing. A package
// whose exchange is refused stops the release.
func (r *run) probe(ctx context.Context, plan *Plan) error {
	todo := 0
	for _, it := range plan.Items {
		if !it.done() {
			todo++
		}
	}
	if todo == 0 {
		return nil // nothing to publish, nothing to exchange for
	}
	v := r.verb()
	fmt.Fprintf(r.out, "OIDC probe: %s --dry-run of the %d packages to %s, each with a fresh ID token\n", v.command, todo, v.base)
	errs := make([]error, len(plan.Items))
	p := pool.New().WithMaxGoroutines(r.cfg.Jobs)
	for i, it := range plan.Items {
		if it.done() {
			continue // published (or staged) already: no token is needed for it
		}
		p.Go(func() {
			errs[i] = retry.Do(ctx, r.cfg.Retry, func(int) error {
				out, err := r.npmPublish(ctx, it, plan.Tag, true)
				switch {
				case errors.Is(err, errMint):
					return err
				case exchanged(out):
					return nil // whatever npm did next in a dry run
				}
				msg, tried, transient := exchangeFailure(out)
				switch {
				case !tried && err != nil:
					return npmFailure(v.command+" --dry-run (before any exchange)", out, err)
				case !tried:
					return errors.New("npm did not try the OIDC exchange (is CIRCLECI set in its environment?)")
				case transient:
					return retry.Transient(errors.New(msg), 0)
				}
				return errors.New(msg)
			})
		})
	}
	p.Wait()
	var problems []string
	for i, err := range errs {
		if err != nil {
			problems = append(problems, fmt.Sprintf("  %s: %v", plan.Items[i].Record.Name, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the OIDC probe failed for %d of %d packages, so nothing was %s:\n%s\n%s",
			len(problems), todo, v.past, strings.Join(problems, "\n"), likelyCauses)
	}
	return nil
}

// errMint is a failure to mint an ID token.
var errMint = errors.New("no ID token")

// errPermission is a publish the registry refused for want of permission: a
// trusted publisher that may only stage.
var errPermission = errors.New(`the trusted publisher may only stage, not publish: it lacks the permission createPackage. ` +
	`Since 2026-09-03 a trusted publisher made on npmjs.com may only stage unless "npm publish" was ticked, and it cannot be edited. ` +
	`Replace it: FACET_TRUST_REPLACE=1 go tool mage trust (npm trust … --allow-publish), or delete it on the package's access page and add it again with "npm publish" ticked; then rerun the workflow`)

// errConflict is a version on the registry with another tarball.
var errConflict = errors.New("already on the registry with another tarball")

// track starts the progress of items under title, each item's result not
// done yet. stop shows every item still not done as cancelled, and ends the
// progress.
func (r *run) track(items []Item, title string) (results []Result, stop func()) {
	names := make([]string, len(items))
	results = make([]Result, len(items))
	for i, it := range items {
		names[i] = it.Record.Name
		results[i] = Result{Package: it.Record.Name, Action: NotDone}
	}
	report := r.cfg.Progress
	report.Start(title, names)
	return results, func() {
		for i, res := range results {
			if res.Action == NotDone {
				report.Update(names[i], progress.Canceled, "")
			}
		}
		report.Stop()
	}
}

// publishAll publishes one platform package alone first (a canary: a
// registry that refuses this pipeline's publishes, for want of permission,
// stops the release with nothing published), then the others, a few at a
// time; waits until the registry shows every one with its tarball, and then
// the CDN's max-age; then publishes the wrapper.
func (r *run) publishAll(ctx context.Context, plan *Plan) ([]Result, error) {
	items := plan.Items
	results, stop := r.track(items, fmt.Sprintf("release %s: publishing %d packages, one first, then %d at a time, the wrapper last", plan.Version, len(items), r.cfg.Jobs))
	defer stop()

	wrapper := len(items) - 1
	canary := slices.IndexFunc(items[:wrapper], func(it Item) bool { return !it.Skip })
	if canary >= 0 {
		results[canary] = r.publishOne(ctx, items[canary], plan.Tag, false)
		if res := results[canary]; res.Action == Failed {
			nothing := "nothing was published"
			if canary > 0 || slices.ContainsFunc(items, func(it Item) bool { return it.Skip }) {
				nothing = "nothing more was published" // an earlier run published some
			}
			if errors.Is(res.Err, errPermission) {
				return results, fmt.Errorf("the registry refused to publish %s, the first package, for want of permission, so %s: %w", res.Package, nothing, res.Err)
			}
			return results, fmt.Errorf("publishing %s, the first package, failed, so %s: %w\nRerun the workflow once the cause is fixed", res.Package, nothing, res.Err)
		}
		if err := ctx.Err(); err != nil {
			return results, err
		}
	}
	stopped := r.publishPlatforms(ctx, plan, results, canary)

	var failed []string
	for _, res := range results[:wrapper] {
		if res.Action == Failed {
			failed = append(failed, fmt.Sprintf("  %s: %v", res.Package, res.Err))
		}
	}
	err := ctx.Err()
	switch {
	case err != nil:
	case len(failed) > 0:
		err = fmt.Errorf("%d platform packages failed, so the wrapper was not published:\n%s\nRerun the workflow once the cause is fixed: what is published is skipped", len(failed), strings.Join(failed, "\n"))
	case stopped:
		err = errors.New("stopped: a package is on the registry with another tarball")
	default:
		var shown []registry.Status
		if shown, err = r.await(ctx, plan, results); err == nil {
			err = r.awaitCDN(ctx, plan, results, shown)
		}
	}
	if err == nil {
		results[wrapper] = r.publishOne(ctx, items[wrapper], plan.Tag, true)
		if results[wrapper].Action == Failed {
			err = fmt.Errorf("the wrapper: %w (every platform package is published: rerun the workflow to publish it)", results[wrapper].Err)
		}
	}
	return results, err
}

// publishPlatforms publishes the platform packages but the one at done (the
// canary, or -1), at most Jobs at once. It reports whether it stopped early
// because a package is on the registry with another tarball.
func (r *run) publishPlatforms(ctx context.Context, plan *Plan, results []Result, done int) (stopped bool) {
	var stop atomic.Bool
	p := pool.New().WithMaxGoroutines(r.cfg.Jobs)
	for i, it := range plan.Items[:len(plan.Items)-1] {
		if i == done {
			continue
		}
		p.Go(func() {
			if stop.Load() || ctx.Err() != nil {
				return // not done
			}
			results[i] = r.publishOne(ctx, it, plan.Tag, false)
			if errors.Is(results[i].Err, errConflict) {
				stop.Store(true)
			}
		})
	}
	p.Wait()
	return stop.Load()
}

// publishOne publishes one package, retrying what may pass. "Cannot publish
// over" is success when the registry has this very tarball (an earlier
// attempt, or run, published it) and a loud failure otherwise. A platform
// package is done (final) only once the registry shows it; the wrapper once
// npm has published it.
func (r *run) publishOne(ctx context.Context, it Item, tag string, final bool) Result {
	name := it.Record.Name
	report := r.cfg.Progress
	res := Result{Package: name}
	if it.Skip {
		res.Action = Skipped
		report.Update(name, progress.Skipped, "already published with this tarball")
		return res
	}
	start := time.Now()
	err := retry.Do(ctx, r.cfg.Retry, func(attempt int) error {
		res.Attempts = attempt
		report.Update(name, progress.Publishing, fmt.Sprintf("attempt %d", attempt))
		out, err := r.npmPublish(ctx, it, tag, false)
		if err == nil || errors.Is(err, errMint) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return r.classify(ctx, it, out, err)
	})
	res.Duration = time.Since(start)
	res.Done = r.cfg.Now()
	res.Action, res.Err = Published, err
	if err != nil {
		res.Action = Failed
		// The error goes into the release's own (after the progress display
		// has stopped: nothing is written beside live bars).
		report.Update(name, progress.Failed, firstLine(err))
		return res
	}
	detail := fmt.Sprintf("in %s, %s", res.Duration.Round(10*time.Millisecond), plural(res.Attempts, "attempt"))
	if final {
		report.Update(name, progress.Published, detail)
	} else {
		report.Update(name, progress.Verifying, "published "+detail+"; waiting for the registry to show it")
	}
	return res
}

// classify turns a failed npm publish into nil (the registry has this
// tarball), a transient error, or a permanent one that says what to do.
func (r *run) classify(ctx context.Context, it Item, out string, err error) error {
	code := npm.ErrorCode(err)
	if code == "E409" || code == "EPUBLISHCONFLICT" || strings.Contains(out, "cannot publish over the previously published versions") {
		s := r.cfg.Registry.Check(ctx, registry.Want{Name: it.Record.Name, Version: it.Record.Version, Integrity: it.Record.Integrity})
		switch {
		case s.Err != nil:
			return retry.Transient(fmt.Errorf("npm says %s@%s is published, and the registry could not confirm its tarball: %w", it.Record.Name, it.Record.Version, s.Err), 0)
		case s.Found && s.Integrity == it.Record.Integrity:
			return nil
		case s.Found:
			return fmt.Errorf("%s@%s is %w (integrity %s; dist/ has %s): release a new version", it.Record.Name, it.Record.Version, errConflict, s.Integrity, it.Record.Integrity)
		}
		return retry.Transient(fmt.Errorf("npm says %s@%s is published, and the registry does not show it yet", it.Record.Name, it.Record.Version), 0)
	}
	if !exchanged(out) {
		if msg, tried, transient := exchangeFailure(out); tried {
			if transient {
				return retry.Transient(errors.New(msg), 0)
			}
			return fmt.Errorf("%s; %s", msg, causesOf(exchangeCode(out), r.cfg.Registry.Host()))
		}
	}
	command := r.verb().command
	if strings.Contains(telling(out, err), "OIDC permission denied") {
		denied := errPermission
		if r.cfg.Stage {
			denied = errStagePermission
		}
		return fmt.Errorf("%s: %s: %w", command, telling(out, err), denied)
	}
	return npmFailure(command, out, err)
}

// await waits until the registry (its origin) shows every platform package
// at the version, with its tarball, under the tag, and returns what it
// showed.
func (r *run) await(ctx context.Context, plan *Plan, results []Result) ([]registry.Status, error) {
	var wants []registry.Want
	for _, it := range plan.Items[:len(plan.Items)-1] {
		wants = append(wants, registry.Want{Name: it.Record.Name, Version: plan.Version, Integrity: it.Record.Integrity, Tag: plan.Tag})
	}
	statuses := r.cfg.Registry.Await(ctx, wants, r.cfg.Poll)
	var problems []string
	for i, s := range statuses {
		if !s.OK() {
			problems = append(problems, fmt.Sprintf("  %s: %s", s.Name, strings.Join(s.Problems, "; ")))
			r.cfg.Progress.Update(s.Name, progress.Failed, "the registry does not show it")
			continue
		}
		if results[i].Action == Published {
			r.cfg.Progress.Update(s.Name, progress.Published, fmt.Sprintf("in %s, %s; on the registry",
				results[i].Duration.Round(10*time.Millisecond), plural(results[i].Attempts, "attempt")))
		}
	}
	if len(problems) > 0 {
		return statuses, fmt.Errorf("the registry does not show every platform package as published, so the wrapper was not published:\n%s\nRerun the workflow: what is published is skipped", strings.Join(problems, "\n"))
	}
	return statuses, nil
}

// cdnMargin is added to the CDN's max-age (registry.CDNMargin).
const cdnMargin = registry.CDNMargin

// awaitCDN waits, before the wrapper goes out, until the CDN in front of the
// registry can no longer serve a copy of a platform package's document made
// before that package's version was published: from the moment users' npm
// can see the wrapper, it sees every platform package. The last platform
// package's publish time is the registry's (shown), or, for one this run
// published whose time the registry does not give, when npm said it was
// done.
func (r *run) awaitCDN(ctx context.Context, plan *Plan, results []Result, shown []registry.Status) error {
	if plan.CDNMaxAge <= 0 {
		return nil
	}
	// What this run published counts from when npm said it was done, if
	// that is later than the registry's stamp.
	done := make([]time.Time, len(shown))
	for i := range shown {
		if results[i].Action == Published {
			done[i] = results[i].Done
		}
	}
	until, lastName := registry.CDNClear(shown, done, plan.CDNMaxAge, r.cfg.Now())
	last := until.Add(-plan.CDNMaxAge - registry.CDNMargin)
	wait := until.Sub(r.cfg.Now())
	if wait <= 0 {
		return nil
	}
	if until.After(r.cfg.Deadline) {
		return fmt.Errorf("the wrapper must wait until %s for the CDN, and FACET_WAIT ends at %s, so it was not published; every platform package is published: rerun the workflow (with a longer FACET_WAIT if this recurs) to publish it",
			until.Format(time.TimeOnly), r.cfg.Deadline.Format(time.TimeOnly))
	}
	ago := "just now"
	// An HTTP Date is to the second, so a publish time told on this clock
	// may lie a little ahead: the wait errs on the long side.
	if d := r.cfg.Now().Sub(last).Round(time.Second); d > 0 {
		ago = d.String() + " ago"
	}
	fmt.Fprintf(r.out, "waiting %s before publishing the wrapper: the registry's CDN may serve a package document up to %s old (Cache-Control), and the last platform package, %s, was published %s; once users' npm can see the wrapper, it must see all %d platform packages\n",
		wait.Round(time.Second), plan.CDNMaxAge, lastName, ago, len(shown))
	start := r.cfg.Now()
	if err := r.cfg.Sleep(ctx, wait); err != nil {
		return err
	}
	plan.CDNWait = r.cfg.Now().Sub(start)
	return nil
}

// telling is the line of npm's output that says what went wrong: its
// "npm error" lines after the code, or the error itself.
func telling(out string, err error) string {
	var lines []string
	for line := range strings.SplitSeq(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "npm error "); ok && !strings.HasPrefix(rest, "code ") && !strings.HasPrefix(rest, "A complete log") {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	if len(lines) == 0 {
		return clip(firstLine(err))
	}
	return clip(strings.Join(lines, " "))
}

// maxQuoted is the most of npm's words, or a registry's relayed by npm, that
// an error quotes: the rest is in the release's log of that publish.
const maxQuoted = 400

// clip cuts s to maxQuoted characters.
func clip(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return string(r[:maxQuoted]) + "… (the rest in dist/logs/release/)"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
