package verify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/platforms"
	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/testenv"
	"github.com/agent-facets/facets/scripts/verify"
)

// On the maintainer's terminal, with a security key and no authenticator
// app, verify reads the trusted publishers through npm's web login (a page
// approved per package) and tells a complete one from a stage-only one.
func TestSetupOnTerminal(t *testing.T) {
	t.Parallel()
	bed := testenv.RegistryBed(t)
	pkgs := []string{platforms.All()[5].Package(), platforms.Wrapper}
	bed.Publish(t, "0.0.1", pkgs...)
	trusted(bed, circleci.Facets(), pkgs[0])
	stageOnly := registrytest.TrustFor(circleci.Facets())
	stageOnly.Permissions = []string{"createStagedPackage"}
	bed.Front.SetTrust(pkgs[1], stageOnly)
	bed.Front.SetAuthenticator("")
	bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)

	control, term := testenv.PTY(t)
	user := testenv.AtTerminal(t, control)
	cfg, out := setupConfig(t, bed, true)
	cfg.Packages = pkgs
	cfg.Account.CLI = bed.NPM(t, true) // no NPM_CONFIG_OTP
	cfg.Account.Stdio = npm.Stdio{In: term, Out: term, Err: term}
	cfg.Account.Terminal = true
	results, err := verify.Setup(t.Context(), cfg)
	require.Error(t, err, "%s\n--- terminal:\n%s", out, user.Screen())
	assert.Equal(t, "ok", results[0].Trust)
	assert.Equal(t, "differs", results[1].Trust)
	assert.Equal(t, []string{"permissions: is createStagedPackage, want publish (npm trust … --allow-publish)"}, results[1].Diff)
	assert.Len(t, user.Opened(), 2, "a page approved for each package")
}
