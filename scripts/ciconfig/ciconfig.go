// Package ciconfig is the CircleCI configuration, .circleci/config.yml (a
// helper): the part of it derived from the platforms table, the build matrix,
// which scripts/generate writes into it. Its tests read the whole file with a
// YAML parser and hold it to the build: the targets it calls exist, the
// release runs only on release tags in the release context, the workspace
// carries what dist/ holds, the matrix is the table.
package ciconfig

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/agent-facets/facets/platforms"
)

// Path is the configuration file, relative to the repository root.
const Path = ".circleci/config.yml"

// MatrixValues are the values of the build job's matrix for the targets: one
// per compilation, the names of its targets separated by spaces, as
// build:target takes them. A -musl target is in its glibc twin's job, which
// compiles once and copies.
func MatrixValues(tb platforms.Table) []string {
	groups := tb.Compilations()
	values := make([]string, len(groups))
	for i, g := range groups {
		names := make([]string, len(g))
		for j, t := range g {
			names[j] = t.Name()
		}
		values[i] = strings.Join(names, " ")
	}
	return values
}

// MatrixSection renders MatrixValues of the targets as the YAML list of the
// matrix, one line per value, unindented.
func MatrixSection(tb platforms.Table) string {
	var b strings.Builder
	for _, v := range MatrixValues(tb) {
		b.WriteString("- " + v + "\n")
	}
	return b.String()
}

// ReleaseModes are the values of the pipeline parameter release-mode: publish
// (go tool mage release) or stage (go tool mage release:stage).
func ReleaseModes() []string { return []string{"publish", "stage"} }

// ReleaseMode is the default of the pipeline parameter release-mode in the
// configuration config: the mode a tag's pipeline releases in unless whoever
// triggers it sets the parameter.
func ReleaseMode(config []byte) (string, error) {
	var c struct {
		Parameters map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"parameters"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		return "", fmt.Errorf("%s: %w", Path, err)
	}
	p, ok := c.Parameters["release-mode"]
	if !ok {
		return "", fmt.Errorf("%s declares no pipeline parameter release-mode", Path)
	}
	mode, _ := p.Default.(string)
	if !slices.Contains(ReleaseModes(), mode) {
		return "", fmt.Errorf("%s: the default of release-mode is %v, want one of %s", Path, p.Default, strings.Join(ReleaseModes(), ", "))
	}
	return mode, nil
}
