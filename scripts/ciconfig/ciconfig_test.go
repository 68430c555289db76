package ciconfig_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/progress"
	"github.com/agent-facets/facets/scripts/tasks"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/version"
)

// Fixed values of the release (../shared/REFERENCE.md §1).
const (
	releaseTagFilter = `/^agent-facets@\d+\..+/`
	everyBranch      = `/.*/`
	releaseContext   = "release"
	releaseJob       = "release"
	testJob          = "test"
	switchParameter  = "scale-out"
	modeParameter    = "release-mode"
	matrixJob        = "build"
	npmCommand       = "install-npm"
	qemuCommand      = "install-qemu-user"
	minimumNPM       = "11.15.0" // npm trust; CircleCI OIDC needs 11.11
)

// calls lists the build tool's runs in steps (flattened), with the index of
// the step of steps each comes from.
func (c config) calls(steps []step) (calls []mageCall, at []int) {
	for i, s := range steps {
		for _, f := range c.flatSteps([]step{s}) {
			for _, call := range mageCalls(f.Command) {
				calls = append(calls, call)
				at = append(at, i)
			}
		}
	}
	return calls, at
}

// toolPath is where the compiled build tool lives, relative to the
// repository root.
func toolPath() string {
	return filepath.ToSlash(dist.Layout{Root: "dist"}.Tool())
}

func TestConfigIsPlain(t *testing.T) {
	c := load(t)
	assert.Equal(t, "2.1", c.Version)
	assert.Empty(t, c.Orbs, "no orbs: everything the pipeline runs is in the repository")

	// One image for every job (TestJobsRunGoModsToolchain holds what it is).
	require.Len(t, c.Executors, 1)
	for name, e := range c.Executors {
		require.Len(t, e.Docker, 1)
		for jobName, j := range c.Jobs {
			assert.Equal(t, name, j.Executor, "job %s", jobName)
		}
	}
}

// imageTag is the tag of a cimg/go image with Node.js of one Go patch
// release. The moving tags (cimg/go:1.26-node) change Go and Node under the
// pipeline.
var imageTag = regexp.MustCompile(`^cimg/go:(\d+\.\d+\.\d+)-node$`)

// Every job runs the Go that go.mod's toolchain line pins, though the image
// ships an older one (cimg/go tags only the Go releases CircleCI has built an
// image for): the image's Go is of the same minor release and not newer (a
// newer one would run itself, go.mod's toolchain line being only a minimum)
// nor older than go.mod's go line (the build reads go.mod with the Go on PATH
// and GOTOOLCHAIN=local, which refuses a go.mod asking for a newer Go), and
// the executor sets GOTOOLCHAIN=auto, with which that go command fetches
// and runs go.mod's toolchain, whatever its own go.env or a go env file says.
// Nothing else in the configuration or .ci/run sets GOTOOLCHAIN or what the
// fetch needs (GOPROXY, GOSUMDB, GOFLAGS, …): the model has no environment
// but the executor's.
func TestJobsRunGoModsToolchain(t *testing.T) {
	c := load(t)
	root := testenv.RepoRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^toolchain go(\d+\.\d+\.\d+)$`).FindSubmatch(goMod)
	require.NotNil(t, m, "go.mod pins the toolchain")
	toolchain := semver.MustParse(string(m[1]))
	m = regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindSubmatch(goMod)
	require.NotNil(t, m, "go.mod has a go line")
	goLine := semver.MustParse(string(m[1]))

	require.Len(t, c.Executors, 1)
	for name, e := range c.Executors {
		require.Len(t, e.Docker, 1)
		tag := imageTag.FindStringSubmatch(e.Docker[0].Image)
		require.NotNil(t, tag, "executor %s: %s is not a cimg/go:<Go patch release>-node image", name, e.Docker[0].Image)
		image := semver.MustParse(tag[1])
		assert.Equal(t, [2]uint64{toolchain.Major(), toolchain.Minor()}, [2]uint64{image.Major(), image.Minor()},
			"executor %s: the image's Go %s is not of the minor release of go.mod's toolchain go%s: move both together", name, image, toolchain)
		assert.False(t, image.GreaterThan(toolchain),
			"executor %s: the image's Go %s is newer than go.mod's toolchain go%s, so the jobs would run the image's: raise go.mod's toolchain line", name, image, toolchain)
		assert.False(t, image.LessThan(goLine),
			"executor %s: the image's Go %s is older than go.mod's go line %s, and the build reads go.mod with it (GOTOOLCHAIN=local): use a newer image", name, image, goLine)

		assert.Equal(t, "auto", e.Environment["GOTOOLCHAIN"], "executor %s: GOTOOLCHAIN=auto, so that the go command switches to go.mod's toolchain", name)
		for k := range e.Environment {
			assert.False(t, strings.HasPrefix(k, "GO") && k != "GOTOOLCHAIN", "executor %s sets %s, which may keep the go command from fetching go.mod's toolchain", name, k)
		}
		switches(t, e.Environment)
	}

	run, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	require.NoError(t, err)
	commands := []string{string(run)}
	for _, j := range c.Jobs {
		for _, s := range c.flatSteps(j.Steps) {
			commands = append(commands, s.Command)
		}
	}
	for _, cmd := range commands {
		assert.NotContains(t, cmd, "GOTOOLCHAIN", "only the executor sets GOTOOLCHAIN")
	}
}

// switches checks that a go command older than a module's toolchain line,
// run in the environment env adds to a machine that sets no Go variable and
// has no go env file (as the cimg/go images), sets out to fetch that
// toolchain: here refused (GOPROXY=off, no network), but fetching it is the
// switch. This machine's go.env may say GOTOOLCHAIN=local, as any Go
// distribution's may: env must override it.
func switches(t *testing.T, env map[string]string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.26.0\n\ntoolchain go1.99.0\n"), 0o644))
	vars := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GO") })
	vars = append(vars, "GOENV=off")
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "GOPROXY=off")
	cmd := exec.CommandContext(t.Context(), "go", "version")
	cmd.Dir, cmd.Env = dir, vars
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "go version ran without fetching go.mod's toolchain: %s", out)
	assert.Contains(t, string(out), "go: downloading go1.99.0", "the go command fetches go.mod's toolchain")
}

func TestEveryJobIsDefinedAndUsed(t *testing.T) {
	c := load(t)
	used := map[string]bool{}
	for wname, w := range c.Workflows {
		require.NotEmpty(t, w.Jobs, "workflow %s", wname)
		names := map[string]bool{}
		for _, wj := range w.Jobs {
			_, ok := c.Jobs[wj.Job]
			assert.True(t, ok, "workflow %s names job %s, which is not defined", wname, wj.Job)
			used[wj.Job] = true
			names[wj.Job] = true
		}
		for _, wj := range w.Jobs {
			for _, r := range wj.Requires {
				assert.True(t, names[r], "workflow %s: %s requires %s, which the workflow does not run", wname, wj.Job, r)
			}
		}
	}
	for name := range c.Jobs {
		assert.True(t, used[name], "job %s is defined but no workflow runs it", name)
	}
	for name := range c.Commands {
		found := false
		for _, j := range c.Jobs {
			for _, s := range j.Steps {
				found = found || s.Kind == name || slices.ContainsFunc(s.Steps, func(s step) bool { return s.Kind == name })
			}
		}
		for _, cmd := range c.Commands {
			found = found || slices.ContainsFunc(cmd.Steps, func(s step) bool { return s.Kind == name })
		}
		assert.True(t, found, "command %s is defined but no job runs it", name)
	}
}

// Every target the configuration runs is one go tool mage -l lists, or an
// alias a listed target's description names ("(alias: release)"; the
// magefile's Aliases, which mage -l does not list; tasks' TestMage and
// TestMageRegistryTargets prove that the aliases run what they name).
func TestMageTargetsExist(t *testing.T) {
	c := load(t)
	cmd := exec.Command("go", "tool", "mage", "-l")
	cmd.Dir = testenv.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (\S+?)\*? {2,}.*?(?:\(alias: (\S+)\)\.)?$`).FindAllStringSubmatch(string(out), -1) {
		listed[m[1]] = true
		if m[2] != "" {
			listed[m[2]] = true
		}
	}
	require.Contains(t, listed, "build:target", "the listing was parsed")
	require.Contains(t, listed, "build", "the aliases were parsed")

	var missing []string
	var called int
	for name, j := range c.Jobs {
		calls, _ := c.calls(j.Steps)
		for _, call := range calls {
			if call.Target == "" {
				continue
			}
			called++
			if !listed[call.Target] {
				missing = append(missing, call.Target+" (job "+name+")")
			}
		}
	}
	sort.Strings(missing)
	assert.NotZero(t, called)
	assert.Empty(t, missing, "targets the configuration runs that go tool mage -l does not list")
}

// The build tool is compiled once per workflow: one job runs go tool mage,
// only to compile it into dist/, and hands it on through the workspace; every
// other run of a target is that binary, in a job that compiled it or attaches
// the workspace of one that did.
func TestToolIsCompiledOnce(t *testing.T) {
	c := load(t)
	for wname, w := range c.Workflows {
		var compilers []string
		var runners []string
		for _, wj := range w.Jobs {
			j := c.Jobs[wj.Job]
			calls, _ := c.calls(j.Steps)
			for _, call := range calls {
				switch {
				case call.Via == "go tool mage":
					assert.Equal(t, "$PWD/"+toolPath(), call.Compile,
						"workflow %s, job %s: go tool mage only compiles the tool, to an absolute path (mage resolves a relative one from magefiles/)", wname, wj.Job)
					compilers = append(compilers, wj.Job)
				default:
					assert.Contains(t, []string{toolPath(), "./" + toolPath()}, call.Via, "workflow %s, job %s", wname, wj.Job)
					runners = append(runners, wj.Job)
				}
			}
		}
		if len(runners) == 0 {
			assert.Empty(t, compilers, "workflow %s compiles a tool it does not run", wname)
			continue
		}
		require.Len(t, compilers, 1, "workflow %s: exactly one job compiles the build tool", wname)
		compiler := compilers[0]
		assert.True(t, persists(c.Jobs[compiler], toolPath()), "workflow %s: %s persists the tool to the workspace", wname, compiler)
		for _, r := range runners {
			if r == compiler {
				continue
			}
			assert.True(t, upstream(w, r)[compiler], "workflow %s: %s runs the tool but does not require %s, which compiles it", wname, r, compiler)
			calls, at := c.calls(c.Jobs[r].Steps)
			attach := slices.IndexFunc(c.Jobs[r].Steps, func(s step) bool { return s.Kind == "attach_workspace" })
			assert.True(t, attach >= 0 && attach < at[0], "workflow %s: %s attaches the workspace before running %s", wname, r, calls[0].Target)
		}
	}
}

// Every job starts with checkout, before it attaches the workspace: CircleCI's
// checkout fails in a directory that is not empty and is no git repository.
func TestCheckoutComesFirst(t *testing.T) {
	c := load(t)
	for name, j := range c.Jobs {
		steps := c.flatSteps(j.Steps)
		require.NotEmpty(t, steps, "job %s", name)
		assert.Equal(t, "checkout", steps[0].Kind, "job %s starts with checkout", name)
		assert.Negative(t, slices.IndexFunc(steps[1:], func(s step) bool { return s.Kind == "checkout" }), "job %s checks out once", name)
	}
}

// upstream is the set of jobs job requires in w, directly or not.
func upstream(w workflow, job string) map[string]bool {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		for _, wj := range w.Jobs {
			if wj.Job != name {
				continue
			}
			for _, r := range wj.Requires {
				if !seen[r] {
					seen[r] = true
					visit(r)
				}
			}
		}
	}
	visit(job)
	return seen
}

// persists reports whether j persists rel (a path relative to the
// repository root) to the workspace.
func persists(j job, rel string) bool {
	for _, s := range j.Steps {
		if s.Kind == "persist_to_workspace" && covered(s.Paths, rel) {
			return true
		}
	}
	return false
}

// covered reports whether one of the persisted paths (directories, files or
// globs) holds rel.
func covered(paths []string, rel string) bool {
	for _, p := range paths {
		if ok, _ := path.Match(p, rel); ok || rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// releaseWorkflows are the workflows that publish.
func releaseWorkflows(t *testing.T, c config) map[string]workflow {
	out := map[string]workflow{}
	for name, w := range c.Workflows {
		if slices.ContainsFunc(w.Jobs, func(wj workflowJob) bool { return wj.Job == releaseJob }) {
			out[name] = w
		}
	}
	require.NotEmpty(t, out, "no workflow runs the %s job", releaseJob)
	return out
}

// The release runs only for a release tag, on no branch, in the release
// context, one at a time; the test workflow runs on every branch and never on
// a tag. Every job of a release workflow, its test job too, has the tag
// filter, and only the release job gets the context.
func TestReleaseRunsOnlyOnReleaseTags(t *testing.T) {
	c := load(t)
	serialGroups := map[string]bool{}
	for name, w := range c.Workflows {
		_, isRelease := releaseWorkflows(t, c)[name]
		for _, wj := range w.Jobs {
			f := wj.Filters
			if !isRelease {
				assert.Nil(t, f, "workflow %s, job %s: tests run on every branch, and on no tag", name, wj.Job)
				assert.Empty(t, wj.Context, "workflow %s, job %s: no secrets outside the release", name, wj.Job)
				continue
			}
			// CircleCI runs a job on a tag only when it and every job it
			// requires has a tag filter.
			require.NotNil(t, f, "workflow %s, job %s has no filters", name, wj.Job)
			require.NotNil(t, f.Tags, "workflow %s, job %s", name, wj.Job)
			require.NotNil(t, f.Branches, "workflow %s, job %s", name, wj.Job)
			assert.Equal(t, releaseTagFilter, f.Tags.Only, "workflow %s, job %s", name, wj.Job)
			assert.Empty(t, f.Tags.Ignore, "workflow %s, job %s", name, wj.Job)
			assert.Equal(t, everyBranch, f.Branches.Ignore, "workflow %s, job %s ignores every branch", name, wj.Job)
			assert.Empty(t, f.Branches.Only, "workflow %s, job %s", name, wj.Job)
			if wj.Job == releaseJob {
				assert.Equal(t, yamlList{releaseContext}, wj.Context, "workflow %s: the release job runs in the release context", name)
				assert.NotEmpty(t, wj.SerialGroup, "workflow %s: releases run one at a time", name)
				serialGroups[wj.SerialGroup] = true
			} else {
				assert.Empty(t, wj.Context, "workflow %s, job %s: only the release job gets the release context", name, wj.Job)
			}
		}
	}
	assert.Len(t, serialGroups, 1, "both ways of releasing share one serial group, so that no two releases overlap")

	// The filter is the release tag rule the version package applies.
	re := regexp.MustCompile(strings.TrimSuffix(strings.TrimPrefix(releaseTagFilter, "/"), "/"))
	for _, tag := range []string{"agent-facets@1.2.3", "agent-facets@0.1.0-rc.1", "agent-facets@10.0.0"} {
		assert.True(t, re.MatchString(tag), tag)
		_, err := version.FromTag(tag)
		assert.NoError(t, err, tag)
	}
	for _, tag := range []string{"v1.2.3", "agent-facets@v1.2.3", "agent-facets@next", "facets@1.2.3", "x-agent-facets@1.2.3"} {
		assert.False(t, re.MatchString(tag), tag)
	}
}

// A tag on a commit whose tests fail publishes nothing: every release
// workflow runs the test job (the one the branch workflow runs, with the tag
// filter and no context, TestReleaseRunsOnlyOnReleaseTags), and its release
// job requires it, directly.
func TestReleaseWaitsForTheTests(t *testing.T) {
	c := load(t)
	for name, w := range releaseWorkflows(t, c) {
		var tests, releases []workflowJob
		for _, wj := range w.Jobs {
			switch wj.Job {
			case testJob:
				tests = append(tests, wj)
			case releaseJob:
				releases = append(releases, wj)
			}
		}
		assert.Len(t, tests, 1, "workflow %s runs the test job", name)
		require.Len(t, releases, 1, "workflow %s", name)
		assert.Contains(t, releases[0].Requires, testJob, "workflow %s: the release requires the test job", name)
	}
}

// No cache reaches what is published: in a release workflow, a job that
// restores a cache (the test job, whose caches branch builds wrote) hands
// nothing on through the workspace, and the release job restores none.
func TestNoCacheReachesTheRelease(t *testing.T) {
	c := load(t)
	var restoring []string
	for name, w := range releaseWorkflows(t, c) {
		for _, inst := range c.instances(t, w) {
			steps := c.steps(t, inst)
			if !slices.ContainsFunc(steps, func(s step) bool { return s.Kind == "restore_cache" }) {
				continue
			}
			restoring = append(restoring, inst.Name)
			assert.NotEqual(t, releaseJob, inst.Job, "workflow %s: the release job restores a cache", name)
			assert.False(t, slices.ContainsFunc(steps, func(s step) bool { return s.Kind == "persist_to_workspace" }),
				"workflow %s: %s restores a cache and persists to the workspace, from which the release publishes", name, inst.Name)
		}
	}
	slices.Sort(restoring)
	assert.Equal(t, []string{testJob, testJob}, restoring, "the test job of each release workflow restores caches (and only it)")
}

// One visible switch chooses how a release builds: the scale-out pipeline
// parameter runs either the matrix workflow or the single-machine one, never
// both, and both end in the same release job.
func TestScaleOutSwitch(t *testing.T) {
	c := load(t)
	p, ok := c.Parameters[switchParameter]
	require.True(t, ok, "pipeline parameter %s", switchParameter)
	assert.Equal(t, "boolean", p.Type)
	assert.IsType(t, true, p.Default)
	assert.NotEmpty(t, p.Description)

	ref := "<< pipeline.parameters." + switchParameter + " >>"
	var on, off []string
	for name, w := range releaseWorkflows(t, c) {
		hasMatrix := slices.ContainsFunc(w.Jobs, func(wj workflowJob) bool { return wj.Matrix != nil })
		switch {
		case w.When == ref && w.Unless == "":
			on = append(on, name)
			assert.True(t, hasMatrix, "workflow %s runs when %s is true: it builds with the matrix", name, switchParameter)
		case w.Unless == ref && w.When == "":
			off = append(off, name)
			assert.False(t, hasMatrix, "workflow %s runs when %s is false: it builds on one machine", name, switchParameter)
		default:
			t.Errorf("release workflow %s is not governed by %s alone (when %q, unless %q)", name, switchParameter, w.When, w.Unless)
		}
	}
	assert.Len(t, on, 1, "one release workflow for the matrix")
	assert.Len(t, off, 1, "one release workflow for the single machine")
	for name, w := range c.Workflows {
		if _, ok := releaseWorkflows(t, c)[name]; !ok {
			assert.Empty(t, w.When+w.Unless, "workflow %s runs whatever the switch says", name)
		}
	}
}

// One visible switch chooses how the release job releases: the release-mode
// pipeline parameter, publish (the default: go tool mage release) or stage
// (go tool mage release:stage). A pipeline parameter is set in this file or
// when a pipeline is triggered, never by a context's variables, so nothing
// left in the release context can turn one mode into the other; and each
// mode runs exactly one release, then keeps the logs (TestReleaseKeepsItsLogs:
// in stage mode they hold the stage ids).
func TestReleaseModeSwitch(t *testing.T) {
	c := load(t)
	p, ok := c.Parameters[modeParameter]
	require.True(t, ok, "pipeline parameter %s", modeParameter)
	assert.Equal(t, "enum", p.Type)
	assert.Equal(t, []string{"publish", "stage"}, p.Enum)
	assert.Equal(t, "publish", p.Default, "a release publishes unless the config says otherwise")
	assert.NotEmpty(t, p.Description)

	want := map[string]string{"publish": releaseJob, "stage": "release:stage"}
	for name, w := range releaseWorkflows(t, c) {
		for _, inst := range c.instances(t, w) {
			for _, mode := range p.Enum {
				var targets []string
				for _, s := range c.stepsIn(t, inst, map[string]string{modeParameter: mode}) {
					for _, call := range mageCalls(s.Command) {
						if call.Target == releaseJob || strings.HasPrefix(call.Target, releaseJob+":") {
							targets = append(targets, call.Target)
							assert.Empty(t, call.Args, "workflow %s, %s", name, inst.Name)
						}
					}
				}
				if inst.Job == releaseJob {
					assert.Equal(t, []string{want[mode]}, targets, "workflow %s: the release job in %s mode", name, mode)
				} else {
					assert.Empty(t, targets, "workflow %s: only the release job releases", name)
				}
			}
		}
	}
}

// The matrix is the platforms table: one job per compilation, each target in
// exactly one, each job building exactly its targets.
func TestMatrixIsTheTable(t *testing.T) {
	c := load(t)
	var matrices []workflowJob
	for _, w := range c.Workflows {
		for _, wj := range w.Jobs {
			if wj.Matrix != nil {
				matrices = append(matrices, wj)
			}
		}
	}
	require.Len(t, matrices, 1)
	m := matrices[0]
	assert.Equal(t, matrixJob, m.Job)
	assert.Empty(t, m.Matrix.Alias, "the package job requires the matrix by its job name")
	require.Len(t, m.Matrix.Parameters, 1)
	values := m.Matrix.Parameters["targets"]
	assert.Equal(t, ciconfig.MatrixValues(platforms.All()), values)

	var names []string
	for _, v := range values {
		names = append(names, strings.Fields(v)...)
	}
	sort.Strings(names)
	assert.Equal(t, platforms.Names(), names, "every target in exactly one job")

	j := c.Jobs[matrixJob]
	require.Contains(t, j.Parameters, "targets")
	assert.Equal(t, "string", j.Parameters["targets"].Type)
	calls, _ := c.calls(j.Steps)
	require.Len(t, calls, 1)
	assert.Equal(t, "build:target", calls[0].Target)
	assert.Equal(t, []string{"<< parameters.targets >>"}, calls[0].Args, "the job builds its targets and no others")

	for name, w := range releaseWorkflows(t, c) {
		if slices.ContainsFunc(w.Jobs, func(wj workflowJob) bool { return wj.Matrix != nil }) {
			for _, wj := range w.Jobs {
				calls, _ := c.calls(c.Jobs[wj.Job].Steps)
				for _, call := range calls {
					if strings.HasPrefix(call.Target, "package") {
						assert.Equal(t, "package:assemble", call.Target, "workflow %s: after the matrix, packing builds nothing", name)
						assert.True(t, upstream(w, wj.Job)[matrixJob], "workflow %s: %s waits for the whole matrix", name, wj.Job)
					}
				}
			}
		}
	}
}

// qemu-user, with which the build runs the Linux binaries it makes, is
// installed in exactly the jobs that build a Linux target, before they build,
// in both ways of building: the Linux jobs of the matrix and the single
// machine. The when conditions are evaluated as CircleCI does, matches with a
// full match.
func TestQEMUWhereLinuxIsBuilt(t *testing.T) {
	c := load(t)
	linuxGroups := 0
	for _, g := range platforms.Compilations() {
		if g[0].GOOS() == "linux" {
			linuxGroups++
		}
	}
	var linux, other []string
	for wname, w := range releaseWorkflows(t, c) {
		for _, inst := range c.instances(t, w) {
			steps := c.steps(t, inst)
			install := slices.IndexFunc(steps, func(s step) bool { return slices.Contains(aptPackages(s.Command), "qemu-user") })
			buildsLinux := slices.IndexFunc(steps, func(s step) bool {
				for _, call := range mageCalls(s.Command) {
					if slices.ContainsFunc(builds(t, call), func(tg platforms.Target) bool { return tg.GOOS() == "linux" }) {
						return true
					}
				}
				return false
			})
			if buildsLinux < 0 {
				assert.Negative(t, install, "workflow %s: %s builds no Linux target, yet installs qemu-user", wname, inst.Name)
				other = append(other, inst.Name)
				continue
			}
			linux = append(linux, inst.Name)
			assert.True(t, install >= 0 && install < buildsLinux, "workflow %s: %s builds a Linux target without installing qemu-user first", wname, inst.Name)
		}
	}
	assert.Len(t, linux, linuxGroups+1, "the Linux jobs of the matrix and the single machine: %v", linux)
	assert.NotEmpty(t, other)

	// .ci/run installs the same Debian packages for the tests.
	run, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), ".ci", "run"))
	require.NoError(t, err)
	cmd := c.flatSteps(c.Commands[qemuCommand].Steps)
	require.Len(t, cmd, 1)
	// The line of .ci/run that installs qemu-user (another installs what
	// install.sh's tests need).
	var qemuLine string
	for _, line := range strings.Split(string(run), "\n") {
		if strings.Contains(line, "apt-get install") && slices.Contains(aptPackages(line), "qemu-user") {
			qemuLine = line
		}
	}
	require.NotEmpty(t, qemuLine, ".ci/run installs qemu-user")
	assert.Equal(t, aptPackages(qemuLine), aptPackages(cmd[0].Command), ".ci/run and %s install the same packages", qemuCommand)
}

// The workspace carries dist/ as the stages lay it out. Every job persists
// paths of dist.Layout from the checkout and attaches the workspace there.
// Each release workflow is then played with the real stages (play): every job
// persists all it writes, no two jobs that may run at once persist the same
// file (CircleCI fails the attach downstream: "Concurrent upstream jobs
// persisted the same file(s)"), and both ways of building hand the release
// job the same files.
func TestWorkspaceIsDist(t *testing.T) {
	c := load(t)
	l := dist.Layout{Root: "dist"}
	rel := filepath.ToSlash
	known := []string{
		rel(l.Tool()),
		rel(filepath.Dir(l.BuildRecordPath(platforms.All()[0]))),
		rel(filepath.Dir(l.PackageDir(platforms.Wrapper))),
		rel(filepath.Join(l.Root, "*.tgz")),
		rel(l.PackRecordsPath()),
		rel(l.SumsPath()),
	}
	for name, j := range c.Jobs {
		for _, s := range j.Steps {
			switch s.Kind {
			case "persist_to_workspace":
				assert.Equal(t, ".", s.Root, "job %s persists from the checkout", name)
				for _, p := range s.Paths {
					assert.Contains(t, known, p, "job %s persists a path dist.Layout does not name", name)
				}
			case "attach_workspace":
				assert.Equal(t, ".", s.At, "job %s attaches the workspace in the checkout", name)
			}
		}
	}

	testenv.LookPath(t, "npm", "install npm 11")
	handed := map[string][]string{} // what the release job of each workflow gets
	for name, w := range releaseWorkflows(t, c) {
		jobs := c.play(t, w)
		for i, a := range jobs {
			// The test job hands nothing on (TestNoCacheReachesTheRelease).
			if a.inst.Job != releaseJob && a.inst.Job != testJob {
				assert.NotEmpty(t, a.persisted, "workflow %s: %s hands nothing on", name, a.inst.Name)
			}
			if len(a.persisted) > 0 {
				lost := slices.DeleteFunc(slices.Clone(a.wrote), func(f string) bool { return slices.Contains(a.persisted, f) })
				assert.Empty(t, lost, "workflow %s: %s writes files it does not persist", name, a.inst.Name)
			}
			for _, b := range jobs[i+1:] {
				if concurrent(w, a.inst, b.inst) {
					both := slices.DeleteFunc(slices.Clone(a.persisted), func(f string) bool { return !slices.Contains(b.persisted, f) })
					assert.Empty(t, both, "workflow %s: %s and %s may run at once and persist the same files: CircleCI would fail the attach", name, a.inst.Name, b.inst.Name)
				}
			}
			if a.inst.Job == releaseJob {
				handed[name] = a.attached
			}
		}
		assert.Contains(t, handed[name], toolPath(), "workflow %s hands the release job the tool", name)
		assert.Contains(t, handed[name], rel(l.PackRecordsPath()), "workflow %s hands the release job what was packed", name)
	}
	require.Len(t, handed, 2)
	var first []string
	for name, files := range handed {
		if first == nil {
			first = files
		}
		assert.Equal(t, first, files, "workflow %s hands the release job other files than the other way of building", name)
	}
}

// playedJob is one job of a workflow as play ran it.
type playedJob struct {
	inst      instance
	root      string   // its checkout
	attached  []string // the workspace it attached
	wrote     []string // the files it wrote in dist/
	persisted []string // the files it persisted to the workspace
}

// play runs w's jobs in w's order with the real stages, each in a checkout of
// its own: a job attaches the files persisted by the jobs it requires, runs
// its targets (build:target with its matrix value, package:assemble,
// package:all) and persists the files its paths cover. The compiled tool is
// stood in for by a file (compiling it costs 100 CPU-seconds and proves
// nothing here) and the release is not run (scripts/release tests it). Paths
// are relative to the checkout, with slashes, sorted.
func (c config) play(t *testing.T, w workflow) []playedJob {
	t.Helper()
	var jobs []playedJob
	for _, inst := range c.instances(t, w) {
		env := checkout(t)
		p := playedJob{inst: inst, root: env.Root}
		up := upstream(w, inst.Job)
		ran := map[string]bool{}
		for _, u := range jobs {
			if up[u.inst.Job] {
				ran[u.inst.Job] = true
				for _, f := range u.persisted {
					copyFile(t, u.root, env.Root, f)
				}
			}
		}
		require.Len(t, ran, len(up), "%s requires a job that does not run before it in the workflow", inst.Name)
		p.attached = files(t, env.Root)
		before := digests(t, env.Root, p.attached)

		var paths []string
		for _, s := range c.steps(t, inst) {
			if s.Kind == "persist_to_workspace" {
				paths = append(paths, s.Paths...)
			}
			for _, call := range mageCalls(s.Command) {
				switch {
				case call.Compile != "":
					tool := filepath.Join(env.Root, filepath.FromSlash(toolPath()))
					require.NoError(t, dist.WriteFileAtomic(tool, []byte("the build tool\n"), 0o755))
				case call.Target == "build:target":
					require.NoError(t, tasks.Build(t.Context(), env, call.Args...), inst.Name)
				case call.Target == "package:assemble":
					require.NoError(t, tasks.PackageAssemble(t.Context(), env), inst.Name)
				case call.Target == "package:all":
					require.NoError(t, tasks.Package(t.Context(), env), inst.Name)
				case call.Target == releaseJob:
				default:
					t.Fatalf("%s runs %s, which this test does not play", inst.Name, call.Target)
				}
			}
		}
		after := files(t, env.Root)
		now := digests(t, env.Root, after)
		for _, f := range after {
			if before[f] != now[f] {
				p.wrote = append(p.wrote, f)
			}
			if covered(paths, f) {
				p.persisted = append(p.persisted, f)
			}
		}
		jobs = append(jobs, p)
	}
	return jobs
}

// digests maps each file (relative to root) to a digest of its content.
func digests(t *testing.T, root string, rels []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rels {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r)))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		out[r] = hex.EncodeToString(sum[:])
	}
	return out
}

// copyFile copies rel from one root to another, keeping its mode.
func copyFile(t *testing.T, from, to, rel string) {
	t.Helper()
	src := filepath.Join(from, filepath.FromSlash(rel))
	info, err := os.Stat(src)
	require.NoError(t, err)
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, dist.WriteFileAtomic(filepath.Join(to, filepath.FromSlash(rel)), data, info.Mode().Perm()))
}

// checkout is a task environment rooted in a copy of what building and
// packing facet needs, at a fixed version and commit.
func checkout(t *testing.T) tasks.Env {
	t.Helper()
	root := t.TempDir()
	testenv.CopyModule(t, root)
	license, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "LICENSE"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "LICENSE"), license, 0o644))
	script, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "install.sh"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "install.sh"), script, 0o755))
	vars := map[string]string{"FACET_VERSION": "4.0.0", "CIRCLE_SHA1": "89abcdef0123456789abcdef0123456789abcdef"}
	var out strings.Builder
	return tasks.Env{
		Root:     root,
		Getenv:   func(k string) string { return vars[k] },
		Environ:  os.Environ(),
		Stdout:   &out,
		Progress: progress.NewPlain(&out),
	}
}

// files lists the files under root's dist/, relative to root, with slashes,
// sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	if _, err := os.Stat(filepath.Join(root, "dist")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := filepath.WalkDir(filepath.Join(root, "dist"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(r))
		return err
	})
	require.NoError(t, err)
	return out
}

// The release job keeps what the release logs (npm's output of each publish,
// under dist.Layout.Logs()) as an artifact, a failed release's too: CircleCI
// runs store_artifacts even after a step failed (configuration reference,
// "The when attribute"; not after a cancel or the job's time limit), so the
// step only has to come after the release.
func TestReleaseKeepsItsLogs(t *testing.T) {
	c := load(t)
	steps := c.flatSteps(c.Jobs[releaseJob].Steps)
	// Both modes' runs (TestReleaseModeSwitch): the last of them.
	release := -1
	for i, s := range steps {
		if slices.ContainsFunc(mageCalls(s.Command), func(call mageCall) bool { return call.Target == releaseJob || call.Target == "release:stage" }) {
			release = i
		}
	}
	require.GreaterOrEqual(t, release, 0, "the release job runs the release")
	store := slices.IndexFunc(steps, func(s step) bool { return s.Kind == "store_artifacts" })
	require.GreaterOrEqual(t, store, 0, "the release job stores its logs")
	assert.Greater(t, store, release, "the logs are stored after the release, which writes them")
	assert.Equal(t, filepath.ToSlash(dist.Layout{Root: "dist"}.Logs()), steps[store].Path)
	assert.NotEmpty(t, steps[store].Destination)
}

// npm is pinned to an exact version of at least 11.15, installed before
// every step that runs npm: the tests, packing and publishing.
func TestNPMIsPinned(t *testing.T) {
	c := load(t)
	cmd, ok := c.Commands[npmCommand]
	require.True(t, ok, "command %s", npmCommand)
	def, ok := cmd.Parameters["version"].Default.(string)
	require.True(t, ok, "the npm version is a string")
	v, err := semver.StrictNewVersion(def)
	require.NoError(t, err, "npm is pinned by exact version, not %q", def)
	assert.False(t, v.LessThan(semver.MustParse(minimumNPM)), "npm %s is older than %s", v, minimumNPM)
	steps := c.flatSteps(cmd.Steps)
	require.Len(t, steps, 1)
	assert.Equal(t, "sudo npm install --global --no-audit --no-fund npm@<< parameters.version >> && npm --version", steps[0].Command,
		"the pinned npm, installed globally, and the job fails unless it then runs")

	needsNPM := func(s step) bool {
		for _, f := range c.flatSteps([]step{s}) {
			if strings.Contains(f.Command, ".ci/run") {
				return true
			}
			for _, call := range mageCalls(f.Command) {
				if strings.HasPrefix(call.Target, "package") || call.Target == releaseJob || strings.HasPrefix(call.Target, releaseJob+":") {
					return true
				}
			}
		}
		return false
	}
	var jobs []string
	for name, j := range c.Jobs {
		first := slices.IndexFunc(j.Steps, needsNPM)
		if first < 0 {
			continue
		}
		jobs = append(jobs, name)
		install := slices.IndexFunc(j.Steps, func(s step) bool { return s.Kind == npmCommand })
		assert.True(t, install >= 0 && install < first, "job %s runs npm before installing the pinned npm", name)
		if install >= 0 {
			assert.Empty(t, j.Steps[install].Args, "job %s: one npm version everywhere", name)
		}
	}
	sort.Strings(jobs)
	assert.Equal(t, []string{"build-and-package", "package", "release", "test"}, jobs)
}

// The test job runs exactly what README.md says CI runs (bash .ci/run, which
// ends in README's test command), with time to be quiet, and with caches for
// Go modules (keyed on go.sum), the Go build cache (saved for every commit,
// restored from the most recent one of the Go version and go.sum) and npm (on
// every lockfile .ci/run installs).
func TestTestJob(t *testing.T) {
	c := load(t)
	root := testenv.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	// README's first code block: the main job, then the tests.
	block := regexp.MustCompile("(?s)```sh\n(.*?)\n```").FindStringSubmatch(string(readme))
	require.NotNil(t, block, "README.md starts with a code block")
	first := strings.Split(block[1], "\n")
	require.Len(t, first, 2, "README.md starts with two commands")
	command := strings.TrimSpace(strings.SplitN(first[1], "#", 2)[0])
	assert.Equal(t, "go test -timeout 30m ./...", command,
		"all packages, and time for the end-to-end ones beyond go test's default 10 minutes")
	assert.Contains(t, string(readme), "CI runs `bash .ci/run`")
	run, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(run)), "\n")
	assert.Equal(t, command, lines[len(lines)-1], ".ci/run ends with README's test command")

	var testJobs []string
	for name, w := range c.Workflows {
		if _, ok := releaseWorkflows(t, c)[name]; ok {
			continue
		}
		for _, wj := range w.Jobs {
			testJobs = append(testJobs, wj.Job)
		}
	}
	require.Equal(t, []string{"test"}, testJobs)
	j := c.Jobs["test"]
	var commands []string
	var restored [][]string // the keys of each restore_cache
	saved := map[string][]string{}
	var ciRunStep step
	// The order: the module cache (which holds the toolchain go.mod's
	// toolchain line fetches) is restored before the first go command, the
	// Go version written before the caches keyed on it are restored, all of
	// them before .ci/run, which they are for, and saved after it.
	goVersion, ciRun := -1, -1
	var restores, saves []int
	for i, s := range c.flatSteps(j.Steps) {
		switch s.Kind {
		case "run":
			commands = append(commands, s.Command)
			switch s.Command {
			case "go version > /tmp/go-version":
				goVersion = i
			case "bash .ci/run":
				ciRun, ciRunStep = i, s
			}
		case "restore_cache":
			restores = append(restores, i)
			keys := s.Keys
			if s.Key != "" {
				keys = append([]string{s.Key}, keys...) // CircleCI tries key first
			}
			restored = append(restored, keys)
		case "save_cache":
			saves = append(saves, i)
			saved[s.Key] = s.Paths
		}
	}
	require.GreaterOrEqual(t, goVersion, 0, "the test job writes the Go version")
	require.GreaterOrEqual(t, ciRun, 0, "the test job runs bash .ci/run")
	require.NotEmpty(t, restores)
	assert.Less(t, slices.Max(restores), ciRun, "the caches are restored before .ci/run")
	assert.Greater(t, slices.Min(saves), ciRun, "the caches are saved after .ci/run")

	// go test ./... can print nothing for longer than CircleCI's default of
	// 10 minutes on 2 cores.
	quiet, err := time.ParseDuration(ciRunStep.NoOutputTimeout)
	require.NoError(t, err, "the .ci/run step has a no_output_timeout")
	assert.GreaterOrEqual(t, quiet, 30*time.Minute)

	// CircleCI restores the most recent cache whose key starts with a
	// restore key, trying the keys in order.
	installed := regexp.MustCompile(`(?m)^\(cd (\S+) && npm ci `).FindAllStringSubmatch(string(run), -1)
	require.NotEmpty(t, installed, ".ci/run installs npm packages from lockfiles")
	assert.Len(t, saved, 3)
	for key, paths := range saved {
		i := slices.IndexFunc(restored, func(keys []string) bool { return len(keys) > 0 && strings.HasPrefix(key, keys[0]) })
		if !assert.GreaterOrEqual(t, i, 0, "cache %s is saved but not restored", key) {
			continue
		}
		keys := restored[i]
		for _, k := range keys {
			assert.True(t, strings.HasPrefix(key, k), "restoring %s with %s finds other caches", key, k)
		}
		switch {
		case slices.Equal(paths, []string{"~/go/pkg/mod"}):
			assert.Contains(t, key, `{{ checksum "go.sum" }}`)
			// A toolchain line changed without go.sum would otherwise
			// restore a cache without the toolchain, saved never again.
			assert.Contains(t, key, `{{ checksum "go.mod" }}`, "the module cache holds go.mod's toolchain")
			assert.Less(t, restores[i], goVersion, "the module cache, with the toolchain, is restored before the first go command, which would fetch it")
		case slices.Equal(paths, []string{"~/.cache/go-build"}):
			// What it holds follows scripts/ as it changes: a key written once
			// would keep the first commit's cache for good.
			prefix, ok := strings.CutSuffix(key, "{{ .Revision }}")
			assert.True(t, ok, "the build cache is saved for every commit: %s", key)
			assert.Equal(t, prefix, keys[0], "the build cache is restored from the most recent save of this Go and go.sum")
			assert.Contains(t, key, `{{ checksum "go.sum" }}`)
			assert.Contains(t, key, `{{ checksum "/tmp/go-version" }}`, "the build cache is keyed on the Go version")
			assert.Greater(t, restores[i], goVersion, "the Go version is written before the build cache keyed on it is restored")
			assert.Contains(t, commands, "go version > /tmp/go-version")
		case slices.Equal(paths, []string{"~/.npm"}):
			for _, m := range installed {
				lock := path.Join(m[1], "package-lock.json")
				assert.FileExists(t, filepath.Join(root, filepath.FromSlash(lock)))
				assert.Contains(t, key, `{{ checksum "`+lock+`" }}`, "npm's cache is keyed on every lockfile .ci/run installs")
			}
		default:
			t.Errorf("cache %s of %v", key, paths)
		}
	}
}

// go tool mage rehearse runs the scale-out release workflow's jobs
// (tasks.ReleaseJobs) in the config's order, each running the config's Mage
// call and persisting the config's paths, the jobs of a stage being those
// the config may run at once. All but the test job: the rehearsal plays what
// builds and publishes, and is itself one of the tests (TestRehearse); the
// test job hands nothing on (TestNoCacheReachesTheRelease).
func TestRehearsalIsTheWorkflow(t *testing.T) {
	for mode, rehearsed := range map[string][]tasks.CIJob{"publish": tasks.ReleaseJobs(), "stage": tasks.StagedReleaseJobs()} {
		t.Run(mode, func(t *testing.T) { rehearsalIsTheWorkflow(t, mode, rehearsed) })
	}
}

// rehearsalIsTheWorkflow checks the rehearsal's jobs against the workflow's
// with the pipeline parameter release-mode set to mode.
func rehearsalIsTheWorkflow(t *testing.T, mode string, rehearsed []tasks.CIJob) {
	c := load(t)
	w := releaseWorkflows(t, c)["release"]
	insts := slices.DeleteFunc(c.instances(t, w), func(inst instance) bool { return inst.Job == testJob })
	require.Len(t, rehearsed, len(insts), "the rehearsal runs as many jobs as the workflow")
	for i, inst := range insts {
		r := rehearsed[i]
		assert.Equal(t, inst.Name, r.Name)
		var args []string
		var persist []string
		for _, s := range c.stepsIn(t, inst, map[string]string{"release-mode": mode}) {
			if s.Kind == "persist_to_workspace" {
				persist = append(persist, s.Paths...)
			}
			for _, call := range mageCalls(s.Command) {
				switch {
				case call.Compile != "":
					assert.Equal(t, toolPath(), tasks.ToolPath, "%s compiles the tool where the rehearsal runs it from", inst.Name)
				case call.Target != "":
					args = append([]string{call.Target}, call.Args...)
				}
			}
		}
		if r.Args == nil {
			assert.Nil(t, args, "%s", inst.Name)
		} else {
			// The config quotes the matrix value as one argument; so does the rehearsal.
			assert.Equal(t, args, r.Args, "%s runs what the config runs", inst.Name)
		}
		assert.Equal(t, persist, r.Persist, "%s persists what the config persists", inst.Name)
		for j, other := range insts {
			if j != i {
				assert.Equal(t, concurrent(w, inst, other), r.Stage == rehearsed[j].Stage,
					"%s and %s: the same stage exactly when the config may run them at once", inst.Name, other.Name)
			}
		}
	}
}
