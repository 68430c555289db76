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
	provider    string // the trusted publisher's ("circleci")
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

// IDTokenMaxAge is how long after it was issued (its iat) the exchange
// accepts a CircleCI ID token, as npmjs.com is reported to: about 5 minutes,
// although the token itself is valid for an hour.
const IDTokenMaxAge = 5 * time.Minute

// The exchange's refusals, worded exactly as npmjs.com words them: the
// message is all a refusal says.
const (
	exchangeBadRequest   = "OIDC token exchange error - bad request"
	exchangeUnauthorized = "OIDC token exchange error - unauthorized"
	exchangeNotFound     = "OIDC token exchange error - package not found"
	exchangeServerError  = "OIDC token exchange error - internal server error"
)

// serveExchange is npm's OIDC token exchange:
//
//	POST /-/npm/v1/oidc/token/exchange/package/<name>   Authorization: Bearer <ID token>
//
// with no body (npm also sends npm-command: publish, or stage, which the
// stand-in does not need). The answers are npmjs.com's:
//
//   - 201 {"token_type":"oidc","token","created","expires"}: an npm token
//     good for that package only, for an hour;
//   - 400 "bad request": not a POST, no Authorization header, not a bearer
//     token, or a bearer token that is not a JWT at all;
//   - 401 "unauthorized": a JWT that does not prove a CircleCI job: not
//     RS256, an issuer the exchange does not trust or a signature not its
//     key's, an audience other than npm:<this host>, no exp or expired, not
//     yet valid, or no iat or one more than IDTokenMaxAge ago (checked on the
//     real clock, which the circleci stand-in mints with);
//   - 404 "package not found", the same for every reason npmjs.com gives it:
//     the package does not exist, it has no trusted publisher, none matches
//     the token's claims (organization, project, pipeline definition, VCS
//     origin, contexts), or the token is from an SSH rerun (or does not say);
//   - 500 "internal server error": the registry behind could not say whether
//     the package exists.
//
// Each refusal is {"message": …} with one of the four messages, no more; a
// rate limit (LimitExchanges) answers 429 before any of this.
func (s *Server) serveExchange(w http.ResponseWriter, r *http.Request, pkg string) {
	if s.limitExchange(w) {
		return
	}
	idToken, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	s.ensureExchange()
	ex := s.exchange
	leaky := ex.leaky
	if bearer {
		ex.idTokens = append(ex.idTokens, idToken)
	}
	s.mu.Unlock()
	refuse := func(status int, msg string) {
		if leaky && idToken != "" {
			msg += " (ID token " + idToken + ")"
		}
		writeJSON(w, status, map[string]string{"message": msg})
	}
	if r.Method != http.MethodPost || !bearer {
		refuse(http.StatusBadRequest, exchangeBadRequest)
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
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("npm:"+hostOf(r)), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		refuse(http.StatusBadRequest, exchangeBadRequest)
		return
	case err != nil || !fresh(claims, time.Now()):
		refuse(http.StatusUnauthorized, exchangeUnauthorized)
		return
	}
	exists, err := s.upstreamExists(r.Context(), pkg)
	switch {
	case err != nil:
		refuse(http.StatusInternalServerError, exchangeServerError)
		return
	case !exists:
		refuse(http.StatusNotFound, exchangeNotFound)
		return
	}
	if rerun, ok := claims[ClaimSSHRerun].(bool); !ok || rerun {
		refuse(http.StatusNotFound, exchangeNotFound)
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
		refuse(http.StatusNotFound, exchangeNotFound)
		return
	}
	token := "npm_" + (strings.ReplaceAll(newID(), "-", "") + strings.ReplaceAll(newID(), "-", ""))[:36]
	now := time.Now()
	s.mu.Lock()
	ex.issued++
	ex.grants[token] = grant{seq: ex.issued, pkg: pkg, permissions: slices.Clone(match.Permissions), provider: match.Type, expires: now.Add(time.Hour)}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{
		"token": token, "token_type": "oidc",
		"created": now.UTC().Format(time.RFC3339), "expires": now.Add(time.Hour).UTC().Format(time.RFC3339),
	})
}

// fresh reports whether the ID token was issued at most IDTokenMaxAge before
// now; a token without iat is not.
func fresh(claims jwt.MapClaims, now time.Time) bool {
	iat, err := claims.GetIssuedAt()
	return err == nil && iat != nil && now.Sub(iat.Time) <= IDTokenMaxAge
}

// matchesClaims reports whether the ID token's claims are those of the
// trusted publisher t: its organization is the token's (its org-id claim,
// and the organization of its issuer), and every other claim it sets is the
// token's, every context it names among the token's.
func matchesClaims(t Trust, claims jwt.MapClaims) bool {
	if t.Type != "circleci" {
		return false
	}
	for name, want := range t.Claims {
		if name == ClaimOrgID {
			iss, _ := claims["iss"].(string)
			if claims[ClaimOrgID] != want || iss != "https://oidc.circleci.com/org/"+fmt.Sprint(want) {
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
	case !slices.Contains(g.permissions, PublishPermission):
		// A publisher that may only stage (see WebTrust); npm prints
		// "403 Forbidden - PUT <url> - OIDC permission denied for this action".
		writeError(w, http.StatusForbidden, "OIDC permission denied for this action")
		return
	case s.upstreamToken == "":
		writeError(w, http.StatusInternalServerError, errors.New("registrytest: no upstream token to publish with").Error())
		return
	}
	r.Header.Set("Authorization", "Bearer "+s.upstreamToken)
	s.proxy.ServeHTTP(w, r)
}
