package registrytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/agent-facets/facets/scripts/circleci"
)

// StandInEnv names the configuration file of the circleci stand-in; a
// process without it is not "inside a job", and the stand-in refuses, as the
// real circleci does outside one.
const StandInEnv = "FACET_CIRCLECI_STANDIN"

// StandInConfig is what the circleci stand-in mints tokens with.
type StandInConfig struct {
	KeyFile    string         `json:"key_file"`    // the signer's private key, PEM
	Claims     map[string]any `json:"claims"`      // the job's claims, iss among them
	TTLSeconds int            `json:"ttl_seconds"` // lifetime of a token; 0 means an hour
	Fail       string         `json:"fail"`        // if set, minting fails with this message
	// LeakToken makes a failing mint print a token on both its outputs
	// first, as a confused CLI might: what quotes circleci must mask it.
	LeakToken bool `json:"leak_token"`
}

// JobClaims are the claims of an ID token minted in a job of p's pipeline, as
// CircleCI sets them: the organization is in the issuer (and the subject),
// not a claim of its own.
func JobClaims(p circleci.Publisher) map[string]any {
	ctx := make([]any, len(p.ContextIDs))
	for i, id := range p.ContextIDs {
		ctx[i] = id
	}
	return map[string]any{
		"iss":                     p.Issuer(),
		"sub":                     "org/" + p.OrgID + "/project/" + p.ProjectID + "/user/00000000-0000-4000-8000-000000000000",
		ClaimProjectID:            p.ProjectID,
		ClaimPipelineDefinitionID: p.PipelineDefinitionID,
		ClaimVCSOrigin:            p.VCSOrigin,
		ClaimContextIDs:           ctx,
		ClaimSSHRerun:             false,
	}
}

// TrustFor is the trusted-publisher configuration npm trust circleci makes
// for p, allowed to publish.
func TrustFor(p circleci.Publisher) Trust {
	ctx := make([]any, len(p.ContextIDs))
	for i, id := range p.ContextIDs {
		ctx[i] = id
	}
	claims := map[string]any{
		ClaimOrgID: p.OrgID, ClaimProjectID: p.ProjectID,
		ClaimPipelineDefinitionID: p.PipelineDefinitionID, ClaimVCSOrigin: p.VCSOrigin,
	}
	if len(ctx) > 0 {
		claims[ClaimContextIDs] = ctx
	}
	return Trust{Type: "circleci", Claims: claims, Permissions: []string{"createPackage"}}
}

// WriteStandInConfig writes the stand-in's configuration into dir for a job
// of p's pipeline, with signer's key, and returns its path.
func WriteStandInConfig(dir string, signer *Signer, claims map[string]any) (string, error) {
	key := filepath.Join(dir, "oidc-key.pem")
	if err := signer.WriteKey(key); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(StandInConfig{KeyFile: key, Claims: claims}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "circleci-standin.json")
	return path, os.WriteFile(path, data, 0o600)
}

// StandInPackage is the stand-in's main package, relative to the repository
// root.
const StandInPackage = "./scripts/registrytest/cmd/circleci"

// BuildStandIn builds the circleci stand-in from the repository at root into
// dir/circleci, and returns dir, to put first on PATH.
func BuildStandIn(ctx context.Context, root, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "circleci"), StandInPackage)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the circleci stand-in: %w\n%s", err, out)
	}
	return dir, nil
}
