// Package npm runs the npm command line: npm is the packer and the publisher,
// so that tarballs and registry requests are exactly what npm users get. It
// is a helper: it knows npm's commands and the shapes of their output, not the
// stages that use them.
package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/agent-facets/facets/scripts/syncbuf"
)

// CLI runs npm.
type CLI struct {
	Path string   // the npm executable; "" means "npm" from PATH
	Env  []string // its environment; nil means this process's
	// Registry, if set, is the registry of every command, so that a command
	// run outside the repository (in a temporary directory with a
	// package.json of its own, which npm takes for the project) still talks
	// to the registry that was read in the repository and shown. It goes in
	// the command's environment as npm_config_registry, which npm puts above
	// every npmrc file, never on its command line, where anyone on the
	// machine could read a password in it (ps).
	Registry string
}

// registryVar is the variable npm reads its registry from; npm matches the
// npm_config_ prefix and the name without regard to case.
const registryVar = "npm_config_registry"

// With returns c with the variables kv ("NAME=value") added to its
// environment, replacing any of the same name (in any case), for the
// processes it starts and no others. Registry still wins over an
// npm_config_registry among them.
func (c CLI) With(kv ...string) CLI {
	c.Env = with(c.Env, kv...)
	return c
}

// with is env (nil: this process's) with the variables kv, and none other of
// their names in any case: npm reads npm_config_* without regard to case, and
// Windows names all variables so.
func with(env []string, kv ...string) []string {
	if env == nil {
		env = os.Environ()
	}
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool {
		name, _, _ := strings.Cut(e, "=")
		return slices.ContainsFunc(kv, func(n string) bool {
			nn, _, _ := strings.Cut(n, "=")
			return strings.EqualFold(nn, name)
		})
	})
	return append(env, kv...)
}

// Error is a failed npm command.
type Error struct {
	Args   []string // npm's arguments (never secrets: those go in its environment)
	Code   string   // npm's error code ("E404", "EOTP", "ENEEDAUTH"), if it printed one
	Stderr string   // what npm printed on standard error
	Err    error    // how the process ended
}

func (e *Error) Error() string {
	s := fmt.Sprintf("npm %s: %v", strings.Join(e.Args, " "), e.Err)
	if msg := strings.TrimSpace(e.Stderr); msg != "" {
		s += "\n" + msg
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the npm error code of err ("E404", "EOTP"), or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// codeLine finds npm's error code in its standard error.
var codeLine = regexp.MustCompile(`(?m)^npm (?:error|ERR!) code (\S+)`)

// Run runs npm with args in dir and returns its standard output. A failure is
// an *Error carrying npm's standard error.
func (c CLI) Run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	err := c.run(ctx, dir, nil, &stdout, nil, args)
	return stdout.Bytes(), err
}

// RunCombined runs npm with args in dir and returns its standard output and
// standard error together, in the order npm wrote them (its verbose log
// lines among them). A failure is an *Error.
func (c CLI) RunCombined(ctx context.Context, dir string, args ...string) (string, error) {
	var out syncbuf.Buffer
	err := c.run(ctx, dir, nil, &out, &out, args)
	return out.String(), err
}

// Stdio is the terminal an attached npm talks to.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// RunAttached runs npm with args in dir, attached to s: npm reads s.In and
// writes s.Out directly (so that, on a terminal, it can ask for a one-time
// password), and its standard error goes to s.Err and into the error.
func (c CLI) RunAttached(ctx context.Context, dir string, s Stdio, args ...string) error {
	return c.run(ctx, dir, s.In, s.Out, s.Err, args)
}

func (c CLI) run(ctx context.Context, dir string, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	cmd := c.command(ctx, dir, args)
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, &errBuf)
	}
	return failed(args, errBuf.String, cmd.Run())
}

// command is npm with args in dir, its standard streams not yet set.
func (c CLI) command(ctx context.Context, dir string, args []string) *exec.Cmd {
	path := c.Path
	if path == "" {
		path = "npm"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = c.Env
	if c.Registry != "" {
		cmd.Env = with(c.Env, registryVar+"="+c.Registry)
	}
	return cmd
}

// failed is the *Error of npm with args that ended with err (nil for
// success), its standard error read by stderr once it has ended.
func failed(args []string, stderr func() string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Args: args, Stderr: stderr(), Err: err}
	if m := codeLine.FindStringSubmatch(e.Stderr); m != nil {
		e.Code = m[1]
	}
	return e
}

// Version is npm's own version.
func (c CLI) Version(ctx context.Context) (*semver.Version, error) {
	out, err := c.Run(ctx, "", "--version")
	if err != nil {
		return nil, err
	}
	v, err := semver.StrictNewVersion(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("npm --version printed %q: %w", strings.TrimSpace(string(out)), err)
	}
	return v, nil
}

// RequireVersion fails unless npm is at least min; why says what needs it.
func (c CLI) RequireVersion(ctx context.Context, min, why string) (*semver.Version, error) {
	v, err := c.Version(ctx)
	if err != nil {
		return nil, err
	}
	if v.LessThan(semver.MustParse(min)) {
		return v, fmt.Errorf("npm %s is too old: %s needs npm %s or later (npm install -g npm@11)", v, why, min)
	}
	return v, nil
}

// ConfiguredRegistry is the registry npm is configured with in dir, as `npm
// config get registry` prints it: NPM_CONFIG_REGISTRY, the npmrc files (the
// project's in dir among them), or npm's default.
//
// npm will not print a registry URL with a password in it: that is an error
// saying where the password belongs instead.
func (c CLI) ConfiguredRegistry(ctx context.Context, dir string) (string, error) {
	c.Registry = ""
	out, err := c.Run(ctx, dir, "config", "get", "registry")
	var e *Error
	if errors.As(err, &e) && strings.Contains(e.Stderr, "option is protected") {
		return "", errors.New("npm's registry URL holds a password, so npm will not say which registry it uses (npm config get registry: \"the registry option is protected\"): take the user and password out of the URL, and log in to the registry instead (npm login, or its //<host>/:_auth setting)")
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// ErrNotLoggedIn is npm whoami's answer when npm has no login for the
// registry.
var ErrNotLoggedIn = errors.New("not logged in")

// Whoami is the user npm is logged in as. No login (npm's ENEEDAUTH, a 401)
// is an error wrapping ErrNotLoggedIn; any other failure (the registry down,
// a proxy's 403) is returned as it is.
func (c CLI) Whoami(ctx context.Context, dir string) (string, error) {
	out, err := c.Run(ctx, dir, "whoami")
	if err != nil {
		switch ErrorCode(err) {
		case "ENEEDAUTH", "E401":
			return "", fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Packed is what npm pack reports of one tarball.
type Packed struct {
	ID        string       `json:"id"` // name@version
	Name      string       `json:"name"`
	Version   string       `json:"version"`
	Filename  string       `json:"filename"`
	Integrity string       `json:"integrity"` // sha512-<base64>
	Shasum    string       `json:"shasum"`    // sha1, hex
	Files     []PackedFile `json:"files"`
}

// PackedFile is one file in a tarball, as npm pack lists it.
type PackedFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	Mode uint32 `json:"mode"`
}

// Pack packs the package directories dirs into tarballs in dest, with one npm
// invocation and no lifecycle scripts, and returns npm's account of each, in
// the order of dirs.
func (c CLI) Pack(ctx context.Context, dest string, dirs ...string) ([]Packed, error) {
	args := append([]string{"pack", "--json", "--ignore-scripts", "--pack-destination", dest}, dirs...)
	out, err := c.Run(ctx, dest, args...)
	if err != nil {
		return nil, err
	}
	var packed []Packed
	if err := json.Unmarshal(out, &packed); err != nil {
		return nil, fmt.Errorf("reading npm pack --json output: %w", err)
	}
	if len(packed) != len(dirs) {
		return nil, fmt.Errorf("npm pack packed %d packages, want %d", len(packed), len(dirs))
	}
	return packed, nil
}

// Brief is err in a line or two: for a failed npm command, the command and
// npm's "npm error" lines, without the notices before them (shown already on
// a terminal) or the pointer to npm's log file.
func Brief(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	var lines []string
	for line := range strings.SplitSeq(e.Stderr, "\n") {
		rest, ok := strings.CutPrefix(line, "npm error ")
		if !ok {
			rest, ok = strings.CutPrefix(line, "npm ERR! ")
		}
		if ok && !strings.HasPrefix(rest, "code ") && !strings.HasPrefix(rest, "A complete log") && strings.TrimSpace(rest) != "" {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	s := fmt.Sprintf("npm %s: %v", strings.Join(e.Args, " "), e.Err)
	if len(lines) > 0 {
		s += ": " + strings.Join(lines, " ")
	}
	return s
}
