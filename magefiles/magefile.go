//go:build mage

// facets release: build, package and publish the facet CLI (the work is done in scripts/).
package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/agent-facets/facets/scripts/tasks"
)

// Default is the target a bare `mage` runs.
var Default = Build.All

// Aliases are the other names targets answer to.
var Aliases = map[string]any{"build": Build.All, "package": Package.All, "verify": Verify.Setup, "release": Release.Publish, "rehearse": Rehearse.Publish}

// Build cross-compiles facet and verifies the binaries.
type Build mg.Namespace

// All builds and verifies the 12 targets in parallel into dist/ (alias: build).
func (Build) All(ctx context.Context) error { return tasks.Build(ctx, tasks.OS()) }

// Target builds only the named targets, separated by commas or spaces: build:target linux-x64,linux-x64-musl.
func (Build) Target(ctx context.Context, names string) error {
	return tasks.Build(ctx, tasks.OS(), names)
}

// Host builds only the target this machine runs, for quick local work.
func (Build) Host(ctx context.Context) error { return tasks.BuildHost(ctx, tasks.OS()) }

// Package assembles and packs the npm packages.
type Package mg.Namespace

// All builds, then assembles and packs the 12 platform packages and the agent-facets wrapper (alias: package).
func (Package) All(ctx context.Context) error { return tasks.Package(ctx, tasks.OS()) }

// Assemble assembles and packs the 13 packages from the binaries already built in dist/, without building.
func (Package) Assemble(ctx context.Context) error { return tasks.PackageAssemble(ctx, tasks.OS()) }

// Bench measures the build.
type Bench mg.Namespace

// Build times the parallel build against a sequential go build loop, cold and warm, and the slowest CI matrix job against the whole build.
func (Bench) Build(ctx context.Context) error { return tasks.BenchBuild(ctx, tasks.OS()) }

// Launcher times facet --version as npm, pnpm, yarn and bun users run it, first call and steady state, against the bare binary.
func (Bench) Launcher(ctx context.Context) error { return tasks.BenchLauncher(ctx, tasks.OS()) }

// Release times the release of the 13 packages to a local registry against a sequential npm publish loop.
func (Bench) Release(ctx context.Context) error { return tasks.BenchRelease(ctx, tasks.OS()) }

// Clean removes dist/.
func Clean() error { return tasks.Clean(tasks.OS()) }

// Generate rewrites the files derived from the platforms table: README.md's table, lib/platforms.json, install.sh's table, cmd/facet's table, the CircleCI build matrix.
func Generate() error { return tasks.Generate(tasks.OS()) }

// Seed publishes a 0.0.1 placeholder of each package the registry lacks (run after npm login) and prints the next steps.
func Seed(ctx context.Context) error { return tasks.Seed(ctx, tasks.OS()) }

// Trust makes the CircleCI release pipeline the trusted publisher of the 13 packages, with npm trust.
func Trust(ctx context.Context) error { return tasks.Trust(ctx, tasks.OS()) }

// Verify checks what the registry serves.
type Verify mg.Namespace

// Setup checks that the 13 packages exist with CircleCI as their trusted publisher (alias: verify).
func (Verify) Setup(ctx context.Context) error { return tasks.VerifySetup(ctx, tasks.OS()) }

// Release checks a release on the registry, its packages, tarballs, dist-tag and dependencies: verify:release 1.2.3.
func (Verify) Release(ctx context.Context, version string) error {
	return tasks.VerifyRelease(ctx, tasks.OS(), version)
}

// Release publishes or stages the release in dist/ from CircleCI with npm trusted publishing (OIDC).
type Release mg.Namespace

// Publish publishes the release in dist/ from CircleCI with npm trusted publishing (OIDC), the wrapper last, then verifies it (alias: release).
func (Release) Publish(ctx context.Context) error { return tasks.Release(ctx, tasks.OS()) }

// Stage stages the release in dist/ from CircleCI (npm stage publish, OIDC) for a maintainer to approve, and prints the stage ids.
func (Release) Stage(ctx context.Context) error { return tasks.ReleaseStage(ctx, tasks.OS()) }

// Approve approves a staged release as a maintainer in a clean checkout of its tag, logged in to npm: rebuilds the 13 packages, compares each staged tarball, approves the platform packages, then the wrapper: approve 1.2.3.
func Approve(ctx context.Context, version string) error {
	return tasks.Approve(ctx, tasks.OS(), version)
}

// Reject rejects every staged version of a release across the 13 packages, as a maintainer logged in to npm: reject 1.2.3.
func Reject(ctx context.Context, version string) error { return tasks.Reject(ctx, tasks.OS(), version) }

// Rehearse runs the whole release on this machine against a local registry.
type Rehearse mg.Namespace

// Publish rehearses a direct release: seed, trust, the build matrix, package, release with OIDC, verify, install (alias: rehearse).
func (Rehearse) Publish(ctx context.Context) error { return tasks.Rehearse(ctx, tasks.OS()) }

// Stage rehearses a staged release: seed, trust, the build matrix, package, release:stage with OIDC, approve as the maintainer, verify, install.
func (Rehearse) Stage(ctx context.Context) error { return tasks.RehearseStage(ctx, tasks.OS()) }
