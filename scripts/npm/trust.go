package npm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Trust is one trusted-publisher configuration, as `npm trust list --json`
// prints it (npm >= 11.15), and, under the same names, its human output.
type Trust struct {
	ID                   string   `json:"id"`
	Type                 string   `json:"type"` // "circleci", "github", "gitlab"
	OrgID                string   `json:"orgId,omitempty"`
	ProjectID            string   `json:"projectId,omitempty"`
	PipelineDefinitionID string   `json:"pipelineDefinitionId,omitempty"`
	VCSOrigin            string   `json:"vcsOrigin,omitempty"`
	ContextIDs           []string `json:"contextIds,omitempty"`
	Permissions          []string `json:"permissions,omitempty"` // "createPackage" (publish), "createStagedPackage"
	// Other providers' fields (repository, file, environment…) are not read.
}

// TrustMinVersion is the first npm with `npm trust circleci`.
const TrustMinVersion = "11.15.0"

// ErrOTP is npm's EOTP: the registry wants a one-time password (a second
// factor: an authenticator's code, or the token of a web login).
var ErrOTP = errors.New("the registry asks for a one-time password")

// ErrNoPackage is npm's E404 for a package the registry does not have.
var ErrNoPackage = errors.New("no such package")

// trustError classifies a failed npm trust command.
func trustError(err error) error {
	switch ErrorCode(err) {
	case "EOTP":
		return fmt.Errorf("%w: %w", ErrOTP, err)
	case "E404":
		return fmt.Errorf("%w: %w", ErrNoPackage, err)
	case "ENEEDAUTH", "E401":
		return fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
	}
	return err
}

// TrustList reads the trusted publishers of pkg with `npm trust list --json`.
// npm prints one JSON document per configuration, and nothing when there is
// none.
func (c CLI) TrustList(ctx context.Context, dir, pkg string) ([]Trust, error) {
	out, err := c.Run(ctx, dir, "trust", "list", pkg, "--json")
	if err != nil {
		return nil, trustError(err)
	}
	var list []Trust
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var t Trust
		err := dec.Decode(&t)
		if errors.Is(err, io.EOF) {
			return list, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading npm trust list %s --json: %w", pkg, err)
		}
		list = append(list, t)
	}
}

// TrustListOnTerminal reads the trusted publishers of pkg with `npm trust
// list` run on the user's terminal s (RunOnTerminal), so that npm can ask for
// a second factor there: a page to approve in the browser, or a one-time
// password. It reads npm's human output (colour off): with --json npm holds
// back what it would show the user (the page's address among it) until it
// ends (lib/utils/open-url.js outputMsg buffers it), and the user would wait
// for a page they cannot see.
func (c CLI) TrustListOnTerminal(ctx context.Context, dir string, s Stdio, pkg string) ([]Trust, error) {
	out, err := c.With("NPM_CONFIG_COLOR=false").RunOnTerminal(ctx, dir, s, "trust", "list", pkg, "--json=false")
	if err != nil {
		return nil, trustError(err)
	}
	return ParseTrustList(out, pkg)
}

// ansi matches a terminal's control sequences (CSI, and OSC to a BEL or ST).
var ansi = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]`)

// noTrust is what npm trust list prints for a package without any.
const noTrust = "No trust configurations found for package"

// permissionOf maps the permissions npm trust list shows back to the API's
// (lib/trust-cmd.js permissionLabels).
var permissionOf = map[string]string{"publish": "createPackage", "stage publish": "createStagedPackage"}

// ParseTrustList reads what `npm trust list <pkg>` shows on a terminal with
// colour off: a block of "key: value" lines per configuration, starting with
// its type, or a line saying there is none. Other lines (npm's prompts for a
// second factor, what the user typed) are passed over.
func ParseTrustList(screen []byte, pkg string) ([]Trust, error) {
	text := ansi.ReplaceAllString(string(screen), "")
	text = strings.ReplaceAll(text, "\r", "")
	var list []Trust
	var cur *Trust
	lines := bufio.NewScanner(strings.NewReader(text))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(lines.Text()), ": ")
		if !ok || strings.ContainsAny(key, " \t") {
			cur = nil // a configuration's lines come together
			continue
		}
		if key == "type" {
			list = append(list, Trust{Type: value})
			cur = &list[len(list)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch key {
		case "id":
			cur.ID = value
		case "orgId":
			cur.OrgID = value
		case "projectId":
			cur.ProjectID = value
		case "pipelineDefinitionId":
			cur.PipelineDefinitionID = value
		case "vcsOrigin":
			cur.VCSOrigin = value
		case "contextIds":
			cur.ContextIDs = strings.Split(value, ",")
		case "permissions":
			for p := range strings.SplitSeq(value, ", ") {
				if api, ok := permissionOf[p]; ok {
					p = api
				}
				cur.Permissions = append(cur.Permissions, p)
			}
		}
	}
	if len(list) == 0 {
		if strings.Contains(text, noTrust) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading npm trust list %s: npm showed neither a trusted publisher nor %q", pkg, noTrust)
	}
	for _, t := range list {
		if t.ID == "" {
			return nil, fmt.Errorf("reading npm trust list %s: a %s trusted publisher without an id", pkg, t.Type)
		}
	}
	return list, nil
}

// TrustCreate runs `npm trust <args…> --yes` attached to s, creating a
// trusted publisher (args start with the provider: "circleci", pkg, flags).
func (c CLI) TrustCreate(ctx context.Context, dir string, s Stdio, args ...string) error {
	return trustError(c.RunAttached(ctx, dir, s, append(append([]string{"trust"}, args...), "--yes")...))
}

// TrustRevoke revokes the trusted publisher id of pkg, attached to s.
func (c CLI) TrustRevoke(ctx context.Context, dir string, s Stdio, pkg, id string) error {
	return trustError(c.RunAttached(ctx, dir, s, "trust", "revoke", pkg, "--id", id))
}
