package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/registrytest"
)

// job writes the stand-in's configuration for a job of the project's
// pipeline and returns its signer and an environment naming it, with env
// added.
func job(t *testing.T, change func(*registrytest.StandInConfig), env ...string) (*registrytest.Signer, func(string) string) {
	t.Helper()
	p := circleci.Facets()
	signer, err := registrytest.NewSigner(p.Issuer())
	require.NoError(t, err)
	dir := t.TempDir()
	path, err := registrytest.WriteStandInConfig(dir, signer, registrytest.JobClaims(p, "refs/heads/main"))
	require.NoError(t, err)
	if change != nil {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var cfg registrytest.StandInConfig
		require.NoError(t, json.Unmarshal(data, &cfg))
		change(&cfg)
		data, err = json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, data, 0o600))
	}
	vars := map[string]string{registrytest.StandInEnv: path}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return signer, func(k string) string { return vars[k] }
}

// mint runs the stand-in and returns the claims of the token it printed,
// checked with signer's key.
func mint(t *testing.T, signer *registrytest.Signer, getenv func(string) string, now time.Time, args ...string) jwt.MapClaims {
	t.Helper()
	var out strings.Builder
	require.NoError(t, run(append([]string{"run", "oidc", "get"}, args...), getenv, &out, now))
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimSpace(out.String()), claims, func(*jwt.Token) (any, error) { return &signer.Key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	require.NoError(t, err)
	return claims
}

var uuid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A token carries every claim CircleCI's do, with the organization as its
// audience unless --claims sets one.
func TestClaims(t *testing.T) {
	p := circleci.Facets()
	signer, getenv := job(t, nil)
	now := time.Now()
	claims := mint(t, signer, getenv, now)
	assert.Equal(t, p.Issuer(), claims["iss"])
	assert.Equal(t, p.OrgID, claims["aud"], "CircleCI's default audience is the organization")
	assert.Equal(t, p.OrgID, claims[registrytest.ClaimOrgID])
	assert.Equal(t, p.ProjectID, claims[registrytest.ClaimProjectID])
	assert.Equal(t, p.PipelineDefinitionID, claims[registrytest.ClaimPipelineDefinitionID])
	assert.Equal(t, p.VCSOrigin, claims[registrytest.ClaimVCSOrigin])
	assert.Equal(t, "refs/heads/main", claims[registrytest.ClaimVCSRef])
	assert.Equal(t, []any{p.ContextIDs[0]}, claims[registrytest.ClaimContextIDs])
	assert.Equal(t, false, claims[registrytest.ClaimSSHRerun])
	for _, c := range []string{registrytest.ClaimPipelineID, registrytest.ClaimWorkflowID, registrytest.ClaimJobID} {
		assert.Regexp(t, uuid, claims[c], c)
	}
	assert.Equal(t, "org/"+p.OrgID+"/project/"+p.ProjectID+"/user/00000000-0000-4000-8000-000000000000", claims["sub"])
	assert.InDelta(t, now.Unix(), claims["iat"], 0)
	assert.InDelta(t, now.Add(time.Hour).Unix(), claims["exp"], 0)
	again := mint(t, signer, getenv, now)
	assert.NotEqual(t, claims["jti"], again["jti"], "every token its own")
	assert.Equal(t, claims[registrytest.ClaimJobID], again[registrytest.ClaimJobID], "one job")

	claims = mint(t, signer, getenv, now, "--claims", `{"aud":"npm:registry.npmjs.org"}`)
	assert.Equal(t, "npm:registry.npmjs.org", claims["aud"])
	claims = mint(t, signer, getenv, now, "--claims", `{}`)
	assert.Equal(t, p.OrgID, claims["aud"])
}

// The job's ref is its tag's or its branch's, as CircleCI sets both.
func TestRef(t *testing.T) {
	signer, getenv := job(t, nil, "CIRCLE_TAG=agent-facets@1.2.3", "CIRCLE_BRANCH=")
	assert.Equal(t, "refs/tags/agent-facets@1.2.3", mint(t, signer, getenv, time.Now())[registrytest.ClaimVCSRef])
	signer, getenv = job(t, nil, "CIRCLE_BRANCH=release-1.x")
	assert.Equal(t, "refs/heads/release-1.x", mint(t, signer, getenv, time.Now())[registrytest.ClaimVCSRef])
}

// A token minted as if some time ago (AgeSeconds).
func TestAge(t *testing.T) {
	signer, getenv := job(t, func(c *registrytest.StandInConfig) { c.AgeSeconds = 360 })
	now := time.Now()
	claims := mint(t, signer, getenv, now)
	assert.InDelta(t, now.Add(-6*time.Minute).Unix(), claims["iat"], 0)
	assert.InDelta(t, now.Add(-6*time.Minute).Unix(), claims["nbf"], 0)
	assert.InDelta(t, now.Add(54*time.Minute).Unix(), claims["exp"], 0)
}

// A garbled token is three segments, no JWT.
func TestGarble(t *testing.T) {
	_, getenv := job(t, func(c *registrytest.StandInConfig) { c.Garble = true })
	var out strings.Builder
	require.NoError(t, run([]string{"run", "oidc", "get"}, getenv, &out, time.Now()))
	assert.Equal(t, "x.y.z\n", out.String())
}

// Only "aud" may be customized; anything else is refused, and no token is
// printed.
func TestOnlyAudience(t *testing.T) {
	_, getenv := job(t, nil)
	for claims, want := range map[string]string{
		`{"aud":"npm:x","sub":"me"}`:                      `--claims: only the "aud" claim can be customized, not "sub"`,
		`{"oidc.circleci.com/ssh-rerun":false,"iss":"x"}`: `--claims: only the "aud" claim can be customized, not "iss", "oidc.circleci.com/ssh-rerun"`,
		`{"aud":""}`: `--claims: "aud" must be a non-empty string`,
		`{"aud":1}`:  `--claims: "aud" must be a non-empty string`,
		`["aud"]`:    `--claims must be a JSON object`,
	} {
		var out strings.Builder
		err := run([]string{"run", "oidc", "get", "--claims", claims}, getenv, &out, time.Now())
		require.Error(t, err, claims)
		assert.Contains(t, err.Error(), want, claims)
		assert.Empty(t, out.String(), claims)
	}
}

// Outside a job (no configuration) there is no token, as with the real one.
func TestOutsideAJob(t *testing.T) {
	var out strings.Builder
	err := run([]string{"run", "oidc", "get"}, func(string) string { return "" }, &out, time.Now())
	require.EqualError(t, err, "OIDC tokens can only be generated inside a CircleCI job")
	assert.Empty(t, out.String())
}
