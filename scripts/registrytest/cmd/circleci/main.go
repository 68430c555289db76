// Command circleci is a stand-in for CircleCI's circleci command, for tests
// and rehearsals: it does what the release asks of the real one,
//
//	circleci run oidc get --claims '{"aud":"npm:registry.npmjs.org"}'
//
// printing an RS256 ID token with the claims of a job, signed by a test key
// that the npmjs.com stand-in (registrytest) trusts. Its configuration is the
// file named by FACET_CIRCLECI_STANDIN (registrytest.StandInConfig); without
// it, it is not "inside a job" and fails, as the real one does.
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
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agent-facets/facets/scripts/registrytest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) < 3 || args[0] != "run" || args[1] != "oidc" || args[2] != "get" {
		return errors.New("this stand-in knows only: circleci run oidc get --claims '<json>'")
	}
	fs := flag.NewFlagSet("circleci run oidc get", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	claimsJSON := fs.String("claims", "", "claims to add, as JSON")
	if err := fs.Parse(args[3:]); err != nil {
		return err
	}
	path := os.Getenv(registrytest.StandInEnv)
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
	if *claimsJSON != "" {
		var extra map[string]any
		if err := json.Unmarshal([]byte(*claimsJSON), &extra); err != nil {
			return fmt.Errorf("--claims: %w", err)
		}
		for k, v := range extra {
			claims[k] = v
		}
	}
	ttl := time.Duration(cfg.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = time.Hour
	}
	now := time.Now()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	claims["jti"] = hex.EncodeToString(id[:]) // every token its own, as CircleCI's are
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	token, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return err
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
