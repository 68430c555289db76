package registrytest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/testenv"
)

// answer is a response of the stand-in, its body read.
type answer struct {
	status int
	header http.Header
	body   map[string]string
}

// get sends GET url with the given headers ("Name: value").
func get(t *testing.T, url string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && strings.HasPrefix(string(data), "{") {
		require.NoError(t, json.Unmarshal(data, &a.body), string(data))
	}
	return a
}

// The second factor the trust API and a user's publish ask for: an
// authenticator's code, unless the account has none, or the token of a web
// login the user approved, good once; npm's web requests are told where to
// log in, its legacy ones only that a one-time password is needed.
func TestSecondFactor(t *testing.T) {
	bed := testenv.RegistryBed(t)
	const pkg = "@agent-facets/cli-linux-x64"
	publish(t, bed.NPM(t, true), pkg, "0.0.1")
	clock := registrytest.NewClock(time.Now())
	bed.Front.SetClock(clock.Now)
	bed.Front.SetWebLoginRetryAfter(250 * time.Millisecond)
	trust := bed.URL + "-/package/@agent-facets%2fcli-linux-x64/trust"
	user := "Authorization: Bearer " + bed.Verdaccio.Token
	const web, legacy = "npm-auth-type: web", "npm-auth-type: legacy"

	a := get(t, trust, user, legacy)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "OTP", a.header.Get("WWW-Authenticate"))
	assert.Equal(t, map[string]string{"error": "This operation requires a one-time password."}, a.body, "legacy: no web login")
	assert.Equal(t, http.StatusOK, get(t, trust, user, legacy, "npm-otp: "+registrytest.DefaultOTP).status, "the authenticator's code")
	assert.Equal(t, http.StatusOK, get(t, trust, user, web, "npm-otp: "+registrytest.DefaultOTP).status, "the code, whatever the auth type")
	assert.Empty(t, bed.Front.WebLogins())

	bed.Front.SetAuthenticator("") // a security key or a passkey only
	assert.Equal(t, http.StatusUnauthorized, get(t, trust, user, legacy, "npm-otp: "+registrytest.DefaultOTP).status, "no authenticator: no code passes")
	a = get(t, trust, user, web)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "OTP", a.header.Get("WWW-Authenticate"), "npm reports EOTP")
	assert.Equal(t, "This operation requires a one-time password.", a.body["error"])
	logins := bed.Front.WebLogins()
	require.Len(t, logins, 1)
	l := logins[0]
	assert.Equal(t, l.AuthURL, a.body["authUrl"])
	assert.Equal(t, l.DoneURL, a.body["doneUrl"])
	assert.Equal(t, "GET /-/package/@agent-facets%2fcli-linux-x64/trust", l.Request)
	assert.False(t, l.Approved)
	assert.Empty(t, l.Token)

	// Not approved yet: come back later.
	done := get(t, l.DoneURL)
	assert.Equal(t, http.StatusAccepted, done.status)
	assert.Equal(t, "0.25", done.header.Get("Retry-After"), "seconds, as npm reads it")
	assert.Equal(t, map[string]string{}, done.body, "a JSON body: npm parses it before looking at the status")
	assert.Equal(t, http.StatusNotFound, get(t, bed.URL+"-/v1/done?authId=nothing").status)

	// The user opens the page and approves.
	assert.Equal(t, http.StatusOK, get(t, l.AuthURL).status)
	done = get(t, l.DoneURL)
	require.Equal(t, http.StatusOK, done.status)
	token := done.body["token"]
	require.NotEmpty(t, token)
	assert.Equal(t, token, bed.Front.WebLogins()[0].Token, "listed for tests that scan for it")
	assert.NotContains(t, token, l.ID, "not to be guessed from the URLs")

	assert.Equal(t, http.StatusOK, get(t, trust, user, web, "npm-otp: "+token).status, "the web login's token")
	assert.True(t, bed.Front.WebLogins()[0].Used)
	a = get(t, trust, user, web, "npm-otp: "+token)
	assert.Equal(t, http.StatusUnauthorized, a.status, "good once")
	assert.NotEmpty(t, a.body["authUrl"], "and a new login is offered")

	// A token unused for too long expires.
	l = bed.Front.WebLogins()[1]
	require.NoError(t, bed.Front.ApproveWebLogin(l.ID))
	token = get(t, l.DoneURL).body["token"]
	clock.Advance(6 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, get(t, trust, user, web, "npm-otp: "+token).status, "expired")
	require.Error(t, bed.Front.ApproveWebLogin("nothing"))

	// Unattended: every login approved as it starts.
	bed.Front.ApproveWebLogins(true)
	a = get(t, trust, user, web)
	require.Equal(t, http.StatusUnauthorized, a.status)
	token = get(t, a.body["doneUrl"]).body["token"]
	assert.Equal(t, http.StatusOK, get(t, trust, user, web, "npm-otp: "+token).status)

	// A user's publish asks for the same, and a token serves only the login
	// that asked for it.
	bed.Front.RequireOTPForPublish(true)
	put := func(auth, otp string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, bed.URL+"@agent-facets%2fcli-linux-x64", strings.NewReader("{}"))
		require.NoError(t, err)
		req.Header.Set("Authorization", auth)
		req.Header.Set("npm-auth-type", "web")
		req.Header.Set("npm-otp", otp)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	a = get(t, trust, user, web)
	token = get(t, a.body["doneUrl"]).body["token"]
	resp := put("Bearer another-login", token)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "OTP", resp.Header.Get("WWW-Authenticate"), "another login's token")
	logins = bed.Front.WebLogins()
	assert.Equal(t, "PUT /@agent-facets%2fcli-linux-x64", logins[len(logins)-1].Request)
	assert.False(t, logins[len(logins)-2].Used)
}
