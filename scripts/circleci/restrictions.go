package circleci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agent-facets/facets/scripts/retry"
	"github.com/agent-facets/facets/scripts/secret"
)

// DefaultAPI is CircleCI's API v3, where context restrictions are read.
const DefaultAPI = "https://circleci.com/api/v3/"

// TokenSettings is where a CircleCI user makes a personal API token.
const TokenSettings = "https://app.circleci.com/settings/user/tokens"

// maxAnswer caps what is read of one answer: a context has a few
// restrictions, a page of them is a few KiB.
const maxAnswer = 1 << 20

// maxPages bounds how many pages of one list are read.
const maxPages = 100

// defaultHTTP bounds each request: an API that accepts a connection and then
// says nothing must not hang verify.
var defaultHTTP = &http.Client{Timeout: time.Minute}

// API is a client of CircleCI's API v3, authenticated with a user's API
// token. Its String never shows the token, and neither does any error it
// returns.
type API struct {
	BaseURL string       // the API's root; "" means DefaultAPI
	Token   string       // a personal API token; sent only as "Authorization: Bearer …"
	HTTP    *http.Client // nil means a client with a one-minute timeout per request
	Retry   retry.Policy // for transient failures: 5xx, 429, a dropped connection
}

// String names the API, never the token.
func (a *API) String() string { return "CircleCI API " + a.base() }

// GoString is String: %#v shows no token either.
func (a *API) GoString() string { return a.String() }

func (a *API) base() string {
	if a.BaseURL == "" {
		return DefaultAPI
	}
	return a.BaseURL
}

// ErrUnauthorized is CircleCI's 401: the token was refused.
var ErrUnauthorized = errors.New("CircleCI refused the API token")

// ErrNoContext is CircleCI's 404 for a context: it does not exist, or the
// token's user may not see it.
var ErrNoContext = errors.New("no such context")

// Restriction types, as the API names them.
const (
	RestrictionProject    = "project"    // only jobs of a project may use the context
	RestrictionExpression = "expression" // only jobs for which the expression holds
	RestrictionGroup      = "group"      // only jobs run by members of a security group
)

// Restriction is one restriction of a context.
type Restriction struct {
	ID   string
	Type string // RestrictionProject, RestrictionExpression or RestrictionGroup
	// Pattern is the restriction's match_pattern: the expression of an
	// expression restriction, the project's or group's ID otherwise.
	Pattern   string
	Name      string    // the project's or group's name, where CircleCI could resolve it
	CreatedAt time.Time // zero when CircleCI recorded none
	ContextID string    // the context it restricts
	SubjectID string    // the ID of the project or group it names, if the answer references one
}

var uuid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// CheckToken says what is wrong with token as an API token, without
// showing it: CircleCI's tokens are one word of printable characters.
func CheckToken(token string) error {
	if token == "" {
		return errors.New("the CircleCI API token is empty")
	}
	for _, r := range token {
		if r <= ' ' || r > '~' {
			return errors.New("the CircleCI API token has spaces or characters that are not printable ASCII: copy the token alone")
		}
	}
	return nil
}

// ContextRestrictions lists every restriction of the context contextID:
// GET <base>/context-restrictions?filter[context_id]=<id>, every page.
// Transient failures are retried as a.Retry says; a refused token is an
// error wrapping ErrUnauthorized, a context CircleCI does not show one
// wrapping ErrNoContext, each saying what to do.
func (a *API) ContextRestrictions(ctx context.Context, contextID string) ([]Restriction, error) {
	if !uuid.MatchString(contextID) {
		return nil, fmt.Errorf("context ID %q is not a UUID (see CircleCI → Organization Settings → Contexts → the context's page)", contextID)
	}
	if err := CheckToken(a.Token); err != nil {
		return nil, err
	}
	base, err := url.Parse(a.base())
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" ||
		base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("CircleCI API URL %q: want an http or https URL without credentials, query or fragment, such as %s", a.base(), DefaultAPI)
	}
	endpoint := base.JoinPath("context-restrictions")
	var all []Restriction
	cursor := ""
	for range maxPages {
		q := url.Values{"filter[context_id]": {contextID}}
		if cursor != "" {
			q.Set("page[cursor]", cursor)
		}
		u := *endpoint
		u.RawQuery = q.Encode()
		var page restrictionPage
		if err := a.get(ctx, &u, contextID, &page); err != nil {
			return nil, err
		}
		for _, r := range page.Data {
			got := Restriction{
				ID: r.ID, Type: r.Attributes.Type, Pattern: r.Attributes.Pattern, Name: r.Attributes.Name,
				ContextID: r.References.Context.ID, SubjectID: r.References.Project.ID + r.References.Group.ID,
			}
			if r.Attributes.CreatedAt != nil {
				got.CreatedAt = *r.Attributes.CreatedAt
			}
			if got.ContextID != "" && !strings.EqualFold(got.ContextID, contextID) {
				return nil, fmt.Errorf("GET %s: CircleCI answered with restriction %s of context %s, not of %s", u.Redacted(), got.ID, got.ContextID, contextID)
			}
			all = append(all, got)
		}
		if page.Page.Next == nil || *page.Page.Next == "" {
			return all, nil
		}
		cursor = *page.Page.Next
	}
	return nil, fmt.Errorf("the restrictions of context %s fill more than %d pages: not read", contextID, maxPages)
}

// restrictionPage is an answer of GET /context-restrictions.
type restrictionPage struct {
	Data []struct {
		ID         string `json:"id"`
		Attributes struct {
			Type      string     `json:"restriction_type"`
			Pattern   string     `json:"match_pattern"`
			Name      string     `json:"name"`
			CreatedAt *time.Time `json:"created_at"`
		} `json:"attributes"`
		References struct {
			Context struct{ ID string } `json:"context"`
			Project struct{ ID string } `json:"project"`
			Group   struct{ ID string } `json:"group"`
		} `json:"references"`
	} `json:"data"`
	Page struct {
		Next *string `json:"next"`
	} `json:"page"`
}

// get GETs u with the token and decodes the answer into v, retrying
// transient failures.
func (a *API) get(ctx context.Context, u *url.URL, contextID string, v any) error {
	var r secret.Redactor
	r.Add(a.Token)
	shown := u.Redacted()
	client := a.HTTP
	if client == nil {
		client = defaultHTTP
	}
	return retry.Do(ctx, a.Retry, func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "facets-release")
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			// A refused or dropped connection, a timeout. The URL in the
			// error holds no token: it goes in a header only.
			return retry.Transient(errors.New(r.Redact(err.Error())), 0)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		if err != nil {
			return retry.Transient(fmt.Errorf("GET %s: reading the answer: %s", shown, r.Redact(err.Error())), 0)
		}
		if len(body) > maxAnswer {
			return fmt.Errorf("GET %s: the answer is larger than %d KiB: not read", shown, maxAnswer>>10)
		}
		said := r.Redact(message(body))
		switch code := resp.StatusCode; {
		case code == http.StatusOK:
			if err := json.Unmarshal(body, v); err != nil {
				return fmt.Errorf("GET %s: the answer is not a list of restrictions: %s", shown, r.Redact(err.Error()))
			}
			return nil
		case code == http.StatusUnauthorized:
			return fmt.Errorf("%w (GET %s: %s%s): it is wrong, expired or revoked; make a personal API token at CircleCI → User Settings → Personal API Tokens (%s)",
				ErrUnauthorized, shown, resp.Status, orEmpty(said), TokenSettings)
		case code == http.StatusNotFound:
			return fmt.Errorf("context %s: %w, or the token's user may not see it (GET %s: %s%s): check the context ID, and use a token of a member of the organization that owns the context",
				contextID, ErrNoContext, shown, resp.Status, orEmpty(said))
		case code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
			return retry.Transient(fmt.Errorf("GET %s: %s%s", shown, resp.Status, orEmpty(said)), retryAfter(resp.Header.Get("Retry-After"), time.Now()))
		}
		return fmt.Errorf("GET %s: %s%s", shown, resp.Status, orEmpty(said))
	})
}

// message is what an error answer says: its errors' details, its message,
// or the start of its text, on one line and short.
func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Errors  []struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	s := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil {
		var parts []string
		for _, x := range e.Errors {
			if x.Detail != "" {
				parts = append(parts, x.Detail)
			} else if x.Title != "" {
				parts = append(parts, x.Title)
			}
		}
		if len(parts) == 0 && e.Message != "" {
			parts = append(parts, e.Message)
		}
		if len(parts) > 0 {
			s = strings.Join(parts, "; ")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func orEmpty(said string) string {
	if said == "" {
		return ""
	}
	return ": " + said
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. Anything
// else is 0.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(min(s, 7*24*3600)) * time.Second // a week is forever here, and no overflow
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
