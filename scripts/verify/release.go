package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
)

// ReleaseConfig is what Release needs.
type ReleaseConfig struct {
	Registry *registry.Client
	Version  string
	Tag      string      // the dist-tag that must point at Version (latest, or the prerelease tag)
	Dist     dist.Layout // its tarballs' integrity is compared when it holds Version
	Poll     registry.Poll
	// Install, when set, installs agent-facets@Version from the registry with
	// npm into a new project and runs facet --version.
	Install bool
	NPM     npm.CLI // the npm that installs
	TempDir string  // where the project is made (and removed); "" means os.TempDir()
	Out     io.Writer
}

// Wants is what the registry must serve of a release: each platform package
// at version under tag, with the integrity of its tarball in records (when
// records are of version), and the wrapper, whose optionalDependencies are
// exactly the 12 platform packages at version.
func Wants(version, tag string, records []dist.PackRecord) []registry.Want {
	integrity := map[string]string{}
	for _, r := range records {
		if r.Version == version {
			integrity[r.Name] = r.Integrity
		}
	}
	var wants []registry.Want
	deps := map[string]string{}
	for _, t := range platforms.All() {
		deps[t.Package()] = version
		wants = append(wants, registry.Want{Name: t.Package(), Version: version, Tag: tag, Integrity: integrity[t.Package()]})
	}
	return append(wants, registry.Want{Name: platforms.Wrapper, Version: version, Tag: tag,
		Integrity: integrity[platforms.Wrapper], OptionalDependencies: deps})
}

// Release checks every package of the release, waiting for those the registry
// does not show yet, prints a table, and returns an error listing what is
// wrong.
func Release(ctx context.Context, cfg ReleaseConfig) ([]registry.Status, error) {
	fmt.Fprintf(cfg.Out, "registry %s\n", cfg.Registry)
	if err := cfg.Registry.Ping(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	records, note := packed(cfg.Dist, cfg.Version)
	if note != "" {
		fmt.Fprintf(cfg.Out, "integrity not compared: %s\n", note)
	}
	poll := cfg.Poll
	notify := poll.Notify
	poll.Notify = func(pending []registry.Status, wait time.Duration) {
		names := make([]string, len(pending))
		for i, s := range pending {
			names[i] = s.Name
		}
		fmt.Fprintf(cfg.Out, "waiting %s for %d packages: %s\n", wait.Round(100*time.Millisecond), len(pending), strings.Join(names, ", "))
		if notify != nil {
			notify(pending, wait)
		}
	}
	statuses := cfg.Registry.Await(ctx, Wants(cfg.Version, cfg.Tag, records), poll)
	Table(cfg.Out, statuses)

	var problems []string
	for _, s := range statuses {
		if !s.OK() {
			problems = append(problems, fmt.Sprintf("  %s@%s: %s", s.Name, s.Version, strings.Join(s.Problems, "; ")))
		}
	}
	if len(problems) == 0 && cfg.Install {
		if err := cfg.awaitServed(ctx, cfg.Poll); err != nil {
			problems = append(problems, "  "+err.Error())
		} else if err := install(ctx, cfg); err != nil {
			problems = append(problems, "  "+err.Error())
		} else {
			fmt.Fprintf(cfg.Out, "npm install %s@%s: facet --version prints %s\n", platforms.Wrapper, cfg.Version, cfg.Version)
		}
	}
	if len(problems) > 0 {
		return statuses, fmt.Errorf("verify: release %s is not right:\n%s", cfg.Version, strings.Join(problems, "\n"))
	}
	fmt.Fprintf(cfg.Out, "Release %s is complete: %d packages under %s.\n", cfg.Version, len(statuses), cfg.Tag)
	return statuses, nil
}

// awaitServed waits until what users' npm is served (a plain read, through
// the registry's CDN, which may keep a copy for its max-age) shows every
// package at the version: npm install reads that, not the origin.
func (cfg ReleaseConfig) awaitServed(ctx context.Context, poll registry.Poll) error {
	wants := Wants(cfg.Version, cfg.Tag, nil)
	for i := range wants {
		wants[i].Served, wants[i].OptionalDependencies = true, nil
	}
	notify := poll.Notify
	poll.Notify = func(pending []registry.Status, wait time.Duration) {
		fmt.Fprintf(cfg.Out, "the registry's CDN still serves an older document of %d packages (npm install reads it)\n", len(pending))
		if notify != nil {
			notify(pending, wait)
		}
	}
	var late []string
	for _, s := range cfg.Registry.Await(ctx, wants, poll) {
		if !s.OK() {
			late = append(late, s.Name)
		}
	}
	if len(late) > 0 {
		return fmt.Errorf("the registry shows the release, but what npm install is served (its CDN) still lacks it for %s when FACET_WAIT ran out: try the install later", strings.Join(late, ", "))
	}
	return nil
}

// packed returns the pack records of version in dist, or a note saying why
// there are none.
func packed(l dist.Layout, version string) ([]dist.PackRecord, string) {
	records, err := l.ReadPackRecords()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "dist/ holds no packed packages"
	}
	if err != nil {
		return nil, err.Error()
	}
	if len(records) == 0 || records[0].Version != version {
		v := "nothing"
		if len(records) > 0 {
			v = records[0].Version
		}
		return nil, fmt.Sprintf("dist/ holds %s, not %s", v, version)
	}
	return records, ""
}

// Table prints one row per package: the version found, the integrity against
// dist/, where the tag points, and the state: ok; wrong (it differs, and
// waiting will not change that); error (the registry refused to answer); or
// timed out (not as wanted when the time was up: not there yet, or the tag
// elsewhere).
func Table(out io.Writer, statuses []registry.Status) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "package\tversion\tintegrity\ttag\tstate")
	for _, s := range statuses {
		version, integrity, tag := "–", "–", "–"
		if s.Found {
			version = s.Version
			switch {
			case s.Want.Integrity == "":
				integrity = "not compared"
			case s.Integrity == s.Want.Integrity:
				integrity = "= dist"
			default:
				integrity = "≠ dist"
			}
		}
		if s.Tag != "" {
			target := s.TagVersion
			if target == "" {
				target = "(unset)"
			}
			tag = s.Tag + " → " + target
		}
		state := "ok"
		if s.Superseded {
			state = "ok (superseded)"
		}
		switch {
		case s.Err != nil:
			state = "error"
		case s.Final:
			state = "wrong"
		case !s.OK():
			state = "timed out" // still not as wanted when the time was up
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Name, version, integrity, tag, state)
	}
	w.Flush()
}

// install installs the wrapper at the version into a new project with npm and
// runs facet --version in it.
func install(ctx context.Context, cfg ReleaseConfig) error {
	spec := platforms.Wrapper + "@" + cfg.Version
	project, err := os.MkdirTemp(cfg.TempDir, "facet-verify-install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(project)
	if err := os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"facet-verify-install","private":true}`+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := cfg.NPM.Run(ctx, project, "install", spec, "--prefer-online", "--no-audit", "--no-fund"); err != nil {
		return fmt.Errorf("npm install %s: %w", spec, err)
	}
	// The installed facet itself, whatever override the user's shell sets.
	run := cfg.NPM
	if run.Env == nil {
		run.Env = os.Environ()
	}
	run.Env = platforms.WithoutOverride(run.Env)
	out, err := run.Run(ctx, project, "exec", "--no", "--", platforms.Command, "--version")
	if err != nil {
		return fmt.Errorf("after npm install %s, facet --version: %w", spec, err)
	}
	got, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	// Installers read the last word of the first line.
	if fields := strings.Fields(got); len(fields) == 0 || fields[len(fields)-1] != cfg.Version {
		return fmt.Errorf("after npm install %s, facet --version printed %q, want facet %s", spec, got, cfg.Version)
	}
	return nil
}
