package npm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/npm"
)

func TestParseStaged(t *testing.T) {
	const id = "5d0f6a3e-7c1b-4e8a-9f2d-0b6c1e4a7d93"
	tests := []struct {
		name, out string
		want      string
	}{
		{"npm's line", "+ @agent-facets/cli-linux-x64@1.2.3 (staged with id " + id + ")\n", id},
		{"after the tarball's contents", "npm notice 📦  agent-facets@1.2.3\nnpm notice Tarball Contents\n+ agent-facets@1.2.3 (staged with id " + id + ")\n", id},
		{"on a terminal", "+ agent-facets@1.2.3-rc.1 (staged with id " + id + ")\r\n", id},
		{"staged without an id", "+ agent-facets@1.2.3 (staged)\n", ""},
		{"published, not staged", "+ agent-facets@1.2.3\n", ""},
		{"not a UUID", "+ agent-facets@1.2.3 (staged with id 5d0f6a3e-7c1b-4e8a-9f2d-0b6c1e4a7d9z)\n", ""},
		{"not at the start of a line", "npm notice + agent-facets@1.2.3 (staged with id " + id + ")\n", ""},
		{"nothing", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := npm.ParseStaged(tt.out)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != "", ok)
		})
	}
}
