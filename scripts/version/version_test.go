package version_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/version"
)

// fakeGit answers git commands from a table; an unknown command fails like git
// outside a repository.
func fakeGit(answers map[string]string) version.Git {
	return func(_ context.Context, args ...string) (string, error) {
		if out, ok := answers[strings.Join(args, " ")]; ok {
			return out, nil
		}
		return "", errors.New("fatal: not a git repository")
	}
}

var cleanRepo = map[string]string{
	"rev-parse HEAD":                                              "0123456789abcdef0123456789abcdef01234567",
	"rev-parse --short=12 HEAD":                                   "0123456789ab",
	"status --porcelain --untracked-files=normal":                 "",
	"rev-parse --verify -q refs/tags/agent-facets@2.0.1^{commit}": "0123456789abcdef0123456789abcdef01234567",
	"rev-parse --verify -q refs/tags/agent-facets@1.0.0^{commit}": "0123456789abcdef0123456789abcdef01234567",
}

func TestResolve(t *testing.T) {
	dirty := map[string]string{}
	for k, v := range cleanRepo {
		dirty[k] = v
	}
	dirty["status --porcelain --untracked-files=normal"] = " M cmd/facet/main.go"

	tests := []struct {
		name    string
		in      version.Inputs
		want    version.Info
		wantErr string
	}{
		{
			name: "override wins over git",
			in:   version.Inputs{Override: "1.2.3-rc.1", Git: fakeGit(cleanRepo)},
			want: version.Info{Version: "1.2.3-rc.1", Commit: cleanRepo["rev-parse HEAD"], Source: "override"},
		},
		{
			name: "override that agrees with the tag",
			in:   version.Inputs{Override: "1.0.0", Tag: "agent-facets@1.0.0", Git: fakeGit(cleanRepo)},
			want: version.Info{Version: "1.0.0", Commit: cleanRepo["rev-parse HEAD"], Source: "override"},
		},
		{
			name:    "override that disagrees with the tag",
			in:      version.Inputs{Override: "1.2.3-rc.1", Tag: "agent-facets@1.0.0", Git: fakeGit(cleanRepo)},
			wantErr: "FACET_VERSION 1.2.3-rc.1 and CIRCLE_TAG agent-facets@1.0.0 disagree",
		},
		{
			name:    "override with a v, beside its tag",
			in:      version.Inputs{Override: "v2.0.1", Tag: "agent-facets@2.0.1", Git: fakeGit(cleanRepo)},
			wantErr: `version override (FACET_VERSION): "v2.0.1" is not a valid semantic version`,
		},
		{name: "build metadata", in: version.Inputs{Override: "1.2.3+build.5"}, wantErr: `"1.2.3+build.5" has build metadata (+build.5), which npm drops at publish: use a prerelease such as 1.2.3-build.5`},
		{name: "tag with build metadata", in: version.Inputs{Tag: "agent-facets@1.2.3+x", Git: fakeGit(cleanRepo)}, wantErr: "has build metadata"},
		{name: "commit not hex", in: version.Inputs{Override: "1.0.0", Commit: "abc/def"}, wantErr: `commit "abc/def" (CIRCLE_SHA1) is not a commit hash: want 7 to 64 hex digits`},
		{name: "commit with a shell expansion", in: version.Inputs{Override: "1.0.0", Commit: "$(id)"}, wantErr: "is not a commit hash"},
		{name: "commit too short", in: version.Inputs{Override: "1.0.0", Commit: "abc12"}, wantErr: "is not a commit hash"},
		{
			name: "tag wins over git",
			in:   version.Inputs{Tag: "agent-facets@2.0.1", Commit: "0123456789abcdef0123456789abcdef01234567", Git: fakeGit(cleanRepo)},
			want: version.Info{Version: "2.0.1", Commit: "0123456789abcdef0123456789abcdef01234567", Source: "tag"},
		},
		{
			name: "CIRCLE_SHA1 abbreviates HEAD",
			in:   version.Inputs{Tag: "agent-facets@2.0.1", Commit: "0123456", Git: fakeGit(cleanRepo)},
			want: version.Info{Version: "2.0.1", Commit: "0123456", Source: "tag"},
		},
		{
			name:    "CIRCLE_SHA1 is not HEAD",
			in:      version.Inputs{Tag: "agent-facets@2.0.1", Commit: "feedface", Git: fakeGit(cleanRepo)},
			wantErr: "CIRCLE_SHA1 feedface is not the commit checked out (HEAD is 0123456789abcdef0123456789abcdef01234567): check out feedface, or unset CIRCLE_SHA1",
		},
		{
			name:    "CIRCLE_SHA1 is not HEAD, in a development build too",
			in:      version.Inputs{Commit: "feedface", Git: fakeGit(cleanRepo)},
			wantErr: "CIRCLE_SHA1 feedface is not the commit checked out",
		},
		{
			name:    "tag without git",
			in:      version.Inputs{Tag: "agent-facets@2.0.1", Commit: "feedface"},
			wantErr: "CIRCLE_TAG agent-facets@2.0.1 is set, but this source is not a git checkout, so nothing shows it is the tagged commit: build in a clone that has the tag, or unset CIRCLE_TAG and set FACET_VERSION=2.0.1 to build this source as 2.0.1",
		},
		{
			name:    "tag and override without git",
			in:      version.Inputs{Override: "2.0.1", Tag: "agent-facets@2.0.1"},
			wantErr: "is not a git checkout",
		},
		{
			name:    "tag in a repository without commits",
			in:      version.Inputs{Tag: "agent-facets@2.0.1", Git: fakeGit(nil)},
			wantErr: "CIRCLE_TAG agent-facets@2.0.1: reading HEAD: fatal: not a git repository",
		},
		{
			name: "development version from git",
			in:   version.Inputs{Git: fakeGit(cleanRepo)},
			want: version.Info{Version: "0.0.0-dev.g0123456789ab", Commit: cleanRepo["rev-parse HEAD"], Source: "git"},
		},
		{
			name: "uncommitted changes are marked",
			in:   version.Inputs{Git: fakeGit(dirty)},
			want: version.Info{Version: "0.0.0-dev.g0123456789ab.dirty", Commit: cleanRepo["rev-parse HEAD"], Source: "git"},
		},
		{
			name: "override without git has an unknown commit",
			in:   version.Inputs{Override: "1.0.0"},
			want: version.Info{Version: "1.0.0", Commit: "unknown", Source: "override"},
		},
		{name: "override with a v", in: version.Inputs{Override: "v1.2.3"}, wantErr: `version override (FACET_VERSION): "v1.2.3" is not a valid semantic version`},
		{name: "override not semver", in: version.Inputs{Override: "1.2"}, wantErr: `"1.2" is not a valid semantic version`},
		{name: "override leading zero", in: version.Inputs{Override: "1.02.3"}, wantErr: "not a valid semantic version"},
		{name: "tag of another project", in: version.Inputs{Tag: "v1.2.3"}, wantErr: `tag "v1.2.3" (CIRCLE_TAG) is not a release tag: want agent-facets@X.Y.Z`},
		{name: "tag with bad version", in: version.Inputs{Tag: "agent-facets@1.2.x"}, wantErr: `tag "agent-facets@1.2.x" (CIRCLE_TAG): "1.2.x" is not a valid semantic version`},
		{name: "no source at all", in: version.Inputs{}, wantErr: "no version: not a git checkout, no CIRCLE_TAG and no FACET_VERSION"},
		{name: "git fails", in: version.Inputs{Git: fakeGit(nil)}, wantErr: "set FACET_VERSION to build a version explicitly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := version.Resolve(t.Context(), tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCheck(t *testing.T) {
	for _, v := range []string{"0.0.1", "1.2.3", "1.2.3-rc.1", "0.0.0-dev.g0123456789ab.dirty"} {
		assert.NoError(t, version.Check(v), v)
	}
	for _, v := range []string{"", "1", "1.2", "v1.2.3", "1.2.3-", "01.2.3", "1.2.3-01", "latest", "1.2.3+build.5", "1.2.3-rc.1+b"} {
		assert.Error(t, version.Check(v), v)
	}
}

func TestGitIn(t *testing.T) {
	testenv.LookPath(t, "git", "install git")
	dir := t.TempDir()
	git := version.GitIn(dir)
	_, err := git(t.Context(), "rev-parse", "HEAD")
	require.Error(t, err, "not a repository yet")
	assert.Contains(t, err.Error(), "git rev-parse HEAD")

	for _, args := range [][]string{
		{"init", "-q"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"},
	} {
		_, err := git(t.Context(), args...)
		require.NoError(t, err)
	}
	info, err := version.Resolve(t.Context(), version.Inputs{Git: git})
	require.NoError(t, err)
	assert.Regexp(t, `^0\.0\.0-dev\.g[0-9a-f]{12}$`, info.Version)
	assert.Regexp(t, `^[0-9a-f]{40}$`, info.Commit)
	assert.True(t, strings.HasPrefix(info.Commit, strings.TrimPrefix(info.Version, "0.0.0-dev.g")))
}

func TestDistTag(t *testing.T) {
	tests := []struct {
		version, override, want, err string
	}{
		{version: "1.2.3", want: "latest"},
		{version: "1.2.3-rc.1", want: "next"},
		{version: "1.2.3-rc.1", override: "beta", want: "beta"},
		{version: "1.2.3", override: "latest-1.x", want: "latest-1.x"}, // a backport
		{version: "1.2.3", override: "latest", want: "latest"},
		{version: "1.2.3", override: "  \n", want: "latest"},
		{version: "1.2.3-rc.1", override: "\t", want: "next"},
		{version: "1.2.3-rc.1", override: " beta\n", want: "beta"},
		{version: "1.2.3-rc.1", override: "latest", err: "FACET_DIST_TAG=latest: the prerelease 1.2.3-rc.1 must not become what npm install agent-facets gets; name another tag (such as next), or unset FACET_DIST_TAG for next"},
		// npm trims the tag: what is latest to npm is latest here.
		{version: "1.2.3-rc.1", override: "latest\n", err: "FACET_DIST_TAG=latest: the prerelease 1.2.3-rc.1 must not become"},
		{version: "1.2.3-rc.1", override: " latest ", err: "FACET_DIST_TAG=latest: the prerelease 1.2.3-rc.1 must not become"},
		{version: "1.2.3-rc.1", override: "1.x", err: `FACET_DIST_TAG="1.x": npm refuses a dist-tag that is a valid semver range (npm install agent-facets@1.x would mean versions, not the tag): name the tag with a word, such as next or latest-1.x`},
		{version: "2.0.0", override: " v2\n", err: `FACET_DIST_TAG="v2": npm refuses a dist-tag that is a valid semver range`},
		{version: "2.0.0", override: "x", err: `FACET_DIST_TAG="x": npm refuses a dist-tag that is a valid semver range`},
		{version: "1.2.3-rc.1", override: "a/b", err: `FACET_DIST_TAG="a/b" is not a dist-tag the release takes: want a letter or digit, then only letters, digits, '.', '_' and '-' (such as next, beta or latest-1.x)`},
		{version: "1.2.3-rc.1", override: "be ta", err: `FACET_DIST_TAG="be ta" is not a dist-tag the release takes`},
		{version: "1.2.3-rc.1", override: "next\nlatest", err: `FACET_DIST_TAG="next\nlatest" is not a dist-tag the release takes`},
		{version: "1.2.3-rc.1", override: "-beta", err: "is not a dist-tag the release takes"},
		{version: "1.2.3-rc.1", override: ".beta", err: "is not a dist-tag the release takes"},
		{version: "1.2.3-rc.1", override: "^1.2.3", err: "is not a dist-tag the release takes"},
		{version: "1.2.3-rc.1", override: "beta@1", err: "is not a dist-tag the release takes"},
		{version: "1.2.3-rc.1", override: "bêta", err: "is not a dist-tag the release takes"},
		{version: "1.2", err: `"1.2" is not a valid semantic version`},
	}
	for _, tt := range tests {
		got, err := version.DistTag(tt.version, tt.override)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, "%s %q", tt.version, tt.override)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%s %q", tt.version, tt.override)
	}
}

// The release's decision that a tag is a semver range agrees with npm's own,
// which is node-semver's validRange (npm publish --tag and npm dist-tag add),
// on every tag the release's characters allow: run over hand-picked tags,
// node-semver's edges (numbers past JavaScript's safe integers, versions past
// 256 characters, its bounds on identifiers) and every string of up to five
// characters from 0 1 9 x X v a . -, and asked of npm's own node-semver.
func TestDistTagAgreesWithNodeSemver(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	semverDir := npmSemver(t, testenv.LookPath(t, "npm", "install npm 11"))

	tags := []string{
		"1", "1.x", "x", "X", "v1", "latest", "next", "latest-1.x", "1.2.3-rc.1", "beta", "1.2", "0", "v1.2.x",
		"1.2.3", "v1.2.3", "vv1.2.3", "vv1", "vvv1.x", "1.x.x", "1.x.3", "x.1", "x.x.1", "x.x.x-rc.1", "1.2.x-rc.1",
		"1.2.3-01", "1.2.3-0", "1.2.3-rc..1", "1.2.3-", "01", "1.02", "1.2.3.4", "1-2", "1.2-3", "2x", "x1",
		"latest1", "rc", "next-2", "v", "vx", "canary", "0.0.0", "0.0.0-0", "1.2.3-x-y.z", "1.2.3-1a", "1.2.3-a.1",
		"1_2", "1.2_3", "legacy", "stable", "V1", "1.X", "1.2.X", "X.X", "x.x.x", "1.2.3-X",
		// node-semver's numbers: up to 2^53-1, the upper bound of an x-range included.
		"9007199254740990", "9007199254740991", "9007199254740992", "99999999999999999999",
		"1.9007199254740990", "1.9007199254740991", "9007199254740991.1", "9007199254740992.1",
		"1.2.9007199254740991", "1.2.9007199254740992", "9007199254740991.9007199254740991.9007199254740991",
		"1.2.3-9007199254740992", "1.x.9007199254740992",
		// node-semver's lengths: 256 characters for a version, 250 and 256 in its expressions.
		"1.2.3-" + strings.Repeat("a", 250), "1.2.3-" + strings.Repeat("a", 251),
		"v1.2.3-" + strings.Repeat("a", 249), "v1.2.3-" + strings.Repeat("a", 250),
		"1.2.x-" + strings.Repeat("a", 251), "1.2.x-" + strings.Repeat("a", 252),
		"1.2.x-" + strings.Repeat("1", 256) + "a", "1.2.x-" + strings.Repeat("1", 257) + "a",
		"1.2.x-" + strings.Repeat("a.", 200) + "a", "x.x.x-" + strings.Repeat("a", 300),
		"1" + strings.Repeat("0", 256), strings.Repeat("v", 300) + "1",
	}
	tags = append(tags, every("019xXva.-", 5)...)
	var allowed []string
	for _, tag := range tags {
		if _, err := version.DistTag("1.0.0-rc.1", tag); err == nil || !strings.Contains(err.Error(), "is not a dist-tag the release takes") {
			allowed = append(allowed, tag)
		}
	}
	require.Greater(t, len(allowed), 30000)

	input, err := json.Marshal(allowed)
	require.NoError(t, err)
	const script = `const semver = require(process.argv[1]); let s = ''
process.stdin.on('data', d => { s += d }).on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(s).map(tag => semver.validRange(tag) !== null)))
})`
	cmd := exec.CommandContext(t.Context(), node, "-e", script, semverDir)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var npmRanges []bool
	require.NoError(t, json.Unmarshal(out, &npmRanges))
	require.Len(t, npmRanges, len(allowed))

	ranges, disagree := 0, 0
	for i, tag := range allowed {
		_, err := version.DistTag("1.0.0-rc.1", tag)
		ours := err != nil && strings.Contains(err.Error(), "npm refuses a dist-tag that is a valid semver range")
		if npmRanges[i] {
			ranges++
		}
		if ours != npmRanges[i] {
			if disagree++; disagree <= 20 {
				t.Errorf("%q: node-semver's validRange says range=%v, the release says %v", tag, npmRanges[i], ours)
			}
		}
	}
	assert.Zero(t, disagree, "tags on which the release and node-semver disagree")
	assert.Greater(t, ranges, 500, "the corpus holds ranges")
	assert.Greater(t, len(allowed)-ranges, 1000, "the corpus holds tags")
}

// npmSemver is the directory of the node-semver that the npm at npmPath
// bundles: npm/node_modules/semver, beside npm's bin/npm-cli.js (the npm on
// PATH is a link to it, or a script next to node_modules/npm on Windows).
func npmSemver(t *testing.T, npmPath string) string {
	t.Helper()
	var roots []string
	if real, err := filepath.EvalSymlinks(npmPath); err == nil {
		roots = append(roots, filepath.Dir(filepath.Dir(real)))
	}
	roots = append(roots, filepath.Join(filepath.Dir(npmPath), "node_modules", "npm"))
	for _, root := range roots {
		dir := filepath.Join(root, "node_modules", "semver")
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir
		}
	}
	testenv.Missing(t, "npm's own node-semver", "no node_modules/semver in "+strings.Join(roots, " or ")+": install npm 11")
	return ""
}

// every returns every string of 1 to n characters from alphabet.
func every(alphabet string, n int) []string {
	var all, last []string
	last = []string{""}
	for range n {
		var next []string
		for _, s := range last {
			for _, c := range alphabet {
				next = append(next, s+string(c))
			}
		}
		all = append(all, next...)
		last = next
	}
	return all
}
