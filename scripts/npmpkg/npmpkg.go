// Package npmpkg assembles and packs the npm packages from the build's
// binaries: one platform package per target, and the agent-facets wrapper whose
// optionalDependencies are all of them. npm packs them (no hand-made tarballs);
// every tarball is then checked file by file against what its package must
// contain, and SHA256SUMS and packages.json are written for the stages that
// publish them.
package npmpkg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/dist"
	"github.com/agent-facets/facets/scripts/npm"
)

// Config is everything Run needs.
type Config struct {
	Dist    dist.Layout // holds the build's binaries and records; gets the packages
	License []byte      // the LICENSE text every package ships
	// InstallScript is install.sh, the installer for machines without Node
	// (the repository's install.sh), which the wrapper ships.
	InstallScript []byte
	NPM           npm.CLI // packs the packages
	// Targets are the platform packages to assemble; nil means
	// platforms.All(). The wrapper depends on them, and its launcher table
	// lists them.
	Targets platforms.Table
}

// Run assembles the 13 package directories from the build records of every
// target, packs them into the dist root, checks each tarball and writes
// SHA256SUMS and packages.json. It writes nothing unless every target has been
// built, at one version and commit, and its binary is the one its record names.
func Run(ctx context.Context, cfg Config) ([]dist.PackRecord, error) {
	targets := cfg.Targets
	if targets == nil {
		targets = platforms.All()
	}
	if err := targets.Check(); err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	records, err := readBuild(cfg.Dist, targets)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(cfg.License)) == 0 {
		return nil, errors.New("package: no license text (the repository's LICENSE file)")
	}
	if len(bytes.TrimSpace(cfg.InstallScript)) == 0 {
		return nil, errors.New("package: no install script (the repository's " + platforms.InstallScriptPath + ")")
	}
	version := records[0].Version

	packages := make([]pkg, 0, len(targets)+1)
	for i, t := range targets {
		p, err := assemblePlatform(cfg, t, records[i])
		if err != nil {
			return nil, err
		}
		packages = append(packages, p)
	}
	w, err := assembleWrapper(cfg, targets, version)
	if err != nil {
		return nil, err
	}
	packages = append(packages, w)

	if err := removeOldOutputs(cfg.Dist); err != nil {
		return nil, err
	}
	dirs := make([]string, len(packages))
	for i, p := range packages {
		if dirs[i], err = filepath.Abs(cfg.Dist.PackageDir(p.name)); err != nil {
			return nil, err
		}
	}
	root, err := filepath.Abs(cfg.Dist.Root)
	if err != nil {
		return nil, err
	}
	packed, err := cfg.NPM.Pack(ctx, root, dirs...)
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}

	out := make([]dist.PackRecord, len(packages))
	var sums strings.Builder
	for i, p := range packages {
		r, err := check(cfg.Dist, p, packed[i])
		if err != nil {
			return nil, fmt.Errorf("package: %s: %w", packed[i].Filename, err)
		}
		out[i] = r
	}
	sorted := slices.Clone(out)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Tarball < sorted[j].Tarball })
	for _, r := range sorted {
		fmt.Fprintf(&sums, "%s  %s\n", r.SHA256, r.Tarball)
	}
	if err := dist.WriteFileAtomic(cfg.Dist.SumsPath(), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	if err := dist.WriteJSON(cfg.Dist.PackRecordsPath(), out); err != nil {
		return nil, err
	}
	return out, nil
}

// pkg is an assembled package directory and what its tarball must hold.
type pkg struct {
	name     string
	version  string
	target   string            // empty for the wrapper
	manifest []byte            // package.json
	files    map[string]string // path in the package → sha256 of its content
	exec     string            // the path that must be executable
}

// readBuild reads every target's build record and checks that they belong
// together and that each binary is still the one that was verified.
func readBuild(l dist.Layout, targets []platforms.Target) ([]dist.BuildRecord, error) {
	const hint = "run go tool mage build"
	var missing []string
	records := make([]dist.BuildRecord, len(targets))
	for i, t := range targets {
		r, err := l.ReadBuildRecord(t)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, t.Name())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("package: %w", err)
		}
		records[i] = r
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("package: not built: %s (%s)", strings.Join(missing, ", "), hint)
	}
	for i, t := range targets {
		r := records[i]
		if r.Version != records[0].Version || r.Commit != records[0].Commit {
			return nil, fmt.Errorf("package: %s was built as %s (commit %s) but %s as %s (commit %s): %s",
				t.Name(), r.Version, r.Commit, targets[0].Name(), records[0].Version, records[0].Commit, hint)
		}
		sum, err := fileSHA256(l.Binary(t))
		if err != nil {
			return nil, fmt.Errorf("package: %s: %w (%s)", t.Name(), err, hint)
		}
		if sum != r.SHA256 {
			return nil, fmt.Errorf("package: %s: the binary changed since it was built and verified (%s)", t.Name(), hint)
		}
	}
	return records, nil
}

// assemblePlatform writes t's package.json, README.md and LICENSE next to its
// binary.
func assemblePlatform(cfg Config, t platforms.Target, r dist.BuildRecord) (pkg, error) {
	dir := cfg.Dist.PackageDir(t.Package())
	p := pkg{
		name:     t.Package(),
		version:  r.Version,
		target:   t.Name(),
		manifest: marshal(Platform(t, r.Version)),
		files:    map[string]string{t.BinPath(): r.SHA256},
		exec:     t.BinPath(),
	}
	content := map[string][]byte{"package.json": p.manifest, "README.md": []byte(platformReadme(t)), "LICENSE": cfg.License}
	for name, data := range content {
		if err := dist.WriteFileAtomic(filepath.Join(dir, name), data, 0o644); err != nil {
			return pkg{}, err
		}
		p.files[name] = sha256Hex(data)
	}
	return p, nil
}

// assembleWrapper writes the agent-facets directory afresh: package.json, the
// LICENSE, and the launcher files from the platforms package, with the
// launcher's table of targets.
func assembleWrapper(cfg Config, targets platforms.Table, version string) (pkg, error) {
	dir := cfg.Dist.PackageDir(platforms.Wrapper)
	if err := os.RemoveAll(dir); err != nil {
		return pkg{}, err
	}
	p := pkg{
		name:     platforms.Wrapper,
		version:  version,
		manifest: marshal(Wrapper(targets, version)),
		files:    map[string]string{},
		exec:     "bin/facet",
	}
	content := map[string][]byte{"package.json": p.manifest, "LICENSE": cfg.License, platforms.InstallScriptPath: cfg.InstallScript}
	static := platforms.WrapperFiles()
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content[name], err = fs.ReadFile(static, name)
		return err
	})
	if err != nil {
		return pkg{}, err
	}
	content[strings.TrimPrefix(platforms.LauncherTablePath, "npm/")] = targets.LauncherJSON()
	for name, data := range content {
		mode := fs.FileMode(0o644)
		if name == p.exec {
			mode = 0o755
		}
		if err := dist.WriteFileAtomic(filepath.Join(dir, filepath.FromSlash(name)), data, mode); err != nil {
			return pkg{}, err
		}
		p.files[name] = sha256Hex(data)
	}
	return p, nil
}

// removeOldOutputs removes the tarballs and lists of an earlier run, so that
// dist holds only what this run packs.
func removeOldOutputs(l dist.Layout) error {
	old, err := filepath.Glob(filepath.Join(l.Root, "*.tgz"))
	if err != nil {
		return err
	}
	for _, f := range append(old, l.SumsPath(), l.PackRecordsPath()) {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// check reads the tarball npm made and proves it holds exactly p's files, with
// their content, and the executable with mode 0755.
func check(l dist.Layout, p pkg, packed npm.Packed) (dist.PackRecord, error) {
	if packed.Name != p.name || packed.Version != p.version {
		return dist.PackRecord{}, fmt.Errorf("npm packed %s@%s, want %s@%s", packed.Name, packed.Version, p.name, p.version)
	}
	data, err := os.ReadFile(filepath.Join(l.Root, packed.Filename))
	if err != nil {
		return dist.PackRecord{}, err
	}
	entries, err := dist.ReadTarball(data)
	if err != nil {
		return dist.PackRecord{}, err
	}
	var problems []string
	var files []string
	for name, e := range entries {
		files = append(files, name)
		want, ok := p.files[name]
		switch {
		case !ok:
			problems = append(problems, "stray file "+name)
		case e.SHA256 != want:
			problems = append(problems, name+" differs from the assembled file")
		}
		if mode := e.Mode & 0o777; name == p.exec && mode != 0o755 {
			problems = append(problems, fmt.Sprintf("%s has mode %#o, want 0755", name, mode))
		}
	}
	for name := range p.files {
		if _, ok := entries[name]; !ok {
			problems = append(problems, "missing "+name)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return dist.PackRecord{}, errors.New(strings.Join(problems, "; "))
	}
	sort.Strings(files)
	return dist.PackRecord{
		Name:      p.name,
		Version:   p.version,
		Target:    p.target,
		Dir:       path.Join("npm", p.name),
		Tarball:   packed.Filename,
		Integrity: packed.Integrity,
		Shasum:    packed.Shasum,
		SHA256:    sha256Hex(data),
		Files:     files,
	}, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func fileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return sha256Hex(data), nil
}
