// Package clients installs agent-facets the ways users do: with npm (with and
// without scripts, and globally), pnpm, yarn 1, yarn 4 (node-modules linker
// and Plug'n'Play) and bun, each run for real against a registry, and more
// layouts of theirs (Layouts); Deno runs what npm installed. Test support,
// for the install tests and the launcher benchmark.
//
// pnpm, yarn, bun and Deno are pinned in pinned/package.json and
// pinned/package-lock.json and installed from the npm registry with npm ci on
// first use; npm is the machine's. Every client runs in a Sandbox: a home
// directory, caches and configuration of its own, so nothing leaks between
// tests or into the machine's configuration.
package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/npm"
)

// PinnedDir is the directory, relative to the repository root, that pins the
// clients.
const PinnedDir = "scripts/clients/pinned"

// Options say where things are.
type Options struct {
	Root string  // repository root
	NPM  npm.CLI // installs the clients (with the machine's npm configuration)
	Node string  // the node executable; "" means "node"
}

// Set is the installed clients: the files that run them.
type Set struct {
	Node     string            // node, which runs yarn
	PNPM     string            // pnpm's native binary
	Yarn1    string            // yarn 1's bin/yarn.js
	Yarn4    string            // yarn 4's bin/yarn.js (@yarnpkg/cli-dist)
	Bun      string            // bun's native binary
	Deno     string            // Deno's native binary
	Versions map[string]string // package → pinned version
}

// Ensure installs the pinned clients with npm ci unless they are installed
// already, and returns them. Concurrent callers (test packages run in
// parallel) wait for each other. Install scripts do not run: pnpm's and bun's
// platform packages hold their binaries, which are run directly.
func Ensure(ctx context.Context, opts Options) (*Set, error) {
	dir := filepath.Join(opts.Root, PinnedDir)
	if err := opts.NPM.InstallPinned(ctx, dir); err != nil {
		return nil, fmt.Errorf("installing pnpm, yarn, bun and deno: %w", err)
	}
	pins, err := npm.Pinned(dir)
	if err != nil {
		return nil, err
	}
	modules := filepath.Join(dir, "node_modules")
	s := &Set{
		Node:     opts.Node,
		Yarn1:    filepath.Join(modules, "yarn", "bin", "yarn.js"),
		Yarn4:    filepath.Join(modules, "@yarnpkg", "cli-dist", "bin", "yarn.js"),
		Versions: pins,
	}
	if s.Node == "" {
		s.Node = "node"
	}
	// npm installed only the platform packages of this machine.
	if s.PNPM, err = only(filepath.Join(modules, "@pnpm", "exe.*", "pnpm")); err != nil {
		return nil, fmt.Errorf("pnpm: %w", err)
	}
	if s.Bun, err = only(filepath.Join(modules, "@oven", "bun-*", "bin", "bun")); err != nil {
		return nil, fmt.Errorf("bun: %w", err)
	}
	if s.Deno, err = only(filepath.Join(modules, "@deno", "*", "deno")); err != nil {
		return nil, fmt.Errorf("deno: %w", err)
	}
	return s, nil
}

// only is the one file matching pattern.
func only(pattern string) (string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", err
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("want one binary for this machine at %s, found %d", pattern, len(matches))
	}
	return matches[0], nil
}

// Sandbox is where clients run: a home directory and caches of its own in
// Dir, and a registry.
type Sandbox struct {
	Dir      string   // holds home/, the caches and the global installs
	Registry string   // registry URL, "http://127.0.0.1:<port>/"
	env      []string // the environment every client and facet run with
}

// NewSandbox makes dir a sandbox for clients installing from registry. npmEnv
// is the environment npm runs with against that registry (its userconfig and
// cache): the others start from it too.
func NewSandbox(dir, registry string, npmEnv []string) (Sandbox, error) {
	home := filepath.Join(dir, "home")
	for _, d := range []string{home, filepath.Join(home, ".cache"), filepath.Join(home, ".config"), filepath.Join(home, ".local", "share"), filepath.Join(home, ".local", "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Sandbox{}, err
		}
	}
	set := map[string]string{
		"HOME":            home,
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_DATA_HOME":   filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME":  filepath.Join(home, ".local", "state"),
		// yarn 4 makes installs immutable when it sees CI; these add packages.
		"YARN_ENABLE_IMMUTABLE_INSTALLS": "false",
		"YARN_CACHE_FOLDER":              filepath.Join(dir, "yarn1-cache"),
		"BUN_INSTALL":                    filepath.Join(dir, "bun"),
		"BUN_INSTALL_CACHE_DIR":          filepath.Join(dir, "bun-cache"),
	}
	var env []string
	// facet runs in the sandbox as installed, whatever override this shell sets.
	for _, kv := range platforms.WithoutOverride(npmEnv) {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := set[name]; !ok && !strings.HasPrefix(name, "YARN_") && !strings.HasPrefix(name, "BUN_") && !strings.HasPrefix(strings.ToLower(name), "pnpm_") {
			env = append(env, kv)
		}
	}
	for name, value := range set {
		env = append(env, name+"="+value)
	}
	return Sandbox{Dir: dir, Registry: registry, env: env}, nil
}

// Env is the environment clients, and facet, run with in the sandbox.
func (b Sandbox) Env() []string { return append([]string(nil), b.env...) }

// Client is one way of installing agent-facets.
type Client struct {
	Name string // as a table shows it: "pnpm 12.4.2"
	// FastPath says whether the command it makes is a symlink to the wrapper's
	// bin/facet, so that the launcher can put the binary in its place.
	FastPath bool
	// Global says whether it installs into a prefix rather than a project.
	Global bool

	set     *Set
	env     func(dir string) []string // added to the sandbox's environment, or nil
	install func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error)
	command func(dir string) []string
	wrapper func(dir string) string
}

// Install installs spec into dir, an empty project (a prefix for a global
// install) that it creates, and returns what the client printed.
func (c Client) Install(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if !c.Global {
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"facet-install-test","private":true}`+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	out, err := c.install(ctx, b, dir, spec)
	if err != nil {
		return out, fmt.Errorf("%s: installing %s: %w\n%s", c.Name, spec, err, out)
	}
	return out, nil
}

// Facet is the command that runs facet with args in dir as this client's
// users run it: node_modules/.bin/facet, <prefix>/bin/facet, or yarn facet
// under Plug'n'Play.
func (c Client) Facet(ctx context.Context, b Sandbox, dir string, args ...string) *exec.Cmd {
	argv := append(c.command(dir), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = b.Env()
	if c.env != nil {
		cmd.Env = append(cmd.Env, c.env(dir)...)
	}
	return cmd
}

// Wrapper is the agent-facets package directory in dir, with symlinks
// resolved, or "" when it is not a directory (in a PnP zip file).
func (c Client) Wrapper(dir string) string {
	w := c.wrapper(dir)
	if w == "" {
		return ""
	}
	real, err := filepath.EvalSymlinks(w)
	if err != nil {
		return ""
	}
	return real
}

// Clients are the ways to install agent-facets, npm's first.
func (s *Set) Clients() []Client {
	bin := func(dir string) []string { return []string{filepath.Join(dir, "node_modules", ".bin", "facet")} }
	local := func(dir string) string { return filepath.Join(dir, "node_modules", "agent-facets") }
	yarn4 := func(linker string) func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
		return func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
			rc := fmt.Sprintf("nodeLinker: %s\nnpmRegistryServer: %q\nunsafeHttpWhitelist: [\"127.0.0.1\"]\n"+
				"npmMinimalAgeGate: 0\nenableGlobalCache: false\nenableTelemetry: false\n",
				linker, strings.TrimSuffix(b.Registry, "/"))
			if err := os.WriteFile(filepath.Join(dir, ".yarnrc.yml"), []byte(rc), 0o644); err != nil {
				return nil, err
			}
			return run(ctx, b, dir, nil, s.Node, s.Yarn4, "add", spec)
		}
	}
	npmInstall := func(flags ...string) func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
		return func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
			return run(ctx, b, dir, nil, "npm", append(append([]string{"install"}, flags...), spec)...)
		}
	}
	return []Client{
		{Name: "npm install", FastPath: true, install: npmInstall(), command: bin, wrapper: local},
		{Name: "npm install --ignore-scripts", FastPath: true, install: npmInstall("--ignore-scripts"), command: bin, wrapper: local},
		{
			Name: "npm install --global", FastPath: true, Global: true,
			install: func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
				return run(ctx, b, dir, nil, "npm", "install", "--global", "--prefix", dir, spec)
			},
			command: func(dir string) []string { return []string{filepath.Join(dir, "bin", "facet")} },
			wrapper: func(dir string) string { return filepath.Join(dir, "lib", "node_modules", "agent-facets") },
		},
		{
			Name: "pnpm " + s.Versions["pnpm"],
			install: func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
				return run(ctx, b, dir, nil, s.PNPM, "add", spec, "--registry", b.Registry, "--store-dir", filepath.Join(b.Dir, "pnpm-store"))
			},
			command: bin, wrapper: local,
		},
		{
			Name: "yarn " + s.Versions["yarn"], FastPath: true,
			install: func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
				return run(ctx, b, dir, nil, s.Node, s.Yarn1, "add", spec, "--registry", b.Registry, "--no-progress", "--non-interactive")
			},
			command: bin, wrapper: local,
		},
		{Name: "yarn " + s.Versions["@yarnpkg/cli-dist"] + " (node-modules)", FastPath: true, install: yarn4("node-modules"), command: bin, wrapper: local},
		{
			Name: "yarn " + s.Versions["@yarnpkg/cli-dist"] + " (PnP)", install: yarn4("pnp"),
			command: func(string) []string { return []string{s.Node, s.Yarn4, "facet"} },
			wrapper: func(string) string { return "" },
		},
		{
			Name: "bun " + s.Versions["bun"], FastPath: true,
			install: func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
				return run(ctx, b, dir, nil, s.Bun, "add", spec, "--registry", b.Registry)
			},
			command: bin, wrapper: local,
		},
	}
}

// Layouts are more ways to install agent-facets, which the install tests
// run besides Clients: npm's linked install strategy, bun's isolated linker
// and its symlink backend (packages linked from bun's cache), and pnpm's
// global installs with its default and its hoisted linker (PNPM_HOME is the
// prefix dir, whose bin/ is on PATH, as pnpm requires).
func (s *Set) Layouts() []Client {
	bin := func(dir string) []string { return []string{filepath.Join(dir, "node_modules", ".bin", "facet")} }
	local := func(dir string) string { return filepath.Join(dir, "node_modules", "agent-facets") }
	bun := func(flags ...string) func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
		return func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
			return run(ctx, b, dir, nil, s.Bun, append([]string{"add", spec, "--registry", b.Registry}, flags...)...)
		}
	}
	pnpmHome := func(dir string) []string {
		return []string{"PNPM_HOME=" + dir, "PATH=" + filepath.Join(dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")}
	}
	pnpmGlobal := func(flags ...string) func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
		return func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
			args := append([]string{"add", "--global", spec, "--registry", b.Registry, "--store-dir", filepath.Join(b.Dir, "pnpm-store")}, flags...)
			return run(ctx, b, dir, pnpmHome(dir), s.PNPM, args...)
		}
	}
	pnpmGlobalWrapper := func(dir string) string {
		// One directory per global package, and a link to it named by a hash.
		found, _ := filepath.Glob(filepath.Join(dir, "global", "*", "*", "node_modules", "agent-facets"))
		real := map[string]bool{}
		for _, f := range found {
			if r, err := filepath.EvalSymlinks(f); err == nil {
				real[r] = true
			}
		}
		if len(real) != 1 {
			return ""
		}
		for r := range real {
			return r
		}
		return ""
	}
	return []Client{
		{
			Name: "npm install --install-strategy=linked", FastPath: true,
			install: func(ctx context.Context, b Sandbox, dir, spec string) ([]byte, error) {
				return run(ctx, b, dir, nil, "npm", "install", "--install-strategy=linked", spec)
			},
			command: bin, wrapper: local,
		},
		{Name: "bun " + s.Versions["bun"] + " --linker isolated", FastPath: true, install: bun("--linker", "isolated"), command: bin, wrapper: local},
		{Name: "bun " + s.Versions["bun"] + " --backend symlink", install: bun("--backend", "symlink"), command: bin, wrapper: local},
		{
			Name: "pnpm " + s.Versions["pnpm"] + " add --global", Global: true, env: pnpmHome, install: pnpmGlobal(),
			command: func(dir string) []string { return []string{filepath.Join(dir, "bin", "facet")} }, wrapper: pnpmGlobalWrapper,
		},
		{
			Name: "pnpm " + s.Versions["pnpm"] + " add --global (hoisted)", Global: true, env: pnpmHome,
			install: pnpmGlobal("--config.node-linker=hoisted"),
			command: func(dir string) []string { return []string{filepath.Join(dir, "bin", "facet")} }, wrapper: pnpmGlobalWrapper,
		},
	}
}

// Find returns the client whose name starts with prefix.
func (s *Set) Find(prefix string) (Client, error) {
	for _, c := range append(s.Clients(), s.Layouts()...) {
		if strings.HasPrefix(c.Name, prefix) {
			return c, nil
		}
	}
	return Client{}, fmt.Errorf("no client %q", prefix)
}

// run runs a client in dir within the sandbox, with env added to its
// environment, and returns what it printed.
func run(ctx context.Context, b Sandbox, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(b.Env(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.Bytes(), fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out.Bytes(), err
}
