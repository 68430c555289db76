// Package version decides the version and commit a build stamps into facet.
//
// One function, [Resolve], decides, in this order: an explicit override (a flag
// or FACET_VERSION, which must agree with CIRCLE_TAG when both are set), else
// the CircleCI release tag agent-facets@X.Y.Z (CIRCLE_TAG), which must be in
// the clone, at HEAD, with a clean work tree, else a development version
// derived from git, 0.0.0-dev.g<short sha> (".dirty" appended when the work
// tree has changes, untracked files included; ignored ones are not).
// Whatever the source, the result is valid semver or an error.
//
// Git means the repository whose root is the module root ([Checkout]): a
// source archive unpacked inside another repository is not a git checkout.
package version

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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
//
// A release tag (CIRCLE_TAG) is believed only when git shows it: the tag is
// in the clone, it points at HEAD (an annotated tag is peeled), and the work
// tree is clean (no changed, staged or untracked file that is not ignored).
// That holds with FACET_VERSION set too, since the build still claims to be
// the tag's; without a git checkout, a tag build is an error, and FACET_VERSION
// alone (without CIRCLE_TAG) is the way to build a source tree as a version.
//
// The commit stamped is CIRCLE_SHA1 when it is set, else HEAD. In a git
// checkout CIRCLE_SHA1 must name HEAD (be HEAD or an abbreviation of it), for
// every kind of build: a stamp never names a commit other than the one built.
func Resolve(ctx context.Context, in Inputs) (Info, error) {
	if in.Commit != "" && !commitPattern.MatchString(in.Commit) {
		return Info{}, fmt.Errorf("commit %q (CIRCLE_SHA1) is not a commit hash: want 7 to 64 hex digits", in.Commit)
	}
	if in.Override != "" {
		if err := Check(in.Override); err != nil {
			return Info{}, fmt.Errorf("version override (FACET_VERSION): %w", err)
		}
	}
	if in.Override != "" && in.Tag != "" {
		// The tag is checked below; here, they must name the same version.
		if v, err := FromTag(in.Tag); err == nil && v != in.Override {
			return Info{}, fmt.Errorf("FACET_VERSION %s and CIRCLE_TAG %s disagree: unset FACET_VERSION to build the tag, or build another commit", in.Override, in.Tag)
		}
	}
	var head string
	var headErr error
	if in.Git != nil {
		head, headErr = in.Git(ctx, "rev-parse", "HEAD")
	}
	if in.Commit != "" && head != "" && !strings.HasPrefix(head, in.Commit) {
		return Info{}, fmt.Errorf("CIRCLE_SHA1 %s is not the commit checked out (HEAD is %s): check out %s, or unset CIRCLE_SHA1", in.Commit, head, in.Commit)
	}
	info := Info{Commit: in.Commit}
	if info.Commit == "" {
		info.Commit = head
	}
	if in.Tag != "" {
		v, err := FromTag(in.Tag)
		if err != nil {
			return Info{}, err
		}
		if err := proveTag(ctx, in.Git, in.Tag, v, head, headErr); err != nil {
			return Info{}, err
		}
		info.Version, info.Source = v, "tag"
	}
	switch {
	case in.Override != "":
		info.Version, info.Source = in.Override, "override" // checked above
	case in.Tag != "":
		// Proved above.
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

// proveTag returns an error unless git shows that the work tree is the
// commit tag (version v) names, unchanged; head is HEAD, or headErr why it
// could not be read.
func proveTag(ctx context.Context, git Git, tag, v, head string, headErr error) error {
	if git == nil {
		return fmt.Errorf("CIRCLE_TAG %s is set, but this source is not a git checkout, so nothing shows it is the tagged commit: build in a clone that has the tag, or unset CIRCLE_TAG and set FACET_VERSION=%s to build this source as %s", tag, v, v)
	}
	if headErr != nil {
		return fmt.Errorf("CIRCLE_TAG %s: reading HEAD: %w", tag, headErr)
	}
	tagged, err := git(ctx, "rev-parse", "--verify", "-q", "refs/tags/"+tag+"^{commit}")
	if err != nil {
		return fmt.Errorf("tag %s (CIRCLE_TAG) does not exist in this clone: fetch tags (git fetch --tags) or build the tagged commit (%w)", tag, err)
	}
	if tagged != head {
		return fmt.Errorf("tag %s (CIRCLE_TAG) points at %s, but HEAD is %s: check out the tag (git checkout %s), or unset CIRCLE_TAG", tag, tagged, head, tag)
	}
	changed, err := changes(ctx, git)
	if err != nil {
		return fmt.Errorf("CIRCLE_TAG %s: %w", tag, err)
	}
	if len(changed) > 0 {
		return fmt.Errorf("CIRCLE_TAG %s: the work tree has changes, so it is not the tagged commit: %s; commit or stash them (git stash -u), or unset CIRCLE_TAG", tag, summarize(changed))
	}
	return nil
}

// changes lists what makes the work tree differ from HEAD, as git status
// shows it: changed, staged, deleted and untracked files. Ignored files (dist/,
// node_modules/) are not changes; untracked ones are, since the build compiles
// any .go file in a package's directory.
func changes(ctx context.Context, git Git) ([]string, error) {
	// --untracked-files=normal overrides a status.showUntrackedFiles=no in the
	// user's configuration.
	status, err := git(ctx, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, err
	}
	var changed []string
	for line := range strings.SplitSeq(status, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			changed = append(changed, line)
		}
	}
	return changed, nil
}

// summarize renders the first few of git status's lines for an error.
func summarize(changed []string) string {
	const few = 5
	if len(changed) <= few {
		return strings.Join(changed, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(changed[:few], ", "), len(changed)-few)
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
// ".dirty" when the work tree has changes (see changes), untracked files
// included. The "g" keeps an
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
	changed, err := changes(ctx, git)
	if err != nil {
		return "", fmt.Errorf("deriving a development version from git (%s): %w", hint, err)
	}
	if len(changed) > 0 {
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
		return runGit(ctx, dir, nil, args...)
	}
}

func runGit(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Checkout returns the Git of the source tree at root, the module root (the
// directory with go.mod), or nil when root is not a git checkout: when it is
// in no git work tree, or when it is inside the work tree of another
// repository without being its root. That is a source archive (git archive, a
// release tarball) unpacked in a clone of something else: that clone's HEAD
// and changes are not this source's, and a version made of them would lie.
//
// When git cannot answer for another reason (it is not installed, or it does
// not trust the repository's owner), the Git returned fails with git's own
// message once it is used, so a build that needs git says why it cannot.
func Checkout(ctx context.Context, root string) Git {
	// Git's messages in English, to tell "not a git repository" apart.
	top, err := runGit(ctx, root, []string{"LC_ALL=C", "LANGUAGE="}, "rev-parse", "--show-toplevel")
	switch {
	case err != nil && strings.Contains(err.Error(), "not a git repository"):
		return nil
	case err != nil:
		return GitIn(root)
	}
	// Compared as files, not as names: symbolic links (/tmp and
	// /private/tmp on macOS), letter case and slashes may differ.
	topInfo, err := os.Stat(top)
	if err != nil {
		return GitIn(root)
	}
	rootInfo, err := os.Stat(root)
	if err != nil || !os.SameFile(topInfo, rootInfo) {
		return nil
	}
	return GitIn(root)
}

// DefaultPrereleaseTag is the dist-tag a prerelease goes to unless another is
// named.
const DefaultPrereleaseTag = "next"

// DistTag is the npm dist-tag version v is published under: tag when it is
// given (FACET_DIST_TAG, trimmed of surrounding white space, as npm trims
// it); otherwise latest for a release and "next" for a prerelease
// (1.2.3-rc.1). A prerelease never goes to latest; a tag is a letter or digit
// followed by letters, digits, ".", "_" and "-"; and a tag that npm refuses
// (a valid semver range, such as 1.x or v2) is an error.
func DistTag(v, tag string) (string, error) {
	sv, err := semver.StrictNewVersion(v)
	if err != nil {
		return "", Check(v)
	}
	tag = strings.TrimSpace(tag)
	if tag == "" {
		if sv.Prerelease() == "" {
			return "latest", nil
		}
		return DefaultPrereleaseTag, nil
	}
	switch {
	case !distTagPattern.MatchString(tag):
		return "", fmt.Errorf("FACET_DIST_TAG=%q is not a dist-tag the release takes: want a letter or digit, then only letters, digits, '.', '_' and '-' (such as next, beta or latest-1.x)", tag)
	case isSemverRange(tag):
		return "", fmt.Errorf("FACET_DIST_TAG=%q: npm refuses a dist-tag that is a valid semver range (npm install agent-facets@%s would mean versions, not the tag): name the tag with a word, such as next or latest-%d.x", tag, tag, sv.Major())
	case tag == "latest" && sv.Prerelease() != "":
		return "", fmt.Errorf("FACET_DIST_TAG=latest: the prerelease %s must not become what npm install agent-facets gets; name another tag (such as %s), or unset FACET_DIST_TAG for %s", v, DefaultPrereleaseTag, DefaultPrereleaseTag)
	}
	return tag, nil
}

// distTagPattern is what a dist-tag may be made of: nothing that a shell, a
// URL or npm's package specs (name@tag) would read as something else.
var distTagPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// semverRange is node-semver's x-range (its XRANGE expression, with the
// repetition bounds of its "safe" expressions), for strings without white
// space or operators, which distTagPattern rules out: any number of "v", a
// major, then optionally a minor, then optionally a patch, each a number
// without leading zeros or an x, and a prerelease only after a patch.
var semverRange = func() *regexp.Regexp {
	const (
		number = `0|[1-9]\d{0,256}`
		part   = `(` + number + `|x|X|\*)`
		ident  = `(?:\d{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}|` + number + `)`
	)
	return regexp.MustCompile(`^v*` + part + `(?:\.` + part + `(?:\.` + part + `(?:-` + ident + `(?:\.` + ident + `)*)?)?)?$`)
}()

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, the largest part of
// a version node-semver takes.
const maxSafeInteger = 1<<53 - 1

// isSemverRange reports whether node-semver's validRange, which npm's publish
// --tag and dist-tag add ask, takes tag (made of distTagPattern's
// characters) for a valid range. It follows node-semver 7 (Range,
// replaceXRange, Comparator and SemVer): an x-range becomes "*" (x, X, v1.x)
// or a pair of comparators (1 is >=1.0.0 <2.0.0-0, 1.2 is >=1.2.0 <1.3.0-0)
// whose numbers, the bound one higher among them, must not pass
// maxSafeInteger; an x after a number (1.x.3, x.1) is no range; and a whole
// version is a comparator of its own, with one "v" at most and at most 256
// characters. TestDistTagAgreesWithNodeSemver holds it to the real one.
func isSemverRange(tag string) bool {
	m := semverRange.FindStringSubmatch(tag)
	if m == nil {
		return false
	}
	major, minor, patch := m[1], m[2], m[3]
	isX := func(s string) bool { return s == "" || s == "x" || s == "X" || s == "*" }
	upTo := func(s string, most uint64) bool {
		n, err := strconv.ParseUint(s, 10, 64)
		return err == nil && n <= most
	}
	switch {
	case isX(major) && !isX(minor), isX(minor) && patch != "" && !isX(patch):
		return false
	case isX(major):
		return true
	case isX(minor):
		return upTo(major, maxSafeInteger-1)
	case isX(patch):
		return upTo(major, maxSafeInteger) && upTo(minor, maxSafeInteger-1)
	}
	vs := len(tag) - len(strings.TrimLeft(tag, "v"))
	return vs <= 1 && len(tag) <= 256 && upTo(major, maxSafeInteger) && upTo(minor, maxSafeInteger) && upTo(patch, maxSafeInteger)
}
