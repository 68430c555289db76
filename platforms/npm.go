package platforms

import (
	"embed"
	"encoding/json"
	"io/fs"
)

// npmFiles are the wrapper package's hand-written files: the launcher, its
// candidate logic, fast path and doctor (what it says when no binary runs), the README, and the generated table of
// packages. None is an install script: the wrapper has none.
//
//go:embed npm/bin/facet npm/lib/platform.js npm/lib/fastpath.js npm/lib/doctor.js npm/lib/platforms.json npm/README.md
var npmFiles embed.FS

// WrapperFiles returns the static files of the agent-facets wrapper package,
// at their paths inside it (bin/facet, lib/platform.js, lib/fastpath.js,
// lib/doctor.js, lib/platforms.json, README.md).
func WrapperFiles() fs.FS {
	sub, err := fs.Sub(npmFiles, "npm")
	if err != nil {
		panic(err) // "npm" is a literal directory of the embedded tree
	}
	return sub
}

// LauncherTablePath is where the launcher's table lives in the repository and,
// below "npm/", in the wrapper package.
const LauncherTablePath = "npm/lib/platforms.json"

// LauncherEntry is one package in the launcher's table.
type LauncherEntry struct {
	Package  string `json:"package"`
	OS       string `json:"os"`
	CPU      string `json:"cpu"`
	Libc     Libc   `json:"libc,omitempty"`
	Baseline bool   `json:"baseline"`
	Bin      string `json:"bin"`
}

// LauncherTable is the table the launcher resolves packages with.
type LauncherTable struct {
	Command  string          `json:"command"`
	Packages []LauncherEntry `json:"packages"`
}

// Launcher returns the launcher's table of [All].
func Launcher() LauncherTable { return All().Launcher() }

// Launcher returns the launcher's table of the targets.
func (tb Table) Launcher() LauncherTable {
	table := LauncherTable{Command: Command}
	for _, t := range tb {
		table.Packages = append(table.Packages, LauncherEntry{
			Package: t.Package(), OS: t.OS, CPU: t.CPU, Libc: t.Libc, Baseline: t.Baseline, Bin: t.BinPath(),
		})
	}
	return table
}

// LauncherJSON is the launcher's table of [All] as the file lib/platforms.json
// holds it.
func LauncherJSON() []byte { return All().LauncherJSON() }

// LauncherJSON is the launcher's table of the targets as the file
// lib/platforms.json holds it.
func (tb Table) LauncherJSON() []byte {
	data, err := json.MarshalIndent(tb.Launcher(), "", "  ")
	if err != nil {
		panic(err) // plain strings and booleans always marshal
	}
	return append(data, '\n')
}
