package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/circlecitest"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/installsh"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/procgroup"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/version"
)

// CIJob is one job of the release workflow as .circleci/config.yml runs it
// (scale-out): the tool job compiles the build tool; every other job runs
// the compiled tool with Args, in a fresh checkout with the workspace
// attached, and persists Persist (paths or globs below the checkout) to the
// workspace. The ciconfig tests check this list against the config.
type CIJob struct {
	Name    string
	Args    []string // dist/tool/mage <Args>; nil for the tool job
	Persist []string
	// Stage groups the jobs that run at the same time (the matrix): their
	// persisted files must not overlap.
	Stage string
	// Artifacts are kept after the job, whether it passed or failed, as
	// store_artifacts keeps them (directories below the checkout).
	Artifacts []string
}

// ToolPath is where the tool job compiles the build tool, below the
// checkout.
const ToolPath = "dist/tool/mage"

// ReleaseJobs are the scale-out release workflow's jobs, in the order they
// run: tool, the build matrix (one job per compilation), package, release.
func ReleaseJobs() []CIJob {
	jobs := []CIJob{{Name: "tool", Persist: []string{ToolPath}, Stage: "tool"}}
	for _, targets := range ciconfig.MatrixValues(platforms.All()) {
		jobs = append(jobs, CIJob{Name: "build " + targets, Args: []string{"build:target", targets}, Persist: []string{"dist/build", "dist/npm"}, Stage: "build"})
	}
	return append(jobs,
		CIJob{Name: "package", Args: []string{"package:assemble"}, Persist: []string{"dist/npm", "dist/*.tgz", "dist/packages.json", "dist/SHA256SUMS"}, Stage: "package"},
		CIJob{Name: "release", Args: []string{"release"}, Stage: "release", Artifacts: []string{filepath.ToSlash(dist.Layout{Root: "dist"}.Logs())}},
	)
}

// StagedReleaseJobs are ReleaseJobs with the pipeline parameter release-mode
// set to stage: the release job runs release:stage.
func StagedReleaseJobs() []CIJob {
	jobs := ReleaseJobs()
	last := &jobs[len(jobs)-1]
	last.Args = []string{"release:stage"}
	return jobs
}

// Rehearse runs the whole release on this machine against a local test bed:
// Verdaccio behind the npmjs.com stand-in (trusted publishers and the OIDC
// exchange), and the circleci stand-in minting tokens with a local key.
//
// In order: seed, trust and verify as a logged-in maintainer; then the
// release workflow as CircleCI runs it (ReleaseJobs): each job in a fresh
// copy of this checkout, with the workspace the jobs before it persisted,
// the tool job compiling the build tool and every later job running it, with
// a CircleCI job's environment (CIRCLECI, CIRCLE_TAG, CIRCLE_SHA1, CI, no npm
// login, no FACET_* of this shell); and verify:release, which installs
// agent-facets with npm and runs it. Each step's output goes to a log; a
// summary says how each went. Nothing is left running, also when interrupted.
func Rehearse(ctx context.Context, env Env) error { return rehearse(ctx, env, false) }

// RehearseStage rehearses a staged release as Rehearse rehearses a direct
// one: the release job stages the 13 packages (StagedReleaseJobs), then the
// maintainer approves them as go tool mage approve does, in a fresh clone of
// the release tag, on a terminal where the stand-in approves npm's web
// logins: the approval rebuilds the packages and compares every staged
// tarball with its own before approving anything, the platform packages
// first, the wrapper after the CDN's max-age; then verify:release installs
// what was approved.
func RehearseStage(ctx context.Context, env Env) error { return rehearse(ctx, env, true) }

func rehearse(ctx context.Context, env Env, staged bool) error {
	v, err := version.Resolve(ctx, version.Inputs{Override: env.Getenv("FACET_VERSION"), Git: version.Checkout(ctx, env.Root)})
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	source, err := checkoutFiles(ctx, env.Root)
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	dir, err := os.MkdirTemp("", "facet-rehearsal-")
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	tag := version.TagPrefix + v.Version
	r := &rehearsal{env: env, dir: dir, logs: filepath.Join(dir, "logs"), workspace: filepath.Join(dir, "workspace"), owner: map[string]CIJob{},
		origin: filepath.Join(dir, "origin"), tag: tag}
	for _, d := range []string{r.logs, r.workspace} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("rehearse: %w", err)
		}
	}
	mode := "release"
	if staged {
		mode = "staged release"
	}
	fmt.Fprintf(env.Stdout, "rehearsing the %s of %s in %s\n", mode, v.Version, dir)
	commit, err := snapshot(ctx, env.Root, source, r.origin, tag, fmt.Sprintf("the checkout at %s, as it is", v.Commit))
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	bed, err := registrytest.StartBed(ctx, registrytest.BedOptions{Root: env.Root, Dir: filepath.Join(dir, "bed"), NPM: env.npm(), Env: env.Environ})
	if err != nil {
		return fmt.Errorf("rehearse: starting the test bed: %w", err)
	}
	defer bed.Close()
	// npmjs.com as it is: a CDN in front of the package documents, a rate
	// limit on the OIDC exchange (shorter than the real ones, so that the
	// rehearsal takes seconds, not minutes).
	bed.Front.SetCDN(RehearsalCDN)
	bed.Front.LimitExchanges(RehearsalExchanges, RehearsalWindow)
	fmt.Fprintf(env.Stdout, "registry %s (Verdaccio behind the npmjs.com stand-in: a CDN keeping documents %s, at most %d OIDC exchanges in %s)\n",
		bed.URL, RehearsalCDN, RehearsalExchanges, RehearsalWindow)
	// CircleCI's API, for verify to read the release context's restrictions.
	api, err := circlecitest.Start(circlecitest.Options{Token: rehearsalCircleToken})
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	defer api.Close()
	api.SetContext(circleci.Facets().ContextIDs[0],
		circlecitest.Restriction{Type: "expression", Pattern: circleci.LockExpression(version.TagPrefix)},
		circlecitest.Restriction{Type: "project", Pattern: circleci.Facets().ProjectID, Name: "facets"},
		circlecitest.Restriction{Type: "group", Pattern: "00000000-0000-4000-8000-00000000beef", Name: "release-managers"})
	r.env.CircleCIAPI = api.URL
	fmt.Fprintf(env.Stdout, "CircleCI API %s (the stand-in: the release context restricted to release tags)\n\n", api.URL)

	maintainer, err := bed.NPMEnv(true)
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	// The maintainer's account has a security key and no authenticator, as
	// most on npmjs.com now: for every write, and for npm trust, npm shows a
	// page to approve in the browser, a flow npm follows only on a terminal.
	// Each maintainer step runs on a pseudo-terminal of its own, and the
	// stand-in approves each page as the maintainer would. Without
	// pseudo-terminals (Windows), the account has an authenticator, and npm
	// gets its code.
	if npm.PTYSupported {
		r.terminal = true
		bed.Front.SetAuthenticator("")
		bed.Front.RequireOTPForPublish(true)
		bed.Front.ApproveWebLogins(true)
		bed.Front.SetWebLoginRetryAfter(50 * time.Millisecond)
	} else {
		maintainer = append(maintainer, "NPM_CONFIG_OTP="+registrytest.DefaultOTP)
	}
	job, err := bed.CircleCIJob(ctx, circleci.Facets())
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	anonymous, err := bed.NPMEnv(false) // no npm login in CircleCI
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	ci := append(append(withoutShellSettings(anonymous), job...), "CI=true", "CIRCLE_TAG="+tag, "CIRCLE_SHA1="+commit)

	steps := []rehearsalStep{
		{name: "seed", run: r.inProcess(maintainer, Seed)},
		{name: "trust", run: r.inProcess(maintainer, Trust)},
		{name: "verify", run: r.inProcess(append(slices.Clone(maintainer), "CIRCLE_TOKEN="+rehearsalCircleToken), VerifySetup)},
	}
	jobs := ReleaseJobs()
	if staged {
		jobs = StagedReleaseJobs()
	}
	for _, j := range jobs {
		steps = append(steps, rehearsalStep{name: j.Name, run: r.ciJob(ci, j)})
	}
	if staged {
		steps = append(steps, rehearsalStep{name: "approve " + v.Version, run: r.inProcess(maintainer, func(ctx context.Context, e Env) error {
			// The maintainer's clean checkout of the tag, where approve
			// rebuilds what it approves.
			checkout := filepath.Join(r.dir, "maintainer")
			if err := os.MkdirAll(checkout, 0o755); err != nil {
				return err
			}
			defer os.RemoveAll(checkout)
			if err := cloneAt(ctx, r.origin, r.tag, checkout); err != nil {
				return fmt.Errorf("checkout: %w", err)
			}
			e.Root, e.Dist = checkout, filepath.Join(checkout, "dist")
			return Approve(ctx, e, v.Version)
		})})
	}
	steps = append(steps, rehearsalStep{name: "verify:release " + v.Version, run: r.inProcess(append(slices.Clone(anonymous), "FACET_VERIFY_INSTALL=1"),
		func(ctx context.Context, e Env) error { return VerifyRelease(ctx, e, v.Version) })})
	// Last, as a user without Node: install.sh from the release's checkout.
	steps = append(steps, rehearsalStep{name: "install.sh --version " + v.Version, run: func(ctx context.Context, log io.Writer) error {
		return r.installScript(ctx, log, bed.URL, v.Version)
	}})

	failed := r.runAll(ctx, steps)
	if failed != nil {
		// Everything stays for a look: the registry's storage, the workspace, the logs.
		if errors.Is(failed, context.Canceled) {
			_ = bed.Close()
			return fmt.Errorf("rehearse: interrupted; the test bed is stopped (logs in %s)", r.logs)
		}
		fmt.Fprintf(env.Stdout, "logs in %s; the registry's storage and the workspace are kept in %s\n", r.logs, dir)
		return failed
	}
	// Passed: keep the logs (npm's of each publish among them, in the
	// release job's artifacts), drop the rest.
	_ = bed.Close()
	_ = os.RemoveAll(r.workspace)
	_ = os.RemoveAll(filepath.Join(dir, "bed"))
	_ = os.RemoveAll(r.origin)
	fmt.Fprintf(env.Stdout, "logs in %s\n", r.logs)
	if staged {
		fmt.Fprintf(env.Stdout, "The rehearsal of %s passed: seeded, trusted, built, packed, staged with OIDC, rebuilt, compared and approved, verified, installed with npm and with install.sh.\n", v.Version)
		return nil
	}
	fmt.Fprintf(env.Stdout, "The rehearsal of %s passed: seeded, trusted, built, packed, released with OIDC, verified, installed with npm and with install.sh.\n", v.Version)
	return nil
}

// What the rehearsal's npmjs.com stand-in does as the real one does, in
// short: a CDN that keeps package documents RehearsalCDN (npmjs.com's keeps
// them 5 minutes), and at most RehearsalExchanges OIDC exchanges in
// RehearsalWindow.
const (
	RehearsalCDN       = 3 * time.Second
	RehearsalExchanges = 5
	RehearsalWindow    = 5 * time.Second
)

// rehearsalCircleToken is the CircleCI API token of the rehearsal's
// stand-in: not a secret, never a real one.
const rehearsalCircleToken = "CCIPAT_rehearsal_stand_in_token"

// rehearsal is one run of Rehearse.
type rehearsal struct {
	env       Env
	dir       string
	logs      string
	workspace string           // what the CI jobs persisted, as CircleCI's workspace holds it
	owner     map[string]CIJob // the job that persisted each file of the workspace
	origin    string           // the repository the CI jobs clone (see snapshot)
	tag       string           // the release tag in origin, which the CI jobs check out
	terminal  bool             // the maintainer steps run on a pseudo-terminal
}

type rehearsalStep struct {
	name string
	run  func(ctx context.Context, log io.Writer) error
}

// installScript installs version from registry with the checkout's
// install.sh, as a user without Node would: /bin/sh, a home and an install
// directory of its own, no npm configuration; the installed facet must print
// version. Where there is no sh (Windows without a POSIX shell) the step says
// so and passes.
func (r *rehearsal) installScript(ctx context.Context, log io.Writer, registry, version string) error {
	sh, err := exec.LookPath("sh")
	if err != nil {
		fmt.Fprintln(log, "no sh on this machine: install.sh not run")
		return nil
	}
	home := filepath.Join(r.dir, "install-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(home)
	_, err = installsh.Install(ctx, installsh.Options{
		Shell: []string{sh}, Script: filepath.Join(r.env.Root, "install.sh"),
		Registry: registry, Dir: filepath.Join(home, "bin"), Home: home,
	}, version, log)
	return err
}

// runAll runs the steps in order until one fails, printing a line as each
// ends and then a summary.
func (r *rehearsal) runAll(ctx context.Context, steps []rehearsalStep) error {
	out := r.env.Stdout
	width := 0
	for _, s := range steps {
		width = max(width, len(s.name))
	}
	type outcome struct {
		state, log string
		took       time.Duration
	}
	var done []outcome
	var failed error
	for i, s := range steps {
		path := filepath.Join(r.logs, fmt.Sprintf("%02d-%s.log", i+1, strings.NewReplacer(" ", "-", ":", "-").Replace(s.name)))
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("rehearse: %w", err)
		}
		start := time.Now()
		err = s.run(ctx, f)
		took := time.Since(start)
		f.Close()
		state := "ok"
		switch {
		case ctx.Err() != nil: // interrupted: whatever the step says, that is why it ended
			state, failed = "interrupted", errors.Join(ctx.Err(), err)
		case err != nil:
			state, failed = "failed", fmt.Errorf("rehearse: %s failed (log: %s): %w", s.name, path, err)
		}
		fmt.Fprintf(out, "%-*s  %-11s %s\n", width, s.name, state, took.Round(10*time.Millisecond))
		done = append(done, outcome{state, relative(r.dir, path), took})
		if failed != nil {
			break
		}
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "step\ttime\toutcome\tlog")
	for i, s := range steps {
		if i < len(done) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.name, done[i].took.Round(10*time.Millisecond), done[i].state, done[i].log)
		} else {
			fmt.Fprintf(w, "%s\t–\tnot run\t\n", s.name)
		}
	}
	w.Flush()
	return failed
}

// inProcess runs task as a maintainer runs it on this machine, with npm
// configured by environ, its output to the step's log.
func (r *rehearsal) inProcess(environ []string, task func(context.Context, Env) error) func(context.Context, io.Writer) error {
	return func(ctx context.Context, log io.Writer) error {
		vars := map[string]string{}
		for _, kv := range environ {
			name, value, _ := strings.Cut(kv, "=")
			vars[name] = value
		}
		e := r.env
		e.Environ = environ
		e.Getenv = func(k string) string { return vars[k] }
		e.Stdout = log
		e.Progress = progress.NewPlain(log)
		e.Terminal = npm.Stdio{Out: log, Err: log} // no one at a terminal: the password is in the environment
		e.Interactive = false
		e.TrustPace = time.Millisecond // a local registry needs no pacing
		e.Dist = filepath.Join(r.workspace, "dist")
		if !r.terminal {
			return task(ctx, e)
		}
		// The maintainer at a terminal: what npm shows there goes to the log.
		control, terminal, err := npm.OpenTerminal()
		if err != nil {
			return err
		}
		shown := make(chan struct{})
		go func() {
			_, _ = io.Copy(log, control) // ends when the terminal is closed
			close(shown)
		}()
		e.Terminal = npm.Stdio{In: terminal, Out: terminal, Err: log}
		e.Interactive = true
		err = task(ctx, e)
		terminal.Close()
		<-shown
		control.Close()
		return err
	}
}

// ciJob runs j as CircleCI would: in a fresh clone checked out at the release
// tag, with the workspace attached, in the job's environment; then it
// persists j's paths.
func (r *rehearsal) ciJob(environ []string, j CIJob) func(context.Context, io.Writer) error {
	return func(ctx context.Context, log io.Writer) error {
		checkout, err := os.MkdirTemp(r.dir, "job-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(checkout)
		if err := cloneAt(ctx, r.origin, r.tag, checkout); err != nil {
			return fmt.Errorf("checkout: %w", err)
		}
		// The jobs of a stage run at once on CircleCI: each attaches the
		// workspace as the stages before left it, not its siblings' files.
		var attach []string
		for rel, owner := range r.owner {
			if owner.Stage != j.Stage {
				attach = append(attach, rel)
			}
		}
		if err := copyFiles(r.workspace, checkout, attach); err != nil {
			return fmt.Errorf("attaching the workspace: %w", err)
		}
		var cmd *exec.Cmd
		if j.Args == nil {
			cmd = exec.CommandContext(ctx, "go", "tool", "mage", "-compile", filepath.Join(checkout, ToolPath))
		} else {
			cmd = exec.CommandContext(ctx, filepath.Join(checkout, ToolPath), j.Args...)
		}
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = checkout, environ, log, log
		fmt.Fprintf(log, "$ %s\n", strings.Join(cmd.Args, " "))
		err = procgroup.Run(cmd)
		// The artifacts are kept, a failed job's too (npm's output of each
		// publish, redacted).
		for _, a := range j.Artifacts {
			from := filepath.Join(checkout, filepath.FromSlash(a))
			if _, serr := os.Stat(from); serr == nil {
				_ = os.CopyFS(filepath.Join(r.logs, "artifacts", j.Name), os.DirFS(from))
			}
		}
		if err != nil {
			return err
		}
		return r.persist(checkout, j)
	}
}

// persist copies what j persists from its checkout into the workspace. As
// on CircleCI, a file a job of the same stage persisted already is an error.
func (r *rehearsal) persist(checkout string, j CIJob) error {
	for _, pattern := range j.Persist {
		matches, err := filepath.Glob(filepath.Join(checkout, filepath.FromSlash(pattern)))
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return fmt.Errorf("persist_to_workspace: nothing at %s", pattern)
		}
		for _, m := range matches {
			err := filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, err := filepath.Rel(checkout, path)
				if err != nil {
					return err
				}
				if owner, ok := r.owner[rel]; ok && owner.Name != j.Name && owner.Stage == j.Stage {
					return fmt.Errorf("persist_to_workspace: %s is persisted by %s too (CircleCI refuses files persisted by concurrent jobs)", rel, owner.Name)
				}
				r.owner[rel] = j
				return copyFile(path, filepath.Join(r.workspace, rel))
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// snapshot commits the files of the checkout at root (source, relative to
// root) as they are, work in progress included, in a new repository at dir,
// and tags the commit tag (annotated, as a release tag is): the rehearsal's CI
// jobs clone it at the tag, so that their builds prove the tag as CircleCI's
// do. It returns the commit. The user's hooks and signing are left out.
func snapshot(ctx context.Context, root string, source []string, dir, tag, message string) (string, error) {
	if err := copyFiles(root, dir, source); err != nil {
		return "", fmt.Errorf("copying the checkout: %w", err)
	}
	git := version.GitIn(dir)
	settings := []string{"-c", "user.name=facet rehearsal", "-c", "user.email=rehearsal@localhost", "-c", "core.hooksPath=" + os.DevNull,
		"-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false", "-c", "tag.forceSignAnnotated=false"}
	for _, args := range [][]string{
		{"init", "-q"},
		// -f: the source is git's list already; a tracked file that an ignore
		// rule matches is part of it.
		{"add", "-A", "-f"},
		append(slices.Clone(settings), "commit", "-q", "--no-verify", "-m", "rehearsal: "+message),
		append(slices.Clone(settings), "tag", "-a", "-m", "rehearsal", tag),
	} {
		if _, err := git(ctx, args...); err != nil {
			return "", fmt.Errorf("making the repository the CI jobs clone: %w", err)
		}
	}
	return git(ctx, "rev-parse", "HEAD")
}

// cloneAt clones the repository origin into dir, an empty directory, checked
// out at tag (a detached HEAD), as CircleCI checks out a tag.
func cloneAt(ctx context.Context, origin, tag, dir string) error {
	_, err := version.GitIn(dir)(ctx, "clone", "-q", "--branch", tag, origin, ".")
	return err
}

// checkoutFiles lists the files of the checkout at root as git sees them:
// tracked, and untracked but not ignored (work in progress is rehearsed too).
func checkoutFiles(ctx context.Context, root string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the checkout's files (git ls-files; the rehearsal needs a git checkout): %w", err)
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil { // deleted but not yet committed: gone
			files = append(files, f)
		}
	}
	return files, nil
}

// copyFiles copies files (relative to from) into to.
func copyFiles(from, to string, files []string) error {
	for _, f := range files {
		if err := copyFile(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies src to dst with its mode, making dst's directory.
func copyFile(src, dst string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, info.Mode().Perm())
}

// withoutShellSettings drops from environ what this shell sets for this
// project (FACET_*) and what would make it look like another CI job
// (CIRCLE*, CI): a CircleCI job starts with none of it.
func withoutShellSettings(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(name, "FACET_") || strings.HasPrefix(name, "CIRCLE") || name == "CI"
	})
}
