package circleci_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
)

// The project's one record of the CircleCI values (REFERENCE §1).
func TestFacets(t *testing.T) {
	p := circleci.Facets()
	assert.Equal(t, []circleci.Field{
		{Name: "Organization ID", Value: "d6dfd694-6b06-4d51-a5bd-a15b3efe977b"},
		{Name: "Project ID", Value: "c7b3dd0a-e9b0-4e95-8345-fc984443e02b"},
		{Name: "Pipeline Definition ID", Value: "d404b478-dd19-4c68-891f-4cf97396b1a7"},
		{Name: "Context ID", Value: "84962527-275c-495e-83c3-31c79cf1e181"},
		{Name: "VCS origin", Value: "github.com/agent-facets/facets"},
	}, p.Fields())
	assert.Equal(t, "https://oidc.circleci.com/org/d6dfd694-6b06-4d51-a5bd-a15b3efe977b", p.Issuer())
	assert.Equal(t, []string{"circleci", "agent-facets",
		"--org-id", p.OrgID, "--project-id", p.ProjectID, "--pipeline-definition-id", p.PipelineDefinitionID,
		"--vcs-origin", p.VCSOrigin, "--context-id", p.ContextIDs[0], "--allow-publish", "--allow-stage-publish"}, p.TrustArgs("agent-facets"))
}

func TestCompare(t *testing.T) {
	p := circleci.Facets()
	same := npm.Trust{ID: "1", Type: "circleci", OrgID: p.OrgID, ProjectID: p.ProjectID, PipelineDefinitionID: p.PipelineDefinitionID,
		VCSOrigin: p.VCSOrigin, ContextIDs: p.ContextIDs, Permissions: []string{"createPackage", "createStagedPackage"}}
	with := func(f func(*npm.Trust)) npm.Trust { t := same; f(&t); return t }
	both := []string{circleci.PublishPermission, circleci.StagePermission}
	tests := []struct {
		name string
		list []npm.Trust
		need []string
		want []string
	}{
		{"the same", []npm.Trust{same}, both, nil},
		{"the same, in another order", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createStagedPackage", "createPackage"} })}, both, nil},
		{"none", nil, both, []string{"no trusted publisher"}},
		{"another project", []npm.Trust{with(func(t *npm.Trust) { t.ProjectID = "x" })}, both, []string{"Project ID: is x, want " + p.ProjectID}},
		{"no context", []npm.Trust{with(func(t *npm.Trust) { t.ContextIDs = nil })}, both, []string{"Context ID: is (none), want " + p.ContextIDs[0]}},
		{"stage only", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createStagedPackage"} })}, both,
			[]string{"permissions: is stage publish, want publish, stage publish (npm trust … --allow-publish --allow-stage-publish)"}},
		{"publish only", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createPackage"} })}, both,
			[]string{"permissions: is publish, want publish, stage publish (npm trust … --allow-publish --allow-stage-publish)"}},
		{"stage only, permissions not asked", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createStagedPackage"} })}, nil, nil},
		{"GitHub", []npm.Trust{{ID: "2", Type: "github"}}, both, []string{"provider: is github, want circleci"}},
		{"two", []npm.Trust{same, with(func(t *npm.Trust) { t.ID = "3"; t.VCSOrigin = "github.com/o/r" })}, both,
			[]string{"2 trusted publishers, want one", "circleci 3: VCS origin: is github.com/o/r, want github.com/agent-facets/facets"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.Compare(tt.list, tt.need...), tt.name)
	}
	assert.Equal(t, "(none)", circleci.PermissionNames(nil))
}
