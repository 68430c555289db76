// Package registry reads what an npm registry serves: packuments (package
// documents), their versions, dist-tags, tarball integrity and dependencies.
// It is a helper, used by the seed, trust, verify and release stages.
//
// It keeps three answers apart: a package or version exists, it is missing
// (404), or the registry could not say (5xx, 429, a dropped connection, an
// authentication error). Transient errors are retried with backoff; an error
// is never taken for "missing".
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

	"github.com/agent-facets/facets/scripts/retry"
)

// defaultHTTP bounds each request: a registry that accepts a connection and
// then says nothing must not hang a release.
var defaultHTTP = &http.Client{Timeout: time.Minute}

// ErrNotFound is the registry's 404: no such package.
var ErrNotFound = errors.New("not found")

// Client reads from one registry.
type Client struct {
	URL   *url.URL     // the registry, as npm is configured with it; its path ends in "/"
	HTTP  *http.Client // nil means a client with a one-minute timeout per request
	Retry retry.Policy // for transient errors
}

// New returns a client of the registry at rawURL (as `npm config get
// registry` prints it). Anything but an absolute http or https URL is an error.
func New(rawURL string) (*Client, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &Client{URL: u}, nil
}

// ParseURL parses a registry URL and makes its path end in "/".
func ParseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry URL %q: want an http or https URL such as https://registry.npmjs.org/", rawURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
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

// Packument is the abbreviated package document.
type Packument struct {
	Name     string              `json:"name"`
	DistTags map[string]string   `json:"dist-tags"`
	Versions map[string]Manifest `json:"versions"`
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

// Packument reads the abbreviated document of the package name. A package the
// registry does not have is an error wrapping [ErrNotFound]; any other failure
// is retried while it is transient and then returned, never taken for missing.
func (c *Client) Packument(ctx context.Context, name string) (*Packument, error) {
	var p Packument
	if err := c.getJSON(ctx, EscapeName(name), "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8", &p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.Versions == nil {
		p.Versions = map[string]Manifest{}
	}
	if p.DistTags == nil {
		p.DistTags = map[string]string{}
	}
	return &p, nil
}

// Ping checks that the URL is an npm registry that answers (GET /-/ping), so
// that a wrong URL, where every package would be "missing", is told apart
// from a registry without the packages.
func (c *Client) Ping(ctx context.Context) error {
	var pong map[string]any
	err := c.getJSON(ctx, "-/ping", "application/json", &pong)
	if errors.Is(err, ErrNotFound) {
		err = errors.New("GET /-/ping: 404")
	}
	if err != nil {
		return fmt.Errorf("%s does not answer as an npm registry (check npm's registry setting): %w", c, err)
	}
	return nil
}

// Exists reports whether the registry has the package name at all.
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

// getJSON GETs path below the registry URL and decodes the answer into v,
// with retries. The path must be escaped already.
func (c *Client) getJSON(ctx context.Context, path, accept string, v any) error {
	target := c.URL.String() + path
	shown := c.URL.Redacted() + path // for messages
	return retry.Do(ctx, c.Retry, func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		// Ask for the current document, not a cached one: it is read right
		// after a publish.
		req.Header.Set("Cache-Control", "no-cache")
		req.Header.Set("User-Agent", "facets-release")
		client := c.HTTP
		if client == nil {
			client = defaultHTTP
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return retry.Transient(err, 0) // a refused or dropped connection, a timeout
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		if err != nil {
			return retry.Transient(fmt.Errorf("GET %s: reading the answer: %w", shown, err), 0)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := json.Unmarshal(body, v); err != nil {
				return fmt.Errorf("GET %s: the answer is not a package document: %w", shown, err)
			}
			return nil
		case http.StatusNotFound:
			return ErrNotFound
		}
		serr := &StatusError{Method: http.MethodGet, URL: shown, Code: resp.StatusCode, Status: resp.Status, Message: message(body)}
		if serr.Transient() {
			return retry.Transient(serr, retryAfter(resp.Header.Get("Retry-After"), time.Now()))
		}
		return serr
	})
}

// message is the "error" or "message" of a registry's JSON error body, or the
// start of the body.
func message(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error != "" {
			return e.Error
		}
		if e.Message != "" {
			return e.Message
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
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
