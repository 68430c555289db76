// Package circlecitest plays CircleCI's API v3 for tests and rehearsals: the
// restrictions of contexts, as verify reads them. It is test support: only
// tests, benchmarks and the rehearsal use it.
//
// It follows CircleCI's documentation of the API
// (https://circleci.com/docs/api/v3/context-restrictions.md and
// conventions.md):
//
//   - Every route is under /api/v3; a request is authenticated with
//     "Authorization: Bearer <token>" and nothing else (not the v2 API's
//     Circle-Token header, not a token in the query): anything else is 401.
//   - GET /api/v3/context-restrictions?filter[context_id]=<uuid> lists every
//     restriction of the context, of all three types together:
//     {"data":[{"id","attributes":{"restriction_type","match_pattern","name",
//     "created_at"},"references":{"context":{"id"}, …}}]}. An expression
//     restriction's match_pattern is the expression; a project or group
//     restriction references its subject, with its name where it is known.
//     created_at is absent where no time was recorded.
//   - The filter is required and must be a UUID (400 otherwise); a context
//     that does not exist, or that the token's user may not see, is 404.
//   - A collection may come in pages: {"data":[…],"page":{"next","prev"}},
//     next sent back as page[cursor] until it is null.
//
// The shape of an error's body is not documented there; the stand-in answers
// {"errors":[{"code","detail"}]}, and clients should take it as text only.
// It can also fail on demand (500, 429 with Retry-After, a dropped
// connection) and it records every request it answered, never a token.
package circlecitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	Token string // the API token it accepts; "" means none is accepted
	// PageSize, if set, splits lists into pages of that many items.
	PageSize int
}

// Restriction is a restriction of a context, as the API lists it.
type Restriction struct {
	ID      string // "" means one is made up
	Type    string // "project", "expression" or "group"
	Pattern string // match_pattern: the expression, or the project's or group's ID
	Name    string // the project's or group's name; "" for none
	Created time.Time
}

// Kind is how a fault fails a request.
type Kind int

// The ways a request can fail.
const (
	Status500 Kind = iota + 1 // 500 Internal Server Error
	Status429                 // 429 Too Many Requests, with Retry-After
	Drop                      // the connection is closed with no answer
)

// Fault makes requests fail, the next Times of them (0: until removed).
type Fault struct {
	Kind       Kind
	RetryAfter string // the Retry-After header of a 429: seconds or an HTTP date
	Times      int
}

// Request is one request the server answered.
type Request struct {
	Method string
	Path   string // escaped
	Query  string // raw, as sent
	// Auth is how the request authenticated: "bearer" (the right token),
	// "wrong bearer", "circle-token header", "query token" or "none".
	Auth   string
	Status int // 0 for a dropped connection
}

// Server is the stand-in, listening on the loopback interface.
type Server struct {
	URL string // the API's root: "http://127.0.0.1:<port>/api/v3/"

	http     *http.Server
	token    string
	pageSize int

	mu       sync.Mutex
	contexts map[string][]Restriction // by lower-case context ID
	faults   []*fault
	requests []Request
	leak     bool
	ids      int
}

type fault struct {
	Fault
	failed int
}

// Start starts a Server. Close stops it.
func Start(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String() + "/api/v3/",
		token:    opts.Token,
		pageSize: opts.PageSize,
		contexts: map[string][]Restriction{},
	}
	s.http = &http.Server{Handler: s}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// SetContext makes the context contextID exist with exactly the restrictions
// rs (none: an unrestricted context).
func (s *Server) SetContext(contextID string, rs ...Restriction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs = slices.Clone(rs)
	if rs == nil {
		rs = []Restriction{}
	}
	for i := range rs {
		if rs[i].ID == "" {
			s.ids++
			rs[i].ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.ids)
		}
	}
	s.contexts[strings.ToLower(contextID)] = rs
}

// DeleteContext removes the context contextID: it is then 404.
func (s *Server) DeleteContext(contextID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.contexts, strings.ToLower(contextID))
}

// Inject adds f; the returned function removes it.
func (s *Server) Inject(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inj := &fault{Fault: f}
	s.faults = append(s.faults, inj)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.faults = slices.DeleteFunc(s.faults, func(g *fault) bool { return g == inj })
	}
}

// LeakTokenInErrors makes a 401 quote the token it was given, as a careless
// server might: a client must keep it out of its own errors all the same.
func (s *Server) LeakTokenInErrors(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leak = on
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

var uuid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	entry := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: s.auth(r)}
	defer func() {
		entry.Status = rec.status
		s.mu.Lock()
		s.requests = append(s.requests, entry)
		s.mu.Unlock()
	}()
	if f := s.failure(); f != nil {
		switch f.Kind {
		case Status429:
			rec.Header().Set("Retry-After", f.RetryAfter)
			writeError(rec, http.StatusTooManyRequests, "rate_limited", "Too many requests (circlecitest fault)")
		case Drop:
			panic(http.ErrAbortHandler) // closes the connection with no answer
		default:
			writeError(rec, http.StatusInternalServerError, "internal_error", "Internal server error (circlecitest fault)")
		}
		return
	}
	if entry.Auth != "bearer" {
		detail := "Authentication required: send your API token in the Authorization header."
		s.mu.Lock()
		leak := s.leak
		s.mu.Unlock()
		if leak {
			detail += " Got: " + r.Header.Get("Authorization") + r.Header.Get("Circle-Token")
		}
		writeError(rec, http.StatusUnauthorized, "unauthorized", detail)
		return
	}
	if r.URL.EscapedPath() != "/api/v3/context-restrictions" {
		writeError(rec, http.StatusNotFound, "not_found", "Not found.")
		return
	}
	if r.Method != http.MethodGet {
		writeError(rec, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed.")
		return
	}
	s.serveRestrictions(rec, r)
}

// auth says how r authenticated (see Request.Auth).
func (s *Server) auth(r *http.Request) string {
	q := r.URL.Query()
	switch h := r.Header.Get("Authorization"); {
	case q.Has("circle-token") || q.Has("token"):
		return "query token" // rejected: "A token in a query parameter is rejected"
	case h != "":
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") && s.token != "" && tok == s.token {
			return "bearer"
		}
		return "wrong bearer"
	case r.Header.Get("Circle-Token") != "":
		return "circle-token header"
	}
	return "none"
}

func (s *Server) serveRestrictions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("filter[context_id]")
	if !q.Has("filter[context_id]") {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "filter[context_id] is required.")
		return
	}
	if !uuid.MatchString(id) {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "filter[context_id] must be a UUID.")
		return
	}
	s.mu.Lock()
	rs, ok := s.contexts[strings.ToLower(id)]
	rs = slices.Clone(rs)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Context not found.")
		return
	}
	start := 0
	if c := q.Get("page[cursor]"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "c"))
		if err != nil || n < 0 || n > len(rs) || !strings.HasPrefix(c, "c") {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "page[cursor] is not a cursor of this list.")
			return
		}
		start = n
	}
	end := len(rs)
	if s.pageSize > 0 {
		end = min(start+s.pageSize, len(rs))
	}
	data := make([]map[string]any, 0, end-start)
	for _, x := range rs[start:end] {
		attrs := map[string]any{"restriction_type": x.Type, "match_pattern": x.Pattern}
		if x.Name != "" {
			attrs["name"] = x.Name
		}
		if !x.Created.IsZero() {
			attrs["created_at"] = x.Created.UTC().Format(time.RFC3339)
		}
		refs := map[string]any{"context": map[string]any{"id": strings.ToLower(id)}}
		if x.Type == "project" || x.Type == "group" {
			ref := map[string]any{"id": x.Pattern}
			if x.Name != "" {
				ref["attributes"] = map[string]any{"name": x.Name}
			}
			refs[x.Type] = ref
		}
		data = append(data, map[string]any{"id": x.ID, "attributes": attrs, "references": refs})
	}
	answer := map[string]any{"data": data}
	if s.pageSize > 0 {
		var next, prev any
		if end < len(rs) {
			next = "c" + strconv.Itoa(end)
		}
		if start > 0 {
			prev = "c" + strconv.Itoa(max(start-s.pageSize, 0))
		}
		answer["page"] = map[string]any{"next": next, "prev": prev}
	}
	writeJSON(w, http.StatusOK, answer)
}

// failure returns the fault that fails the next request, if any, and counts it.
func (s *Server) failure() *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Times > 0 && f.failed >= f.Times {
			continue
		}
		f.failed++
		return f
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": code, "detail": detail}}})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}
