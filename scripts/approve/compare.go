package approve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/agent-facets/facets/scripts/dist"
)

// maxDiffs is how many differences a refusal names per package.
const maxDiffs = 5

// Comparison is what a staged tarball is, next to the one rebuilt from the
// tag.
type Comparison struct {
	// Identical says the two tarballs are the same bytes: the packing
	// reproduced the staged one exactly.
	Identical bool
	// Diffs are the differences of content, first ones first: a file added
	// or missing, a file whose bytes or mode changed, a field of package.json
	// that differs. None means the same files, bytes and manifest.
	Diffs []string
	// More is how many differences Diffs leaves out.
	More int
}

// Same reports whether the staged tarball holds what was rebuilt: the same
// files, with the same bytes and modes, and the same manifest.
func (c Comparison) Same() bool { return len(c.Diffs) == 0 }

// Compare compares a staged tarball with the rebuilt one: file by file
// (paths, bytes, modes) and package.json field by field, and byte for byte.
func Compare(rebuilt, staged []byte) (Comparison, error) {
	c := Comparison{Identical: bytes.Equal(rebuilt, staged)}
	if c.Identical {
		return c, nil
	}
	want, err := dist.ReadTarball(rebuilt)
	if err != nil {
		return c, fmt.Errorf("reading the rebuilt tarball: %w", err)
	}
	got, err := dist.ReadTarball(staged)
	if err != nil {
		return c, fmt.Errorf("reading the staged tarball: %w", err)
	}
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("file %s added", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[name]
		w := want[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("file %s missing", name))
		case g.SHA256 != w.SHA256:
			diffs = append(diffs, fmt.Sprintf("file %s changed (sha256 %.12s…, rebuilt %.12s…)", name, g.SHA256, w.SHA256))
		case g.Mode != w.Mode:
			diffs = append(diffs, fmt.Sprintf("file %s mode %o, rebuilt %o", name, g.Mode, w.Mode))
		}
	}
	fields, err := manifestDiff(rebuilt, staged)
	if err != nil {
		return c, err
	}
	diffs = append(diffs, fields...)
	if len(diffs) > maxDiffs {
		c.More = len(diffs) - maxDiffs
		diffs = diffs[:maxDiffs]
	}
	c.Diffs = diffs
	return c, nil
}

// manifestDiff names the fields of package.json whose values differ.
func manifestDiff(rebuilt, staged []byte) ([]string, error) {
	read := func(data []byte, which string) (map[string]any, error) {
		raw, err := dist.TarballFile(data, "package.json")
		if err != nil {
			return nil, fmt.Errorf("the %s tarball: %w", which, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("the %s tarball's package.json: %w", which, err)
		}
		return m, nil
	}
	want, err := read(rebuilt, "rebuilt")
	if err != nil {
		return nil, err
	}
	got, err := read(staged, "staged")
	if err != nil {
		// A staged tarball without a manifest: that is the difference.
		return []string{"package.json: " + err.Error()}, nil
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !wok:
			diffs = append(diffs, fmt.Sprintf("manifest field %s added (%s)", k, brief(g)))
		case !gok:
			diffs = append(diffs, fmt.Sprintf("manifest field %s missing (rebuilt: %s)", k, brief(w)))
		case !reflect.DeepEqual(g, w):
			diffs = append(diffs, fmt.Sprintf("manifest field %s is %s, rebuilt %s", k, brief(g), brief(w)))
		}
	}
	return diffs, nil
}

// brief is a JSON value as a difference shows it: at most 60 characters.
func brief(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if r := []rune(string(data)); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return string(data)
}

// installFields are the fields of a version's manifest that npm acts on
// when it installs the version: the registry's manifest, from the publish
// body, not the tarball's package.json.
var installFields = []string{"name", "version", "dependencies", "optionalDependencies", "peerDependencies", "peerDependenciesMeta",
	"bundleDependencies", "bundledDependencies", "engines", "bin", "os", "cpu", "libc", "scripts"}

// InstallDiff names the fields npm installs by (installFields: name,
// version, the dependencies of every kind, engines, bin, os, cpu, libc,
// scripts) whose
// values differ between published, the registry's manifest of a version,
// and the rebuilt tarball's package.json. A field missing, null or empty is
// the same on either side; a bin path's leading ./ and a bin given as a
// string are as npm normalizes them.
func InstallDiff(published map[string]any, rebuilt []byte) ([]string, error) {
	raw, err := dist.TarballFile(rebuilt, "package.json")
	if err != nil {
		return nil, fmt.Errorf("the rebuilt tarball: %w", err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		return nil, fmt.Errorf("the rebuilt tarball's package.json: %w", err)
	}
	var diffs []string
	for _, k := range installFields {
		g, w := installValue(published, k), installValue(want, k)
		if !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s is %s, rebuilt %s", k, brief(g), brief(w)))
		}
	}
	return diffs, nil
}

// installValue is m's field k as npm reads it: nil when missing or empty.
func installValue(m map[string]any, k string) any {
	v := m[k]
	if k == "bin" {
		if s, ok := v.(string); ok {
			name, _ := m["name"].(string)
			if i := strings.LastIndex(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			v = map[string]any{name: s}
		}
		if bins, ok := v.(map[string]any); ok {
			clean := make(map[string]any, len(bins))
			for name, p := range bins {
				if s, ok := p.(string); ok {
					p = strings.TrimPrefix(s, "./")
				}
				clean[name] = p
			}
			v = clean
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}
