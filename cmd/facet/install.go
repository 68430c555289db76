package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	// Tag is the dist-tag the install follows (install.sh --tag next);
	// absent means latest.
	Tag string `json:"tag,omitempty"`
}

// tag is the dist-tag r's install follows.
func (r *receipt) tag() string {
	if r == nil || r.Tag == "" {
		return "latest"
	}
	return r.Tag
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
	Path    string // the executable, symlinks resolved
	By      string // byInstallSh, a package manager's name, byGoInstall or byUnknown
	Global  bool   // a package manager's global install
	Project string // a package manager's project install: the project directory
	Root    string // a package manager's: the project, or the global prefix or directory
	// Workspace: a pnpm project with pnpm-workspace.yaml (its root).
	Workspace bool
	Dev       bool     // the project lists agent-facets in devDependencies
	Receipt   *receipt // byInstallSh: the receipt
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
// (node_modules/agent-facets/bin/facet). It follows the launcher's
// detectManager (platforms/npm/lib/doctor.js; the layouts of
// platforms/npm/test/layouts.json go through both): the state files a
// manager writes into node_modules first, then the paths only one manager
// makes, then the lockfiles; a root with no package.json is a global prefix
// (npm's, nvm-windows'). When nothing tells, npm.
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
	if root == "" {
		root = "/"
	}
	in.By, in.Global, in.Root = managerOf(root, strings.Split(slash, "/"))
	in.Root = filepath.FromSlash(in.Root)
	if !in.Global {
		in.Project = in.Root
		in.Dev = devDependency(in.Project)
		in.Workspace = exists(filepath.Join(in.Project, "pnpm-workspace.yaml"))
	}
	return in, true
}

// managerOf tells the manager, whether its install is global, and its root
// (the project, or the global prefix or directory) from the directory of the
// outermost node_modules (root, with slashes) and the executable's path
// parts: detectManager's order.
func managerOf(root string, parts []string) (by string, global bool, at string) {
	modules := root + "/node_modules"
	state := func(f string) bool { return exists(filepath.FromSlash(modules + "/" + f)) }
	has := func(f string) bool { return exists(filepath.FromSlash(root + "/" + f)) }
	base := path.Base
	switch {
	case state(".modules.yaml") || slices.Contains(parts, ".pnpm"):
		// pnpm's global packages: <PNPM_HOME>/global/<layout>/<hash>/node_modules
		// (pnpm 11), <PNPM_HOME>/global/<layout>/node_modules (pnpm 10 and earlier).
		return "pnpm", base(path.Dir(root)) == "global" || base(path.Dir(path.Dir(root))) == "global", root
	case pnpmStore(parts):
		// pnpm's global virtual store (<store>/v10/links/…), where pnpm add -g puts packages.
		return "pnpm", true, root
	case unplugged(parts) >= 0:
		// yarn 2+'s unplugged packages: <project>/.yarn/unplugged/<pkg>/node_modules/….
		return "yarn", false, strings.Join(parts[:unplugged(parts)], "/")
	case state(".yarn-state.yml"):
		return "yarn", false, root
	case state(".yarn-integrity"):
		// yarn global add: <yarn's data dir>/global (~/.config/yarn/global).
		return "yarn", base(root) == "global" && strings.Contains(strings.ToLower(base(path.Dir(root))), "yarn"), root
	case slices.Contains(parts, ".bun") || (base(root) == "global" && base(path.Dir(root)) == "install"):
		// bun's isolated linker (node_modules/.bun), or bun add -g: <BUN_INSTALL>/install/global.
		return "bun", base(root) == "global" && base(path.Dir(root)) == "install", root
	case state(".package-lock.json"):
		return "npm", false, root
	case (base(root) == "lib" && !has("package.json")) || strings.ToLower(base(root)) == "npm":
		// npm install -g: <prefix>/lib/node_modules (Windows: <prefix>/node_modules, the prefix named npm).
		if base(root) == "lib" {
			return "npm", true, path.Dir(root)
		}
		return "npm", true, root
	case has("pnpm-lock.yaml"):
		return "pnpm", false, root
	case has("bun.lock") || has("bun.lockb"):
		return "bun", false, root
	case has(".yarnrc.yml") || has("yarn.lock"):
		return "yarn", false, root
	case has("package-lock.json") || has("npm-shrinkwrap.json"):
		return "npm", false, root
	case !has("package.json"):
		// No project: a global prefix (nvm-windows: …\nvm\v20.11.1\node_modules).
		return "npm", true, root
	}
	return "npm", false, root
}

// pnpmStore reports whether parts (a path's) lie in pnpm's global virtual
// store: …/store/v<N>/links/….
func pnpmStore(parts []string) bool {
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "store" && len(parts[i+1]) > 1 && parts[i+1][0] == 'v' && isNum(parts[i+1][1:]) && parts[i+2] == "links" {
			return true
		}
	}
	return false
}

// unplugged is the index of the .yarn of …/.yarn/unplugged/… in parts, or -1.
func unplugged(parts []string) int {
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == ".yarn" && parts[i+1] == "unplugged" {
			return i
		}
	}
	return -1
}

// exists reports whether the file name exists.
func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
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
	if in.By == "pnpm" && in.Workspace {
		// pnpm add at a workspace's root wants -w; up -r updates every package that has it.
		return "pnpm up -r --latest " + wrapperName
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
