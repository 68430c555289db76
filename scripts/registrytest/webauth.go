package registrytest

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Two-factor authentication, as npmjs.com asks a logged-in user for it (the
// trusted-publisher API; a user's publish when RequireOTPForPublish is on).
//
// npm sends "npm-auth-type: web" (its auth-type setting, web by default, and
// legacy when it has a one-time password to give) and, when it has a second
// factor, "npm-otp". The registry accepts an authenticator's code, where the
// account has an authenticator, or a token from a finished web login, once;
// otherwise it answers 401 with "WWW-Authenticate: OTP", which npm reports as
// EOTP. To a request that says web, the 401's body carries authUrl, the page
// the user opens in a browser to approve the operation (with a security key,
// a passkey or an authenticator), and doneUrl, which npm polls: 202 with
// Retry-After (seconds) until the user has approved, then 200 {"token"}; npm
// repeats its request with the token as the one-time password. npm follows
// the URLs only when its standard input and output are a terminal
// (lib/utils/auth.js otplease); detached it fails with EOTP and prints them.

// Paths of the web login: authUrl is on www.npmjs.com and doneUrl on the
// registry at npmjs.com; the stand-in serves both.
const (
	webAuthPath = "/-/auth/cli/" // + id
	webDonePath = "/-/v1/done"   // ?authId=<id>
)

// webTokenTTL is how long the token of an approved web login may be used.
const webTokenTTL = 5 * time.Minute

// defaultRetryAfter is what doneUrl tells npm to wait between two polls.
const defaultRetryAfter = time.Second

// WebLogin is one web login the stand-in started for a request that needed
// a second factor.
type WebLogin struct {
	ID       string
	AuthURL  string // the page the user opens to approve
	DoneURL  string // what npm polls
	Request  string // what asked for it: "GET /-/package/…/trust"
	Approved bool
	// Token is what doneUrl hands out once the login is approved ("" before):
	// a one-time password, listed for tests that prove it leaks nowhere.
	Token string
	Used  bool // the token has served a request
}

// webAuth is the account's second factor.
type webAuth struct {
	noAuthenticator bool          // the account has no authenticator (Server.otp is not accepted)
	retryAfter      time.Duration // doneUrl's Retry-After; 0 means defaultRetryAfter
	approveAll      bool          // approve every web login as it starts
	logins          []*webLogin
}

type webLogin struct {
	WebLogin
	login    [sha256.Size]byte // the credentials of the request that started it
	approved time.Time
}

func (s *Server) ensureWebAuth() {
	if s.web == nil {
		s.web = &webAuth{}
	}
}

// SetAuthenticator sets the code of the account's authenticator app, which
// npm-otp may carry (Options.OTP, DefaultOTP, at the start); "" means the
// account has none, only a security key or a passkey: then only the web
// login passes.
func (s *Server) SetAuthenticator(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureWebAuth()
	s.web.noAuthenticator = code == ""
	if code != "" {
		s.otp = code
	}
}

// SetWebLoginRetryAfter sets the Retry-After doneUrl answers while a login
// waits for approval (a second by default; npm takes fractions). Tests make
// it small.
func (s *Server) SetWebLoginRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureWebAuth()
	s.web.retryAfter = d
}

// ApproveWebLogins makes every web login approved as it starts, as a user
// at the browser would at once: for an unattended rehearsal.
func (s *Server) ApproveWebLogins(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureWebAuth()
	s.web.approveAll = on
}

// WebLogins returns the web logins started so far, in order.
func (s *Server) WebLogins() []WebLogin {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.web == nil {
		return nil
	}
	list := make([]WebLogin, len(s.web.logins))
	for i, l := range s.web.logins {
		list[i] = l.WebLogin
	}
	return list
}

// ApproveWebLogin approves the web login id, as its user does on the page
// at its AuthURL (a GET of which does the same).
func (s *Server) ApproveWebLogin(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.webLogin(id)
	if l == nil {
		return fmt.Errorf("registrytest: no web login %q", id)
	}
	s.approve(l)
	return nil
}

// webLogin finds the login id; s.mu is held.
func (s *Server) webLogin(id string) *webLogin {
	if s.web == nil || id == "" {
		return nil
	}
	i := slices.IndexFunc(s.web.logins, func(l *webLogin) bool { return l.ID == id })
	if i < 0 {
		return nil
	}
	return s.web.logins[i]
}

// approve approves l; s.mu is held.
func (s *Server) approve(l *webLogin) {
	if l.Approved {
		return
	}
	l.Approved = true
	l.Token = "npm_otp_" + strings.ReplaceAll(newID(), "-", "")
	l.approved = s.clock()
}

// secondFactor checks the second factor of r, a request by a logged-in user
// that needs one. It reports whether r passes; if not, it has answered 401.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request) bool {
	otp := r.Header.Get("npm-otp")
	login := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureWebAuth()
	if otp != "" {
		if !s.web.noAuthenticator && subtle.ConstantTimeCompare([]byte(otp), []byte(s.otp)) == 1 {
			return true
		}
		now := s.clock()
		for _, l := range s.web.logins {
			if l.Approved && !l.Used && l.login == login && now.Before(l.approved.Add(webTokenTTL)) &&
				subtle.ConstantTimeCompare([]byte(otp), []byte(l.Token)) == 1 {
				l.Used = true
				return true
			}
		}
	}
	w.Header().Set("WWW-Authenticate", "OTP")
	const msg = "This operation requires a one-time password."
	if !strings.EqualFold(r.Header.Get("npm-auth-type"), "web") {
		writeError(w, http.StatusUnauthorized, msg)
		return false
	}
	base := "http://" + r.Host
	id := newID()
	l := &webLogin{WebLogin: WebLogin{
		ID:      id,
		AuthURL: base + webAuthPath + id,
		DoneURL: base + webDonePath + "?authId=" + id,
		Request: r.Method + " " + r.URL.EscapedPath(),
	}, login: login}
	s.web.logins = append(s.web.logins, l)
	if s.web.approveAll {
		s.approve(l)
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg, "authUrl": l.AuthURL, "doneUrl": l.DoneURL})
	return false
}

// isWebAuth says whether an escaped path is the web login's.
func isWebAuth(path string) bool {
	return strings.HasPrefix(path, webAuthPath) || path == webDonePath
}

// serveWebAuth serves the web login:
//
//	GET /-/auth/cli/<id>        the page the user opens: approves the login
//	GET /-/v1/done?authId=<id>  202 with Retry-After until approved, then 200 {"token"}
func (s *Server) serveWebAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path)
		return
	}
	path := r.URL.EscapedPath()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := strings.CutPrefix(path, webAuthPath); ok {
		l := s.webLogin(id)
		if l == nil {
			writeError(w, http.StatusNotFound, "no such login")
			return
		}
		s.approve(l)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Authenticated. You may close this page and return to your terminal.")
		return
	}
	l := s.webLogin(r.URL.Query().Get("authId"))
	switch {
	case l == nil:
		writeError(w, http.StatusNotFound, "no such login")
	case !l.Approved:
		wait := s.web.retryAfter
		if wait <= 0 {
			wait = defaultRetryAfter
		}
		w.Header().Set("Retry-After", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
		writeJSON(w, http.StatusAccepted, map[string]string{}) // npm reads the body as JSON first
	default:
		writeJSON(w, http.StatusOK, map[string]string{"token": l.Token})
	}
}
