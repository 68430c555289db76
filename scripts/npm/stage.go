package npm

// A stand-in for the stagebed branch's wrappers of npm stage (the shared
// contract of issue 16), so that the approve stage builds before that branch
// lands; the merge replaces it.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Staged is one staged version, as npm stage list --json prints it.
type Staged struct {
	ID          string `json:"id"`
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
	Tag         string `json:"tag"`
	CreatedAt   string `json:"createdAt"`
	Actor       string `json:"actor"`
	ActorType   string `json:"actorType"`
	Shasum      string `json:"shasum"`
	Integrity   string `json:"integrity"`
}

// StageList lists the staged versions of pkg (npm stage list <pkg> --json).
func (c CLI) StageList(ctx context.Context, dir, pkg string) ([]Staged, error) {
	out, err := c.Run(ctx, dir, "stage", "list", pkg, "--json")
	if err != nil {
		return nil, err
	}
	var items []Staged
	if err := json.Unmarshal(out, &items); err != nil {
		return nil, fmt.Errorf("reading npm stage list %s --json: %w", pkg, err)
	}
	return items, nil
}

// StageDownload downloads the tarball of the staged version id into dir
// (npm stage download <id>) and returns its path.
func (c CLI) StageDownload(ctx context.Context, dir, id string) (string, error) {
	out, err := c.Run(ctx, dir, "stage", "download", id)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	name := strings.TrimSpace(lines[len(lines)-1])
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil || !strings.HasSuffix(name, ".tgz") {
		return "", fmt.Errorf("npm stage download %s: no tarball named in its output %q", id, name)
	}
	return path, nil
}

// StageApprove approves the staged version id, attached to s: npm asks for
// the second factor there.
func (c CLI) StageApprove(ctx context.Context, dir string, s Stdio, id string) error {
	return c.RunAttached(ctx, dir, s, "stage", "approve", id)
}

// StageReject rejects the staged version id, attached to s.
func (c CLI) StageReject(ctx context.Context, dir string, s Stdio, id string) error {
	return c.RunAttached(ctx, dir, s, "stage", "reject", id)
}

var stagedLine = regexp.MustCompile(`\(staged with id ([0-9a-fA-F-]{36})\)`)

// ParseStaged reads the stage id from npm stage publish's output.
func ParseStaged(out string) (string, bool) {
	m := stagedLine.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}
