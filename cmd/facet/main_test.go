package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func facet(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := facet("--version")
	assert.Equal(t, 0, code)
	// Unstamped (go test), the version says so; installers read the last token.
	assert.Equal(t, "facet 0.0.0-unstamped\n", out)
}

func TestStamp(t *testing.T) {
	saved := stamp
	t.Cleanup(func() { stamp = saved })
	stamp = "facetstamp/1.2.3-rc.1/0123abc/"
	code, out, _ := facet("--version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "facet 1.2.3-rc.1\n", out)

	code, out, _ = facet("version", "--json")
	require.Equal(t, 0, code)
	var a map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	assert.Equal(t, "1.2.3-rc.1", a["version"])
	assert.Equal(t, "0123abc", a["commit"])
	assert.Equal(t, runtime.GOOS, a["goos"])
	assert.Equal(t, runtime.GOARCH, a["goarch"])
	assert.NotEmpty(t, a["path"])

	code, out, _ = facet("version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "facet 1.2.3-rc.1\ncommit  0123abc\n"), out)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}} {
		code, out, _ := facet(args...)
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "facet --version")
	}
	code, out, errOut := facet("deploy")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `facet: unknown command "deploy"`)
	code, _, _ = facet("version", "--yaml")
	assert.Equal(t, 2, code)
}
