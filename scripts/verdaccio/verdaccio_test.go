package verdaccio_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/testenv"
)

// A package published with the real npm CLI can be read back and installed;
// each server is a registry of its own.
func TestPublishAndInstall(t *testing.T) {
	reg := testenv.Registry(t)
	other := testenv.Registry(t)
	assert.NotEqual(t, reg.URL, other.URL)

	pkg := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "package.json"),
		[]byte(`{"name":"@agent-facets/hello","version":"1.0.0","main":"index.js"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(pkg, "index.js"), []byte(`module.exports = "hello";`), 0o644))
	cli := reg.NPM()
	_, err := cli.Run(t.Context(), pkg, "publish", "--access", "public")
	require.NoError(t, err, reg.Logs())

	out, err := cli.Run(t.Context(), pkg, "view", "@agent-facets/hello", "version")
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", strings.TrimSpace(string(out)))
	_, err = other.NPM().Run(t.Context(), pkg, "view", "@agent-facets/hello", "version")
	assert.ErrorContains(t, err, "E404", "the other registry does not have it")

	project := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","private":true}`), 0o644))
	_, err = cli.Run(t.Context(), project, "install", "@agent-facets/hello@1.0.0")
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(project, "node_modules", "@agent-facets", "hello", "index.js"))
	require.NoError(t, err)
	assert.Equal(t, `module.exports = "hello";`, string(data))

	// The registry speaks npm's protocol: the abbreviated document lists the version.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.URL+"@agent-facets%2fhello", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Contains(t, doc.Versions, "1.0.0")
}

// npm runs with the server's own configuration and cache: the registry and
// token it sees are the server's, and the cache is inside the server's
// directory.
func TestNPMIsIsolated(t *testing.T) {
	reg := testenv.Registry(t)
	cli := reg.NPM()
	out, err := cli.Run(t.Context(), t.TempDir(), "config", "get", "registry")
	require.NoError(t, err)
	assert.Equal(t, reg.URL, strings.TrimSpace(string(out)))
	out, err = cli.Run(t.Context(), t.TempDir(), "whoami")
	require.NoError(t, err)
	assert.Equal(t, "facets", strings.TrimSpace(string(out)))
	for _, kv := range reg.Env() {
		if name, value, _ := strings.Cut(kv, "="); name == "NPM_CONFIG_USERCONFIG" || name == "NPM_CONFIG_CACHE" {
			home, _ := os.UserHomeDir()
			assert.NotContains(t, value, filepath.Join(home, ".npm"), name)
			assert.NotEqual(t, filepath.Join(home, ".npmrc"), value, name)
		}
	}
}

// The server keeps an idle connection open for its client to reuse or close,
// whether it has carried a request or not. Node's defaults closed the first
// after about 5 s and the second after 60-90 s, and a PUT sent on one at that
// moment failed with "connection reset by peer" (a publish is not retried).
// The waits are the point of the test: quiet for longer than Node's
// deadlines, and the connection is still open.
func TestIdleConnectionsStayOpen(t *testing.T) {
	t.Parallel()
	reg := testenv.Registry(t)
	u, err := url.Parse(reg.URL)
	require.NoError(t, err)
	stillOpen := func(t *testing.T, conn net.Conn, r *bufio.Reader, quiet time.Duration) {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(quiet)))
		_, err := r.ReadByte()
		var ne net.Error
		require.ErrorAs(t, err, &ne, "the server closed the idle connection")
		assert.True(t, ne.Timeout(), "%v", err)
	}
	t.Run("after a request", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /-/ping HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n")
		require.NoError(t, err)
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.NotEqual(t, "close", resp.Header.Get("Connection"))
		// Node announces a keep-alive deadline whenever it has one.
		assert.Empty(t, resp.Header.Get("Keep-Alive"))
		stillOpen(t, conn, r, 8*time.Second)
	})
	t.Run("never used", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		defer conn.Close()
		stillOpen(t, conn, bufio.NewReader(conn), 95*time.Second)
	})
}
