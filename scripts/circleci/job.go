package circleci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/agent-facets/facets/scripts/secret"
)

// Job is what a CircleCI job's environment says about it: the one place the
// release reads CircleCI's variables.
type Job struct {
	InCircleCI bool   // CIRCLECI=true: this is a CircleCI job
	Tag        string // CIRCLE_TAG: the tag the pipeline runs for, on tag pipelines
	SHA1       string // CIRCLE_SHA1: the commit
	BuildURL   string // CIRCLE_BUILD_URL: the job's page
	Job        string // CIRCLE_JOB: the job's name
}

// ReadJob reads the job's environment through getenv.
func ReadJob(getenv func(string) string) Job {
	return Job{
		InCircleCI: getenv("CIRCLECI") == "true",
		Tag:        getenv("CIRCLE_TAG"),
		SHA1:       getenv("CIRCLE_SHA1"),
		BuildURL:   getenv("CIRCLE_BUILD_URL"),
		Job:        getenv("CIRCLE_JOB"),
	}
}

// Audience is the audience npm's token exchange expects of a token for the
// registry at host: "npm:<host>".
func Audience(host string) string { return "npm:" + host }

// Minter mints OIDC ID tokens with the circleci command, which works only
// inside a job: `circleci run oidc get --claims '{"aud":"…"}'`. CircleCI's
// own $CIRCLE_OIDC_TOKEN has the organization as its audience, which npm
// refuses.
type Minter struct {
	Path string   // the circleci executable; "" means "circleci" from PATH
	Env  []string // its environment; nil means this process's
}

// ErrNoCLI is a Mint outside CircleCI, where there is no circleci command.
var ErrNoCLI = errors.New("minting an OIDC token: the circleci command is not installed (it is in every CircleCI job; the release runs in CircleCI)")

// jwt is the shape of a compact JWT.
var jwt = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// Mint returns a fresh token for audience. It never prints the token: its
// errors carry circleci's standard error, with anything like a token masked.
func (m Minter) Mint(ctx context.Context, audience string) (string, error) {
	path := m.Path
	if path == "" {
		path = lookPath("circleci", m.Env)
	}
	claims, err := json.Marshal(map[string]string{"aud": audience})
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, "run", "oidc", "get", "--claims", string(claims))
	cmd.Env = m.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	token := strings.TrimSpace(stdout.String())
	var r secret.Redactor
	r.Add(token)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", ErrNoCLI
		}
		return "", fmt.Errorf("minting an OIDC token with circleci run oidc get (audience %s): %w: %s", audience, err, r.Redact(strings.TrimSpace(stderr.String()+"\n"+stdout.String())))
	}
	if !jwt.MatchString(token) {
		return "", fmt.Errorf("minting an OIDC token with circleci run oidc get (audience %s): it printed no token: %s", audience, r.Redact(strings.TrimSpace(stdout.String())))
	}
	return token, nil
}

// lookPath finds the executable name in the PATH of env, or of this process
// when env is nil; when it finds none, name is returned for exec to report.
func lookPath(name string, env []string) string {
	if env == nil {
		return name
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v // the last one wins, as in exec
		}
	}
	for _, dir := range filepath.SplitList(path) {
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return candidate
		}
	}
	return name
}
