// Package circleci is everything the release knows about CircleCI: the
// project that publishes facet (the values npm's trusted publisher must
// match), the job's environment, OIDC tokens minted with the circleci
// command, and the lock on the release context: its restrictions, read
// through CircleCI's API, and whether their expressions (in CircleCI's
// expression language, parsed here) confine it to release tags. It is a
// helper, used by the seed, trust, verify and release stages.
package circleci

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agent-facets/facets/scripts/npm"
)

// Publisher is a CircleCI pipeline as npm's trusted publishing identifies it:
// the claims of the OIDC tokens its jobs mint.
type Publisher struct {
	OrgID                string   // Organization ID
	ProjectID            string   // Project ID
	PipelineDefinitionID string   // Pipeline Definition ID
	ContextIDs           []string // Context IDs the job runs in (the release context); may be empty
	VCSOrigin            string   // VCS origin: github.com/<owner>/<repo>
}

// Facets is the pipeline that publishes facet: the project's one record of
// these values. seed prints them, trust sets them, verify and release check
// them.
func Facets() Publisher {
	return Publisher{
		OrgID:                "d6dfd694-6b06-4d51-a5bd-a15b3efe977b",
		ProjectID:            "c7b3dd0a-e9b0-4e95-8345-fc984443e02b",
		PipelineDefinitionID: "d404b478-dd19-4c68-891f-4cf97396b1a7",
		ContextIDs:           []string{"84962527-275c-495e-83c3-31c79cf1e181"},
		VCSOrigin:            "github.com/agent-facets/facets",
	}
}

// Field is one value of a Publisher, named as CircleCI's and npm's web pages
// name it.
type Field struct{ Name, Value string }

// Fields lists p's values in the order the npm website asks for them.
func (p Publisher) Fields() []Field {
	return []Field{
		{"Organization ID", p.OrgID},
		{"Project ID", p.ProjectID},
		{"Pipeline Definition ID", p.PipelineDefinitionID},
		{"Context ID", strings.Join(p.ContextIDs, ", ")},
		{"VCS origin", p.VCSOrigin},
	}
}

// Issuer is the OIDC issuer of the organization's tokens.
func (p Publisher) Issuer() string { return "https://oidc.circleci.com/org/" + p.OrgID }

// TrustArgs are the arguments of `npm trust` that make p the trusted
// publisher of pkg, allowed to publish and to stage: both release modes (go
// tool mage release, release:stage) work with it, and npmjs.com cannot edit a
// publisher later, only delete it.
func (p Publisher) TrustArgs(pkg string) []string {
	args := []string{"circleci", pkg,
		"--org-id", p.OrgID,
		"--project-id", p.ProjectID,
		"--pipeline-definition-id", p.PipelineDefinitionID,
		"--vcs-origin", p.VCSOrigin,
	}
	for _, id := range p.ContextIDs {
		args = append(args, "--context-id", id)
	}
	return append(args, "--allow-publish", "--allow-stage-publish")
}

// The trusted-publisher permissions, as npm's API names them: a direct
// release (go tool mage release) needs PublishPermission, a staged one (go
// tool mage release:stage) StagePermission. Without PublishPermission a
// publish fails with "403 OIDC permission denied"; since 2026-09-03 a
// publisher made on npmjs.com has only StagePermission unless "npm publish"
// was ticked.
const (
	PublishPermission = "createPackage"
	StagePermission   = "createStagedPackage"
)

// Permissions are the permissions go tool mage trust gives a publisher.
func Permissions() []string { return []string{PublishPermission, StagePermission} }

// permissionName is how npm trust and npmjs.com name each permission.
var permissionName = map[string]string{PublishPermission: "publish", StagePermission: "stage publish"}

// PermissionNames names perms as npm does ("publish, stage publish"), or
// "(none)".
func PermissionNames(perms []string) string {
	var names []string
	for _, p := range perms {
		if n, ok := permissionName[p]; ok {
			p = n
		}
		names = append(names, p)
	}
	return orNone(strings.Join(names, ", "))
}

// Diff lists how the trusted publisher t differs from p, one line per field
// ("Project ID: is X, want Y"), and a line if it lacks any of the
// permissions need; nothing when t is p with them.
func (p Publisher) Diff(t npm.Trust, need ...string) []string {
	if t.Type != "circleci" {
		return []string{fmt.Sprintf("provider: is %s, want circleci", t.Type)}
	}
	var diffs []string
	have := Publisher{OrgID: t.OrgID, ProjectID: t.ProjectID, PipelineDefinitionID: t.PipelineDefinitionID, ContextIDs: t.ContextIDs, VCSOrigin: t.VCSOrigin}
	for i, f := range have.Fields() {
		want := p.Fields()[i]
		if f.Name == "Context ID" {
			if !sameSet(t.ContextIDs, p.ContextIDs) {
				diffs = append(diffs, fmt.Sprintf("%s: is %s, want %s", f.Name, orNone(f.Value), orNone(want.Value)))
			}
			continue
		}
		if f.Value != want.Value {
			diffs = append(diffs, fmt.Sprintf("%s: is %s, want %s", f.Name, orNone(f.Value), orNone(want.Value)))
		}
	}
	for _, perm := range need {
		if !slices.Contains(t.Permissions, perm) {
			diffs = append(diffs, fmt.Sprintf("permissions: is %s, want %s (npm trust … --allow-publish --allow-stage-publish)",
				PermissionNames(t.Permissions), PermissionNames(need)))
			break
		}
	}
	return diffs
}

// Compare says how a package's trusted publishers differ from p: nil when it
// has exactly one and it is p with the permissions need; otherwise one line
// per difference.
func (p Publisher) Compare(list []npm.Trust, need ...string) []string {
	switch len(list) {
	case 0:
		return []string{"no trusted publisher"}
	case 1:
		if d := p.Diff(list[0], need...); len(d) > 0 {
			return d
		}
		return nil
	}
	diff := []string{fmt.Sprintf("%d trusted publishers, want one", len(list))}
	for _, t := range list {
		if d := p.Diff(t, need...); len(d) > 0 {
			diff = append(diff, fmt.Sprintf("%s %s: %s", t.Type, t.ID, strings.Join(d, "; ")))
		}
	}
	return diff
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
