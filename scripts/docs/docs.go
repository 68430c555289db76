// Package docs keeps the generated parts of README.md current: the sections
// between "<!-- generated:NAME -->" and "<!-- end:NAME -->" markers.
package docs

import (
	"fmt"
	"strings"

	"github.com/agent-facets/facets/platforms"
)

// Sections returns the generated sections by name.
func Sections() map[string]string {
	return map[string]string{"targets": platforms.MarkdownTable()}
}

// Update returns text with every generated section replaced by its current
// content. A missing or unterminated marker is an error.
func Update(text string) (string, error) {
	for name, content := range Sections() {
		begin, end := "<!-- generated:"+name+" -->\n", "<!-- end:"+name+" -->"
		i := strings.Index(text, begin)
		if i < 0 {
			return "", fmt.Errorf("README.md has no %q marker", strings.TrimSpace(begin))
		}
		j := strings.Index(text[i:], end)
		if j < 0 {
			return "", fmt.Errorf("README.md has no %q marker after %q", end, strings.TrimSpace(begin))
		}
		text = text[:i+len(begin)] + content + text[i+j:]
	}
	return text, nil
}
