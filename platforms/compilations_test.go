package platforms_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/platforms"
)

func TestCompilations(t *testing.T) {
	var got [][]string
	for _, g := range platforms.Compilations() {
		var names []string
		for _, t := range g {
			names = append(names, t.Name())
		}
		got = append(got, names)
	}
	assert.Equal(t, [][]string{
		{"darwin-arm64"},
		{"darwin-x64"},
		{"darwin-x64-baseline"},
		{"linux-arm64", "linux-arm64-musl"},
		{"linux-x64", "linux-x64-musl"},
		{"linux-x64-baseline", "linux-x64-baseline-musl"},
		{"windows-arm64"},
		{"windows-x64"},
		{"windows-x64-baseline"},
	}, got, "one group per Go configuration, the glibc target first")
}
