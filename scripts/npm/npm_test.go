package npm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/testenv"
)

// standInEnv names the file where the test binary, started as npm, records
// how it was started.
const standInEnv = "FACET_NPM_STANDIN_RECORD"

// started is what the stand-in npm records: its arguments and every variable
// of its environment that npm would read its registry from.
type started struct {
	Args     []string `json:"args"`
	Registry []string `json:"registry"`
}

// TestMain runs the tests or, started as npm by a test (standInEnv set),
// records its arguments and environment and exits.
func TestMain(m *testing.M) {
	path := os.Getenv(standInEnv)
	if path == "" {
		os.Exit(m.Run())
	}
	rec := started{Args: os.Args[1:]}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.EqualFold(name, "npm_config_registry") {
			rec.Registry = append(rec.Registry, kv)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		err = json.NewEncoder(f).Encode(rec)
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		os.Exit(2)
	}
}

// The registry, a password in it, reaches npm through its environment only:
// never its command line, which anyone on the machine can read (ps), and
// once, whatever registry variables the environment held in any case.
func TestRegistryNotInArgv(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	record := filepath.Join(t.TempDir(), "started.jsonl")
	const password = "s3cret-Pa55"
	reg := "https://ci:" + password + "@registry.example.com/npm/"
	cli := npm.CLI{
		Path:     self,
		Env:      []string{standInEnv + "=" + record, "NPM_CONFIG_REGISTRY=https://other.example.com/", "Npm_Config_Registry=https://third.example.com/"},
		Registry: reg,
	}.With("npm_config_REGISTRY=https://fourth.example.com/")

	calls := [][]string{
		{"view", "agent-facets", "--json"},
		{"publish", "x.tgz", "--access", "public", "--tag", "next"},
		{"exec", "--yes", "--", "facet", "--version"},
	}
	_, err = cli.Run(t.Context(), t.TempDir(), calls[0]...)
	require.NoError(t, err)
	_, err = cli.RunCombined(t.Context(), t.TempDir(), calls[1]...)
	require.NoError(t, err)
	require.NoError(t, cli.RunAttached(t.Context(), t.TempDir(), npm.Stdio{}, calls[2]...))
	cli.Registry = ""
	_, err = cli.Run(t.Context(), t.TempDir(), "ping")
	require.NoError(t, err)

	data, err := os.ReadFile(record)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, 4)
	for i, line := range lines {
		var got started
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		if i == 3 {
			assert.Equal(t, started{Args: []string{"ping"}, Registry: []string{"npm_config_REGISTRY=https://fourth.example.com/"}}, got,
				"without a Registry, the environment is the CLI's")
			continue
		}
		assert.Equal(t, calls[i], got.Args, "npm's arguments are the caller's, and nothing else")
		assert.NotContains(t, strings.Join(got.Args, " "), password)
		assert.NotContains(t, strings.Join(got.Args, " "), "registry")
		assert.Equal(t, []string{"npm_config_registry=" + reg}, got.Registry, "the registry is in npm's environment, once")
	}
}

// npm takes the registry from its environment over every npmrc file, the
// project's among them: a command run in a directory with an npmrc of its
// own still talks to the registry given.
func TestRegistryBeatsNpmrc(t *testing.T) {
	npmPath := testenv.LookPath(t, "npm", "install npm 11")
	home := t.TempDir()
	project := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, "npmrc"), []byte("registry=http://127.0.0.1:1/user/\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(project, ".npmrc"), []byte("registry=http://127.0.0.1:1/project/\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o600))
	cli := npm.CLI{
		Path: npmPath,
		Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "NPM_CONFIG_USERCONFIG=" + filepath.Join(home, "npmrc"),
			"NPM_CONFIG_GLOBALCONFIG=" + filepath.Join(home, "global"), "NPM_CONFIG_REGISTRY=http://127.0.0.1:1/env/",
			"NPM_CONFIG_UPDATE_NOTIFIER=false", "NPM_CONFIG_CACHE=" + filepath.Join(home, "cache")},
		Registry: "http://127.0.0.1:1/given/",
	}
	out, err := cli.Run(t.Context(), project, "config", "get", "registry")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/given/", strings.TrimSpace(string(out)))

	got, err := cli.ConfiguredRegistry(t.Context(), project)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/env/", got, "what npm is configured with, not what it is told")

	// npm will not print a registry URL with a password: the error says
	// why and what to do, and holds no password.
	_, err = cli.With("NPM_CONFIG_REGISTRY=https://ci:s3cret-Pa55@127.0.0.1:1/").ConfiguredRegistry(t.Context(), project)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "npm's registry URL holds a password, so npm will not say which registry it uses")
	assert.Contains(t, err.Error(), "take the user and password out of the URL")
	assert.NotContains(t, err.Error(), "s3cret")
}

// npmEnv is an environment with only npm's defaults and userconfig as its
// user configuration, and env added.
func npmEnv(t *testing.T, userconfig string, env ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "NPM_CONFIG_USERCONFIG=" + userconfig,
		"NPM_CONFIG_GLOBALCONFIG=" + filepath.Join(home, "global"), "NPM_CONFIG_UPDATE_NOTIFIER=false",
		"NPM_CONFIG_CACHE=" + filepath.Join(home, "cache")}, env...)
}

// Credentials finds every credential in npm's configuration, wherever it is
// set, by its key, and never its value.
func TestCredentials(t *testing.T) {
	npmPath := testenv.LookPath(t, "npm", "install npm 11")
	dir := t.TempDir()
	project := t.TempDir()
	user := filepath.Join(dir, "npmrc")
	require.NoError(t, os.WriteFile(user, []byte(strings.Join([]string{
		"registry=http://127.0.0.1:4873/",
		"//npm.pkg.github.com/:_authToken=ghp_secretvalue1",
		"//127.0.0.1:4873/:_authToken=npm_secretvalue2",
		"//127.0.0.1:4873/:username=maintainer",
		"//127.0.0.1:4873/:_password=c2VjcmV0dmFsdWUz",
		"//127.0.0.1:9999/:username=alone",
		"//127.0.0.1:4873/:email=me@example.com",
		"_authToken=npm_secretvalue4",
		"",
	}, "\n")), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(project, ".npmrc"), []byte("//127.0.0.1:4873:_auth=c2VjcmV0dmFsdWU1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"p","version":"1.0.0"}`), 0o600))
	cli := npm.CLI{Path: npmPath, Env: npmEnv(t, user,
		"npm_config_//127.0.0.1:4873/:_authToken=npm_secretvalue6",
		"npm_config_//127.0.0.1:4873/npm/:_authToken=npm_secretvalue7")}

	creds, err := cli.Credentials(t.Context(), project)
	require.NoError(t, err)
	userAt := "user config " + user
	assert.ElementsMatch(t, []npm.Credential{
		{Key: "//npm.pkg.github.com/:_authToken", Where: userAt},
		{Key: "//127.0.0.1:4873/:_authToken", Where: userAt + ", overridden by env"},
		{Key: "//127.0.0.1:4873/:username", Where: userAt},
		{Key: "//127.0.0.1:4873/:_password", Where: userAt},
		{Key: "//127.0.0.1:9999/:username", Where: userAt, Alone: true},
		{Key: "_authToken", Where: userAt},
		{Key: "//127.0.0.1:4873:_auth", Where: "project config " + filepath.Join(project, ".npmrc")},
		{Key: "//127.0.0.1:4873/:_authToken", Where: "environment"},
		{Key: "//127.0.0.1:4873/npm/:_authToken", Where: "environment"},
	}, creds)
	assert.NotContains(t, fmt.Sprint(creds), "secretvalue")

	none, err := npm.CLI{Path: npmPath, Env: npmEnv(t, filepath.Join(dir, "none"))}.Credentials(t.Context(), t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, none)
}

// SentTo follows npm's own rule: for the requests a release makes to a
// registry (its packages, its endpoints under /-/), npm-registry-fetch's
// getAuth, as bundled with the npm on PATH, sends a token set under a key
// exactly when SentTo says so; a key under the registry's path is sent to the
// requests under it.
func TestSentToAgreesWithNPM(t *testing.T) {
	node := testenv.LookPath(t, "node", "install Node.js 20 or later")
	auth := npmModule(t, testenv.LookPath(t, "npm", "install npm 11"), "npm-registry-fetch", "lib", "auth.js")

	type probe struct {
		Registry string   `json:"registry"`
		Key      string   `json:"key"`
		URIs     []string `json:"uris"`
		sentTo   bool
	}
	registries := []string{
		"https://registry.npmjs.org/",
		"http://127.0.0.1:4873/",
		"https://registry.example.com:8443/npm/registry/",
		"http://registry.example.com:80/npm/",
		"https://REGISTRY.Example.com:443/",
		"https://[::1]:8443/",
		"https://ci:s3cret@registry.example.com/",
	}
	var probes []probe
	for _, raw := range registries {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		reg := npm.NerfDart(u)
		hosts := []string{"//" + u.Host, "//" + strings.ToLower(u.Hostname()), "//" + strings.ToLower(u.Hostname()) + ":8443",
			"//" + strings.ToLower(u.Hostname()) + ":4873", "//" + strings.ToLower(u.Hostname()) + ":443", "//" + strings.ToLower(u.Hostname()) + ":80",
			"//npm.pkg.github.com", "//registry.npmjs.org", "//127.0.0.1", "//[::1]:8443", "//registry.example.com:8443"}
		var scopes []string
		for s := reg; len(s) > 2; {
			scopes = append(scopes, s, s+"x", s+"/", strings.TrimSuffix(s, "/")+"x/")
			if strings.HasSuffix(s, "/") {
				s = strings.TrimSuffix(s, "/")
			} else {
				s = s[:strings.LastIndex(s, "/")+1]
			}
		}
		for _, h := range hosts {
			scopes = append(scopes, h, h+"/", h+"/npm", h+"/npm/", h+"/npm/registry/", h+"/np")
		}
		scopes = append(scopes, reg+"agent-facets", reg+"@agent-facets%2fcli-linux-x64", reg+"-/", reg+"lodash/")
		for _, scope := range scopes {
			p := probe{Registry: raw, Key: scope + ":_authToken",
				URIs: []string{u.Scheme + ":" + reg + "@agent-facets%2fcli-linux-x64", u.Scheme + ":" + reg + "agent-facets", u.Scheme + ":" + reg + "-/ping"}}
			if strings.HasPrefix(scope, reg) {
				p.URIs = append(p.URIs, u.Scheme+":"+strings.TrimSuffix(scope, "/")+"/x")
			}
			p.sentTo = npm.Credential{Key: p.Key}.SentTo(u)
			probes = append(probes, p)
		}
	}
	input, err := json.Marshal(probes)
	require.NoError(t, err)
	const script = `const getAuth = require(process.argv[1]); let s = ''
process.stdin.on('data', d => { s += d }).on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(s).map(p =>
    p.uris.some(uri => getAuth(uri, { registry: p.registry, [p.key]: 'T' }).token === 'T'))))
})`
	cmd := exec.CommandContext(t.Context(), node, "-e", script, auth)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var sent []bool
	require.NoError(t, json.Unmarshal(out, &sent))
	require.Len(t, sent, len(probes))
	yes := 0
	for i, p := range probes {
		assert.Equal(t, sent[i], p.sentTo, "%s for %s: npm sends it: %v", p.Key, p.Registry, sent[i])
		if sent[i] {
			yes++
		}
	}
	assert.Greater(t, yes, 30)
	assert.Greater(t, len(probes)-yes, 100)

	// Not scoped to a registry, or half of a username and password: not sent.
	reg, err := url.Parse("https://registry.npmjs.org/")
	require.NoError(t, err)
	assert.False(t, npm.Credential{Key: "_authToken"}.SentTo(reg))
	assert.False(t, npm.Credential{Key: "//registry.npmjs.org/:username", Alone: true}.SentTo(reg))
	assert.True(t, npm.Credential{Key: "//registry.npmjs.org/:username"}.SentTo(reg))
}

// npmModule is the path of a file of a module that the npm at npmPath
// bundles, under npm/node_modules (the npm on PATH is a link to npm's
// bin/npm-cli.js, or a script beside node_modules/npm on Windows).
func npmModule(t *testing.T, npmPath string, elem ...string) string {
	t.Helper()
	var roots []string
	if real, err := filepath.EvalSymlinks(npmPath); err == nil {
		roots = append(roots, filepath.Dir(filepath.Dir(real)))
	}
	roots = append(roots, filepath.Join(filepath.Dir(npmPath), "node_modules", "npm"))
	for _, root := range roots {
		path := filepath.Join(append([]string{root, "node_modules"}, elem...)...)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	testenv.Missing(t, "npm's own "+elem[0], "not under "+strings.Join(roots, " or ")+": install npm 11")
	return ""
}
