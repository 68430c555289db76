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
		"--vcs-origin", p.VCSOrigin, "--context-id", p.ContextIDs[0], "--allow-publish"}, p.TrustArgs("agent-facets"))
}

func TestCompare(t *testing.T) {
	p := circleci.Facets()
	same := npm.Trust{ID: "1", Type: "circleci", OrgID: p.OrgID, ProjectID: p.ProjectID, PipelineDefinitionID: p.PipelineDefinitionID,
		VCSOrigin: p.VCSOrigin, ContextIDs: p.ContextIDs, Permissions: []string{"createPackage"}}
	with := func(f func(*npm.Trust)) npm.Trust { t := same; f(&t); return t }
	tests := []struct {
		name string
		list []npm.Trust
		want []string
	}{
		{"the same", []npm.Trust{same}, nil},
		{"also allowed to stage", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createStagedPackage", "createPackage"} })}, nil},
		{"none", nil, []string{"no trusted publisher"}},
		{"another project", []npm.Trust{with(func(t *npm.Trust) { t.ProjectID = "x" })}, []string{"Project ID: is x, want " + p.ProjectID}},
		{"no context", []npm.Trust{with(func(t *npm.Trust) { t.ContextIDs = nil })}, []string{"Context ID: is (none), want " + p.ContextIDs[0]}},
		{"staged only", []npm.Trust{with(func(t *npm.Trust) { t.Permissions = []string{"createStagedPackage"} })},
			[]string{"permissions: is createStagedPackage, want publish (npm trust … --allow-publish)"}},
		{"GitHub", []npm.Trust{{ID: "2", Type: "github"}}, []string{"provider: is github, want circleci"}},
		{"two", []npm.Trust{same, with(func(t *npm.Trust) { t.ID = "3"; t.VCSOrigin = "github.com/o/r" })},
			[]string{"2 trusted publishers, want one", "circleci 3: VCS origin: is github.com/o/r, want github.com/agent-facets/facets"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, p.Compare(tt.list), tt.name)
	}
}
