package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Trust is one trusted-publisher configuration, as `npm trust list --json`
// prints it (npm >= 11.15).
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

// ErrOTP is npm's EOTP: the registry wants a one-time password.
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

// TrustCreate runs `npm trust <args…> --yes` attached to s, creating a
// trusted publisher (args start with the provider: "circleci", pkg, flags).
func (c CLI) TrustCreate(ctx context.Context, dir string, s Stdio, args ...string) error {
	return trustError(c.RunAttached(ctx, dir, s, append(append([]string{"trust"}, args...), "--yes")...))
}

// TrustRevoke revokes the trusted publisher id of pkg, attached to s.
func (c CLI) TrustRevoke(ctx context.Context, dir string, s Stdio, pkg, id string) error {
	return trustError(c.RunAttached(ctx, dir, s, "trust", "revoke", pkg, "--id", id))
}
