package registrytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
)

func TestPackageOf(t *testing.T) {
	for path, want := range map[string]string{
		"/@agent-facets%2fcli-linux-x64":                            "@agent-facets/cli-linux-x64",
		"/@agent-facets%2Fcli-linux-x64":                            "@agent-facets/cli-linux-x64",
		"/@agent-facets/cli-linux-x64":                              "@agent-facets/cli-linux-x64",
		"/@agent-facets/cli-linux-x64/-/cli-linux-x64-1.0.0.tgz":    "@agent-facets/cli-linux-x64",
		"/agent-facets":                                             "agent-facets",
		"/agent-facets/-/agent-facets-1.0.0.tgz":                    "agent-facets",
		"/-/package/@agent-facets%2fcli-linux-x64/trust":            "@agent-facets/cli-linux-x64",
		"/-/package/@agent-facets%2fcli-linux-x64/trust/abc":        "@agent-facets/cli-linux-x64",
		"/-/package/agent-facets/trust":                             "agent-facets",
		"/-/npm/v1/oidc/token/exchange/package/@agent-facets%2fcli": "@agent-facets/cli",
		"/-/stage/package/@agent-facets%2fcli-linux-x64":            "@agent-facets/cli-linux-x64",
		"/-/stage/package/agent-facets":                             "agent-facets",
		"/-/stage":                                                  "",
		"/-/whoami":                                                 "",
		"/-/v1/search":                                              "",
		"/":                                                         "",
		"/-/package/agent-facets/dist-tags":                         "agent-facets",
	} {
		assert.Equal(t, want, registrytest.PackageOf(path), path)
	}
}

// publish publishes a package of the given name and version through the bed
// with the real npm CLI.
func publish(t *testing.T, cli npm.CLI, name, version string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"),
		[]byte(`{"name":"`+name+`","version":"`+version+`"}`), 0o644))
	_, err := cli.Run(t.Context(), dir, "publish", "--access", "public")
	require.NoError(t, err)
}

// The stand-in's trusted-publisher API as the real npm CLI (npm trust) sees
// it: create, list, a second create refused, revoke; a one-time password and
// a login needed; a package that does not exist is 404.
func TestTrustAPIWithTheRealNPM(t *testing.T) {
	bed := testenv.RegistryBed(t)
	maintainer := bed.NPM(t, true)
	if v, err := maintainer.Version(t.Context()); err != nil || v.LessThan(mustVersion(t, npm.TrustMinVersion)) {
		testenv.Missing(t, "npm >= "+npm.TrustMinVersion, "npm install -g npm@11")
	}
	const pkg = "@agent-facets/cli-linux-x64"
	publish(t, maintainer, pkg, "0.0.1")
	withOTP := maintainer.With("NPM_CONFIG_OTP=" + registrytest.DefaultOTP)
	ctx, dir := t.Context(), t.TempDir()
	var out strings.Builder
	stdio := npm.Stdio{Out: &out, Err: &out}
	want := circleci.Facets()

	list, err := withOTP.TrustList(ctx, dir, pkg)
	require.NoError(t, err)
	assert.Empty(t, list)

	require.NoError(t, withOTP.TrustCreate(ctx, dir, stdio, want.TrustArgs(pkg)...), out.String())
	list, err = withOTP.TrustList(ctx, dir, pkg)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Empty(t, want.Diff(list[0], circleci.Permissions()...), "npm trust list reads back what npm trust circleci set")
	assert.NotEmpty(t, list[0].ID)
	stored := bed.Front.TrustOf(pkg)
	require.Len(t, stored, 1)
	assert.Equal(t, want.OrgID, stored[0].Claims[registrytest.ClaimOrgID])
	assert.Equal(t, []any{want.ContextIDs[0]}, stored[0].Claims[registrytest.ClaimContextIDs])
	assert.Equal(t, []string{"createPackage", "createStagedPackage"}, stored[0].Permissions, "--allow-publish --allow-stage-publish")

	err = withOTP.TrustCreate(ctx, dir, stdio, want.TrustArgs(pkg)...)
	assert.Equal(t, "E409", npm.ErrorCode(err), "one configuration per package: %v", err)

	_, err = maintainer.TrustList(ctx, dir, pkg)
	assert.ErrorIs(t, err, npm.ErrOTP, "no one-time password")
	_, err = maintainer.With("NPM_CONFIG_OTP=000000").TrustList(ctx, dir, pkg)
	assert.ErrorIs(t, err, npm.ErrOTP, "a wrong one-time password")
	_, err = bed.NPM(t, false).With("NPM_CONFIG_OTP="+registrytest.DefaultOTP).TrustList(ctx, dir, pkg)
	assert.ErrorIs(t, err, npm.ErrNotLoggedIn)
	_, err = withOTP.TrustList(ctx, dir, "@agent-facets/cli-nothing")
	assert.ErrorIs(t, err, npm.ErrNoPackage)

	require.NoError(t, withOTP.TrustRevoke(ctx, dir, stdio, pkg, list[0].ID))
	list, err = withOTP.TrustList(ctx, dir, pkg)
	require.NoError(t, err)
	assert.Empty(t, list)
}

// Everything else passes through to the registry behind, with tarball URLs
// that lead back through the stand-in.
func TestPassThrough(t *testing.T) {
	bed := testenv.RegistryBed(t)
	publish(t, bed.NPM(t, true), "@agent-facets/hello", "1.0.0")
	var doc struct {
		Versions map[string]struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		} `json:"versions"`
	}
	resp, err := http.Get(bed.URL + "@agent-facets%2fhello")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.True(t, strings.HasPrefix(doc.Versions["1.0.0"].Dist.Tarball, bed.URL), doc.Versions["1.0.0"].Dist.Tarball)

	var puts []registrytest.Request
	for _, r := range bed.Front.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r)
		}
	}
	require.Len(t, puts, 1, "the stand-in records requests")
	assert.Equal(t, "@agent-facets/hello", puts[0].Package)
	assert.Equal(t, http.StatusCreated, puts[0].Status)
}

func TestFaults(t *testing.T) {
	bed := testenv.RegistryBed(t)
	publish(t, bed.NPM(t, true), "@agent-facets/hello", "1.0.0")
	publish(t, bed.NPM(t, true), "agent-facets", "1.0.0")
	get := func(name string) (int, http.Header, error) {
		resp, err := http.Get(bed.URL + strings.Replace(name, "/", "%2f", 1))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header, nil
	}

	remove := bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Package: "@agent-facets/hello", Times: 2})
	for _, want := range []int{500, 500, 200} {
		code, _, err := get("@agent-facets/hello")
		require.NoError(t, err)
		assert.Equal(t, want, code)
	}
	code, _, err := get("agent-facets")
	require.NoError(t, err)
	assert.Equal(t, 200, code, "only the chosen package fails")
	remove()

	remove = bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status429, RetryAfter: 7})
	code, header, err := get("agent-facets")
	require.NoError(t, err)
	assert.Equal(t, 429, code)
	assert.Equal(t, "7", header.Get("Retry-After"))
	remove()

	remove = bed.Front.Inject(registrytest.Fault{Kind: registrytest.Drop, Method: http.MethodGet})
	_, _, err = get("agent-facets")
	assert.Error(t, err, "the connection is dropped")
	remove()

	remove = bed.Front.Inject(registrytest.Fault{Kind: registrytest.Status500, Share: 0.2})
	failed := 0
	for range 200 {
		code, _, err := get("agent-facets")
		require.NoError(t, err)
		if code == 500 {
			failed++
		}
	}
	remove()
	assert.InDelta(t, 40, failed, 20, "about a fifth fail")
	faults := 0
	for _, r := range bed.Front.Requests() {
		if r.Fault {
			faults++
		}
	}
	assert.Equal(t, 2+1+1+failed, faults, "faults are recorded as such")
}

func mustVersion(t *testing.T, v string) *semver.Version {
	t.Helper()
	return semver.MustParse(v)
}

// The OIDC exchange as the real npm drives it from a CircleCI job: with a
// token from the circleci stand-in in NPM_ID_TOKEN, npm exchanges it for a
// token of that one package and publishes; a package whose trusted publisher
// does not match is refused (404 "package not found"), and npm says so only
// at verbose level; a publisher made on the website without "npm publish"
// ticked passes the exchange and is refused the publish.
func TestExchangeWithTheRealNPM(t *testing.T) {
	bed := testenv.RegistryBed(t)
	p := circleci.Facets()
	job := bed.CircleCIJob(t, p)
	pkgs := []string{"@agent-facets/cli-linux-x64", "@agent-facets/cli-darwin-arm64", "agent-facets", "@agent-facets/cli-win32-x64", "@agent-facets/cli-win32-arm64"}
	bed.Publish(t, "0.0.1", pkgs...)
	bed.Front.SetTrust(pkgs[0], registrytest.TrustFor(p))
	other := p
	other.ProjectID = "99999999-9999-4999-8999-999999999999"
	bed.Front.SetTrust(pkgs[1], registrytest.TrustFor(other))
	bed.Front.SetTrust(pkgs[3], registrytest.WebTrust(p, false))
	bed.Front.SetTrust(pkgs[4], registrytest.WebTrust(p, true))

	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	minter := circleci.Minter{Env: append(os.Environ(), job.Env...)}
	// npm as CircleCI runs it: no login at all, CIRCLECI set.
	ci := bed.NPM(t, false).With(job.Env...)
	publishWith := func(t *testing.T, name, version string, extra ...string) (string, error) {
		token, err := minter.Mint(t.Context(), circleci.Audience(reg.Host()))
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"`+name+`","version":"`+version+`"}`), 0o644))
		var out syncbuf.Buffer
		err = ci.With("NPM_ID_TOKEN="+token).RunAttached(t.Context(), dir, npm.Stdio{Out: &out, Err: &out},
			append([]string{"publish", "--access", "public", "--loglevel", "verbose"}, extra...)...)
		return out.String(), err
	}

	out, err := publishWith(t, pkgs[0], "1.0.0")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Successfully retrieved and set token")
	assert.Equal(t, 1, bed.Front.Exchanged())

	out, err = publishWith(t, pkgs[1], "1.0.0")
	require.Error(t, err)
	assert.Contains(t, out, "Failed token exchange request with body message: OIDC token exchange error - package not found\n")

	out, err = publishWith(t, pkgs[0], "1.0.1", "--dry-run")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Successfully retrieved and set token", "the exchange happens in a dry run too: a safe probe")

	// Stage-only: the exchange passes, the publish does not; with "npm
	// publish" ticked on the website, it does.
	out, err = publishWith(t, pkgs[3], "1.0.0")
	require.Error(t, err)
	assert.Contains(t, out, "Successfully retrieved and set token")
	assert.Contains(t, out, "403 Forbidden - PUT "+bed.URL+"@agent-facets%2fcli-win32-x64 - OIDC permission denied for this action")
	out, err = publishWith(t, pkgs[4], "1.0.0")
	require.NoError(t, err, out)

	// The token is for one package only.
	bed.Front.SetTrust(pkgs[2], registrytest.TrustFor(p))
	token, err := minter.Mint(t.Context(), circleci.Audience(reg.Host()))
	require.NoError(t, err)
	status, body := exchange(t, bed.URL, "agent-facets", "Bearer "+token)
	require.Equal(t, http.StatusCreated, status, body)
	put, err := http.NewRequestWithContext(t.Context(), http.MethodPut, bed.URL+"@agent-facets%2fcli-linux-x64", strings.NewReader("{}"))
	require.NoError(t, err)
	put.Header.Set("Authorization", "Bearer "+body["token"].(string))
	resp2, err := http.DefaultClient.Do(put)
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp2.StatusCode, "a token of agent-facets cannot publish another package")
}

// exchange posts to the stand-in's OIDC exchange for pkg with the given
// Authorization header ("" for none) and returns the answer's status and
// body.
func exchange(t *testing.T, base, pkg, auth string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"-/npm/v1/oidc/token/exchange/package/"+strings.Replace(pkg, "/", "%2f", 1), nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("npm-command", "publish")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// refusal is the body of the exchange's refusals: one of four messages, and
// nothing else.
func refusal(what string) map[string]any {
	return map[string]any{"message": "OIDC token exchange error - " + what}
}

// The exchange answers what npmjs.com answers, for each way a token can be
// wrong: 400 for a request without a JWT, 401 for a JWT that proves no
// CircleCI job (signature, issuer, audience, expiry, older than 5 minutes),
// 404 "package not found" for every mismatch of package, publisher or job.
func TestExchangeRefusals(t *testing.T) {
	bed := testenv.RegistryBed(t)
	p := circleci.Facets()
	bed.Publish(t, "0.0.1", "agent-facets", "@agent-facets/untrusted", "@agent-facets/staged")
	bed.Front.SetTrust("agent-facets", registrytest.TrustFor(p))
	bed.Front.SetTrust("@agent-facets/staged", registrytest.WebTrust(p, false))
	signer, err := registrytest.NewSigner(p.Issuer())
	require.NoError(t, err)
	bed.Front.TrustIssuer(signer)
	stranger, err := registrytest.NewSigner(p.Issuer())
	require.NoError(t, err)
	untrusted, err := registrytest.NewSigner("https://oidc.circleci.com/org/66666666-6666-4666-8666-666666666666")
	require.NoError(t, err)
	// A trusted issuer of another organization, whose token claims this
	// project: the organization is the issuer's.
	const otherOrgID = "55555555-5555-4555-8555-555555555555"
	otherOrg, err := registrytest.NewSigner("https://oidc.circleci.com/org/" + otherOrgID)
	require.NoError(t, err)
	bed.Front.TrustIssuer(otherOrg)
	now := time.Now()
	base := func() jwt.MapClaims {
		c := jwt.MapClaims{"aud": "npm:127.0.0.1", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
		for k, v := range registrytest.JobClaims(p, "refs/tags/agent-facets@1.0.0") {
			c[k] = v
		}
		return c
	}
	minutesAgo := func(m float64) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) {
			at := now.Add(-time.Duration(m * float64(time.Minute))).Unix()
			c["iat"], c["nbf"] = at, at
		}
	}
	signed := func(signer *registrytest.Signer, change func(jwt.MapClaims)) string {
		claims := base()
		change(claims)
		token, err := signer.Sign(claims)
		require.NoError(t, err)
		return token
	}
	valid := signed(signer, func(jwt.MapClaims) {})
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, base()).SignedString([]byte("a shared secret"))
	require.NoError(t, err)

	tests := []struct {
		name string
		pkg  string
		auth string
		want int
	}{
		{"no Authorization", "agent-facets", "", http.StatusBadRequest},
		{"not a bearer token", "agent-facets", "Basic " + valid, http.StatusBadRequest},
		{"an empty bearer token", "agent-facets", "Bearer  ", http.StatusBadRequest},
		{"not a JWT", "agent-facets", "Bearer npm_0123456789", http.StatusBadRequest},
		{"a JWT cut short", "agent-facets", "Bearer " + valid[:strings.LastIndexByte(valid, '.')], http.StatusBadRequest},

		{"another audience", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c["aud"] = "npm:registry.npmjs.org" }), http.StatusUnauthorized},
		{"CircleCI's default audience, the organization", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c["aud"] = p.OrgID }), http.StatusUnauthorized},
		{"expired", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), http.StatusUnauthorized},
		{"no expiry", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { delete(c, "exp") }), http.StatusUnauthorized},
		{"not valid yet", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), http.StatusUnauthorized},
		{"no iat", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { delete(c, "iat") }), http.StatusUnauthorized},
		{"issued in the future", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }), http.StatusUnauthorized},
		{"issued 6 minutes ago", "agent-facets", "Bearer " + signed(signer, minutesAgo(6)), http.StatusUnauthorized},
		{"unknown key", "agent-facets", "Bearer " + signed(stranger, func(jwt.MapClaims) {}), http.StatusUnauthorized},
		{"untrusted issuer", "agent-facets", "Bearer " + signed(untrusted, func(c jwt.MapClaims) { c["iss"] = untrusted.Issuer }), http.StatusUnauthorized},
		{"HS256", "agent-facets", "Bearer " + hs256, http.StatusUnauthorized},

		{"no such package", "agent-facets-nothing", "Bearer " + valid, http.StatusNotFound},
		{"no trusted publisher", "@agent-facets/untrusted", "Bearer " + valid, http.StatusNotFound},
		{"SSH rerun", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimSSHRerun] = true }), http.StatusNotFound},
		{"no word on SSH reruns", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { delete(c, registrytest.ClaimSSHRerun) }), http.StatusNotFound},
		{"another project", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimProjectID] = "x" }), http.StatusNotFound},
		{"another pipeline", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimPipelineDefinitionID] = "x" }), http.StatusNotFound},
		{"another VCS origin", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimVCSOrigin] = "github.com/someone/facets" }), http.StatusNotFound},
		{"not in the context", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimContextIDs] = []any{} }), http.StatusNotFound},
		{"another organization", "agent-facets", "Bearer " + signed(otherOrg, func(c jwt.MapClaims) { c["iss"], c[registrytest.ClaimOrgID] = otherOrg.Issuer, otherOrgID }), http.StatusNotFound},
		{"another organization's claim", "agent-facets", "Bearer " + signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimOrgID] = otherOrgID }), http.StatusNotFound},

		{"valid", "agent-facets", "Bearer " + valid, http.StatusCreated},
		{"issued 4 minutes ago", "agent-facets", "Bearer " + signed(signer, minutesAgo(4)), http.StatusCreated},
		{"a stage-only publisher", "@agent-facets/staged", "Bearer " + valid, http.StatusCreated},
	}
	messages := map[int]string{400: "bad request", 401: "unauthorized", 404: "package not found"}
	for _, tt := range tests {
		status, body := exchange(t, bed.URL, tt.pkg, tt.auth)
		if !assert.Equal(t, tt.want, status, "%s: %v", tt.name, body) {
			continue
		}
		if tt.want != http.StatusCreated {
			assert.Equal(t, refusal(messages[tt.want]), body, tt.name)
			continue
		}
		assert.Equal(t, "oidc", body["token_type"], tt.name)
		assert.Regexp(t, `^npm_\w{36}$`, body["token"], tt.name)
		created, err := time.Parse(time.RFC3339, fmt.Sprint(body["created"]))
		require.NoError(t, err, tt.name)
		expires, err := time.Parse(time.RFC3339, fmt.Sprint(body["expires"]))
		require.NoError(t, err, tt.name)
		assert.Equal(t, time.Hour, expires.Sub(created), tt.name)
		assert.Len(t, body, 4, "%s: token_type, token, created, expires", tt.name)
	}

	// Not a POST, with a token that a POST exchanges.
	get, err := http.NewRequestWithContext(t.Context(), http.MethodGet, bed.URL+"-/npm/v1/oidc/token/exchange/package/agent-facets", nil)
	require.NoError(t, err)
	get.Header.Set("Authorization", "Bearer "+valid)
	resp, err := http.DefaultClient.Do(get)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, refusal("bad request"), body)

	// A careless registry quotes the token it refused.
	bed.Front.LeakTokensInErrors(true)
	token := signed(signer, func(c jwt.MapClaims) { c[registrytest.ClaimSSHRerun] = true })
	status, body := exchange(t, bed.URL, "agent-facets", "Bearer "+token)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, map[string]any{"message": "OIDC token exchange error - package not found (ID token " + token + ")"}, body)
}

// A registry behind that cannot say whether the package exists makes the
// exchange answer 500 "internal server error".
func TestExchangeServerError(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer upstream.Close()
	front, p, token := exchangeFront(t, upstream.URL, registrytest.Options{})
	front.SetTrust("agent-facets", registrytest.TrustFor(p))
	status, body := exchange(t, front.URL, "agent-facets", "Bearer "+token(t))
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, refusal("internal server error"), body)
}

// exchangeFront starts a stand-in in front of upstream whose exchange trusts
// a signer of the project's organization; token mints a valid ID token for
// it.
func exchangeFront(t *testing.T, upstream string, opts registrytest.Options) (*registrytest.Server, circleci.Publisher, func(*testing.T) string) {
	t.Helper()
	opts.Upstream = upstream
	front, err := registrytest.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = front.Close() })
	p := circleci.Facets()
	signer, err := registrytest.NewSigner(p.Issuer())
	require.NoError(t, err)
	front.TrustIssuer(signer)
	return front, p, func(t *testing.T) string {
		now := time.Now() // the JWT checks are on the real clock
		claims := jwt.MapClaims{"aud": "npm:127.0.0.1", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		for k, v := range registrytest.JobClaims(p, "refs/tags/agent-facets@1.0.0") {
			claims[k] = v
		}
		token, err := signer.Sign(claims)
		require.NoError(t, err)
		return token
	}
}

// The exchange's rate limit is a window on the stand-in's clock: at most n
// exchanges in any window; one more gets 429 with Retry-After, in whole
// seconds rounded up, until the oldest leaves the window; other requests are
// not limited.
func TestExchangeRateLimit(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/agent-facets" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"agent-facets"}`)
	}))
	defer upstream.Close()
	clock := registrytest.NewClock(time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC))
	front, p, token := exchangeFront(t, upstream.URL, registrytest.Options{Now: clock.Now})
	front.SetTrust("agent-facets", registrytest.TrustFor(p))
	front.LimitExchanges(3, 10*time.Second)
	post := func() (int, string, map[string]any) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, front.URL+"-/npm/v1/oidc/token/exchange/package/agent-facets", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token(t))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, resp.Header.Get("Retry-After"), body
	}
	steps := []struct {
		advance    time.Duration // before the request
		want       int
		retryAfter string
	}{
		{0, http.StatusCreated, ""},                                // t=0
		{time.Second, http.StatusCreated, ""},                      // t=1
		{time.Second, http.StatusCreated, ""},                      // t=2
		{0, http.StatusTooManyRequests, "8"},                       // t=2: the first leaves at 10
		{2500 * time.Millisecond, http.StatusTooManyRequests, "6"}, // t=4.5: 5.5 s, rounded up
		{5500 * time.Millisecond, http.StatusCreated, ""},          // t=10: the first has left
		{0, http.StatusTooManyRequests, "1"},                       // t=10: the second leaves at 11
		{999 * time.Millisecond, http.StatusTooManyRequests, "1"},  // t=10.999: 1 ms, rounded up
		{time.Millisecond, http.StatusCreated, ""},                 // t=11
	}
	for i, step := range steps {
		clock.Advance(step.advance)
		status, retryAfter, body := post()
		assert.Equal(t, step.want, status, "step %d: %v", i, body)
		assert.Equal(t, step.retryAfter, retryAfter, "step %d", i)
		if status == http.StatusTooManyRequests {
			assert.Equal(t, map[string]any{"error": "Too Many Requests"}, body, "step %d", i)
		}
	}
	// Other requests are not limited.
	resp, err := http.Get(front.URL + "agent-facets")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	var limited, passed int
	for _, r := range front.Requests() {
		switch {
		case r.Limited:
			limited++
			assert.Equal(t, http.StatusTooManyRequests, r.Status)
			assert.False(t, r.Fault, "a limit is no injected fault")
			assert.Equal(t, "agent-facets", r.Package)
		case r.Method == http.MethodPost:
			passed++
			assert.Equal(t, http.StatusCreated, r.Status)
		}
	}
	assert.Equal(t, 4, limited, "the refused exchanges are recorded as limited")
	assert.Equal(t, 5, passed)
	assert.Equal(t, 5, front.Exchanged())

	// No limit.
	front.LimitExchanges(0, 0)
	for range 4 {
		status, _, body := post()
		assert.Equal(t, http.StatusCreated, status, body)
	}
}

// A publish whose client leaves before the answer is carried out upstream all
// the same, and Settle returns once it is answered and recorded: a rerun
// that starts after Settle sees every publish of the run it follows.
func TestPublishOutlivesItsClient(t *testing.T) {
	t.Parallel()
	got, release := make(chan struct{}), make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(got)
		<-release
		w.WriteHeader(http.StatusCreated)
	}))
	defer upstream.Close()
	front, err := registrytest.Start(registrytest.Options{Upstream: upstream.URL, UpstreamToken: "t"})
	require.NoError(t, err)
	defer front.Close()

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, front.URL+"@agent-facets%2fcli-linux-x64", strings.NewReader(`{}`))
	require.NoError(t, err)
	failed := make(chan error)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-got
	cancel()
	require.ErrorIs(t, <-failed, context.Canceled)
	close(release)
	front.Settle()
	requests := front.Requests()
	require.Len(t, requests, 1, "recorded before Settle returned")
	assert.Equal(t, http.StatusCreated, requests[0].Status, "carried out upstream")
}

// The server never closes a connection that has not carried a request yet:
// Go's transport keeps such connections to use later.
func TestUnusedConnectionsStayOpen(t *testing.T) {
	t.Parallel()
	front, err := registrytest.Start(registrytest.Options{Upstream: "http://127.0.0.1:9/"})
	require.NoError(t, err)
	defer front.Close()
	u, err := url.Parse(front.URL)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	// Quiet for longer than the 30 s header deadline the server once had.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(40*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the server closed the unused connection")
	assert.True(t, ne.Timeout(), "%v", err)
}

// The CDN in front of the package documents serves a plain read from a copy
// up to max-age old, which a publish does not purge and a request's
// no-cache does not get past; ?write=true reads the origin.
func TestCDN(t *testing.T) {
	bed := testenv.RegistryBed(t)
	maintainer := bed.NPM(t, true)
	const pkg = "@agent-facets/cdn"
	publish(t, maintainer, pkg, "1.0.0")
	clock := registrytest.NewClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	bed.Front.SetClock(clock.Now)
	bed.Front.SetCDN(5 * time.Minute)

	type answer struct {
		status   int
		versions []string
		header   http.Header
	}
	get := func(query string, header ...string) answer {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, bed.URL+"@agent-facets%2fcdn"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var doc struct {
			Versions map[string]json.RawMessage `json:"versions"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		a := answer{status: resp.StatusCode, header: resp.Header}
		for v := range doc.Versions {
			a.versions = append(a.versions, v)
		}
		slices.Sort(a.versions)
		return a
	}

	first := get("")
	assert.Equal(t, []string{"1.0.0"}, first.versions)
	assert.Equal(t, "public, max-age=300", first.header.Get("Cache-Control"))
	// A user's npm reads it too (the copies are kept by Accept header, as
	// npm view asks for the full document).
	_, err := maintainer.Run(t.Context(), t.TempDir(), "view", pkg, "versions")
	require.NoError(t, err)
	publish(t, maintainer, pkg, "1.0.1")
	clock.Advance(4 * time.Minute)
	stale := get("", "Cache-Control", "no-cache", "Pragma", "no-cache")
	assert.Equal(t, []string{"1.0.0"}, stale.versions, "the copy, though the request asks for none")
	assert.Equal(t, "240", stale.header.Get("Age"))
	assert.Equal(t, []string{"1.0.0", "1.0.1"}, get("?write=true").versions, "the origin")

	reg, err := registry.New(bed.URL)
	require.NoError(t, err)
	reg.Retry.Now = clock.Now
	origin, err := reg.Packument(t.Context(), pkg)
	require.NoError(t, err)
	assert.Contains(t, origin.Versions, "1.0.1", "the client's deciding reads go to the origin")
	served, err := reg.Served(t.Context(), pkg)
	require.NoError(t, err)
	assert.NotContains(t, served.Versions, "1.0.1")
	assert.Equal(t, 5*time.Minute, served.MaxAge)

	// npm install reads the CDN too.
	_, err = maintainer.Run(t.Context(), t.TempDir(), "view", pkg+"@1.0.1", "version", "--prefer-online")
	assert.Error(t, err, "npm is served the copy: no 1.0.1 yet")

	clock.Advance(time.Minute)
	assert.Equal(t, []string{"1.0.0", "1.0.1"}, get("").versions, "max-age has passed: a fresh copy")
	out, err := maintainer.Run(t.Context(), t.TempDir(), "view", pkg+"@1.0.1", "version", "--prefer-online")
	require.NoError(t, err)
	assert.Equal(t, "1.0.1", strings.TrimSpace(string(out)))

	// A package the origin does not have yet is a 404 for as long.
	missing := func() int {
		resp, err := http.Get(bed.URL + "@agent-facets%2fnew")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusNotFound, missing())
	publish(t, maintainer, "@agent-facets/new", "1.0.0")
	assert.Equal(t, http.StatusNotFound, missing(), "the 404 is kept too")
	clock.Advance(5 * time.Minute)
	assert.Equal(t, http.StatusOK, missing())
	assert.Positive(t, bed.Front.CDNHits())
}
