package dist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StagedPath is where the CI side of a staged release (release:stage)
// records what it staged, for the maintainer who approves it (approve) and,
// copied into the release's logs, for the job's artifacts.
func (l Layout) StagedPath() string { return filepath.Join(l.Root, "staged.json") }

// StagedRelease is what release:stage left on the registry: one version of
// the 13 packages, each staged (or found staged, with the same tarball, by
// an earlier run) or already published, for a maintainer to approve.
//
// A run that stopped (failed, or was cancelled) after staging some records
// them all the same, with Incomplete set and the packages it did not stage
// marked (StagedPackage.NotStaged): the ids it did stage are not lost with
// the job. A rerun of the workflow stages the rest and records them all.
type StagedRelease struct {
	Version  string          `json:"version"`
	Tag      string          `json:"tag"`      // the dist-tag the staged versions carry, which approval sets
	Packages []StagedPackage `json:"packages"` // the 12 platform packages, then the wrapper
	// Incomplete is true when the run stopped before every package was
	// staged or found published: not ready to approve.
	Incomplete bool `json:"incomplete,omitempty"`
}

// StagedPackage is one package of a staged release.
type StagedPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// StageID is the registry's id of the staged version (what npm stage
	// approve takes); "" when Published.
	StageID string `json:"stageId,omitempty"`
	// Integrity (sha512-<base64>) and Shasum (sha1 hex) are of the tarball
	// dist/ holds, which is the one staged: the registry's listing showed the
	// same for a version found staged, and npm uploaded it for one staged now.
	Integrity string `json:"integrity"`
	Shasum    string `json:"shasum"`
	// Published is true for a version already published with this tarball
	// (by a direct release, say): there is nothing to approve.
	Published bool `json:"published,omitempty"`
	// NotStaged, in an Incomplete record, says why the run did not stage the
	// package: "failed" or "not done" (stopped before its turn). A stage cut
	// off on its way may still have reached the registry; a rerun finds it
	// there (npm stage list) and does not stage it twice.
	NotStaged string `json:"notStaged,omitempty"`
}

// ReadStaged reads what release:stage recorded. Nothing recorded is an error
// wrapping fs.ErrNotExist.
func (l Layout) ReadStaged() (StagedRelease, error) {
	var s StagedRelease
	data, err := os.ReadFile(l.StagedPath())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s, fmt.Errorf("nothing has been staged from %s (go tool mage release:stage records it): %w", l.Root, err)
		}
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("reading %s: %w", l.StagedPath(), err)
	}
	return s, nil
}

// WriteStaged records s at StagedPath.
func (l Layout) WriteStaged(s StagedRelease) error { return WriteJSON(l.StagedPath(), s) }
