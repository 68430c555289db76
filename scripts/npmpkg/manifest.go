package npmpkg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"

	"github.com/agent-facets/facets/platforms"
)

// Fixed package metadata.
const (
	License    = "MIT"
	Homepage   = "https://github.com/agent-facets/facets"
	GitURL     = "git+https://github.com/agent-facets/facets.git"
	NodeEngine = ">=18"
)

// Repository is package.json's "repository".
type Repository struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// repository is where the packages' source lives.
func repository() Repository { return Repository{Type: "git", URL: GitURL} }

// Metadata is what every package.json here starts with.
type Metadata struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Description string     `json:"description"`
	License     string     `json:"license"`
	Homepage    string     `json:"homepage"`
	Repository  Repository `json:"repository"`
}

// metadata fills in the fields shared by every package.
func metadata(name, version, description string) Metadata {
	return Metadata{Name: name, Version: version, Description: description, License: License, Homepage: Homepage, Repository: repository()}
}

// PlatformManifest is the package.json of a platform package. The field order
// is the order of the file.
type PlatformManifest struct {
	Metadata
	OS              []string `json:"os"`
	CPU             []string `json:"cpu"`
	Libc            []string `json:"libc,omitempty"`
	PreferUnplugged bool     `json:"preferUnplugged"`
	Files           []string `json:"files"`
}

// Platform returns the package.json of t's package at version.
func Platform(t platforms.Target, version string) PlatformManifest {
	m := PlatformManifest{
		Metadata: metadata(t.Package(), version,
			fmt.Sprintf("The facet binary for %s. Install agent-facets instead: it picks the right platform package.", t.Title())),
		OS:              []string{t.OS},
		CPU:             []string{t.CPU},
		PreferUnplugged: true,
		Files:           []string{t.BinPath()},
	}
	// Only musl packages declare their libc. npm, pnpm and yarn 4 skip every
	// package that declares one when they cannot tell the host's libc; the
	// binaries are static and run on either, so a glibc package that declares
	// nothing keeps such a host working, at the cost of a second download on
	// musl hosts. README.md ("Which packages a machine installs") has the
	// measurements behind this.
	if t.Libc == platforms.Musl {
		m.Libc = []string{string(t.Libc)}
	}
	return m
}

// WrapperManifest is the package.json of the agent-facets wrapper. It has no
// "scripts": an install script makes package managers warn, ask for approval
// or (pnpm) fail the install, so the launcher's first run does that work.
type WrapperManifest struct {
	Metadata
	Engines              map[string]string `json:"engines"`
	Bin                  map[string]string `json:"bin"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Files                []string          `json:"files"`
}

// wrapperFiles are the wrapper's files from platforms.WrapperFiles and
// install.sh, in lexical order, without README.md (npm always includes it, as
// it does package.json and LICENSE).
func wrapperFiles() []string {
	files := []string{platforms.InstallScriptPath}
	err := fs.WalkDir(platforms.WrapperFiles(), ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && name != "README.md" {
			files = append(files, name)
		}
		return err
	})
	if err != nil {
		panic(err) // an embedded tree cannot fail to walk
	}
	slices.Sort(files)
	return files
}

// Wrapper returns the package.json of agent-facets at version: its
// optionalDependencies are every target's package, pinned to version.
func Wrapper(targets []platforms.Target, version string) WrapperManifest {
	deps := make(map[string]string, len(targets))
	for _, t := range targets {
		deps[t.Package()] = version
	}
	return WrapperManifest{
		Metadata:             metadata(platforms.Wrapper, version, "The facet CLI of Agent Facets. Installs the native binary for your platform."),
		Engines:              map[string]string{"node": NodeEngine},
		Bin:                  map[string]string{platforms.Command: "bin/facet"},
		OptionalDependencies: deps,
		Files:                wrapperFiles(),
	}
}

// marshal renders a manifest as package.json text, as npm writes it: indented
// by two spaces, with ">" and "&" left as they are.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // manifests hold strings, slices and maps of strings
	}
	return b.Bytes()
}

// platformReadme is the README.md of a platform package.
func platformReadme(t platforms.Target) string {
	return fmt.Sprintf(`# %s

The facet binary of [agent-facets](https://www.npmjs.com/package/agent-facets) for %s.

Do not install this package directly: install agent-facets, which depends on every platform
package and lets npm pick the one for your machine.

`+"```sh\nnpm install -g agent-facets\n```"+`

The binary is %s. Its source is %s.
`, t.Package(), t.Title(), t.BinPath(), Homepage)
}
