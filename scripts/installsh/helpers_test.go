package installsh_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-facets/facets/scripts/installsh"
	"github.com/agent-facets/facets/scripts/testenv"
)

// A shell install.sh runs under, with the tools of its system: dash and bash
// with this machine's (GNU) tools, busybox ash with busybox's applets, as on
// Alpine.
type shell struct {
	name string
	argv []string
	bin  string // busybox, whose applets stand in for the tools; "" for the machine's
}

func shells(t *testing.T) []shell {
	t.Helper()
	return []shell{
		{name: "dash", argv: []string{testenv.LookPath(t, "dash", "apt-get install dash")}},
		{name: "bash", argv: []string{testenv.LookPath(t, "bash", "apt-get install bash")}},
		{name: "busybox", argv: []string{testenv.LookPath(t, "busybox", "apt-get install busybox"), "sh"},
			bin: testenv.LookPath(t, "busybox", "apt-get install busybox")},
	}
}

// tools are the commands install.sh may run, besides curl or wget.
var tools = []string{"awk", "base64", "cat", "chmod", "cp", "dirname", "grep", "gzip", "head", "mkdir", "mktemp",
	"ls", "mv", "rm", "rmdir", "sed", "sha512sum", "sort", "tail", "tar", "tr", "uname"}

// toolbox returns a PATH holding only the tools and http ("curl" or
// "wget"): the machine's, or busybox's applets (and busybox's wget) for the
// busybox shell.
func toolbox(t *testing.T, sh shell, http string) string {
	t.Helper()
	dir := t.TempDir()
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range tools {
		if sh.bin != "" {
			link(name, sh.bin)
			continue
		}
		link(name, testenv.LookPath(t, name, "apt-get install coreutils"))
	}
	switch {
	case http == "wget" && sh.bin != "":
		link("wget", sh.bin)
	default:
		link(http, testenv.LookPath(t, http, "apt-get install "+http))
	}
	return dir
}

// script is the repository's install.sh.
func script(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.RepoRoot(t), "install.sh")
}

// result is how a run of install.sh ended.
type result struct {
	code           int
	stdout, stderr string
}

// run runs install.sh with args; it fails t only when it cannot start.
func run(t *testing.T, o installsh.Options, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := installsh.Command(ctx, o, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running install.sh: %v", err)
		}
		r.code = exit.ExitCode()
	}
	return r
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// listing is every path under dir (relative), with its bytes: what a
// refusal must leave as it was.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return out
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
