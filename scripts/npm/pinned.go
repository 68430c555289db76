package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Pinned reads the dependencies pinned in dir's package.json: name → exact
// version.
func Pinned(dir string) (map[string]string, error) {
	var pin struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pin)
	}
	if err != nil {
		return nil, fmt.Errorf("reading what %s pins: %w", dir, err)
	}
	return pin.Dependencies, nil
}

// InstallPinned installs the packages pinned in dir's package.json and
// package-lock.json with npm ci (no scripts), unless every one is installed
// at its pinned version already. Concurrent callers, in this process or
// others (test packages run in parallel), wait for each other. Verdaccio, the
// install clients and the tests' old npm are installed this way.
func (c CLI) InstallPinned(ctx context.Context, dir string) error {
	unlock, err := lockFile(filepath.Join(dir, ".install.lock"))
	if err != nil {
		return fmt.Errorf("locking %s: %w", dir, err)
	}
	defer unlock()
	pins, err := Pinned(dir)
	if err != nil {
		return err
	}
	if missing(dir, pins) == nil {
		return nil
	}
	if _, err := c.Run(ctx, dir, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"); err != nil {
		return err
	}
	if m := missing(dir, pins); m != nil {
		return fmt.Errorf("npm ci in %s did not install %s", dir, strings.Join(m, ", "))
	}
	return nil
}

// missing lists the pins that node_modules does not hold at their version.
func missing(dir string, pins map[string]string) []string {
	var out []string
	for name, version := range pins {
		var got struct {
			Version string `json:"version"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
		if err == nil {
			err = json.Unmarshal(data, &got)
		}
		if err != nil || got.Version != version {
			out = append(out, name+"@"+version)
		}
	}
	slices.Sort(out)
	return out
}
