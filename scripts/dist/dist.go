// Package dist is the layout of the build output directory and the records the
// stages leave in it, so that each stage finds the previous one's work without
// reaching back into it.
//
//	dist/
//	  build/<target>.json                build record of each target (build)
//	  npm/@agent-facets/cli-<target>/    platform package: bin/facet[.exe] (build),
//	                                     package.json, README.md, LICENSE (package)
//	  npm/agent-facets/                  wrapper package (package)
//	  *.tgz, SHA256SUMS                  packed tarballs and their checksums (package)
//	  tool/mage                          the build tool, compiled once per CI pipeline
//	  logs/release/<package>.log         npm's output of each publish, redacted (release)
package dist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/agent-facets/facets/platforms"
)

// Layout is a dist directory.
type Layout struct {
	Root string // the directory, usually "dist" in the repository
}

// PackageDir is the directory of the npm package named pkg.
func (l Layout) PackageDir(pkg string) string {
	return filepath.Join(l.Root, "npm", filepath.FromSlash(pkg))
}

// Binary is the path of t's executable inside its package directory.
func (l Layout) Binary(t platforms.Target) string {
	return filepath.Join(l.Root, filepath.FromSlash(l.BinaryRel(t)))
}

// BinaryRel is the path of t's executable relative to the root, with forward
// slashes.
func (l Layout) BinaryRel(t platforms.Target) string {
	return path.Join("npm", t.Package(), t.BinPath())
}

// BuildRecordPath is where the build records what it made of t.
func (l Layout) BuildRecordPath(t platforms.Target) string {
	return filepath.Join(l.Root, "build", t.Name()+".json")
}

// BuildRecord is what the build proved about one target's binary. Later stages
// trust a binary only together with its record.
type BuildRecord struct {
	Target  string   `json:"target"`
	Package string   `json:"package"`
	Version string   `json:"version"`
	Commit  string   `json:"commit"`
	Go      string   `json:"go"`     // toolchain that built the binary
	Binary  string   `json:"binary"` // path relative to the dist root, with forward slashes
	Size    int64    `json:"size"`
	SHA256  string   `json:"sha256"`
	Checks  []string `json:"checks"` // what verification proved, e.g. "header", "run"
}

// ReadBuildRecord reads t's build record. A target never built (or whose last
// build failed) is an error wrapping fs.ErrNotExist.
func (l Layout) ReadBuildRecord(t platforms.Target) (BuildRecord, error) {
	var r BuildRecord
	data, err := os.ReadFile(l.BuildRecordPath(t))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("%s has not been built: %w", t.Name(), err)
		}
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("reading build record of %s: %w", t.Name(), err)
	}
	return r, nil
}

// WriteBuildRecord writes r as t's build record.
func (l Layout) WriteBuildRecord(t platforms.Target, r BuildRecord) error {
	return WriteJSON(l.BuildRecordPath(t), r)
}

// RemoveBuildRecord removes t's build record, if any.
func (l Layout) RemoveBuildRecord(t platforms.Target) error {
	if err := os.Remove(l.BuildRecordPath(t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Logs is the directory of the stages' logs; each stage writes in a
// subdirectory named after it (release: logs/release). CI keeps it as an
// artifact.
func (l Layout) Logs() string { return filepath.Join(l.Root, "logs") }

// SumsPath is the SHA256SUMS file over the tarballs.
func (l Layout) SumsPath() string { return filepath.Join(l.Root, "SHA256SUMS") }

// PackRecordsPath is where the package stage lists what it packed.
func (l Layout) PackRecordsPath() string { return filepath.Join(l.Root, "packages.json") }

// PackRecord is one packed npm package, ready to publish.
type PackRecord struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Target    string   `json:"target,omitempty"` // empty for the wrapper
	Dir       string   `json:"dir"`              // package directory, relative to the root, with forward slashes
	Tarball   string   `json:"tarball"`          // file name in the root
	Integrity string   `json:"integrity"`        // sha512-<base64>, as npm and the registry compute it
	Shasum    string   `json:"shasum"`           // sha1 hex, as npm computes it
	SHA256    string   `json:"sha256"`           // of the tarball, as in SHA256SUMS
	Files     []string `json:"files"`            // paths inside the package, sorted
}

// ReadPackRecords reads what the package stage packed.
func (l Layout) ReadPackRecords() ([]PackRecord, error) {
	data, err := os.ReadFile(l.PackRecordsPath())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("nothing has been packed: %w", err)
		}
		return nil, err
	}
	var records []PackRecord
	if err := json.Unmarshal(data, &records); err != nil {
		return nil, fmt.Errorf("reading %s: %w", l.PackRecordsPath(), err)
	}
	return records, nil
}

// WriteJSON writes v as indented JSON to path, atomically.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so that readers see the old file or the new one,
// never a part. It creates the directory when needed.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
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
