// Package generate keeps the repository's generated files current. They are
// derived from the platforms table and committed, so that they can be read
// (README.md) and used without Go (the launcher's lib/platforms.json, which the
// node tests load); a test fails when one is stale.
package generate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/dist"
)

// A File is a generated file, or a file with generated sections.
type File struct {
	Path   string                           // relative to the repository root, with forward slashes
	Render func(old string) (string, error) // the current content, given the content on disk
}

// Files lists the generated files.
func Files() []File {
	return []File{
		{Path: "README.md", Render: func(old string) (string, error) {
			return ReplaceSection(old, "targets", platforms.MarkdownTable())
		}},
		{Path: "platforms/" + platforms.LauncherTablePath, Render: func(string) (string, error) {
			return string(platforms.LauncherJSON()), nil
		}},
		{Path: platforms.InstallScriptPath, Render: func(old string) (string, error) {
			return ReplaceYAMLSection(old, "platforms", platforms.InstallTable())
		}},
		{Path: ciconfig.Path, Render: func(old string) (string, error) {
			return ReplaceYAMLSection(old, "matrix", ciconfig.MatrixSection(platforms.All()))
		}},
		{Path: platforms.BinaryTablePath, Render: func(string) (string, error) {
			return platforms.All().BinaryTable("main"), nil
		}},
	}
}

// Stale returns the generated files under root whose content is not current.
func Stale(root string) ([]string, error) {
	var stale []string
	for _, f := range Files() {
		old, want, err := render(root, f)
		if err != nil {
			return nil, err
		}
		if old != want {
			stale = append(stale, f.Path)
		}
	}
	return stale, nil
}

// Write brings every generated file under root up to date.
func Write(root string) error {
	for _, f := range Files() {
		old, want, err := render(root, f)
		if err != nil {
			return err
		}
		if old != want {
			if err := dist.WriteFileAtomic(filepath.Join(root, filepath.FromSlash(f.Path)), []byte(want), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func render(root string, f File) (old, want string, err error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
	if err != nil && !os.IsNotExist(err) {
		return "", "", err
	}
	want, err = f.Render(string(data))
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", f.Path, err)
	}
	return string(data), want, nil
}

// ReplaceSection returns text with the section between the markers
// "<!-- generated:name -->" and "<!-- end:name -->" replaced by content.
func ReplaceSection(text, name, content string) (string, error) {
	begin, end := "<!-- generated:"+name+" -->\n", "<!-- end:"+name+" -->"
	i := strings.Index(text, begin)
	if i < 0 {
		return "", fmt.Errorf("no %q marker", strings.TrimSpace(begin))
	}
	j := strings.Index(text[i:], end)
	if j < 0 {
		return "", fmt.Errorf("no %q marker after %q", end, strings.TrimSpace(begin))
	}
	return text[:i+len(begin)] + content + text[i+j:], nil
}

// ReplaceYAMLSection returns text with the lines between the comment lines
// "# generated:name" and "# end:name" replaced by content, each of its lines
// indented as the first marker is, so that the section fits where it stands.
func ReplaceYAMLSection(text, name, content string) (string, error) {
	begin, end := "# generated:"+name, "# end:"+name
	i := strings.Index(text, begin)
	if i < 0 {
		return "", fmt.Errorf("no %q marker", begin)
	}
	lineStart := strings.LastIndex(text[:i], "\n") + 1
	indent := text[lineStart:i]
	if strings.TrimSpace(indent) != "" {
		return "", fmt.Errorf("%q marker is not alone on its line", begin)
	}
	nl := strings.Index(text[i:], "\n")
	if nl < 0 {
		return "", fmt.Errorf("no %q marker after %q", end, begin)
	}
	bodyStart := i + nl + 1
	j := strings.Index(text[bodyStart:], end)
	if j < 0 {
		return "", fmt.Errorf("no %q marker after %q", end, begin)
	}
	bodyEnd := strings.LastIndex(text[:bodyStart+j], "\n") + 1
	var b strings.Builder
	for _, line := range strings.SplitAfter(content, "\n") {
		if line != "" {
			b.WriteString(indent + line)
		}
	}
	return text[:bodyStart] + b.String() + text[bodyEnd:], nil
}
