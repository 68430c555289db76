package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// registryURL is the registry packages come from: FACET_REGISTRY, else
// npm_config_registry (npm takes it in any case), else the receipt's (fromReceipt), else
// the public registry; without a trailing slash.
func registryURL(getenv func(string) string, fromReceipt string) string {
	for _, r := range []string{getenv("FACET_REGISTRY"), getenv("npm_config_registry"), getenv("NPM_CONFIG_REGISTRY"), fromReceipt, publicRegistry} {
		if r = strings.TrimRight(strings.TrimSpace(r), "/"); r != "" {
			return r
		}
	}
	return publicRegistry
}

// registry reads package documents from an npm registry.
type registry struct {
	URL    string // without a trailing slash; may have a path prefix
	Client *http.Client
	Agent  string // User-Agent
}

// newHTTPClient is an HTTP client that honours HTTPS_PROXY, HTTP_PROXY and
// NO_PROXY, and gives up after timeout.
func newHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: t, Timeout: timeout}
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
	resp, err := r.get(ctx, u, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p packument
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&p); err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	return &p, nil
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

// redact is u without user name, password or token parameters.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	p.User = nil
	return p.String()
}
