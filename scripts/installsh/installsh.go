package installsh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ReceiptName is the receipt's file name, in the install directory.
const ReceiptName = ".facet-install.json"

// Receipt is what install.sh records beside the binary it installed.
type Receipt struct {
	Installer string   `json:"installer"` // "install.sh"
	Version   string   `json:"version"`
	Tag       string   `json:"tag"`      // the dist-tag facet self-update follows: --tag's, else latest
	Package   string   `json:"package"`  // the platform package, @agent-facets/cli-<target>
	Registry  string   `json:"registry"` // the registry it came from, without a trailing slash
	Binary    string   `json:"binary"`   // the installed executable, symlinks resolved
	Profiles  []string `json:"profiles"` // the shell profiles --modify-path added a line to
}

// ReadReceipt reads the receipt in the install directory dir.
func ReadReceipt(dir string) (Receipt, error) {
	var r Receipt
	data, err := os.ReadFile(filepath.Join(dir, ReceiptName))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, ReceiptName), err)
	}
	return r, nil
}

// Options say how install.sh runs. The environment holds only what they
// name: no proxy, npm configuration or FACET_ variable leaks in from the
// process's.
type Options struct {
	Shell    []string // the shell and its arguments: {"dash"}, {"busybox", "sh"}; nil means {"sh"}
	Script   string   // the path of install.sh
	Registry string   // FACET_REGISTRY
	Dir      string   // FACET_INSTALL_DIR
	Home     string   // HOME, where --modify-path finds the shell profiles
	Path     string   // PATH; "" means this process's
	Env      []string // more variables, as KEY=value (SHELL, HTTPS_PROXY, ...)
}

// Command returns the command that runs install.sh with args.
func Command(ctx context.Context, o Options, args ...string) *exec.Cmd {
	shell := o.Shell
	if len(shell) == 0 {
		shell = []string{"sh"}
	}
	path := o.Path
	if path == "" {
		path = os.Getenv("PATH")
	}
	argv := append(append(append([]string{}, shell[1:]...), o.Script), args...)
	cmd := exec.CommandContext(ctx, shell[0], argv...)
	cmd.Env = append([]string{
		"PATH=" + path,
		"HOME=" + o.Home,
		"TMPDIR=" + os.TempDir(),
		"FACET_REGISTRY=" + o.Registry,
		"FACET_INSTALL_DIR=" + o.Dir,
	}, o.Env...)
	return cmd
}

// Install runs install.sh with --version version as a user without Node would
// (Options say where from and to), its output to out, then checks what it
// installed: the receipt names version, and the binary it names prints
// version for --version. It returns the binary's path.
func Install(ctx context.Context, o Options, version string, out io.Writer) (string, error) {
	cmd := Command(ctx, o, "--version", version)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install.sh --version %s: %w", version, err)
	}
	r, err := ReadReceipt(o.Dir)
	if err != nil {
		return "", fmt.Errorf("install.sh wrote no receipt: %w", err)
	}
	if r.Version != version {
		return "", fmt.Errorf("install.sh's receipt says %s, not %s", r.Version, version)
	}
	got, err := exec.CommandContext(ctx, r.Binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", r.Binary, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(got)), "\n")
	if fields := strings.Fields(first); len(fields) == 0 || fields[len(fields)-1] != version {
		return "", fmt.Errorf("%s --version printed %q, not facet %s", r.Binary, first, version)
	}
	fmt.Fprintf(out, "%s --version: %s\n", r.Binary, first)
	return r.Binary, nil
}
