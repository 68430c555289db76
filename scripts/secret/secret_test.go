package secret_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/secret"
)

const jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL29pZGMuY2lyY2xlY2kuY29tL29yZy94In0.c2lnbmF0dXJlLWJ5dGVz"

func TestRedact(t *testing.T) {
	var r secret.Redactor
	r.Add("s3cr3t-exchanged-value")
	r.Add("short") // too short to tell from text: ignored
	for in, want := range map[string]string{
		"token " + jwt + " minted":                              "token [redacted] minted",
		"npm_0123456789abcdefghijABCDEFGHIJ0123456789":          "[redacted]",
		"//registry.npmjs.org/:_authToken=abc123def456":         "//registry.npmjs.org/:_authToken=[redacted]",
		`"_authToken": "xyz-987"`:                               `"_authToken": "[redacted]"`,
		"Authorization: Bearer abcdefgh.ijk":                    "Authorization: Bearer [redacted]",
		"NPM_ID_TOKEN=whatever":                                 "NPM_ID_TOKEN=[redacted]",
		"the s3cr3t-exchanged-value leaked":                     "the [redacted] leaked",
		"a short word":                                          "a short word",
		"org d6dfd694-6b06-4d51-a5bd-a15b3efe977b":              "org d6dfd694-6b06-4d51-a5bd-a15b3efe977b",
		"npm verbose oidc Successfully retrieved and set token": "npm verbose oidc Successfully retrieved and set token",
	} {
		assert.Equal(t, want, r.Redact(in), in)
	}
}

// The writer masks a token split across writes, and writes an unfinished
// last line on Close.
func TestWriter(t *testing.T) {
	var out bytes.Buffer
	var r secret.Redactor
	w := r.Writer(&out)
	half := len(jwt) / 2
	for _, chunk := range []string{"first line\nthe token ", jwt[:half], jwt[half:], " ends\nlast " + jwt} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, "first line\nthe token [redacted] ends\n", out.String())
	require.NoError(t, w.Close())
	assert.Equal(t, "first line\nthe token [redacted] ends\nlast [redacted]", out.String(), "the unfinished last line is masked too")
	assert.False(t, strings.Contains(out.String(), "eyJ"))
}
