// Command circleci is a stand-in for CircleCI's circleci command, for tests
// and rehearsals: it does what the release asks of the real one,
//
//	circleci run oidc get --claims '{"aud":"npm:registry.npmjs.org"}'
//
// printing an RS256 ID token with the claims of a job, signed by a test key
// that the npmjs.com stand-in (registrytest) trusts. Its configuration is the
// file named by FACET_CIRCLECI_STANDIN (registrytest.StandInConfig); without
// it, it is not "inside a job" and fails, as the real one does.
//
// As CircleCI's do (https://circleci.com/docs/openid-connect-tokens/), its
// tokens carry the job's claims (registrytest.JobClaims: organization,
// project, pipeline definition, pipeline, workflow and job IDs, VCS origin
// and ref, contexts, whether it is an SSH rerun), iss
// https://oidc.circleci.com/org/<org id>, a jti of their own, and the
// organization ID as their audience unless --claims sets "aud". Only "aud"
// may be customized (https://circleci.com/docs/oidc-tokens-with-custom-claims/);
// the stand-in refuses any other claim and exits non-zero. The real command's
// wording of that refusal is not published: the stand-in's is its own.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agent-facets/facets/scripts/registrytest"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// run is the command with its arguments, the job's environment (getenv), and
// the time it mints at.
func run(args []string, getenv func(string) string, stdout io.Writer, now time.Time) error {
	if len(args) < 3 || args[0] != "run" || args[1] != "oidc" || args[2] != "get" {
		return errors.New("this stand-in knows only: circleci run oidc get --claims '<json>'")
	}
	fs := flag.NewFlagSet("circleci run oidc get", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	claimsJSON := fs.String("claims", "", "claims to add, as JSON")
	if err := fs.Parse(args[3:]); err != nil {
		return err
	}
	custom, err := customClaims(*claimsJSON)
	if err != nil {
		return err
	}
	path := getenv(registrytest.StandInEnv)
	if path == "" {
		return errors.New("OIDC tokens can only be generated inside a CircleCI job")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg registrytest.StandInConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	pemKey, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		return err
	}
	claims := jwt.MapClaims{}
	for k, v := range cfg.Claims {
		claims[k] = v
	}
	// The job's ref, as its pipeline has it.
	if tag := getenv("CIRCLE_TAG"); tag != "" {
		claims[registrytest.ClaimVCSRef] = "refs/tags/" + tag
	} else if branch := getenv("CIRCLE_BRANCH"); branch != "" {
		claims[registrytest.ClaimVCSRef] = "refs/heads/" + branch
	}
	claims["aud"] = claims[registrytest.ClaimOrgID] // CircleCI's default audience
	for k, v := range custom {
		claims[k] = v
	}
	ttl := time.Duration(cfg.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = time.Hour
	}
	issued := now.Add(-time.Duration(cfg.AgeSeconds) * time.Second)
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	claims["jti"] = hex.EncodeToString(id[:]) // every token its own, as CircleCI's are
	claims["iat"] = issued.Unix()
	claims["nbf"] = issued.Unix()
	claims["exp"] = issued.Add(ttl).Unix()
	token, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return err
	}
	if cfg.Garble {
		token = "x.y.z"
	}
	if cfg.Fail != "" {
		if cfg.LeakToken {
			fmt.Fprintln(stdout, token)
			return fmt.Errorf("%s (token %s)", cfg.Fail, token)
		}
		return errors.New(cfg.Fail)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// customClaims reads --claims: a JSON object that may set "aud", a string,
// and nothing else.
func customClaims(text string) (map[string]any, error) {
	if text == "" {
		return nil, nil
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(text), &claims); err != nil {
		return nil, fmt.Errorf("--claims must be a JSON object: %w", err)
	}
	var others []string
	for k := range claims {
		if k != "aud" {
			others = append(others, fmt.Sprintf("%q", k))
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		return nil, fmt.Errorf("--claims: only the \"aud\" claim can be customized, not %s", strings.Join(others, ", "))
	}
	if aud, ok := claims["aud"]; ok {
		if s, _ := aud.(string); s == "" {
			return nil, errors.New("--claims: \"aud\" must be a non-empty string")
		}
	}
	return claims, nil
}
