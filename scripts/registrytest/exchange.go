package registrytest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer is the stand-in for CircleCI's OIDC issuer of one organization: a
// key that signs ID tokens (see the circleci stand-in, cmd/circleci) and that
// the Server trusts once told to (TrustIssuer).
type Signer struct {
	Issuer string // https://oidc.circleci.com/org/<org id>
	Key    *rsa.PrivateKey
}

// NewSigner makes a signer with a new 2048-bit key.
func NewSigner(issuer string) (*Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Signer{Issuer: issuer, Key: key}, nil
}

// WriteKey writes the private key as PEM to path, for the circleci stand-in.
func (s *Signer) WriteKey(path string) error {
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.Key)})
	return os.WriteFile(path, data, 0o600)
}

// Sign makes an ID token with claims, signed with RS256.
func (s *Signer) Sign(claims jwt.MapClaims) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(s.Key)
}

// exchange is what the OIDC token exchange knows: the issuers it trusts and
// the tokens it has handed out.
type exchange struct {
	issuers  map[string]*rsa.PublicKey
	grants   map[string]grant // npm token → what it allows
	issued   int              // how many tokens it has handed out
	idTokens []string         // every ID token presented, in order
	leaky    bool             // put the ID token into error messages
}

// LeakTokensInErrors makes the exchange's refusals quote the ID token they
// refused, as a careless registry might: npm logs a refusal's message at
// verbose level, so the release's redaction must catch it.
func (s *Server) LeakTokensInErrors(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureExchange()
	s.exchange.leaky = on
}

// IDTokens are the ID tokens presented to the exchange, in order.
func (s *Server) IDTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exchange == nil {
		return nil
	}
	return slices.Clone(s.exchange.idTokens)
}

func (s *Server) ensureExchange() {
	if s.exchange == nil {
		s.exchange = &exchange{issuers: map[string]*rsa.PublicKey{}, grants: map[string]grant{}}
	}
}

// grant is an npm token the exchange handed out: one package, for a while.
type grant struct {
	seq         int // 1 for the first token handed out, and so on
	pkg         string
	permissions []string
	expires     time.Time
}

// TrustIssuer makes the exchange accept ID tokens signed by s.
func (s *Server) TrustIssuer(signer *Signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureExchange()
	s.exchange.issuers[signer.Issuer] = &signer.Key.PublicKey
}

// Exchanged is how many npm tokens the exchange has handed out.
func (s *Server) Exchanged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exchange == nil {
		return 0
	}
	return s.exchange.issued
}

// grantOf is which token from the exchange r carries (see Request.Grant).
func (s *Server) grantOf(r *http.Request) int {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || s.exchange == nil {
		return 0
	}
	return s.exchange.grants[token].seq
}

// IssuedTokens are the npm tokens the exchange has handed out, for tests that
// prove none of them leaks.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var tokens []string
	if s.exchange != nil {
		for t := range s.exchange.grants {
			tokens = append(tokens, t)
		}
	}
	return tokens
}

// serveExchange is npm's OIDC token exchange:
//
//	POST /-/npm/v1/oidc/token/exchange/package/<name>   Authorization: Bearer <ID token>
//
// The ID token must be an RS256 JWT from a trusted issuer, for the audience
// npm:<this host>, unexpired, not from an SSH rerun, and its claims must match
// the package's trusted publisher. Then the answer is 201 with an npm token
// good for that package only; otherwise 404, as npmjs.com answers both for a
// package that does not exist and for claims that match no trusted publisher.
func (s *Server) serveExchange(w http.ResponseWriter, r *http.Request, pkg string) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path)
		return
	}
	idToken, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	ex := s.exchange
	leaky := ex != nil && ex.leaky
	if ex != nil && ok {
		ex.idTokens = append(ex.idTokens, idToken)
	}
	s.mu.Unlock()
	deny := func(why string) {
		if leaky {
			why += " (ID token " + idToken + ")"
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": why, "error": why})
	}
	if !ok {
		deny("no ID token")
		return
	}
	if ex == nil {
		deny("OIDC token exchange is not configured")
		return
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(idToken, claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		s.mu.Lock()
		defer s.mu.Unlock()
		if key := ex.issuers[iss]; key != nil {
			return key, nil
		}
		return nil, fmt.Errorf("untrusted issuer %q", iss)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("npm:"+hostOf(r)), jwt.WithExpirationRequired())
	if err != nil {
		deny("invalid ID token: " + err.Error())
		return
	}
	if rerun, ok := claims[ClaimSSHRerun].(bool); !ok || rerun {
		deny("ID tokens of SSH reruns are not accepted (or the token does not say)")
		return
	}
	exists, err := s.upstreamExists(r.Context(), pkg)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if !exists {
		deny("package " + pkg + " not found")
		return
	}
	var match *Trust
	for _, t := range s.TrustOf(pkg) {
		if matchesClaims(t, claims) {
			match = &t
			break
		}
	}
	if match == nil {
		deny("no trusted publisher of " + pkg + " matches the ID token's claims")
		return
	}
	token := "npm_" + (strings.ReplaceAll(newID(), "-", "") + strings.ReplaceAll(newID(), "-", ""))[:36]
	now := time.Now()
	s.mu.Lock()
	ex.issued++
	ex.grants[token] = grant{seq: ex.issued, pkg: pkg, permissions: slices.Clone(match.Permissions), expires: now.Add(time.Hour)}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{
		"token": token, "token_type": "Bearer",
		"created": now.UTC().Format(time.RFC3339), "expires": now.Add(time.Hour).UTC().Format(time.RFC3339),
	})
}

// matchesClaims reports whether the ID token's claims are those of the
// trusted publisher t: its organization is the token's issuer's, and every
// other claim it sets is the token's, every context it names among the
// token's.
func matchesClaims(t Trust, claims jwt.MapClaims) bool {
	if t.Type != "circleci" {
		return false
	}
	for name, want := range t.Claims {
		if name == ClaimOrgID {
			iss, _ := claims["iss"].(string)
			if iss != "https://oidc.circleci.com/org/"+fmt.Sprint(want) {
				return false
			}
			continue
		}
		if name == ClaimContextIDs {
			have, _ := claims[ClaimContextIDs].([]any)
			wantList, _ := want.([]any)
			for _, id := range wantList {
				if !slices.Contains(have, id) {
					return false
				}
			}
			continue
		}
		if claims[name] != want {
			return false
		}
	}
	return true
}

// hostOf is the host name the request was sent to, without the port: the
// registry host npm puts in the audience.
func hostOf(r *http.Request) string {
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// RequireOTPForPublish makes a publish by a user (not with a token from the
// OIDC exchange) need a one-time password, as npmjs.com does for an account
// with two-factor authentication for writes.
func (s *Server) RequireOTPForPublish(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishOTP = on
}

// servePublish checks a publish's token. An npm token from the exchange must
// be for this package, unexpired and allowed to publish; the publish then goes
// to the registry behind as its publishing user. Any other token passes
// through, for the registry behind to judge.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request, pkg string) {
	// A publish the registry has whole is carried out, whether or not its
	// client waits for the answer.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	var g grant
	var ok bool
	if s.exchange != nil {
		g, ok = s.exchange.grants[token]
	}
	s.mu.Unlock()
	if !ok {
		s.mu.Lock()
		needOTP := s.publishOTP
		s.mu.Unlock()
		if needOTP && !s.secondFactor(w, r) {
			return
		}
		s.proxy.ServeHTTP(w, r)
		return
	}
	switch {
	case time.Now().After(g.expires):
		writeError(w, http.StatusUnauthorized, "the token has expired")
		return
	case g.pkg != pkg:
		writeError(w, http.StatusForbidden, fmt.Sprintf("this token may publish %s, not %s", g.pkg, pkg))
		return
	case !slices.Contains(g.permissions, "createPackage"):
		writeError(w, http.StatusForbidden, "OIDC permission denied")
		return
	case s.upstreamToken == "":
		writeError(w, http.StatusInternalServerError, errors.New("registrytest: no upstream token to publish with").Error())
		return
	}
	r.Header.Set("Authorization", "Bearer "+s.upstreamToken)
	s.proxy.ServeHTTP(w, r)
}
