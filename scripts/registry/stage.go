package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/secret"
)

// ExchangePath is the path, below the registry, of npm's OIDC token exchange
// for a package (its name escaped, EscapeName).
const ExchangePath = "-/npm/v1/oidc/token/exchange/package/"

// Exchange trades an OIDC ID token for an npm token of the package pkg, as
// npm does inside publish and stage publish (lib/utils/oidc.js): POST
// <registry>/-/npm/v1/oidc/token/exchange/package/<pkg> with the ID token as
// the bearer, here with the header npm-command: stage, as npm stage publish
// sends it. The release needs it because npm exchanges only inside a publish,
// and it must read what is staged before it stages anything (Staged).
//
// Both tokens are secrets: the caller registers the ID token with its
// redactor before the call (a careless registry may quote it in a refusal,
// which the error carries) and the token returned as soon as it has it, and
// uses that token for nothing but Staged. Exchange makes one attempt: a
// refusal is a *StatusError, transient (retry.IsTransient) for a 5xx or 429,
// which another attempt, with a fresh ID token, may pass.
func (c *Client) Exchange(ctx context.Context, pkg, idToken string) (string, error) {
	shownURL := c.URL.Redacted() + ExchangePath + EscapeName(pkg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL.String()+ExchangePath+EscapeName(pkg), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+idToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "facets-release")
	req.Header.Set("npm-command", "stage")
	client := c.HTTP
	if client == nil {
		client = defaultHTTP
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", retry.Transient(fmt.Errorf("POST %s: %w", shownURL, unwrapURLError(err)), 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return "", retry.Transient(fmt.Errorf("POST %s: reading the answer: %w", shownURL, err), 0)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		var answer struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
			// The body is not quoted: it may hold a token.
			return "", fmt.Errorf("POST %s: %s, and no token in the answer", shownURL, resp.Status)
		}
		return answer.Token, nil
	}
	// A refusal may quote the ID token: masked before the message is cut,
	// which would leave a part no redactor knows.
	body = bytes.ReplaceAll(body, []byte(idToken), []byte(secret.Mask))
	serr := &StatusError{Method: http.MethodPost, URL: shownURL, Code: resp.StatusCode, Status: resp.Status, Message: message(body)}
	if serr.Transient() {
		return "", retry.Transient(serr, retryAfter(resp.Header.Get("Retry-After"), c.now()))
	}
	return "", serr
}

// stagePerPage is how many staged versions a page of the listing asks for,
// as npm stage list asks.
const stagePerPage = 100

// Staged lists the staged versions of the package pkg (GET
// <registry>/-/stage?package=<pkg>, every page, as npm stage list reads
// them), oldest first, with token: a logged-in user's, or one the OIDC
// exchange gave for pkg (Exchange).
//
// That an exchanged token may list its own package's staged versions is our
// assumption, not something npm documents: npm's docs say only that
// npm stage list needs a login. The registry's refusal (401, 403) is a
// *StatusError with that Code, for the caller to tell apart from a registry
// that could not answer; transient failures are retried (Client.Retry).
func (c *Client) Staged(ctx context.Context, pkg, token string) ([]npm.Staged, error) {
	var items []npm.Staged
	for page := 0; ; page++ {
		var answer struct {
			Items []npm.Staged `json:"items"`
			Total int          `json:"total"`
		}
		query := url.Values{"package": {pkg}, "page": {strconv.Itoa(page)}, "perPage": {strconv.Itoa(stagePerPage)}}
		if _, err := c.getJSONAs(ctx, "-/stage", query, "application/json", token, &answer); err != nil {
			if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("GET %s-/stage: 404: the registry does not list staged versions (no staged publishing)", c.URL.Redacted())
			}
			return nil, fmt.Errorf("the staged versions of %s: %w", pkg, err)
		}
		items = append(items, answer.Items...)
		if len(items) >= answer.Total || len(answer.Items) < stagePerPage {
			return items, nil
		}
	}
}
