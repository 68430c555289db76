package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Staged is one staged version, as `npm stage list --json` and `npm stage
// view --json` print it (npm >= 11.15).
type Staged struct {
	ID          string `json:"id"` // a UUID
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
	Tag         string `json:"tag"`       // the dist-tag it gets once approved
	CreatedAt   string `json:"createdAt"` // RFC 3339
	Actor       string `json:"actor"`     // who staged it: a user, or a trusted publisher
	ActorType   string `json:"actorType"` // "user" or "oidc"
	Shasum      string `json:"shasum"`    // sha1 of the tarball, hex
	// Integrity is sha512-<base64> of the tarball, when the registry gives
	// it: npm documents only shasum (lib/utils/key-values.js logStageItem
	// names it and passes the rest through), so "" must be expected.
	Integrity string `json:"integrity,omitempty"`
}

// StageMinVersion is the first npm with `npm stage`.
const StageMinVersion = "11.15.0"

// ErrNoStaged is npm's E404 for a stage id the registry does not have: a
// wrong id, or a version approved or rejected already.
var ErrNoStaged = errors.New("no such staged version")

// ErrForbidden is npm's E403: the registry refuses the login this (a token
// that may not, a version published already).
var ErrForbidden = errors.New("the registry refused")

// stageID is the form of a stage id (npm's lib/utils/validate-uuid.js).
var stageID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkID refuses what is not a stage id before npm runs: npm would take
// one that starts with a dash for an option.
func checkID(id string) error {
	if !stageID.MatchString(id) {
		return fmt.Errorf("%q is not a stage id: a stage id is a UUID, as npm stage publish and npm stage list show it", id)
	}
	return nil
}

// stageError classifies a failed npm stage command about id ("" for a
// listing).
func stageError(err error, id string) error {
	switch ErrorCode(err) {
	case "EOTP":
		return fmt.Errorf("%w (approve it at the terminal, or give NPM_CONFIG_OTP): %w", ErrOTP, err)
	case "E404":
		if id == "" {
			return fmt.Errorf("%w: %w", ErrNoPackage, err)
		}
		return fmt.Errorf("%w %s (approved or rejected already? npm stage list shows what is staged): %w", ErrNoStaged, id, err)
	case "E403":
		reason := refusal(err)
		hint := "is this login a maintainer of the package? a token from the OIDC exchange may stage and list its own package only"
		if strings.Contains(reason, "cannot publish over") {
			hint = "the version is published already"
		}
		return fmt.Errorf("%w: %s (%s): %w", ErrForbidden, reason, hint, err)
	case "ENEEDAUTH", "E401":
		return fmt.Errorf("%w (npm login): %w", ErrNotLoggedIn, err)
	}
	return err
}

// refusal is the registry's reason in a failed npm command's "npm error"
// lines ("403 Forbidden - POST <url> - <reason>"), or npm's brief error.
func refusal(err error) string {
	var e *Error
	if errors.As(err, &e) {
		for line := range strings.SplitSeq(e.Stderr, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "npm error ")
			if !ok {
				continue
			}
			if i := strings.LastIndex(rest, " - "); i >= 0 && strings.HasPrefix(rest, "403 ") {
				return strings.TrimSpace(rest[i+3:])
			}
		}
	}
	return Brief(err)
}

// StageList lists the staged versions of pkg ("" for every package the
// login may see) with `npm stage list [<pkg>] --json`, oldest first.
func (c CLI) StageList(ctx context.Context, dir, pkg string) ([]Staged, error) {
	if strings.HasPrefix(pkg, "-") {
		return nil, fmt.Errorf("%q is not a package name", pkg)
	}
	args := []string{"stage", "list", "--json"}
	if pkg != "" {
		args = []string{"stage", "list", pkg, "--json"}
	}
	out, err := c.Run(ctx, dir, args...)
	if err != nil {
		return nil, stageError(err, "")
	}
	var list []Staged
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("reading npm %s: %w", strings.Join(args, " "), err)
	}
	return list, nil
}

// StageView reads the staged version id with `npm stage view <id> --json`:
// what the registry holds under id now (approve reads it again just before
// approving, to see that it is still what it checked).
func (c CLI) StageView(ctx context.Context, dir, id string) (Staged, error) {
	if err := checkID(id); err != nil {
		return Staged{}, err
	}
	out, err := c.Run(ctx, dir, "stage", "view", id, "--json")
	if err != nil {
		return Staged{}, stageError(err, id)
	}
	var s Staged
	if err := json.Unmarshal(out, &s); err != nil {
		return Staged{}, fmt.Errorf("reading npm stage view %s --json: %w", id, err)
	}
	if s.ID != id {
		return Staged{}, fmt.Errorf("npm stage view %s --json answered stage id %q", id, s.ID)
	}
	return s, nil
}

// StageDownload downloads the tarball of the staged version id into dir
// with `npm stage download <id>` and returns its path. npm names the file
// <name>-<version>-<id>.tgz (scope and slash made a dash).
func (c CLI) StageDownload(ctx context.Context, dir, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	out, err := c.Run(ctx, dir, "stage", "download", id)
	if err != nil {
		return "", stageError(err, id)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return "", fmt.Errorf("npm stage download %s did not say which file it wrote", id)
	}
	name := lines[len(lines)-1]
	if name != filepath.Base(name) || !strings.HasSuffix(name, "-"+id+".tgz") {
		return "", fmt.Errorf("npm stage download %s printed %q, not the name of the tarball it wrote", id, name)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("npm stage download %s: %w", id, err)
	}
	return path, nil
}

// StageApprove approves the staged version id with `npm stage approve <id>`
// attached to s, publishing it. The registry wants a second factor: on a
// terminal npm asks for it there (a page to approve in the browser, or a
// one-time password); elsewhere only NPM_CONFIG_OTP in c's environment
// serves, and its absence is ErrOTP.
func (c CLI) StageApprove(ctx context.Context, dir string, s Stdio, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return stageError(c.RunAttached(ctx, dir, s, "stage", "approve", id), id)
}

// StageReject rejects the staged version id with `npm stage reject <id>`
// attached to s, deleting it from the registry; a second factor as for
// StageApprove.
func (c CLI) StageReject(ctx context.Context, dir string, s Stdio, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return stageError(c.RunAttached(ctx, dir, s, "stage", "reject", id), id)
}

// stagedLine is npm stage publish's line about what it staged
// (lib/commands/publish.js): "+ <name>@<version> (staged with id <uuid>)".
var stagedLine = regexp.MustCompile(`(?m)^\+ \S+@\S+ \(staged with id ([0-9a-fA-F-]{36})\)\r?$`)

// ParseStaged finds the stage id in npm stage publish's output (without
// --json); ok is false when it names none.
func ParseStaged(out string) (id string, ok bool) {
	m := stagedLine.FindStringSubmatch(out)
	if m == nil || !stageID.MatchString(m[1]) {
		return "", false
	}
	return m[1], true
}
