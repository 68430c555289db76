// Package npm runs the npm command line: npm is the packer and the publisher,
// so that tarballs and registry requests are exactly what npm users get.
package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// CLI runs npm.
type CLI struct {
	Path string   // the npm executable; "" means "npm" from PATH
	Env  []string // its environment; nil means this process's
}

// Run runs npm with args in dir and returns its standard output. The error
// carries npm's standard error.
func (c CLI) Run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	path := c.Path
	if path == "" {
		path = "npm"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = c.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("npm %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
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
