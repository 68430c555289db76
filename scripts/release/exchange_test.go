package release

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// npmOutput is npm's verbose output for an exchange answered with code and
// message (code 0: no answer, only npm's line).
func npmOutput(code int, message string) string {
	out := "npm verbose cli /usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js\n"
	if code != 0 {
		out += fmt.Sprintf("npm http fetch POST %d http://127.0.0.1:4873/-/npm/v1/oidc/token/exchange/package/@agent-facets%%2fcli-linux-x64 14ms\n", code)
	}
	return out + "npm verbose oidc Failed token exchange request with body message: " + message + "\n"
}

// A failed exchange is read from npm's output: the answer, whether another
// try may pass, and what the answer means, cause by cause.
func TestExchangeFailure(t *testing.T) {
	tests := []struct {
		name      string
		out       string
		msg       string
		transient bool
		causes    []string
	}{
		{"404", npmOutput(404, "OIDC token exchange error - package not found"),
			"the OIDC token exchange failed: OIDC token exchange error - package not found (HTTP 404)", false,
			[]string{"likely causes: the package has no trusted publisher (go tool mage trust)",
				"or one for another organization, project, pipeline definition, VCS origin or context (go tool mage verify)",
				"or this job is an SSH rerun, whose tokens npm refuses (rerun the workflow without SSH)",
				"or the package does not exist (go tool mage seed)"}},
		{"401", npmOutput(401, "OIDC token exchange error - unauthorized"),
			"the OIDC token exchange failed: OIDC token exchange error - unauthorized (HTTP 401)", false,
			[]string{"likely causes: the ID token is older than about 5 minutes", "or the job's clock is off",
				"or its audience is not npm:registry.npmjs.org", "or CircleCI did not sign it"}},
		{"400", npmOutput(400, "OIDC token exchange error - bad request"),
			"the OIDC token exchange failed: OIDC token exchange error - bad request (HTTP 400)", false,
			[]string{"likely causes: npm sent a malformed request"}},
		{"500", npmOutput(500, "OIDC token exchange error - internal server error"),
			"the OIDC token exchange failed: OIDC token exchange error - internal server error (HTTP 500)", true,
			[]string{"likely causes: the registry's trouble (a server error, a rate limit), already retried"}},
		{"429", npmOutput(429, "Unknown error"), "the OIDC token exchange failed: Unknown error (HTTP 429)", true,
			[]string{"already retried"}},
		{"no answer", npmOutput(0, "Unknown error"), "the OIDC token exchange failed: Unknown error (no answer)", true,
			[]string{"what the exchange's answer means:\n  404 package not found: ", "\n  401 unauthorized: ", "\n  400 bad request: ", "\n  5xx, 429: "}},
	}
	for _, tt := range tests {
		msg, tried, transient := exchangeFailure(tt.out)
		assert.True(t, tried, tt.name)
		assert.Equal(t, tt.msg, msg, tt.name)
		assert.Equal(t, tt.transient, transient, tt.name)
		causes := causesOf(exchangeCode(tt.out), "registry.npmjs.org")
		for _, c := range tt.causes {
			assert.Contains(t, causes, c, tt.name)
		}
	}
	_, tried, _ := exchangeFailure("npm verbose cli /usr/bin/node\nnpm error code E403\n")
	assert.False(t, tried, "no exchange in the output")
}

// The probe, which may see several answers at once, explains each.
func TestLikelyCauses(t *testing.T) {
	for _, c := range []string{causesNotFound, causesUnauthorized, causesBadRequest, causesTransient} {
		assert.Contains(t, likelyCauses, c)
	}
	assert.Contains(t, likelyCauses, "404 package not found: the package has no trusted publisher")
	assert.Contains(t, likelyCauses, "401 unauthorized: the ID token is older than about 5 minutes")
}

// What npm relays of a registry's words, and npm's own error lines, are cut
// before they reach an error: the rest is in the publish's log.
func TestRelayedWordsAreCut(t *testing.T) {
	long := strings.Repeat("no ", 5000)
	msg, tried, _ := exchangeFailure(npmOutput(404, long))
	assert.True(t, tried)
	assert.Less(t, len(msg), 600)
	assert.Contains(t, msg, "… (the rest in dist/logs/release/)")
	line := telling("npm error code E403\nnpm error 403 "+long+"\n", errors.New("exit status 1"))
	assert.Less(t, len(line), 600)
	assert.True(t, strings.HasPrefix(line, "403 no no"), line)
}
