package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// receiptName is the install receipt's file name, beside the binary
// install.sh put in place (and self-update replaced).
const receiptName = ".facet-install.json"

// receipt is what install.sh records of an install, and self-update keeps
// current.
type receipt struct {
	Installer string   `json:"installer"`
	Version   string   `json:"version"`
	Package   string   `json:"package"`
	Registry  string   `json:"registry"`
	Binary    string   `json:"binary"`
	Profiles  []string `json:"profiles"`
}

// readReceipt reads the receipt in dir. A missing one is (nil, nil).
func readReceipt(dir string) (*receipt, error) {
	data, err := os.ReadFile(filepath.Join(dir, receiptName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, receiptName), err)
	}
	return &r, nil
}

// writeReceipt writes r into dir atomically: readers see the old receipt or
// the new one.
func writeReceipt(dir string, r receipt) error {
	if r.Profiles == nil {
		r.Profiles = []string{}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, receiptName), append(data, '\n'), 0o644)
}

// writeAtomic writes data to path through a temporary file beside it and a
// rename.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Ways facet was installed.
const (
	byInstallSh = "install.sh"
	byGoInstall = "go install"
	byUnknown   = "unknown"
	// npm, pnpm, yarn and bun are their own names.
)

// installation is how the binary at Path was installed.
type installation struct {
	Path    string   // the executable, symlinks resolved
	By      string   // byInstallSh, a package manager's name, byGoInstall or byUnknown
	Global  bool     // a package manager's global install
	Project string   // a package manager's project install: the project directory
	Dev     bool     // the project lists agent-facets in devDependencies
	Receipt *receipt // byInstallSh: the receipt
}

// judge tells how the executable exe (symlinks resolved) was installed: by
// install.sh when the receipt beside it names it, by a package manager when
// it lies in a node_modules tree, by go install when the build information
// has a module version (goVersion), else unknown. A receipt that cannot be
// read is an error.
func judge(exe string, goVersion bool) (installation, error) {
	in := installation{Path: exe, By: byUnknown}
	r, err := readReceipt(filepath.Dir(exe))
	if err != nil {
		return in, err
	}
	if r != nil && sameFile(r.Binary, exe) {
		in.By, in.Receipt = byInstallSh, r
		return in, nil
	}
	if pm, ok := packageManager(exe); ok {
		return pm, nil
	}
	if goVersion {
		in.By = byGoInstall
	}
	return in, nil
}

// sameFile reports whether a and b name the same path, symlinks resolved.
func sameFile(a, b string) bool {
	if a == "" {
		return false
	}
	if ra, err := filepath.EvalSymlinks(a); err == nil {
		a = ra
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// packageManager judges an executable inside a node_modules tree: the
// platform package's (node_modules/@agent-facets/cli-*/bin/facet) or the
// wrapper's after the launcher's fast path put the binary in its place
// (node_modules/agent-facets/bin/facet). The manager is told by its global
// directories (pnpm's global/, yarn's global/, bun's install/global/, npm's
// lib/node_modules) or, in a project, by its store (.pnpm) and lockfile.
func packageManager(exe string) (installation, bool) {
	slash := filepath.ToSlash(exe)
	i := strings.Index(slash, "/node_modules/")
	if i < 0 {
		return installation{}, false
	}
	rest := slash[i:]
	if !strings.Contains(rest, "/node_modules/@agent-facets/cli-") && !strings.Contains(rest, "/node_modules/agent-facets/") {
		return installation{}, false
	}
	in := installation{Path: exe}
	root := slash[:i] // the directory of the outermost node_modules
	switch {
	case strings.Contains(slash, "/.bun/install/global/"):
		in.By, in.Global = "bun", true
	case strings.Contains(slash, "/pnpm/global/") || strings.Contains(slash, "/pnpm-global/"):
		in.By, in.Global = "pnpm", true
	case strings.Contains(slash, "/yarn/global/") || strings.Contains(slash, "/.yarn-global/") || strings.Contains(slash, "/Yarn/Data/global/"):
		in.By, in.Global = "yarn", true
	case strings.HasSuffix(root, "/lib") || isNpmWindowsPrefix(root):
		// npm's global prefix: <prefix>/lib/node_modules (Unix),
		// <prefix>/node_modules (Windows, %AppData%\npm).
		in.By, in.Global = "npm", true
	default:
		in.Project = filepath.FromSlash(root)
		in.By = projectManager(in.Project, strings.Contains(rest, "/node_modules/.pnpm/"))
		in.Dev = devDependency(in.Project)
	}
	return in, true
}

// isNpmWindowsPrefix reports whether dir is npm's global prefix on Windows.
func isNpmWindowsPrefix(dir string) bool {
	return strings.HasSuffix(strings.ToLower(dir), "/appdata/roaming/npm")
}

// projectManager tells which manager installed a project's node_modules:
// pnpm's store, else its lockfile; npm when there is none.
func projectManager(project string, pnpmStore bool) string {
	if pnpmStore {
		return "pnpm"
	}
	for _, f := range []struct{ file, by string }{
		{"pnpm-lock.yaml", "pnpm"}, {"bun.lock", "bun"}, {"bun.lockb", "bun"}, {"yarn.lock", "yarn"}, {"package-lock.json", "npm"},
	} {
		if _, err := os.Stat(filepath.Join(project, f.file)); err == nil {
			return f.by
		}
	}
	return "npm"
}

// devDependency reports whether the project's package.json lists
// agent-facets in devDependencies.
func devDependency(project string) bool {
	data, err := os.ReadFile(filepath.Join(project, "package.json"))
	if err != nil {
		return false
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	_ = json.Unmarshal(data, &pkg)
	_, ok := pkg.DevDependencies[wrapperName]
	return ok
}

// updateCommand is the command that updates a package manager's install.
func (in installation) updateCommand() string {
	spec := wrapperName + "@latest"
	if in.Global {
		return map[string]string{
			"npm": "npm install -g " + spec, "pnpm": "pnpm add -g " + spec,
			"yarn": "yarn global add " + spec, "bun": "bun add -g " + spec,
		}[in.By]
	}
	dev := map[string]string{"npm": " --save-dev", "pnpm": " -D", "yarn": " -D", "bun": " -d"}[in.By]
	if !in.Dev {
		dev = ""
	}
	return map[string]string{
		"npm": "npm install", "pnpm": "pnpm add", "yarn": "yarn add", "bun": "bun add",
	}[in.By] + dev + " " + spec
}

// describe says how facet was installed, for people.
func (in installation) describe() string {
	switch {
	case in.By == byInstallSh:
		return "install.sh (receipt " + filepath.Join(filepath.Dir(in.Path), receiptName) + ")"
	case in.By == byGoInstall:
		return "go install"
	case in.By == byUnknown:
		return "unknown (no install.sh receipt beside it, not in a node_modules tree)"
	case in.Global:
		return in.By + ", globally"
	}
	return in.By + ", in the project " + in.Project
}
