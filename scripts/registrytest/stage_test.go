package registrytest_test

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
)

// stagedLine is what npm stage publish prints of a staged version.
var stagedLine = regexp.MustCompile(`(?m)^\+ (\S+) \(staged with id ([0-9a-f-]{36})\)$`)

// packTarball packs a package of name and version with the real npm, with a
// file of size random bytes besides its package.json, and returns the
// tarball's path and bytes.
func packTarball(t *testing.T, cli npm.CLI, name, version string, size int) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"),
		[]byte(`{"name":"`+name+`","version":"`+version+`","description":"staged"}`), 0o644))
	if size > 0 {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "blob.bin"), data, 0o644))
	}
	packed, err := cli.Pack(t.Context(), dir, dir)
	require.NoError(t, err)
	path := filepath.Join(dir, packed[0].Filename)
	tgz, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, tgz
}

// run runs npm with args in a directory of its own and returns what it
// printed on both outputs.
func run(t *testing.T, cli npm.CLI, args ...string) (string, error) {
	t.Helper()
	var out syncbuf.Buffer
	err := cli.RunAttached(t.Context(), t.TempDir(), npm.Stdio{Out: &out, Err: &out}, args...)
	return out.String(), err
}

// stagedOf is the one item npm stage publish's output names, found among the
// stand-in's.
func stagedOf(t *testing.T, bed *testenv.Bed, out string) registrytest.StagedItem {
	t.Helper()
	m := stagedLine.FindStringSubmatch(out)
	require.NotNil(t, m, "npm said what it staged:\n%s", out)
	for _, item := range bed.Front.Staged() {
		if item.ID == m[2] {
			assert.Equal(t, item.PackageName+"@"+item.Version, m[1])
			return item
		}
	}
	t.Fatalf("npm staged %s with id %s, which the stand-in does not have", m[1], m[2])
	return registrytest.StagedItem{}
}

// The stage API as the real npm 11.19.1 drives it: npm stage publish from a
// CircleCI job (a trusted publisher that may stage, and one that may only
// publish) and as a maintainer, list, view, download, approve with a second
// factor, reject, and what stays invisible until approved. One bed: the
// subtests run in order, each on what the ones before left.
func TestStageWithTheRealNPM(t *testing.T) {
	bed := testenv.RegistryBed(t)
	maintainer := bed.NPM(t, true)
	if v, err := maintainer.Version(t.Context()); err != nil || v.LessThan(mustVersion(t, "11.15.0")) {
		testenv.Missing(t, "npm >= 11.15.0 (npm stage)", "npm install -g npm@11")
	}
	p := circleci.Facets()
	job := bed.CircleCIJob(t, p)
	const (
		stageable   = "@agent-facets/cli-linux-x64"
		publishOnly = "@agent-facets/cli-darwin-arm64"
		fresh       = "@agent-facets/cli-brand-new"
	)
	bed.Publish(t, "0.0.1", stageable, publishOnly)
	bed.Front.SetTrust(stageable, registrytest.WebTrust(p, false))
	bed.Front.SetTrust(publishOnly, registrytest.PublishOnlyTrust(p))
	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	minter := circleci.Minter{Env: append(os.Environ(), job.Env...)}
	mint := func(t *testing.T) string {
		token, err := minter.Mint(t.Context(), circleci.Audience(reg.Host()))
		require.NoError(t, err)
		return token
	}
	// npm as the release runs it in a CircleCI job: no login, CIRCLECI set,
	// a fresh ID token in NPM_ID_TOKEN.
	stageInCI := func(t *testing.T, tgz, tag string) (string, error) {
		cli := bed.NPM(t, false).With(job.Env...).With("NPM_ID_TOKEN="+mint(t), "CIRCLECI=true")
		return run(t, cli, "stage", "publish", tgz, "--access", "public", "--tag", tag, "--loglevel", "verbose",
			"--fetch-retries", "0", "--no-provenance")
	}
	// oidcNPM is npm holding a token from the exchange for pkg, as the
	// release's own reads would.
	exchanged := func(t *testing.T, pkg string) string {
		status, body := exchange(t, bed.URL, pkg, "Bearer "+mint(t))
		require.Equal(t, http.StatusCreated, status, body)
		return body["token"].(string)
	}
	oidcNPM := func(t *testing.T, pkg string) npm.CLI {
		env, err := bed.Verdaccio.NPMEnv(bed.URL, exchanged(t, pkg))
		require.NoError(t, err)
		return npm.CLI{Path: maintainer.Path, Env: env}
	}
	withOTP := maintainer.With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP)
	stageURL := bed.URL + "-/stage/package/"

	big, bigTgz := packTarball(t, maintainer, stageable, "1.0.0", 3<<20)
	require.Greater(t, len(bigTgz), 2<<20, "a tarball of some megabytes, as a platform package's")
	var first registrytest.StagedItem
	// Each step builds on the ones before: the first to fail ends the test.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("OIDC publisher that may stage", func(t *testing.T) {
		out, err := stageInCI(t, big, "latest")
		require.NoError(t, err, out)
		assert.Contains(t, out, "Successfully retrieved and set token")
		first = stagedOf(t, bed, out)
		wantShasum, wantIntegrity := sums(bigTgz)
		assert.Equal(t, registrytest.StagedItem{
			ID: first.ID, PackageName: stageable, Version: "1.0.0", Tag: "latest", CreatedAt: first.CreatedAt,
			Actor: "circleci", ActorType: "oidc", Shasum: wantShasum, Integrity: wantIntegrity,
		}, first)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, first.CreatedAt)
		var posts []registrytest.Request
		for _, r := range bed.Front.Requests() {
			if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/-/stage/") {
				posts = append(posts, r)
			}
		}
		require.Len(t, posts, 1, "the stand-in records stage requests")
		assert.Equal(t, "/-/stage/package/@agent-facets%2fcli-linux-x64", posts[0].Path)
		assert.Equal(t, stageable, posts[0].Package)
		assert.Equal(t, http.StatusCreated, posts[0].Status)
		assert.NotZero(t, posts[0].Grant, "with the token from the exchange")
	})

	step("OIDC publisher that may only publish", func(t *testing.T) {
		tgz, _ := packTarball(t, maintainer, publishOnly, "1.0.0", 0)
		before := bed.Front.Staged()
		out, err := stageInCI(t, tgz, "latest")
		require.Error(t, err)
		assert.Equal(t, "E403", npm.ErrorCode(err))
		assert.Contains(t, out, "Successfully retrieved and set token", "the exchange passes")
		assert.Contains(t, out, "403 Forbidden - POST "+stageURL+"@agent-facets%2fcli-darwin-arm64 - OIDC permission denied for this action")
		assert.Equal(t, before, bed.Front.Staged())

		// A token from the exchange stages its own package only.
		token := exchanged(t, stageable)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, stageURL+"@agent-facets%2fcli-darwin-arm64", strings.NewReader("{}"))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, before, bed.Front.Staged())
	})

	// invisible checks that npm view does not show version, nor npm
	// install install it (when install is set), nor its tarball download.
	invisible := func(t *testing.T, pkg, version string, install bool) {
		t.Helper()
		_, err := run(t, maintainer, "view", pkg+"@"+version, "version", "--prefer-online")
		assert.Equal(t, "E404", npm.ErrorCode(err), "npm view of a staged version: %v", err)
		if install {
			project := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o644))
			_, err = maintainer.Run(t.Context(), project, "install", pkg+"@"+version, "--prefer-online")
			assert.Equal(t, "ETARGET", npm.ErrorCode(err), "npm install of a staged version: %v", err)
		}
		base := pkg[strings.LastIndex(pkg, "/")+1:]
		resp, err := http.Get(bed.URL + pkg + "/-/" + base + "-" + version + ".tgz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "its tarball")
	}

	step("invisible until approved", func(t *testing.T) {
		invisible(t, stageable, "1.0.0", true)
	})

	var second, third registrytest.StagedItem
	step("as a user, twice", func(t *testing.T) {
		out, err := run(t, maintainer, "stage", "publish", big, "--access", "public")
		require.NoError(t, err, out)
		second = stagedOf(t, bed, out)
		assert.NotEqual(t, first.ID, second.ID, "a second item")
		assert.Equal(t, "user", second.ActorType)
		who, err := maintainer.Whoami(t.Context(), t.TempDir())
		require.NoError(t, err)
		assert.Equal(t, who, second.Actor)
		assert.Equal(t, first.Integrity, second.Integrity)
		assert.Equal(t, []string{first.ID, second.ID}, ids(bed.Front.Staged()), "oldest first")

		tgz, _ := packTarball(t, maintainer, publishOnly, "1.0.0", 0)
		out, err = run(t, maintainer, "stage", "publish", tgz, "--access", "public")
		require.NoError(t, err, out)
		third = stagedOf(t, bed, out)
	})

	step("a published version", func(t *testing.T) {
		tgz, _ := packTarball(t, maintainer, stageable, "0.0.1", 0)
		before := bed.Front.Staged()
		// --force: past npm's own check, to the registry's.
		out, err := run(t, maintainer, "stage", "publish", tgz, "--access", "public", "--force")
		require.Error(t, err)
		assert.Equal(t, "E403", npm.ErrorCode(err), out)
		assert.Contains(t, out, "You cannot publish over the previously published versions: 0.0.1.")
		assert.Equal(t, before, bed.Front.Staged())
	})

	step("list", func(t *testing.T) {
		var list []registrytest.StagedItem
		out, err := maintainer.Run(t.Context(), t.TempDir(), "stage", "list", stageable, "--json")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(out, &list), string(out))
		assert.Equal(t, bed.Front.Staged()[:2], list)

		own := oidcNPM(t, stageable)
		out, err = own.Run(t.Context(), t.TempDir(), "stage", "list", stageable, "--json")
		require.NoError(t, err)
		list = nil
		require.NoError(t, json.Unmarshal(out, &list), string(out))
		assert.Equal(t, []string{first.ID, second.ID}, ids(list), "an OIDC token lists its own package")
		out, err = own.Run(t.Context(), t.TempDir(), "stage", "list", "--json")
		require.NoError(t, err)
		list = nil
		require.NoError(t, json.Unmarshal(out, &list), string(out))
		assert.Equal(t, []string{first.ID, second.ID}, ids(list), "an OIDC token lists its own package only")
		out, err = maintainer.Run(t.Context(), t.TempDir(), "stage", "list", "--json")
		require.NoError(t, err)
		list = nil
		require.NoError(t, json.Unmarshal(out, &list), string(out))
		assert.Equal(t, []string{first.ID, second.ID, third.ID}, ids(list), "a user lists them all")

		_, err = own.Run(t.Context(), t.TempDir(), "stage", "list", publishOnly, "--json")
		assert.Equal(t, "E403", npm.ErrorCode(err), "an OIDC token, another package: %v", err)
		_, err = oidcNPM(t, publishOnly).Run(t.Context(), t.TempDir(), "stage", "view", first.ID, "--json")
		assert.Equal(t, "E403", npm.ErrorCode(err), "an OIDC token, another package's item: %v", err)

		_, err = bed.NPM(t, false).Run(t.Context(), t.TempDir(), "stage", "list", "--json")
		assert.Equal(t, "E401", npm.ErrorCode(err), "no login: %v", err)
	})

	step("view", func(t *testing.T) {
		out, err := maintainer.Run(t.Context(), t.TempDir(), "stage", "view", first.ID, "--json")
		require.NoError(t, err)
		var item registrytest.StagedItem
		require.NoError(t, json.Unmarshal(out, &item), string(out))
		assert.Equal(t, first, item)
		_, err = maintainer.Run(t.Context(), t.TempDir(), "stage", "view", "00000000-0000-4000-8000-000000000000", "--json")
		assert.Equal(t, "E404", npm.ErrorCode(err), "an unknown id: %v", err)
	})

	step("download", func(t *testing.T) {
		dir := t.TempDir()
		out, err := maintainer.Run(t.Context(), dir, "stage", "download", first.ID)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, strings.TrimSpace(string(out))))
		require.NoError(t, err)
		assert.Equal(t, bigTgz, got, "the exact bytes staged")
	})

	step("approve", func(t *testing.T) {
		_, err := oidcNPM(t, stageable).Run(t.Context(), t.TempDir(), "stage", "approve", first.ID)
		assert.Equal(t, "E403", npm.ErrorCode(err), "an OIDC token: %v", err)
		_, err = maintainer.Run(t.Context(), t.TempDir(), "stage", "approve", first.ID)
		assert.Equal(t, "EOTP", npm.ErrorCode(err), "no second factor: %v", err)
		_, err = maintainer.With("NPM_CONFIG_OTP=000000").Run(t.Context(), t.TempDir(), "stage", "approve", first.ID)
		assert.Equal(t, "EOTP", npm.ErrorCode(err), "a wrong one-time password: %v", err)
		assert.Equal(t, []string{first.ID, second.ID, third.ID}, ids(bed.Front.Staged()), "nothing approved")
		invisible(t, stageable, "1.0.0", false)

		out, err := withOTP.Run(t.Context(), t.TempDir(), "stage", "approve", first.ID)
		require.NoError(t, err)
		assert.Contains(t, string(out), "Staged package "+first.ID+" approved and published successfully.")
		assert.Equal(t, []string{second.ID, third.ID}, ids(bed.Front.Staged()))
		approvals := 0
		for _, r := range bed.Front.Requests() {
			if r.Path == "/-/stage/"+first.ID+"/approve" {
				approvals++
				assert.Equal(t, stageable, r.Package, "a request about a staged version is recorded with its package")
			}
		}
		assert.Equal(t, 4, approvals, "with an OIDC token, without a second factor, with a wrong one, with the right one")

		out, err = maintainer.Run(t.Context(), t.TempDir(), "view", stageable+"@1.0.0", "dist.integrity", "--prefer-online")
		require.NoError(t, err)
		assert.Equal(t, first.Integrity, strings.TrimSpace(string(out)))
		project := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o644))
		_, err = maintainer.Run(t.Context(), project, "install", stageable+"@1.0.0", "--prefer-online")
		require.NoError(t, err)
		var lock struct {
			Packages map[string]struct {
				Integrity string `json:"integrity"`
			} `json:"packages"`
		}
		data, err := os.ReadFile(filepath.Join(project, "package-lock.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &lock))
		assert.Equal(t, first.Integrity, lock.Packages["node_modules/"+stageable].Integrity, "installed with the staged integrity")

		// The same version staged again cannot be approved over it, and stays.
		_, err = withOTP.Run(t.Context(), t.TempDir(), "stage", "approve", second.ID)
		require.Error(t, err)
		assert.Equal(t, "E403", npm.ErrorCode(err))
		assert.Contains(t, err.Error(), "You cannot publish over the previously published versions: 1.0.0.")
		assert.Equal(t, []string{second.ID, third.ID}, ids(bed.Front.Staged()))

		_, err = withOTP.Run(t.Context(), t.TempDir(), "stage", "approve", first.ID)
		assert.Equal(t, "E404", npm.ErrorCode(err), "approved already: %v", err)
	})

	step("reject", func(t *testing.T) {
		_, err := maintainer.Run(t.Context(), t.TempDir(), "stage", "reject", second.ID)
		assert.Equal(t, "EOTP", npm.ErrorCode(err), "no second factor: %v", err)
		_, err = oidcNPM(t, stageable).Run(t.Context(), t.TempDir(), "stage", "reject", second.ID)
		assert.Equal(t, "E403", npm.ErrorCode(err), "an OIDC token: %v", err)
		require.Len(t, bed.Front.Staged(), 2)
		out, err := withOTP.Run(t.Context(), t.TempDir(), "stage", "reject", second.ID)
		require.NoError(t, err)
		assert.Contains(t, string(out), "Staged package "+second.ID+" has been rejected.")
		assert.Equal(t, []string{third.ID}, ids(bed.Front.Staged()))
		_, err = withOTP.Run(t.Context(), t.TempDir(), "stage", "reject", second.ID)
		assert.Equal(t, "E404", npm.ErrorCode(err), "rejected already: %v", err)
	})

	step("a new name gets a placeholder", func(t *testing.T) {
		tgz, _ := packTarball(t, maintainer, fresh, "1.0.0", 0)
		out, err := run(t, maintainer, "stage", "publish", tgz, "--access", "public")
		require.NoError(t, err, out)
		item := stagedOf(t, bed, out)
		out, err = run(t, maintainer, "view", fresh, "versions", "dist-tags", "--json", "--prefer-online")
		require.NoError(t, err, out)
		var doc struct {
			Versions []string          `json:"versions"`
			Tags     map[string]string `json:"dist-tags"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, []string{"0.0.0-stage"}, doc.Versions)
		assert.Equal(t, map[string]string{"latest": "0.0.0-stage"}, doc.Tags)
		invisible(t, fresh, "1.0.0", false)

		// ReplaceStagedTarball: what download fetches changes, and its sums.
		_, other := packTarball(t, maintainer, fresh, "1.0.0", 1024)
		require.NoError(t, bed.Front.ReplaceStagedTarball(item.ID, other))
		require.Error(t, bed.Front.ReplaceStagedTarball("00000000-0000-4000-8000-000000000000", other))
		dir := t.TempDir()
		got, err := maintainer.Run(t.Context(), dir, "stage", "download", item.ID)
		require.NoError(t, err)
		data, err := os.ReadFile(filepath.Join(dir, strings.TrimSpace(string(got))))
		require.NoError(t, err)
		assert.Equal(t, other, data)
		shasum, integrity := sums(other)
		staged := bed.Front.Staged()
		require.Equal(t, []string{third.ID, item.ID}, ids(staged))
		assert.Equal(t, shasum, staged[1].Shasum)
		assert.Equal(t, integrity, staged[1].Integrity)
		assert.NotEqual(t, item.Integrity, integrity)
	})

	step("another user sees and acts on their own packages only", func(t *testing.T) {
		other := bed.NPMAs(t, "stranger")
		otherOTP := other.With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP)
		before := bed.Front.Staged()
		require.Len(t, before, 2)
		third := before[0] // publishOnly's, staged by the maintainer
		listOf := func(t *testing.T, cli npm.CLI, args ...string) []string {
			t.Helper()
			out, err := cli.Run(t.Context(), t.TempDir(), append([]string{"stage", "list", "--json"}, args...)...)
			require.NoError(t, err)
			var list []registrytest.StagedItem
			require.NoError(t, json.Unmarshal(out, &list), string(out))
			return ids(list)
		}
		refused := func(t *testing.T, out string, err error, what string) {
			t.Helper()
			require.Error(t, err, what)
			assert.Equal(t, "E403", npm.ErrorCode(err), "%s: %v", what, err)
			assert.Contains(t, out+err.Error(), "stranger is not a maintainer of "+publishOnly, what)
		}
		assert.Empty(t, listOf(t, other), "another's packages are left out")
		out, err := run(t, other, "stage", "list", publishOnly, "--json")
		refused(t, out, err, "list another's package")
		out, err = run(t, other, "stage", "view", third.ID, "--json")
		refused(t, out, err, "view")
		out, err = run(t, other, "stage", "download", third.ID)
		refused(t, out, err, "download")
		out, err = run(t, otherOTP, "stage", "approve", third.ID)
		refused(t, out, err, "approve")
		out, err = run(t, otherOTP, "stage", "reject", third.ID)
		refused(t, out, err, "reject")
		tgz, _ := packTarball(t, maintainer, publishOnly, "2.0.0", 0)
		out, err = run(t, other, "stage", "publish", tgz, "--access", "public")
		refused(t, out, err, "stage")
		assert.Equal(t, before, bed.Front.Staged(), "nothing staged, approved or rejected")

		// The wrappers name the refusal.
		_, err = other.StageList(t.Context(), t.TempDir(), publishOnly)
		require.ErrorIs(t, err, npm.ErrForbidden)
		assert.Contains(t, err.Error(), "stranger is not a maintainer of "+publishOnly+" and may not list the staged versions of it (is this login a maintainer of the package?")
		_, err = other.StageDownload(t.Context(), t.TempDir(), third.ID)
		require.ErrorIs(t, err, npm.ErrForbidden)
		assert.Contains(t, err.Error(), "stranger is not a maintainer of "+publishOnly)

		// A name of their own: staging it makes them its maintainer.
		const theirs = "@agent-facets/cli-strangers-own"
		tgz, _ = packTarball(t, other, theirs, "1.0.0", 0)
		out, err = run(t, other, "stage", "publish", tgz, "--access", "public")
		require.NoError(t, err, out)
		item := stagedOf(t, bed, out)
		assert.Equal(t, "stranger", item.Actor)
		assert.Equal(t, []string{item.ID}, listOf(t, other))
		assert.Equal(t, []string{item.ID}, listOf(t, other, theirs))
		assert.Equal(t, ids(before), listOf(t, maintainer), "the maintainer does not see the stranger's")
		_, err = maintainer.Run(t.Context(), t.TempDir(), "stage", "view", item.ID, "--json")
		assert.Equal(t, "E403", npm.ErrorCode(err), "the maintainer, the stranger's package: %v", err)
		out, err = run(t, otherOTP, "stage", "reject", item.ID)
		require.NoError(t, err, out)
		assert.Equal(t, before, bed.Front.Staged())
	})
}

// sums are a tarball's shasum and integrity, as npm computes them.
func sums(tgz []byte) (shasum, integrity string) {
	s1 := sha1.Sum(tgz)
	s512 := sha512.Sum512(tgz)
	return hex.EncodeToString(s1[:]), "sha512-" + base64.StdEncoding.EncodeToString(s512[:])
}

// ids are the items' ids, in order.
func ids(items []registrytest.StagedItem) []string {
	var list []string
	for _, item := range items {
		list = append(list, item.ID)
	}
	return list
}
