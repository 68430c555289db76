package circleci_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/circlecitest"
	"github.com/agent-facets/facets/scripts/retry"
)

const (
	token     = "CCIPAT_testtokenNeverPrinted_0123456789abcdef"
	contextID = "84962527-275c-495e-83c3-31c79cf1e181"
	projectID = "c7b3dd0a-e9b0-4e95-8345-fc984443e02b"
)

// standIn is CircleCI's API stand-in for t, accepting token.
func standIn(t *testing.T, opts circlecitest.Options) *circlecitest.Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = token
	}
	s, err := circlecitest.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waits records the retry waits instead of sleeping.
type waits []time.Duration

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	*w = append(*w, d)
	return nil
}

func api(s *circlecitest.Server, w *waits) *circleci.API {
	return &circleci.API{BaseURL: s.URL, Token: token, Retry: retry.Policy{
		For: 5 * time.Minute, Attempts: 3, Initial: time.Second, Max: 30 * time.Second, Sleep: w.sleep, Rand: func() float64 { return 0.5 }}}
}

var created = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestContextRestrictions(t *testing.T) {
	s := standIn(t, circlecitest.Options{})
	s.SetContext(contextID,
		circlecitest.Restriction{ID: "e1", Type: "expression", Pattern: circleci.LockExpression("agent-facets@"), Created: created},
		circlecitest.Restriction{ID: "p1", Type: "project", Pattern: projectID, Name: "facets"},
		circlecitest.Restriction{ID: "g1", Type: "group", Pattern: "5678", Name: "release-managers"},
	)
	var w waits
	rs, err := api(s, &w).ContextRestrictions(t.Context(), contextID)
	require.NoError(t, err)
	assert.Equal(t, []circleci.Restriction{
		{ID: "e1", Type: "expression", Pattern: `pipeline.git.tag starts-with "agent-facets@" and not job.ssh.enabled and not (pipeline.config_source starts-with "api")`, CreatedAt: created, ContextID: contextID},
		{ID: "p1", Type: "project", Pattern: projectID, Name: "facets", ContextID: contextID, SubjectID: projectID},
		{ID: "g1", Type: "group", Pattern: "5678", Name: "release-managers", ContextID: contextID, SubjectID: "5678"},
	}, rs)
	assert.Empty(t, w)
	assert.Equal(t, []circlecitest.Request{{Method: "GET", Path: "/api/v3/context-restrictions",
		Query: "filter%5Bcontext_id%5D=" + contextID, Auth: "bearer", Status: 200}}, s.Requests(),
		"one GET, the filter encoded, the token as a Bearer header")

	s.SetContext(contextID)
	rs, err = api(s, &w).ContextRestrictions(t.Context(), contextID)
	require.NoError(t, err)
	assert.Empty(t, rs, "a context without restrictions")
}

// A long list comes in pages, every one of them read.
func TestContextRestrictionsPages(t *testing.T) {
	s := standIn(t, circlecitest.Options{PageSize: 2})
	var want []string
	var rs []circlecitest.Restriction
	for i := range 5 {
		id := fmt.Sprintf("r%d", i)
		want = append(want, id)
		rs = append(rs, circlecitest.Restriction{ID: id, Type: "expression", Pattern: "true"})
	}
	s.SetContext(contextID, rs...)
	var w waits
	got, err := api(s, &w).ContextRestrictions(t.Context(), contextID)
	require.NoError(t, err)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, want, ids)
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "filter%5Bcontext_id%5D="+contextID+"&page%5Bcursor%5D=c4", reqs[2].Query)
}

// Refusals are not retried and say what to do; the token is in none of it.
func TestContextRestrictionsRefused(t *testing.T) {
	s := standIn(t, circlecitest.Options{})
	s.SetContext(contextID)
	s.LeakTokenInErrors(true) // a careless server quotes the token it was sent

	t.Run("401", func(t *testing.T) {
		var w waits
		a := api(s, &w)
		a.Token = "CCIPAT_anotherTokenAlsoNeverPrinted_0123456789"
		before := len(s.Requests())
		_, err := a.ContextRestrictions(t.Context(), contextID)
		require.ErrorIs(t, err, circleci.ErrUnauthorized)
		assert.Contains(t, err.Error(), "CircleCI refused the API token (GET "+s.URL+"context-restrictions?filter%5Bcontext_id%5D="+contextID+": 401 Unauthorized")
		assert.Contains(t, err.Error(), "it is wrong, expired or revoked; make a personal API token at CircleCI → User Settings → Personal API Tokens (https://app.circleci.com/settings/user/tokens)")
		assert.Contains(t, err.Error(), "Got: Bearer [redacted]", "the server's words, the token masked")
		assert.NotContains(t, err.Error(), a.Token)
		assert.Len(t, s.Requests(), before+1, "not retried")
		assert.Empty(t, w)
	})
	t.Run("404", func(t *testing.T) {
		var w waits
		other := "11111111-1111-4111-8111-111111111111"
		_, err := api(s, &w).ContextRestrictions(t.Context(), other)
		require.ErrorIs(t, err, circleci.ErrNoContext)
		assert.Contains(t, err.Error(), "context "+other+": no such context, or the token's user may not see it (GET ")
		assert.Contains(t, err.Error(), "404 Not Found: Context not found.): check the context ID, and use a token of a member of the organization that owns the context")
		assert.Empty(t, w, "not retried")
	})
	t.Run("bad input: nothing is sent", func(t *testing.T) {
		before := len(s.Requests())
		var w waits
		_, err := api(s, &w).ContextRestrictions(t.Context(), "release")
		assert.EqualError(t, err, `context ID "release" is not a UUID (see CircleCI → Organization Settings → Contexts → the context's page)`)
		a := api(s, &w)
		a.Token = "CCIPAT_pasted with a space"
		_, err = a.ContextRestrictions(t.Context(), contextID)
		assert.EqualError(t, err, "the CircleCI API token has spaces or characters that are not printable ASCII: copy the token alone")
		for _, base := range []string{"https://circleci.com/api/v3/?circle-token=x", "ftp://circleci.com/", "https://user:pass@circleci.com/api/v3/", "/api/v3/"} {
			a := api(s, &w)
			a.BaseURL = base
			_, err = a.ContextRestrictions(t.Context(), contextID)
			assert.ErrorContains(t, err, "want an http or https URL without credentials, query or fragment", base)
		}
		assert.Len(t, s.Requests(), before)
	})
	t.Run("the token is never shown", func(t *testing.T) {
		var w waits
		a := api(s, &w)
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(format, a), token, format)
		}
		assert.Equal(t, "CircleCI API "+s.URL, a.String())
	})
}

// Transient failures are retried, waiting as the server asks; those that
// last are reported after the attempts.
func TestContextRestrictionsTransient(t *testing.T) {
	s := standIn(t, circlecitest.Options{})
	s.SetContext(contextID, circlecitest.Restriction{ID: "e", Type: "expression", Pattern: "true"})
	tests := []struct {
		name  string
		fault circlecitest.Fault
		waits []time.Duration
	}{
		{"500 twice", circlecitest.Fault{Kind: circlecitest.Status500, Times: 2}, []time.Duration{time.Second, 2 * time.Second}},
		{"429 with Retry-After", circlecitest.Fault{Kind: circlecitest.Status429, RetryAfter: "7", Times: 1}, []time.Duration{7 * time.Second}},
		{"429 with a date", circlecitest.Fault{Kind: circlecitest.Status429, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), Times: 1}, nil},
		{"a dropped connection", circlecitest.Fault{Kind: circlecitest.Drop, Times: 1}, []time.Duration{time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remove := s.Inject(tt.fault)
			defer remove()
			var w waits
			a := api(s, &w)
			// A new connection for every request: Go's transport would
			// itself retry a GET whose reused connection was dropped.
			a.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			rs, err := a.ContextRestrictions(t.Context(), contextID)
			if tt.waits == nil {
				// An hour is longer than this waits: it says so.
				require.Error(t, err)
				assert.Contains(t, err.Error(), "429 Too Many Requests: Too many requests (circlecitest fault) (the server asked to wait")
				return
			}
			require.NoError(t, err)
			assert.Len(t, rs, 1)
			assert.Equal(t, tt.waits, []time.Duration(w))
		})
	}
	t.Run("a server error that lasts", func(t *testing.T) {
		remove := s.Inject(circlecitest.Fault{Kind: circlecitest.Status500})
		defer remove()
		before := len(s.Requests())
		var w waits
		_, err := api(s, &w).ContextRestrictions(t.Context(), contextID)
		require.Error(t, err)
		assert.Equal(t, "GET "+s.URL+"context-restrictions?filter%5Bcontext_id%5D="+contextID+": 500 Internal Server Error: Internal server error (circlecitest fault) (gave up after 3 attempts)", err.Error())
		assert.Len(t, s.Requests(), before+3)
	})
}

// An answer is read up to a cap, and must be about the context asked for.
func TestContextRestrictionsAnswers(t *testing.T) {
	t.Run("too large", func(t *testing.T) {
		s := standIn(t, circlecitest.Options{})
		s.SetContext(contextID, circlecitest.Restriction{Type: "expression", Pattern: strings.Repeat("x", 2<<20)})
		var w waits
		_, err := api(s, &w).ContextRestrictions(t.Context(), contextID)
		assert.ErrorContains(t, err, "the answer is larger than 1024 KiB: not read")
	})
	t.Run("another context's restriction", func(t *testing.T) {
		// A server that answers for another context than asked: its
		// restrictions must not count for this one.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data":[{"id":"x","attributes":{"restriction_type":"expression","match_pattern":"pipeline.git.tag starts-with \"agent-facets@\""},"references":{"context":{"id":"11111111-1111-4111-8111-111111111111"}}}]}`)
		}))
		defer srv.Close()
		a := &circleci.API{BaseURL: srv.URL + "/api/v3/", Token: token}
		_, err := a.ContextRestrictions(t.Context(), contextID)
		assert.ErrorContains(t, err, "CircleCI answered with restriction x of context 11111111-1111-4111-8111-111111111111, not of "+contextID)
	})
}
