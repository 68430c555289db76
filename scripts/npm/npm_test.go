package npm_test

import (
	"encoding/json"
	"os"
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
