// Package version decides the version and commit a build stamps into facet.
//
// One function, [Resolve], decides, in this order: an explicit override (a flag
// or FACET_VERSION, which must agree with CIRCLE_TAG when both are set), else
// the CircleCI release tag agent-facets@X.Y.Z (CIRCLE_TAG), else a development version derived from git,
// 0.0.0-dev.g<short sha> (".dirty" appended when the work tree has changes).
// Whatever the source, the result is valid semver or an error.
package version

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// TagPrefix starts every release tag: agent-facets@1.2.3.
const TagPrefix = "agent-facets@"

// Git runs git with args in the source tree and returns its trimmed standard
// output.
type Git func(ctx context.Context, args ...string) (string, error)

// Inputs are the places a version can come from; empty fields are absent.
type Inputs struct {
	Override string // an explicit version: a flag or FACET_VERSION
	Tag      string // the CI tag being built: CIRCLE_TAG
	Commit   string // the commit being built, when CI says so: CIRCLE_SHA1
	Git      Git    // nil when the source is not a git checkout
}

// Info is the version and commit a build stamps.
type Info struct {
	Version string // semver, without a leading "v"
	Commit  string // full commit hash, or "unknown"
	Source  string // where Version came from: "override", "tag" or "git"
}

// Resolve decides the version and commit from in.
func Resolve(ctx context.Context, in Inputs) (Info, error) {
	if in.Commit != "" && !commitPattern.MatchString(in.Commit) {
		return Info{}, fmt.Errorf("commit %q (CIRCLE_SHA1) is not a commit hash: want 7 to 64 hex digits", in.Commit)
	}
	if in.Override != "" && in.Tag != "" {
		// Both are checked below; here, they must name the same version.
		if v, err := FromTag(in.Tag); err == nil && v != in.Override {
			return Info{}, fmt.Errorf("FACET_VERSION %s and CIRCLE_TAG %s disagree: unset FACET_VERSION to build the tag, or build another commit", in.Override, in.Tag)
		}
	}
	info := Info{Commit: in.Commit}
	if info.Commit == "" && in.Git != nil {
		if sha, err := in.Git(ctx, "rev-parse", "HEAD"); err == nil {
			info.Commit = sha
		}
	}
	switch {
	case in.Override != "":
		if err := Check(in.Override); err != nil {
			return Info{}, fmt.Errorf("version override (FACET_VERSION): %w", err)
		}
		info.Version, info.Source = in.Override, "override"
	case in.Tag != "":
		v, err := FromTag(in.Tag)
		if err != nil {
			return Info{}, err
		}
		info.Version, info.Source = v, "tag"
	default:
		v, err := dev(ctx, in.Git)
		if err != nil {
			return Info{}, err
		}
		info.Version, info.Source = v, "git"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info, nil
}

// Check returns an error unless v is a valid semantic version (2.0.0), written
// without a leading "v".
// Build metadata (1.2.3+build.5) is refused: npm drops it at publish, so two
// builds would be the same version on the registry.
func Check(v string) error {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return fmt.Errorf("%q is not a valid semantic version such as 1.2.3 or 1.2.3-rc.1: %w", v, err)
	}
	if sv.Metadata() != "" {
		base, _, _ := strings.Cut(v, "+")
		sep := "-"
		if sv.Prerelease() != "" {
			sep = "."
		}
		return fmt.Errorf("%q has build metadata (+%s), which npm drops at publish: use a prerelease such as %s",
			v, sv.Metadata(), base+sep+sv.Metadata())
	}
	return nil
}

// commitPattern is a commit hash as CI gives it: abbreviated or whole (SHA-1 or SHA-256).
var commitPattern = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// FromTag returns the version of a release tag agent-facets@X.Y.Z.
func FromTag(tag string) (string, error) {
	v, ok := strings.CutPrefix(tag, TagPrefix)
	if !ok {
		return "", fmt.Errorf("tag %q (CIRCLE_TAG) is not a release tag: want %sX.Y.Z", tag, TagPrefix)
	}
	if err := Check(v); err != nil {
		return "", fmt.Errorf("tag %q (CIRCLE_TAG): %w", tag, err)
	}
	return v, nil
}

// dev derives a development version from git: 0.0.0-dev.g<short sha>, with
// ".dirty" when tracked files have uncommitted changes. The "g" keeps an
// all-digit hash from becoming a numeric identifier with a leading zero, which
// semver forbids.
func dev(ctx context.Context, git Git) (string, error) {
	const hint = "set FACET_VERSION to build a version explicitly"
	if git == nil {
		return "", errors.New("no version: not a git checkout, no CIRCLE_TAG and no FACET_VERSION; " + hint)
	}
	sha, err := git(ctx, "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "", fmt.Errorf("deriving a development version from git (%s): %w", hint, err)
	}
	v := "0.0.0-dev.g" + sha
	status, err := git(ctx, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", fmt.Errorf("deriving a development version from git (%s): %w", hint, err)
	}
	if status != "" {
		v += ".dirty"
	}
	if err := Check(v); err != nil {
		return "", fmt.Errorf("development version from git: %w", err)
	}
	return v, nil
}

// GitIn returns a Git that runs the git command in dir.
func GitIn(dir string) Git {
	return func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
}

// DefaultPrereleaseTag is the dist-tag a prerelease goes to unless another is
// named.
const DefaultPrereleaseTag = "next"

// DistTag is the npm dist-tag version v is published under: tag when it is
// given (FACET_DIST_TAG); otherwise latest for a release and "next" for a
// prerelease (1.2.3-rc.1). A prerelease never goes to latest, and a tag that
// npm refuses (a semver range, a name with "/" or spaces) is an error.
func DistTag(v, tag string) (string, error) {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return "", Check(v)
	}
	if tag == "" {
		if sv.Prerelease() == "" {
			return "latest", nil
		}
		return DefaultPrereleaseTag, nil
	}
	switch {
	case tag == "latest" && sv.Prerelease() != "":
		return "", fmt.Errorf("FACET_DIST_TAG=latest: the prerelease %s must not become what npm install agent-facets gets; name another tag", v)
	case strings.ContainsAny(tag, " /@%:?#\\") || strings.HasPrefix(tag, "."):
		return "", fmt.Errorf("FACET_DIST_TAG=%q is not a valid npm dist-tag", tag)
	}
	if _, err := semver.NewConstraint(tag); err == nil {
		return "", fmt.Errorf("FACET_DIST_TAG=%q: npm refuses a dist-tag that is a valid semver range", tag)
	}
	return tag, nil
}
