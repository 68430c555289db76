package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/registry"
	"github.com/agent-facets/facets/scripts/retry"
)

const doc = `{"name":"@agent-facets/cli-linux-x64","dist-tags":{"latest":"1.0.0","next":"1.1.0-rc.1"},
"versions":{"1.0.0":{"name":"@agent-facets/cli-linux-x64","version":"1.0.0","dist":{"integrity":"sha512-AAA","shasum":"abc","tarball":"http://x/t.tgz"}},
"1.1.0-rc.1":{"name":"@agent-facets/cli-linux-x64","version":"1.1.0-rc.1","dist":{"integrity":"sha512-BBB","shasum":"def","tarball":"http://x/u.tgz"},"optionalDependencies":{"a":"1"}}},
"time":{"0.9.0":"2026-01-01T00:00:00Z"}}`

// server answers each request with the next of answers (the last repeats)
// and records what it was asked.
type server struct {
	*httptest.Server
	calls   atomic.Int32
	paths   []string
	queries []string
	headers []http.Header
}

func newServer(t *testing.T, answers ...func(w http.ResponseWriter)) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.calls.Add(1))
		s.paths = append(s.paths, r.URL.EscapedPath())
		s.queries = append(s.queries, r.URL.RawQuery)
		s.headers = append(s.headers, r.Header.Clone())
		answers[min(n, len(answers))-1](w)
	}))
	t.Cleanup(s.Close)
	return s
}

func status(code int, body string, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func drop(w http.ResponseWriter) {
	conn, _, _ := http.NewResponseController(w).Hijack()
	_ = conn.Close()
}

// client talks to s, with retries that record their waits instead of waiting.
func client(t *testing.T, s *server, waits *[]time.Duration) *registry.Client {
	c, err := registry.New(s.URL)
	require.NoError(t, err)
	c.Retry = retry.Policy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 5 * time.Second, Sleep: func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return nil
	}}
	return c
}

func TestPackument(t *testing.T) {
	var waits []time.Duration
	s := newServer(t, status(200, doc))
	c := client(t, s, &waits)
	p, err := c.Packument(t.Context(), "@agent-facets/cli-linux-x64")
	require.NoError(t, err)
	assert.Equal(t, "/@agent-facets%2fcli-linux-x64", s.paths[0], "scoped names escaped as npm does")
	assert.Equal(t, "write=true", s.queries[0], "the origin, past any CDN")
	assert.Equal(t, "application/json", s.headers[0].Get("Accept"), "the full document, with the publish times")

	m, ok := p.Version("1.0.0")
	require.True(t, ok)
	assert.Equal(t, "sha512-AAA", m.Dist.Integrity)
	assert.Equal(t, "abc", m.Dist.Shasum)
	assert.Equal(t, map[string]string{"latest": "1.0.0", "next": "1.1.0-rc.1"}, p.DistTags)
	rc, ok := p.Version("1.1.0-rc.1")
	require.True(t, ok)
	assert.Equal(t, map[string]string{"a": "1"}, rc.OptionalDependencies)
	_, ok = p.Version("0.9.0")
	assert.False(t, ok, "a version in time but not in versions was unpublished")
}

// Three answers kept apart: exists, missing, error. Errors are retried while
// transient, then returned: never taken for missing.
func TestPackumentAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answers   []func(http.ResponseWriter)
		exists    bool
		err       string
		calls     int
		transient bool
		waits     func(t *testing.T, w []time.Duration)
	}{
		{name: "exists", answers: []func(http.ResponseWriter){status(200, doc)}, exists: true, calls: 1},
		{name: "missing", answers: []func(http.ResponseWriter){status(404, `{"error":"Not found"}`)}, calls: 1},
		{name: "500 then exists", answers: []func(http.ResponseWriter){status(500, "oops"), status(200, doc)}, exists: true, calls: 2},
		{name: "dropped connections then exists", answers: []func(http.ResponseWriter){drop, drop, status(200, doc)}, exists: true, calls: 3},
		{name: "429 with Retry-After", answers: []func(http.ResponseWriter){status(429, `{"error":"slow down"}`, "Retry-After", "3"), status(200, doc)},
			exists: true, calls: 2, waits: func(t *testing.T, w []time.Duration) { assert.Equal(t, []time.Duration{3 * time.Second}, w) }},
		{name: "Retry-After as a date", answers: []func(http.ResponseWriter){
			func(w http.ResponseWriter) {
				// Dated when answered: an HTTP date drops the fraction of
				// a second, so the wait is between 1 s and 2 s, less the
				// time the answer takes to arrive (more than the backoff's
				// 150 ms at most).
				status(503, "", "Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))(w)
			}, status(200, doc)},
			exists: true, calls: 2, waits: func(t *testing.T, w []time.Duration) {
				require.Len(t, w, 1)
				assert.Greater(t, w[0], 500*time.Millisecond)
				assert.LessOrEqual(t, w[0], 2*time.Second)
			}},
		{name: "500 persisting", answers: []func(http.ResponseWriter){status(500, `{"error":"internal"}`)}, calls: 4, transient: true,
			err: "@agent-facets/cli-linux-x64: GET " + "%s/@agent-facets%%2fcli-linux-x64: 500 Internal Server Error: internal (gave up after 4 attempts)"},
		{name: "dropped persisting", answers: []func(http.ResponseWriter){drop}, calls: 4, transient: true, err: "EOF"},
		{name: "401 is not retried", answers: []func(http.ResponseWriter){status(401, `{"error":"bad token"}`)}, calls: 1,
			err: "401 Unauthorized: bad token (the registry refused to answer: check the registry URL and your npm login)"},
		{name: "not JSON", answers: []func(http.ResponseWriter){status(200, "<html>")}, calls: 1, err: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var waits []time.Duration
			s := newServer(t, tt.answers...)
			c := client(t, s, &waits)
			exists, err := c.Exists(t.Context(), "@agent-facets/cli-linux-x64")
			assert.Equal(t, tt.calls, int(s.calls.Load()), "requests")
			if tt.err != "" {
				require.Error(t, err)
				want := tt.err
				if strings.Contains(want, "%s") {
					want = strings.ReplaceAll(strings.ReplaceAll(want, "%s", s.URL), "%%", "%")
				}
				assert.Contains(t, err.Error(), want)
				assert.NotErrorIs(t, err, registry.ErrNotFound)
				assert.Equal(t, tt.transient, retry.IsTransient(err))
				assert.False(t, exists)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.exists, exists)
			if tt.waits != nil {
				tt.waits(t, waits)
			}
		})
	}
}

func TestURLAndHost(t *testing.T) {
	for raw, want := range map[string][2]string{
		"https://registry.npmjs.org/":            {"https://registry.npmjs.org/", "registry.npmjs.org"},
		"https://registry.npmjs.org":             {"https://registry.npmjs.org/", "registry.npmjs.org"},
		"http://127.0.0.1:4873/":                 {"http://127.0.0.1:4873/", "127.0.0.1"},
		"https://npm.example.com:8443/npm/repo/": {"https://npm.example.com:8443/npm/repo/", "npm.example.com"},
		" https://user@npm.example.com/x\n":      {"https://user@npm.example.com/x/", "npm.example.com"},
	} {
		c, err := registry.New(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want[0], c.String(), raw)
		assert.Equal(t, want[1], c.Host(), "the audience host, as npm derives it from %s", raw)
	}
	for _, bad := range []string{"", "registry.npmjs.org", "ftp://x/", "undefined", "https:registry.npmjs.org"} {
		_, err := registry.New(bad)
		assert.ErrorContains(t, err, "want an http or https URL", bad)
	}
	// A query or fragment would send every request elsewhere; the error
	// shows neither it nor a password.
	for _, bad := range []string{"https://me:hunter2@npm.example.com/?token=s3cret", "https://npm.example.com/npm#s3cret", "https://npm.example.com/?", "https://npm.example.com/#"} {
		_, err := registry.New(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "has a query or fragment", bad)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.NotContains(t, err.Error(), "hunter2")
	}
	c, _ := registry.New("https://registry.npmjs.org/")
	assert.True(t, c.Public())
	c, _ = registry.New("http://127.0.0.1:4873/")
	assert.False(t, c.Public())
}

// A path below the registry URL is kept (registries served under a path).
func TestRegistryUnderAPath(t *testing.T) {
	var waits []time.Duration
	s := newServer(t, status(200, doc))
	c, err := registry.New(s.URL + "/npm/repo")
	require.NoError(t, err)
	c.Retry.Sleep = func(context.Context, time.Duration) error { waits = append(waits, 0); return nil }
	_, err = c.Packument(t.Context(), "agent-facets")
	require.NoError(t, err)
	assert.Equal(t, "/npm/repo/agent-facets", s.paths[0])
}

func TestEscapeName(t *testing.T) {
	assert.Equal(t, "@agent-facets%2fcli-linux-x64", registry.EscapeName("@agent-facets/cli-linux-x64"))
	assert.Equal(t, "agent-facets", registry.EscapeName("agent-facets"))
}

func TestPing(t *testing.T) {
	var waits []time.Duration
	ok := newServer(t, status(200, `{}`))
	require.NoError(t, client(t, ok, &waits).Ping(t.Context()))
	assert.Equal(t, "/-/ping", ok.paths[0])

	notRegistry := newServer(t, status(404, "<html>not here</html>"))
	err := client(t, notRegistry, &waits).Ping(t.Context())
	assert.ErrorContains(t, err, notRegistry.URL+"/ does not answer as an npm registry (check npm's registry setting): GET /-/ping: 404")
}

// A registry URL with a password shows it masked, in String and in errors.
func TestPasswordsMasked(t *testing.T) {
	var waits []time.Duration
	s := newServer(t, status(500, "x"))
	c := client(t, s, &waits)
	c.URL.User = url.UserPassword("me", "hunter2-secret")
	assert.NotContains(t, c.String(), "hunter2-secret")
	_, err := c.Packument(t.Context(), "agent-facets")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2-secret")
	c.Retry.Attempts = 1
	s2 := newServer(t, drop)
	c2 := client(t, s2, &waits)
	c2.URL.User = url.UserPassword("me", "hunter2-secret")
	_, err = c2.Packument(t.Context(), "agent-facets")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2-secret")
}

// A Retry-After longer than the backoff's cap is waited out while the time
// to retry lasts; longer than what is left, it ends the retries, saying so.
func TestRetryAfter(t *testing.T) {
	var waits []time.Duration
	s := newServer(t, status(429, `{"error":"slow down"}`, "Retry-After", "60"), status(200, doc))
	c := client(t, s, &waits)
	c.Retry.For = 2 * time.Minute
	_, err := c.Packument(t.Context(), "agent-facets")
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Minute}, waits)

	waits = nil
	s = newServer(t, status(429, `{"error":"slow down"}`, "Retry-After", "600"))
	c = client(t, s, &waits)
	c.Retry.For, c.Retry.What = 5*time.Minute, "FACET_WAIT"
	_, err = c.Packument(t.Context(), "agent-facets")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the server asked to wait 10m0s before another try, and FACET_WAIT leaves 5m0s")
	assert.Empty(t, waits)
	assert.Equal(t, int32(1), s.calls.Load())
}

// What users' npm reads: a plain read, with the time a CDN may keep it and
// the publish times told on the client's clock.
func TestServed(t *testing.T) {
	var waits []time.Duration
	full := `{"name":"agent-facets","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"agent-facets","version":"1.0.0"}},"time":{"1.0.0":"2026-12-03T10:00:00Z"}}`
	s := newServer(t, status(200, full, "Cache-Control", "public, max-age=300", "Date", "Thu, 03 Dec 2026 10:01:00 GMT", "Age", "20"))
	c := client(t, s, &waits)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) // this machine's clock is two hours ahead
	c.Retry.Now = func() time.Time { return now }
	p, err := c.Served(t.Context(), "agent-facets")
	require.NoError(t, err)
	assert.Empty(t, s.queries[0], "a plain read")
	assert.Contains(t, s.headers[0].Get("Accept"), "application/vnd.npm.install-v1+json", "as npm install asks")
	assert.Equal(t, 5*time.Minute, p.MaxAge)
	at, ok := p.PublishedAt("1.0.0")
	require.True(t, ok)
	// The copy was made 20 s before the answer, a minute after the publish,
	// on the registry's clock: on ours, 80 s before now.
	assert.Equal(t, now.Add(-80*time.Second), at)
	_, ok = p.PublishedAt("2.0.0")
	assert.False(t, ok)
}

func TestCacheMaxAge(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"":                         0,
		"public, max-age=300":      300 * time.Second,
		"max-age=60, s-maxage=600": 600 * time.Second, // what a CDN obeys
		"public, max-age=300, stale-while-revalidate=60": 360 * time.Second,
		"no-store":              0,
		"no-cache, max-age=300": 0,
		"private, max-age=300":  0,
		"max-age=0":             0,
		"max-age=banana":        0,
	} {
		assert.Equal(t, want, registry.CacheMaxAge(header), header)
	}
}

// A document larger than any of ours is refused, not read whole; a long
// error message is cut.
func TestLimits(t *testing.T) {
	var waits []time.Duration
	huge := `{"name":"x","readme":"` + strings.Repeat("a", registry.MaxDocument) + `"}`
	s := newServer(t, status(200, huge))
	_, err := client(t, s, &waits).Packument(t.Context(), "agent-facets")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the answer is over 8 MiB")
	assert.False(t, retry.IsTransient(err))
	assert.Equal(t, int32(1), s.calls.Load(), "not retried")

	s = newServer(t, status(403, `{"error":"`+strings.Repeat("no ", 5000)+`"}`))
	_, err = client(t, s, &waits).Packument(t.Context(), "agent-facets")
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 500, "the registry's words are cut")
	assert.Contains(t, err.Error(), "no no no")
	assert.Contains(t, err.Error(), "…")
}
