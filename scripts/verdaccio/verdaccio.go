// Package verdaccio runs a real npm registry, Verdaccio, on the loopback
// interface, for the tests and benchmarks that publish and install packages
// with the real npm CLI.
//
// Verdaccio is pinned in server/package.json and server/package-lock.json and
// installed with npm ci on first use. Each Server has its own storage, user,
// token, npm userconfig and npm cache in a directory of its own, so nothing
// leaks between servers or into the machine's npm configuration. It has no
// uplink: it serves only what is published to it.
package verdaccio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/syncbuf"
)

// ServerDir is the directory, relative to the repository root, that pins
// Verdaccio and holds serve.js.
const ServerDir = "scripts/verdaccio/server"

// Options say where things are.
type Options struct {
	Root string   // repository root
	Dir  string   // an empty directory for the server's state; removed by the caller
	Node string   // the node executable; "" means "node"
	NPM  npm.CLI  // installs Verdaccio (with the machine's npm configuration)
	Env  []string // base environment of node and npm; nil means this process's
}

// Server is a running Verdaccio.
type Server struct {
	URL   string // registry URL, "http://127.0.0.1:<port>/"
	Token string // auth token of the server's user, who may publish

	dir   string
	base  []string // environment before npm's configuration
	env   []string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
	stop  sync.Once
	logs  *syncbuf.Buffer
}

// EnsureInstalled installs the pinned Verdaccio with npm ci unless it is installed
// already. Concurrent callers (test packages run in parallel) wait for each
// other.
func EnsureInstalled(ctx context.Context, opts Options) error {
	if err := opts.NPM.InstallPinned(ctx, filepath.Join(opts.Root, ServerDir)); err != nil {
		return fmt.Errorf("installing Verdaccio: %w", err)
	}
	return nil
}

// Start installs Verdaccio if needed, starts it on a free loopback port with
// its storage in opts.Dir, and creates a user with a token. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := EnsureInstalled(ctx, opts); err != nil {
		return nil, err
	}
	base := opts.Env
	if base == nil {
		base = os.Environ()
	}
	s := &Server{dir: opts.Dir, logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	config := filepath.Join(opts.Dir, "config.yaml")
	if err := os.WriteFile(config, []byte(configYAML(opts.Dir)), 0o644); err != nil {
		return nil, err
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}
	s.cmd = exec.Command(node, filepath.Join(opts.Root, ServerDir, "serve.js"), config)
	s.cmd.Env = withoutNPMConfig(base)
	s.cmd.Stderr = s.logs
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Verdaccio: %w", err)
	}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "verdaccio listening on port "); ok {
				port <- p
				continue
			}
			_, _ = s.logs.WriteString(line + "\n")
		}
		close(port)
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- s.cmd.Wait()
	}()
	select {
	case p, ok := <-port:
		if !ok {
			err := <-s.done
			return nil, fmt.Errorf("Verdaccio exited before listening (%v):\n%s", err, s.logs.String())
		}
		s.URL = "http://127.0.0.1:" + p + "/"
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
	if err := s.createUser(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.writeNPMConfig(base); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// configYAML is the server's configuration: local storage in dir, anyone may
// read, the server's user may publish, no uplink. The server never closes an
// idle connection (keepAliveTimeout 0; Node's default is about 5 s): its
// clients (Go's transport, npm) keep idle connections to reuse, and a PUT
// sent on one just as the server closes it is reset, and not retried. Only
// the client closes an idle connection (see also serve.js).
func configYAML(dir string) string {
	return fmt.Sprintf(`storage: %q
server:
  keepAliveTimeout: 0
auth:
  htpasswd:
    file: %q
    max_users: 10
uplinks: {}
packages:
  "**":
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
max_body_size: 500mb
log: { type: stdout, format: json, level: warn }
`, filepath.Join(dir, "storage"), filepath.Join(dir, "htpasswd"))
}

// createUser adds the user "facets" and keeps its token.
func (s *Server) createUser(ctx context.Context) error {
	token, err := s.AddUser(ctx, "facets", "facets-test-password")
	if err != nil {
		return err
	}
	s.Token = token
	return nil
}

// AddUser adds a user with npm's adduser request (PUT
// /-/user/org.couchdb.user:<name>), as npm adduser does, and returns its
// token: another account than the server's user, which maintains nothing.
func (s *Server) AddUser(ctx context.Context, name, password string) (string, error) {
	body, err := json.Marshal(map[string]string{"name": name, "password": password})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.URL+"-/user/org.couchdb.user:"+url.PathEscape(name), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("creating the Verdaccio user %s: %w", name, err)
	}
	defer resp.Body.Close()
	var created struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusCreated || created.Token == "" {
		return "", fmt.Errorf("creating the Verdaccio user %s: %s (%v)", name, resp.Status, err)
	}
	return created.Token, nil
}

// writeNPMConfig sets up the environment npm runs with against this server,
// logged in as the server's user.
func (s *Server) writeNPMConfig(base []string) error {
	s.base = base
	env, err := s.NPMEnv(s.URL, s.Token)
	if err != nil {
		return err
	}
	s.env = env
	return nil
}

// NPMEnv writes an npm userconfig and global config into a new directory of
// the server's and returns the environment that points npm at them, at
// registryURL (this server's, or a server in front of it), with a cache of
// the server's own. A token logs npm in; "" leaves it logged out.
func (s *Server) NPMEnv(registryURL, token string) ([]string, error) {
	dir, err := os.MkdirTemp(s.dir, "npm-")
	if err != nil {
		return nil, err
	}
	userconfig := filepath.Join(dir, "npmrc")
	globalconfig := filepath.Join(dir, "npmrc-global")
	rc := fmt.Sprintf("registry=%s\n", registryURL)
	if token != "" {
		rc += fmt.Sprintf("%s:_authToken=%s\n", strings.TrimPrefix(strings.TrimPrefix(registryURL, "http:"), "https:"), token)
	}
	if err := os.WriteFile(userconfig, []byte(rc), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(globalconfig, nil, 0o644); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	return append(withoutNPMConfig(s.base),
		// npm's temporary files stay with the server's, for tests to read
		// (TMPDIR on Unix, TEMP and TMP on Windows).
		"TMPDIR="+tmp, "TEMP="+tmp, "TMP="+tmp,
		"NPM_CONFIG_USERCONFIG="+userconfig,
		"NPM_CONFIG_GLOBALCONFIG="+globalconfig,
		"NPM_CONFIG_CACHE="+filepath.Join(s.dir, "npm-cache"),
		"NPM_CONFIG_REGISTRY="+registryURL,
		"NPM_CONFIG_AUDIT=false",
		"NPM_CONFIG_FUND=false",
		"NPM_CONFIG_UPDATE_NOTIFIER=false",
		"NPM_CONFIG_LOGS_DIR="+filepath.Join(dir, "logs"),
	), nil
}

// Env is the environment npm runs with against this server: its own
// userconfig (registry and token), global config and cache.
func (s *Server) Env() []string { return append([]string(nil), s.env...) }

// NPM is an npm CLI that talks to this server only.
func (s *Server) NPM() npm.CLI { return npm.CLI{Env: s.Env()} }

// Logs is what Verdaccio printed, for failure messages.
func (s *Server) Logs() string { return s.logs.String() }

// Stop stops the server and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		_ = s.stdin.Close() // serve.js exits when its stdin closes
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return nil
}

// withoutNPMConfig drops npm configuration variables from env, so that npm
// reads only the configuration given to it.
func withoutNPMConfig(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(strings.ToLower(kv), "npm_config_") {
			out = append(out, kv)
		}
	}
	return out
}

// Publish publishes tarballs, in order, with the npm CLI.
func (s *Server) Publish(ctx context.Context, tarballs ...string) error {
	for _, tgz := range tarballs {
		if _, err := s.NPM().Run(ctx, s.dir, "publish", tgz, "--tag", "latest", "--access", "public"); err != nil {
			return fmt.Errorf("publishing %s: %w\nVerdaccio said:\n%s", filepath.Base(tgz), err, s.Logs())
		}
	}
	return nil
}

// Install makes dir an empty npm project and runs npm install args in it
// against this server.
func (s *Server) Install(ctx context.Context, dir string, args ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"facet-install-test","private":true}`+"\n"), 0o644); err != nil {
		return err
	}
	_, err := s.NPM().Run(ctx, dir, append([]string{"install"}, args...)...)
	return err
}

// Dir is the server's directory: its storage, and npm's configuration and
// cache.
func (s *Server) Dir() string { return s.dir }
