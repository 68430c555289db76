package dist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agent-facets/facets/platforms"
)

// CheckPacked proves that l holds the 13 packages of version v as the
// package stage left them: every tarball matches SHA256SUMS and
// packages.json, holds the manifest of its record, and every binary in it is
// the one its build record names (built from commit, when it is set); the
// wrapper depends on exactly the 12 platform packages at v. It returns the
// pack records, the 12 platform packages then the wrapper. tag names the
// version in messages; fix, in parentheses, says what to do when l is not
// what was packed.
func (l Layout) CheckPacked(v, tag, commit, fix string) ([]PackRecord, error) {
	records, err := l.ReadPackRecords()
	if err != nil {
		return nil, fmt.Errorf("dist/ is not ready: %w %s", err, fix)
	}
	names := platforms.Packages()
	var got []string
	for _, rec := range records {
		got = append(got, rec.Name)
	}
	if !slices.Equal(got, names) {
		return nil, fmt.Errorf("dist/packages.json lists %s, want the 12 platform packages then the wrapper %s", strings.Join(got, ", "), fix)
	}
	for _, rec := range records {
		if rec.Version != v {
			return nil, fmt.Errorf("the tag %s is version %s, but dist/ holds %s (%s@%s): build and package the tagged commit", tag, v, rec.Version, rec.Name, rec.Version)
		}
	}
	sums, err := readSums(l.SumsPath())
	if err != nil {
		return nil, fmt.Errorf("%w %s", err, fix)
	}
	if len(sums) != len(records) {
		return nil, fmt.Errorf("SHA256SUMS lists %d tarballs, packages.json %d %s", len(sums), len(records), fix)
	}
	targets := platforms.All()
	deps := map[string]string{}
	for _, t := range targets {
		deps[t.Package()] = v
	}
	var problems []string
	for i, rec := range records {
		path := filepath.Join(l.Root, rec.Tarball)
		if err := checkTarball(l, rec, path, sums, deps, i, targets, commit); err != nil {
			problems = append(problems, fmt.Sprintf("  %s: %v", rec.Tarball, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("dist/ is not what was packed and verified %s:\n%s", fix, strings.Join(problems, "\n"))
	}
	return records, nil
}

// checkTarball checks one tarball against SHA256SUMS, its pack record, its
// manifest and, for a platform package, its build record.
func checkTarball(l Layout, rec PackRecord, path string, sums, deps map[string]string, i int, targets []platforms.Target, commit string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := SHA256(data)
	switch {
	case sums[rec.Tarball] == "":
		return errors.New("not in SHA256SUMS")
	case sum != sums[rec.Tarball]:
		return errors.New("its sha256 is not the one in SHA256SUMS")
	case sum != rec.SHA256:
		return errors.New("its sha256 is not the one in packages.json")
	case Integrity(data) != rec.Integrity:
		return errors.New("its integrity is not the one in packages.json")
	}
	var m struct {
		Name                 string            `json:"name"`
		Version              string            `json:"version"`
		OptionalDependencies map[string]string `json:"optionalDependencies"`
	}
	manifest, err := TarballFile(data, "package.json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	if m.Name != rec.Name || m.Version != rec.Version {
		return fmt.Errorf("it holds %s@%s", m.Name, m.Version)
	}
	entries, err := ReadTarball(data)
	if err != nil {
		return err
	}
	var files []string
	for name := range entries {
		files = append(files, name)
	}
	slices.Sort(files)
	if !slices.Equal(files, rec.Files) {
		return fmt.Errorf("it holds %s, and packages.json says %s", strings.Join(files, ", "), strings.Join(rec.Files, ", "))
	}
	if rec.Name == platforms.Wrapper {
		if !maps.Equal(m.OptionalDependencies, deps) {
			return errors.New("the wrapper's optionalDependencies are not the 12 platform packages at its version")
		}
		return nil
	}
	t := targets[i]
	build, err := l.ReadBuildRecord(t)
	if err != nil {
		return fmt.Errorf("no build record of %s: %w", t.Name(), err)
	}
	if build.Version != rec.Version {
		return fmt.Errorf("the build record of %s is of version %s", t.Name(), build.Version)
	}
	if commit != "" && build.Commit != commit {
		return fmt.Errorf("%s was built from commit %s, and this job runs for %s (CIRCLE_SHA1)", t.Name(), build.Commit, commit)
	}
	bin, ok := entries[t.BinPath()]
	switch {
	case !ok:
		return fmt.Errorf("no %s in it", t.BinPath())
	case bin.SHA256 != build.SHA256:
		return fmt.Errorf("its %s is not the binary the build verified (dist/build/%s.json)", t.BinPath(), t.Name())
	case bin.Mode&0o111 == 0:
		return fmt.Errorf("its %s is not executable", t.BinPath())
	}
	return nil
}

// readSums reads a SHA256SUMS file: tarball name → sha256.
func readSums(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			return nil, fmt.Errorf("SHA256SUMS: a line is not \"<sha256>  <file>\": %q", sc.Text())
		}
		sums[name] = sum
	}
	return sums, nil
}
