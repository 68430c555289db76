package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Fixed names of the npm distribution (platforms/platforms.go; a test checks
// they agree): this binary imports nothing of the module's other packages.
const (
	wrapperName    = "agent-facets"
	publicRegistry = "https://registry.npmjs.org"
)

// registryURL is the registry packages come from: FACET_REGISTRY, else the
// receipt's (fromReceipt: where install.sh or the last self-update got
// facet), else npm_config_registry, else the public registry; without a
// trailing slash. The receipt outranks npm_config_registry because npm sets
// that for every script it runs: `npm run x` calling facet self-update must
// not move a mirror's install to the public registry.
func registryURL(getenv func(string) string, fromReceipt string) string {
	for _, r := range []string{getenv("FACET_REGISTRY"), fromReceipt, getenv("npm_config_registry"), getenv("NPM_CONFIG_REGISTRY"), publicRegistry} {
		if r = strings.TrimRight(strings.TrimSpace(r), "/"); r != "" {
			return r
		}
	}
	return publicRegistry
}

// registry reads package documents and tarballs from an npm registry.
type registry struct {
	URL    string // without a trailing slash; may have a path prefix
	Client *http.Client
	Agent  string // User-Agent
	// Idle is how long a download may go without a byte before it is
	// given up (0: idleTimeout); Max is the most bytes it takes (0: maxDownload).
	Idle time.Duration
	Max  int64
}

// Limits of a download: a slow link is fine as long as bytes come.
const (
	idleTimeout = 30 * time.Second
	maxDownload = 256 << 20 // a platform tarball is some 10 MB
	maxDocument = 64 << 20  // a package document
)

// newHTTPClient is an HTTP client that honours HTTPS_PROXY, HTTP_PROXY and
// NO_PROXY, bounds connecting and waiting for an answer's headers but not
// the body (registry.download bounds its idle time), and follows no
// redirect from https to http.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t, CheckRedirect: checkRedirect}
}

// checkRedirect refuses a redirect from https to http (the integrity check
// would still hold, but the documents that name it would not), and more
// than 10 redirects.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refused a redirect from https to %s", redact(req.URL.String()))
	}
	return nil
}

// packument is what self-update reads of a package document.
type packument struct {
	DistTags map[string]string `json:"dist-tags"`
	Versions map[string]struct {
		OptionalDependencies map[string]string `json:"optionalDependencies"`
		Dist                 struct {
			Integrity string `json:"integrity"`
			Tarball   string `json:"tarball"`
		} `json:"dist"`
	} `json:"versions"`
}

// packument reads name's document from the origin (?write=true: past the
// public registry's CDN, whose copy may be minutes old).
func (r registry) packument(ctx context.Context, name string) (*packument, error) {
	u := r.URL + "/" + url.PathEscape(name) + "?write=true"
	var buf bytes.Buffer
	r.Max = min(r.maxBytes(), maxDocument)
	if err := r.download(ctx, u, "application/json", &buf); err != nil {
		return nil, err
	}
	var p packument
	if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	return &p, nil
}

func (r registry) maxBytes() int64 {
	if r.Max > 0 {
		return r.Max
	}
	return maxDownload
}

// errIdle ends a download that went quiet.
var errIdle = errors.New("no data came")

// download GETs u into w: at most r.Max bytes, and given up when no byte
// comes for r.Idle.
func (r registry) download(ctx context.Context, u, accept string, w io.Writer) error {
	idle := r.Idle
	if idle <= 0 {
		idle = idleTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer timer.Stop()
	resp, err := r.get(ctx, u, accept)
	if err == nil {
		defer resp.Body.Close()
		max := r.maxBytes()
		var n int64
		n, err = io.Copy(w, &watchdog{r: io.LimitReader(resp.Body, max+1), timer: timer, idle: idle})
		if err == nil && n > max {
			err = fmt.Errorf("GET %s: more than %d MB, refused", redact(u), max>>20)
		} else if err != nil {
			err = fmt.Errorf("GET %s: %w", redact(u), err)
		}
	}
	if errors.Is(context.Cause(ctx), errIdle) {
		return fmt.Errorf("GET %s: %v for %s", redact(u), errIdle, idle)
	}
	return err
}

// watchdog is a reader that pushes its timer back on every read.
type watchdog struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (d *watchdog) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 {
		d.timer.Reset(d.idle)
	}
	return n, err
}

// get sends a GET and returns a 200 answer; anything else is an error of one
// line: the status and the URL, without credentials.
func (r registry) get(ctx context.Context, u, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", r.Agent)
	resp, err := r.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, credentials too
		}
		return nil, fmt.Errorf("GET %s: %v", redact(u), err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", redact(u), resp.Status)
	}
	return resp, nil
}

// withCredentials is u, a tarball's URL from a package document, with the
// user name and password of the registry's URL when u is on the registry's
// origin (same scheme, host and port), as npm sends its credentials with a
// tarball: the document's URLs carry none. A URL on another origin, or one
// with credentials of its own, is u unchanged.
func (r registry) withCredentials(u string) string {
	reg, err := url.Parse(r.URL)
	if err != nil || reg.User == nil {
		return u
	}
	t, err := url.Parse(u)
	if err != nil || t.User != nil || !sameOrigin(reg, t) {
		return u
	}
	t.User = reg.User
	return t.String()
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (a missing port is the scheme's).
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// shown is the registry's URL for people and for the receipt: without
// credentials.
func (r registry) shown() string { return redact(r.URL) }

// redact is u without user name and password, and without the values of
// query parameters that may hold a secret (token, auth, key, secret,
// password, signature: their names say it).
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	p.User = nil
	if p.RawQuery != "" {
		q := p.Query()
		for name := range q {
			if secretParam(name) {
				q[name] = []string{"REDACTED"}
			}
		}
		p.RawQuery = q.Encode()
	}
	return p.String()
}

// secretParam reports whether a query parameter's name says it holds a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "auth", "key", "secret", "pass", "sig", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
