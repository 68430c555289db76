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
	Claims     map[string]any `json:"claims"`      // the job's claims (JobClaims), iss among them
	TTLSeconds int            `json:"ttl_seconds"` // lifetime of a token; 0 means an hour
	// AgeSeconds mints tokens as if this long ago (iat, nbf and exp move
	// back): a token kept too long before use, for the exchange's limit on
	// a token's age (IDTokenMaxAge).
	AgeSeconds int `json:"age_seconds"`
	// Garble prints three dot-separated segments that are no JWT, as a
	// broken CLI might: the exchange finds the request malformed (400).
	Garble bool   `json:"garble"`
	Fail   string `json:"fail"` // if set, minting fails with this message
	// LeakToken makes a failing mint print a token on both its outputs
	// first, as a confused CLI might: what quotes circleci must mask it.
	LeakToken bool `json:"leak_token"`
}

// JobClaims are the claims of an ID token minted in a job of p's pipeline, as
// CircleCI sets them: the organization is a claim and in the issuer (and the
// subject); the pipeline, workflow and job have IDs of their own (new ones
// at each call: one job); ref is the job's vcs-ref ("refs/heads/main",
// "refs/tags/agent-facets@1.2.3"). The circleci stand-in takes the ref from
// the job's CIRCLE_TAG or CIRCLE_BRANCH instead when its environment has one,
// as both come from the pipeline in CircleCI. Not an SSH rerun.
func JobClaims(p circleci.Publisher, ref string) map[string]any {
	ctx := make([]any, len(p.ContextIDs))
	for i, id := range p.ContextIDs {
		ctx[i] = id
	}
	return map[string]any{
		"iss":                     p.Issuer(),
		"sub":                     "org/" + p.OrgID + "/project/" + p.ProjectID + "/user/00000000-0000-4000-8000-000000000000",
		ClaimOrgID:                p.OrgID,
		ClaimProjectID:            p.ProjectID,
		ClaimPipelineDefinitionID: p.PipelineDefinitionID,
		ClaimPipelineID:           newID(),
		ClaimWorkflowID:           newID(),
		ClaimJobID:                newID(),
		ClaimVCSOrigin:            p.VCSOrigin,
		ClaimVCSRef:               ref,
		ClaimContextIDs:           ctx,
		ClaimSSHRerun:             false,
	}
}

// TrustFor is the trusted publisher that `npm trust circleci …
// --allow-publish --allow-stage-publish` makes for p
// (circleci.Publisher.TrustArgs): its claims, and permission to publish and
// to stage ([PublishPermission, StagePermission], as npm's trust command
// posts them).
func TrustFor(p circleci.Publisher) Trust {
	t := publisherOf(p)
	t.Permissions = []string{PublishPermission, StagePermission}
	return t
}

// PublishOnlyTrust is the trusted publisher that `npm trust circleci …
// --allow-publish` makes for p, as go tool mage trust made them before staged
// releases: it may publish, not stage.
func PublishOnlyTrust(p circleci.Publisher) Trust {
	t := publisherOf(p)
	t.Permissions = []string{PublishPermission}
	return t
}

// WebTrust is the trusted publisher a maintainer makes for p on the package's
// page on npmjs.com: stage-only unless "npm publish" was ticked (publish), as
// npmjs.com makes them since 2026-09-03; with it, the website lists
// [PublishPermission, StagePermission].
func WebTrust(p circleci.Publisher, publish bool) Trust {
	t := publisherOf(p)
	t.Permissions = []string{StagePermission}
	if publish {
		t.Permissions = []string{PublishPermission, StagePermission}
	}
	return t
}

// publisherOf is p as a trusted publisher's claims, with no permission.
func publisherOf(p circleci.Publisher) Trust {
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
	return Trust{Type: "circleci", Claims: claims}
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
