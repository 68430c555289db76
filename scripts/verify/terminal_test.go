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
	// One publisher may only publish, the other only stage: neither release
	// mode works for both packages.
	bed.Front.SetTrust(pkgs[0], registrytest.PublishOnlyTrust(circleci.Facets()))
	stageOnly := registrytest.WebTrust(circleci.Facets(), false)
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
	assert.Equal(t, "ok", results[1].Trust, "the publisher is the expected one; its permissions are judged per release mode")
	assert.Equal(t, []string{"createStagedPackage"}, results[1].Permissions)
	assert.Contains(t, err.Error(), "no release mode is possible: publish (go tool mage release): not ready, 1 publishers lack publish: "+pkgs[1]+
		"; stage (go tool mage release:stage): not ready, 1 publishers lack stage publish: "+pkgs[0])
	assert.Len(t, user.Opened(), 2, "a page approved for each package")
}
