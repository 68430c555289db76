package tasks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/npmpkg"
)

// Package builds every target, then assembles and packs the 12 platform
// packages and the agent-facets wrapper into dist/.
func Package(ctx context.Context, env Env) error {
	license, err := os.ReadFile(filepath.Join(env.Root, "LICENSE"))
	if err != nil {
		return fmt.Errorf("package: %w", err)
	}
	if err := Build(ctx, env); err != nil {
		return err
	}
	records, err := npmpkg.Run(ctx, npmpkg.Config{Dist: env.Layout(), License: license, NPM: npm.CLI{Env: env.Environ}})
	if err != nil {
		return err
	}
	for _, r := range records {
		fmt.Fprintf(env.Stdout, "packed %s\n", relative(env.Root, filepath.Join(env.Layout().Root, r.Tarball)))
	}
	fmt.Fprintf(env.Stdout, "%d packages of version %s; checksums in %s\n", len(records), records[0].Version, relative(env.Root, env.Layout().SumsPath()))
	return nil
}
