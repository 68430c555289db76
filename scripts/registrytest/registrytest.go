// Package registrytest plays npmjs.com in front of a real npm registry
// (Verdaccio) for tests, benchmarks and rehearsals. It is test support: only
// tests, benchmarks and the rehearsal use it.
//
// A local registry serves and accepts packages like npmjs.com does, but it
// has no trusted publishers, no OIDC token exchange and no staged
// publishing. Server adds those, as npm's documentation and CLI describe
// them, and passes every other request through to the registry behind it.
//
// Staged publishing (stage.go; npm stage publish, list, view, download,
// approve, reject) keeps staged versions in the stand-in's memory, invisible
// to packuments and installs, until a maintainer approves one with a second
// factor: it is then published to the registry behind as a publish through
// the stand-in is. A trusted publisher may stage when it has
// StagePermission; a name the registry lacks gets a StagePlaceholder
// version first. Tests read and change what is staged with Staged and
// ReplaceStagedTarball.
//
// It can also fail on demand (500, 429 with
// Retry-After, a dropped connection), for a share of requests or for one
// package, rate-limit its OIDC exchange (LimitExchanges), and it records
// every request it answered.
package registrytest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultOTP is the one-time password the account API accepts unless Options
// say otherwise.
const DefaultOTP = "123456"

// Options configure a Server.
type Options struct {
	Upstream string // URL of the registry behind, e.g. a Verdaccio's
	OTP      string // the account's authenticator code (see SetAuthenticator); "" means DefaultOTP
	Seed     uint64 // seeds the choice of failing requests when a Fault has a Share
	// UpstreamToken is a token of the registry behind that may publish: a
	// publish with a token from the OIDC exchange goes through with it.
	UpstreamToken string
	// Now is the stand-in's clock for what it does over time (its CDN, its
	// rate limit); nil means time.Now. Tests pass a Clock that the release
	// under test also sleeps on.
	Now func() time.Time
}

// Server is npmjs.com's stand-in, listening on the loopback interface.
type Server struct {
	URL string // "http://127.0.0.1:<port>/"

	upstream      *url.URL
	upstreamToken string
	otp           string
	clock         func() time.Time
	http          *http.Server
	proxy         *httputil.ReverseProxy
	client        *http.Client // to the upstream

	mu       sync.Mutex
	rand     *rand.Rand
	faults   []*fault
	requests []Request
	trust    map[string][]Trust // trusted publishers by package name
	logins   map[string]string  // bearer token → user name, as the upstream confirmed it
	exchange *exchange          // the OIDC exchange, once configured
	web      *webAuth           // the account's second factor, once configured (webauth.go)
	observe  func(Request)      // hears of each request answered
	before   func(Request)      // hears of each request before it is handled
	// publishOTP makes a user's publish need a one-time password.
	publishOTP bool
	cdn        map[string]cdnCopy // the CDN's copies (SetCDN)
	// virtualClock is set by SetClock: versions published through the
	// stand-in and its answers' Dates are then on its clock (times.go).
	virtualClock bool
	published    map[string]map[string]time.Time // package → version → published, on the clock
	cdnMaxAge    time.Duration
	cdnHits      int
	busy         int        // requests being handled
	settled      *sync.Cond // on mu: busy fell to 0

	// exchangeLimit rate-limits the exchange (LimitExchanges); nil: no limit.
	exchangeLimit *limiter
	// staged are the staged versions, oldest first (stage.go).
	staged []*stagedVersion
	// maintainers are the users who maintain a package a user's stage made
	// (its placeholder); any other package is the upstream's user's
	// (stage.go, maintains).
	maintainers map[string]string
	// omitStagedIntegrity leaves integrity out of the stage API's items
	// (OmitStagedIntegrity).
	omitStagedIntegrity bool
	// replaced are tarballs served with other bytes, by path (tamper.go).
	replaced map[string][]byte
}

// Start starts a Server in front of opts.Upstream. Close stops it.
func Start(opts Options) (*Server, error) {
	up, err := url.Parse(opts.Upstream)
	if err != nil || up.Host == "" {
		return nil, fmt.Errorf("registrytest: upstream %q is not a URL", opts.Upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:           "http://" + ln.Addr().String() + "/",
		upstream:      up,
		upstreamToken: opts.UpstreamToken,
		otp:           opts.OTP,
		clock:         opts.Now,
		client:        &http.Client{Timeout: 30 * time.Second},
		rand:          rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)),
		trust:         map[string][]Trust{},
		logins:        map[string]string{},
		maintainers:   map[string]string{},
	}
	if s.otp == "" {
		s.otp = DefaultOTP
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.settled = sync.NewCond(&s.mu)
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			// The registry writes tarball URLs from the Host it is asked
			// for: keep ours, so that clients come back through us.
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error { return s.dateAnswer(resp) },
		ErrorLog:       nil,
	}
	// No deadlines: only a client closes an idle connection, whether or not
	// it has carried a request (Go's transport keeps unused ones), so that
	// no PUT is sent on a connection the server is closing (see verdaccio's
	// serve.js).
	s.http = &http.Server{Handler: s}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// now is the time on the stand-in's clock (Options.Now, SetClock).
func (s *Server) now() time.Time {
	s.mu.Lock()
	clock := s.clock
	s.mu.Unlock()
	return clock()
}

// SetClock sets the stand-in's clock (see Options.Now); nil means time.Now.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.virtualClock = now != nil
	if now == nil {
		now = time.Now
	}
	s.clock = now
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// Settle waits until the server is handling no request: what a client that
// has been stopped got through to it is answered and recorded (a publish is
// carried out upstream even when its client is gone, as a registry that has
// the whole request does).
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.busy > 0 {
		s.settled.Wait()
	}
}

// Request is one request the server answered.
type Request struct {
	Method  string
	Path    string // escaped, as sent
	Query   string // the raw query ("write=true" reads the origin)
	Agent   string // the User-Agent: npm's, or the release's own reads ("facets-release")
	Package string // the package it concerns, "" if none
	Status  int    // 0 for a dropped connection
	Fault   bool   // failed on purpose
	Limited bool   // refused by a rate limit (LimitExchanges): a 429
	// Grant is which token from the exchange the request carries: 1 for
	// the first handed out (see Exchanged), 0 for none. A request carrying
	// a token handed out after Exchanged returned n has a grant above n,
	// however late other requests are answered.
	Grant int
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Before makes fn hear of every request before it is handled (a test
// changing the registry under a release's feet, say). fn runs in the
// request's goroutine, and the request waits for it.
func (s *Server) Before(fn func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = fn
}

// Observe makes fn hear of every request once it is answered (a test
// stopping a release after its k-th publish, say). fn must not block.
func (s *Server) Observe(fn func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe = fn
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pkg := PackageOf(r.URL.EscapedPath())
	if pkg == "" {
		pkg = s.stagedPackageOf(r)
	}
	rec := &recorder{ResponseWriter: w}
	entry := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Agent: r.Header.Get("User-Agent"), Package: pkg, Grant: s.grantOf(r)}
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
	defer func() {
		entry.Status, entry.Limited = rec.status, rec.limited
		s.mu.Lock()
		s.requests = append(s.requests, entry)
		observe := s.observe
		if s.busy--; s.busy == 0 {
			s.settled.Broadcast()
		}
		s.mu.Unlock()
		if observe != nil {
			observe(entry)
		}
	}()
	s.mu.Lock()
	before := s.before
	s.mu.Unlock()
	if before != nil {
		before(entry)
	}
	if f := s.failure(r.Method, r.URL.EscapedPath(), pkg); f != nil {
		entry.Fault = true
		if f.After {
			// The request is handled, and its answer lost: the client sees
			// the fault.
			s.handle(&discard{header: http.Header{}}, r, pkg)
		}
		f.serve(rec, r)
		return
	}
	s.handle(rec, r, pkg)
}

// handle answers a request as npmjs.com would.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, pkg string) {
	rec := w
	path := r.URL.EscapedPath()
	if s.serveReplaced(rec, r) {
		return
	}
	switch {
	case strings.HasPrefix(path, "/-/package/") && strings.Contains(path, "/trust"):
		s.serveTrust(rec, r, pkg)
	case strings.HasPrefix(path, "/-/npm/v1/oidc/token/exchange/package/"):
		s.serveExchange(rec, r, pkg)
	case isWebAuth(path):
		s.serveWebAuth(rec, r)
	case isStage(path):
		s.serveStage(rec, r, pkg)
	case r.Method == http.MethodPut && pkg != "" && !strings.HasPrefix(path, "/-/"):
		s.dated(rec, r, pkg, s.servePublish)
	case s.cached(r, pkg):
		s.serveCDN(rec, r)
	default:
		s.proxy.ServeHTTP(rec, r)
	}
}

// dated carries out a publish with serve, dated as a registry dates a
// publish when the stand-in is on a virtual clock (SetClock; times.go): when
// it starts to handle it, before the version shows.
func (s *Server) dated(w http.ResponseWriter, r *http.Request, pkg string, serve func(http.ResponseWriter, *http.Request, string)) {
	s.mu.Lock()
	virtual := s.virtualClock
	s.mu.Unlock()
	if !virtual {
		serve(w, r, pkg)
		return
	}
	at := s.now()
	var body bytes.Buffer
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(r.Body, &body), r.Body}
	st := &recorder{ResponseWriter: w}
	serve(st, r, pkg)
	s.notePublish(pkg, body.Bytes(), st.status, at)
}

// PackageOf returns the package an escaped request path concerns: a package
// document or publish ("/@scope%2fname", "/name"), a tarball
// ("/@scope/name/-/name-1.0.0.tgz"), the account API
// ("/-/package/@scope%2fname/trust"), the OIDC exchange or staging
// ("/-/stage/package/@scope%2fname"). It is "" for anything else (the
// Server also knows the package of a request about a staged version by its
// id, which this cannot).
func PackageOf(escapedPath string) string {
	p := strings.TrimPrefix(escapedPath, "/")
	for _, prefix := range []string{"-/npm/v1/oidc/token/exchange/package/", "-/package/", "-/stage/package/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			name, _, _ := strings.Cut(rest, "/")
			if strings.HasPrefix(name, "@") && !strings.Contains(strings.ToLower(name), "%2f") {
				// "@scope/name/trust": the name takes two segments
				scope, tail, _ := strings.Cut(rest, "/")
				n, _, _ := strings.Cut(tail, "/")
				name = scope + "/" + n
			}
			return unescape(name)
		}
	}
	if p == "" || strings.HasPrefix(p, "-/") {
		return ""
	}
	segs := strings.Split(p, "/")
	if strings.HasPrefix(segs[0], "@") {
		if strings.Contains(strings.ToLower(segs[0]), "%2f") {
			return unescape(segs[0])
		}
		if len(segs) > 1 {
			return segs[0] + "/" + unescape(segs[1])
		}
		return ""
	}
	return unescape(segs[0])
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// recorder remembers the status written, and lets a fault hijack the
// connection.
type recorder struct {
	http.ResponseWriter
	status  int
	limited bool // a rate limit refused the request
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

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// discard is a ResponseWriter that throws the answer away.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with status and npm's error document.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// upstreamExists reports whether the registry behind has the package.
func (s *Server) upstreamExists(ctx context.Context, pkg string) (bool, error) {
	u := s.upstream.JoinPath()
	u.RawPath = "/" + escapeName(pkg)
	u.Path = "/" + pkg
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("upstream: %s", resp.Status)
}

// user returns the user the request's bearer token logs in, asking the
// registry behind (its /-/whoami) the first time; "" when it logs in no one.
func (s *Server) user(ctx context.Context, r *http.Request) (string, error) {
	return s.userOf(ctx, r.Header.Get("Authorization"))
}

// userOf is user for the Authorization header auth.
func (s *Server) userOf(ctx context.Context, auth string) (string, error) {
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token == "" {
		return "", nil
	}
	s.mu.Lock()
	name, known := s.logins[token]
	s.mu.Unlock()
	if known {
		return name, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.upstream.JoinPath("-", "whoami").String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var who struct {
		Username string `json:"username"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&who) != nil || who.Username == "" {
		return "", nil
	}
	s.mu.Lock()
	s.logins[token] = who.Username
	s.mu.Unlock()
	return who.Username, nil
}

// escapeName escapes a package name as npm does in registry paths.
func escapeName(name string) string {
	if strings.HasPrefix(name, "@") {
		return strings.Replace(name, "/", "%2f", 1)
	}
	return name
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// readBody reads a request body of at most 1 MB.
func readBody(r *http.Request) ([]byte, error) { return readBodyLimit(r, 1<<20) }

// errTooLarge is a request body over the limit.
var errTooLarge = errors.New("the request body is too large")

// readBodyLimit reads a request body of at most limit bytes; a larger one is
// errTooLarge.
func readBodyLimit(r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return bytes.TrimSpace(data), nil
}
