// Package registry reads what an npm registry serves: packuments (package
// documents), their versions, dist-tags, tarball integrity and dependencies.
// It is a helper, used by the seed, trust, verify and release stages.
//
// It keeps three answers apart: a package or version exists, it is missing
// (404), or the registry could not say (5xx, 429, a dropped connection, an
// authentication error). Transient errors are retried with backoff; an error
// is never taken for "missing".
//
// It reads two views of a package. The public registry serves packuments
// through a CDN that keeps a copy for up to its Cache-Control max-age, which a
// publish does not purge and a request's "Cache-Control: no-cache" does not
// get past. Every read that decides something (exists, published, integrity,
// dist-tags) asks the origin, GET <registry>/<name>?write=true, uncached
// (Packument): a fact, not a race. What users' npm sees is the plain read
// (Served), with the max-age it may be cached for.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/cachecontrol/cacheobject"

	"github.com/agent-facets/facets/scripts/retry"
)

// defaultHTTP bounds each request: a registry that accepts a connection and
// then says nothing must not hang a release.
var defaultHTTP = &http.Client{Timeout: time.Minute}

// ErrNotFound is the registry's 404: no such package.
var ErrNotFound = errors.New("not found")

// MaxDocument is the most of a package document a read takes: a packument
// of thousands of versions is a few MiB; a larger answer is not one of ours.
const MaxDocument = 8 << 20

// maxErrorBody is the most of an error answer a read takes.
const maxErrorBody = 64 << 10

// Client reads from one registry.
type Client struct {
	URL   *url.URL     // the registry, as npm is configured with it; its path ends in "/"
	HTTP  *http.Client // nil means a client with a one-minute timeout per request
	Retry retry.Policy // for transient errors
}

// New returns a client of the registry at rawURL (as `npm config get
// registry` prints it). Anything but an absolute http or https URL without a
// query or fragment is an error.
func New(rawURL string) (*Client, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &Client{URL: u}, nil
}

// ParseURL parses a registry URL and makes its path end in "/". A query or
// fragment is refused: every request would go to the wrong place. The error
// shows the URL without its password or query.
func ParseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("registry URL %s: want an http or https URL such as %s", shown(rawURL), PublicRegistry)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(rawURL, "#") {
		return nil, fmt.Errorf("registry URL %s has a query or fragment (?… or #…): npm's requests would go to the wrong place; set the registry without them, such as %s", shown(rawURL), PublicRegistry)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// shown is a URL as an error may show it: without password, query or
// fragment; something that does not parse is not shown at all.
func shown(rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return strconv.Quote(u.Redacted())
}

// String is the registry URL as it may be shown: with any password masked.
func (c *Client) String() string { return c.URL.Redacted() }

// Host is the host name of the registry, as npm derives it for the audience
// of an OIDC token (npm:<host>): no port, no user.
func (c *Client) Host() string { return strings.ToLower(c.URL.Hostname()) }

// Public reports whether the registry is npm's public one.
func (c *Client) Public() bool { return IsPublic(c.URL) }

// PublicRegistry is npm's default registry.
const PublicRegistry = "https://registry.npmjs.org/"

// IsPublic reports whether u is npm's public registry.
func IsPublic(u *url.URL) bool { return strings.EqualFold(u.Hostname(), "registry.npmjs.org") }

// EscapeName escapes a package name for a registry path as npm does: the "/"
// of a scoped name becomes "%2f" ("@agent-facets%2fcli-linux-x64").
func EscapeName(name string) string {
	if strings.HasPrefix(name, "@") {
		return strings.Replace(name, "/", "%2f", 1)
	}
	return name
}

// Packument is a package document: what the release reads of it.
type Packument struct {
	Name     string              `json:"name"`
	DistTags map[string]string   `json:"dist-tags"`
	Versions map[string]Manifest `json:"versions"`
	// Time is when each version was published (the full document has it,
	// the abbreviated one does not).
	Time map[string]string `json:"time"`
	// Answered is when the answer came, on the client's clock, and Age how
	// old the document was then on the registry's own: its Date header
	// less the time it was made (the Age header of a cached copy). They let
	// a publish time on the registry's clock be told on the client's.
	Answered time.Time `json:"-"`
	// Date is the registry's Date header; zero if it sent none.
	Date time.Time `json:"-"`
	// MaxAge is how long a cache between the registry and npm may serve
	// this document without asking again (Cache-Control s-maxage or
	// max-age, plus stale-while-revalidate); 0 when it says nothing or
	// forbids caching. Set by Served.
	MaxAge time.Duration `json:"-"`
}

// PublishedAt is when version v was published, on the client's clock, from
// the registry's time of it and its Date header (so that the two clocks need
// not agree); false when the document does not say.
func (p *Packument) PublishedAt(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, p.Time[v])
	if err != nil || p.Answered.IsZero() {
		return time.Time{}, false
	}
	if p.Date.IsZero() {
		return t, true
	}
	return p.Answered.Add(-p.Date.Sub(t)), true
}

// Manifest is one version of a package, as the abbreviated document has it.
type Manifest struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Dist                 Dist              `json:"dist"`
	OptionalDependencies map[string]string `json:"optionalDependencies,omitempty"`
}

// Dist is where a version's tarball is and what it hashes to.
type Dist struct {
	Integrity string `json:"integrity"` // sha512-<base64>
	Shasum    string `json:"shasum"`    // sha1, hex
	Tarball   string `json:"tarball"`
}

// Version returns the manifest of version v, if the registry has it. A version
// exists when the document lists it (not when "time" names it: npm keeps the
// time of unpublished versions).
func (p *Packument) Version(v string) (Manifest, bool) {
	m, ok := p.Versions[v]
	return m, ok
}

// StatusError is an answer other than 200 and 404.
type StatusError struct {
	Method, URL string
	Code        int
	Status      string // "503 Service Unavailable"
	Message     string // the registry's own words, if it gave any
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch {
	case e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden:
		s += " (the registry refused to answer: check the registry URL and your npm login)"
	}
	return s
}

// Transient reports whether the answer may change on another try: a server
// error or rate limiting.
func (e *StatusError) Transient() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// Packument reads the document of the package name from the origin
// (?write=true: uncached, whatever CDN is in front). A package the registry
// does not have is an error wrapping [ErrNotFound]; any other failure is
// retried while it is transient and then returned, never taken for missing.
func (c *Client) Packument(ctx context.Context, name string) (*Packument, error) {
	return c.read(ctx, name, url.Values{"write": {"true"}}, "application/json")
}

// Served reads the document of the package name as users' npm reads it when
// it installs: a plain read, through whatever CDN the registry is behind, so
// possibly an old copy; MaxAge says how old a copy may be.
func (c *Client) Served(ctx context.Context, name string) (*Packument, error) {
	return c.read(ctx, name, nil, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
}

func (c *Client) read(ctx context.Context, name string, query url.Values, accept string) (*Packument, error) {
	var p Packument
	header, err := c.getJSON(ctx, EscapeName(name), query, accept, &p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.Versions == nil {
		p.Versions = map[string]Manifest{}
	}
	if p.DistTags == nil {
		p.DistTags = map[string]string{}
	}
	p.Answered = c.now()
	if d, err := http.ParseTime(header.Get("Date")); err == nil {
		p.Date = d
		if age, err := strconv.Atoi(header.Get("Age")); err == nil && age > 0 {
			// A cached copy: made Age seconds before this Date.
			p.Answered = p.Answered.Add(-time.Duration(age) * time.Second)
		}
	}
	p.MaxAge = CacheMaxAge(header.Get("Cache-Control"))
	return &p, nil
}

// VersionManifest reads the manifest of version v of the package name as
// the origin has it (?write=true: uncached), every field of it: what npm
// installs from (its dependencies, bin, os, cpu, scripts), which is the
// publish body's and need not be the tarball's package.json. A package or
// version the registry does not have is an error wrapping [ErrNotFound].
func (c *Client) VersionManifest(ctx context.Context, name, v string) (map[string]any, error) {
	var doc struct {
		Versions map[string]map[string]any `json:"versions"`
	}
	if _, err := c.getJSON(ctx, EscapeName(name), url.Values{"write": {"true"}}, "application/json", &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m, ok := doc.Versions[v]
	if !ok {
		return nil, fmt.Errorf("%s@%s: %w", name, v, ErrNotFound)
	}
	return m, nil
}

// CacheMaxAge is how long a shared cache (a CDN) may serve an answer with
// this Cache-Control without asking the origin again: s-maxage, else
// max-age, plus stale-while-revalidate; 0 for none, no-store, no-cache or
// private, and for a header that does not parse.
func CacheMaxAge(header string) time.Duration {
	if strings.TrimSpace(header) == "" {
		return 0
	}
	cd, err := cacheobject.ParseResponseCacheControl(header)
	if err != nil || cd.NoStore || cd.NoCachePresent || cd.PrivatePresent {
		return 0
	}
	age := cd.MaxAge
	if cd.SMaxAge >= 0 {
		age = cd.SMaxAge
	}
	if age <= 0 {
		return 0
	}
	if cd.StaleWhileRevalidate > 0 {
		age += cd.StaleWhileRevalidate
	}
	return time.Duration(age) * time.Second
}

// Ping checks that the URL is an npm registry that answers (GET /-/ping), so
// that a wrong URL, where every package would be "missing", is told apart
// from a registry without the packages.
func (c *Client) Ping(ctx context.Context) error {
	var pong map[string]any
	_, err := c.getJSON(ctx, "-/ping", nil, "application/json", &pong)
	if errors.Is(err, ErrNotFound) {
		err = errors.New("GET /-/ping: 404")
	}
	if err != nil {
		return fmt.Errorf("%s does not answer as an npm registry (check npm's registry setting): %w", c, err)
	}
	return nil
}

// Exists reports whether the registry has the package name at all (on the
// origin).
func (c *Client) Exists(ctx context.Context, name string) (bool, error) {
	_, err := c.Packument(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// now is the client's clock: its retry policy's, else time.Now.
func (c *Client) now() time.Time {
	if c.Retry.Now != nil {
		return c.Retry.Now()
	}
	return time.Now()
}

// getJSON GETs path (escaped already) below the registry URL, with query,
// and decodes the answer into v, with retries; it returns the answer's
// header.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, accept string, v any) (http.Header, error) {
	return c.getJSONAs(ctx, path, query, accept, "", v)
}

// getJSONAs is getJSON with a bearer token ("" for none), which no message
// shows.
func (c *Client) getJSONAs(ctx context.Context, path string, query url.Values, accept, token string, v any) (http.Header, error) {
	u := c.URL.JoinPath(path)
	u.RawQuery = query.Encode()
	target := u.String()
	shownURL := c.URL.Redacted() + path // for messages: no password, and the query says nothing
	var header http.Header
	err := retry.Do(ctx, c.Retry, func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", "facets-release")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		client := c.HTTP
		if client == nil {
			client = defaultHTTP
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return retry.Transient(fmt.Errorf("GET %s: %w", shownURL, unwrapURLError(err)), 0) // a refused or dropped connection, a timeout
		}
		defer resp.Body.Close()
		limit := int64(maxErrorBody)
		if resp.StatusCode == http.StatusOK {
			limit = MaxDocument
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return retry.Transient(fmt.Errorf("GET %s: reading the answer: %w", shownURL, err), 0)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if int64(len(body)) > limit {
				return fmt.Errorf("GET %s: the answer is over %d MiB, more than a package document of ours can be: is this the right registry?", shownURL, MaxDocument>>20)
			}
			if err := json.Unmarshal(body, v); err != nil {
				return fmt.Errorf("GET %s: the answer is not a package document: %w", shownURL, err)
			}
			header = resp.Header
			return nil
		case http.StatusNotFound:
			return ErrNotFound
		}
		serr := &StatusError{Method: http.MethodGet, URL: shownURL, Code: resp.StatusCode, Status: resp.Status, Message: message(body)}
		if serr.Transient() {
			return retry.Transient(serr, retryAfter(resp.Header.Get("Retry-After"), c.now()))
		}
		return serr
	})
	return header, err
}

// unwrapURLError drops the *url.Error around a transport error: it repeats
// the URL, with any password.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// maxMessage is the most of a registry's words an error quotes.
const maxMessage = 200

// message is the "error" or "message" of a registry's JSON error body, or the
// start of the body, cut to maxMessage characters on one line.
func message(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	s := string(body)
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Error != "":
			s = e.Error
		case e.Message != "":
			s = e.Message
		}
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "…"
	}
	return s
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. Anything
// else is 0.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(min(s, 7*24*3600)) * time.Second // a week is forever here, and no overflow
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
