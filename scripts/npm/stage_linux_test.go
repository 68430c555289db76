package npm_test

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/syncbuf"
	"github.com/agent-facets/facets/scripts/testenv"
)

// stage stages version of pkg as the maintainer with npm stage publish and
// returns the stage id npm printed and the tarball's bytes.
func stage(t *testing.T, cli npm.CLI, name, version string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"),
		[]byte(`{"name":"`+name+`","version":"`+version+`","description":"staged"}`), 0o644))
	packed, err := cli.Pack(t.Context(), dir, dir)
	require.NoError(t, err)
	tgz := filepath.Join(dir, packed[0].Filename)
	out, err := cli.Run(t.Context(), dir, "stage", "publish", tgz, "--access", "public")
	require.NoError(t, err)
	id, ok := npm.ParseStaged(string(out))
	require.True(t, ok, "npm stage publish printed:\n%s", out)
	data, err := os.ReadFile(tgz)
	require.NoError(t, err)
	return id, data
}

// integrityOf is a tarball's sha512 integrity, as npm writes it.
func integrityOf(tgz []byte) string {
	sum := sha512.Sum512(tgz)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// The stage commands against the registry bed, as the maintainer runs them:
// list, download, and approve and reject at the terminal, where npm asks for
// a one-time password or runs the web login; and their failures, named.
func TestStageCommands(t *testing.T) {
	bed := testenv.RegistryBed(t)
	maintainer := bed.NPM(t, true)
	if v, err := maintainer.Version(t.Context()); err != nil || v.LessThan(semver.MustParse(npm.StageMinVersion)) {
		testenv.Missing(t, "npm >= "+npm.StageMinVersion+" (npm stage)", "npm install -g npm@11")
	}
	bed.Publish(t, "0.0.1", pkg)
	first, firstTgz := stage(t, maintainer, pkg, "1.0.0")
	second, _ := stage(t, maintainer, pkg, "1.0.1")
	other, _ := stage(t, maintainer, "agent-facets", "1.0.0")
	ctx, dir := t.Context(), t.TempDir()

	t.Run("list", func(t *testing.T) {
		list, err := maintainer.StageList(ctx, dir, pkg)
		require.NoError(t, err)
		var want []npm.Staged
		for _, item := range bed.Front.Staged() {
			if item.PackageName == pkg {
				want = append(want, npm.Staged(item))
			}
		}
		assert.Equal(t, want, list)
		require.Len(t, list, 2)
		assert.Equal(t, []string{first, second}, []string{list[0].ID, list[1].ID})

		all, err := maintainer.StageList(ctx, dir, "")
		require.NoError(t, err)
		assert.Len(t, all, 3)
		assert.Equal(t, other, all[2].ID)

		_, err = bed.NPM(t, false).StageList(ctx, dir, pkg)
		require.ErrorIs(t, err, npm.ErrNotLoggedIn)
	})

	t.Run("download", func(t *testing.T) {
		path, err := maintainer.StageDownload(ctx, dir, first)
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(dir, "agent-facets-cli-linux-x64-1.0.0-"+first+".tgz"), path)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, firstTgz, data)

		_, err = maintainer.StageDownload(ctx, dir, "00000000-0000-4000-8000-000000000000")
		require.ErrorIs(t, err, npm.ErrNoStaged)
	})

	t.Run("bad ids run nothing", func(t *testing.T) {
		calls := len(bed.Front.Requests())
		for _, id := range []string{"", "--registry=http://example.com/", first + "x", "not-a-uuid"} {
			_, err := maintainer.StageDownload(ctx, dir, id)
			require.ErrorContains(t, err, "is not a stage id")
			require.ErrorContains(t, maintainer.StageApprove(ctx, dir, npm.Stdio{}, id), "is not a stage id")
			require.ErrorContains(t, maintainer.StageReject(ctx, dir, npm.Stdio{}, id), "is not a stage id")
		}
		assert.Len(t, bed.Front.Requests(), calls)
	})

	t.Run("approve with a one-time password at the terminal", func(t *testing.T) {
		control, term := testenv.PTY(t)
		user := testenv.AtTerminal(t, control)
		cli := maintainer.With("NPM_CONFIG_AUTH_TYPE=legacy")
		stdio := npm.Stdio{In: term, Out: term, Err: term}

		// Detached, npm cannot ask: EOTP.
		var out syncbuf.Buffer
		err := cli.StageApprove(ctx, dir, npm.Stdio{Out: &out, Err: &out}, first)
		require.ErrorIs(t, err, npm.ErrOTP)
		assert.Len(t, bed.Front.Staged(), 3, "nothing approved")

		user.Answer("Enter OTP:", registrytest.DefaultOTP)
		require.NoError(t, cli.StageApprove(ctx, dir, stdio, first), user.Screen())
		// What npm wrote last may still be on its way through the terminal.
		assert.True(t, awaitScreen(t, user, "Staged package "+first+" approved and published successfully."), user.Screen())
		view, err := maintainer.Run(ctx, dir, "view", pkg+"@1.0.0", "dist.integrity", "--prefer-online")
		require.NoError(t, err)
		list, err := maintainer.StageList(ctx, dir, pkg)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, second, list[0].ID, "the approved one is no longer staged")
		assert.Equal(t, integrityOf(firstTgz), strings.TrimSpace(string(view)), "published with the staged bytes")

		// Approved already.
		user.Answer("Enter OTP:", registrytest.DefaultOTP)
		err = cli.StageApprove(ctx, dir, stdio, first)
		require.ErrorIs(t, err, npm.ErrNoStaged, user.Screen())
		assert.Contains(t, err.Error(), "no such staged version "+first+" (approved or rejected already?")
	})

	t.Run("a version published meanwhile", func(t *testing.T) {
		again, _ := stage(t, maintainer, pkg, "1.0.2")
		bed.Publish(t, "1.0.2", pkg)
		err := maintainer.With("NPM_CONFIG_OTP="+registrytest.DefaultOTP).StageApprove(ctx, dir, npm.Stdio{}, again)
		require.ErrorIs(t, err, npm.ErrForbidden)
		assert.Contains(t, err.Error(), "the registry refused: You cannot publish over the previously published versions: 1.0.2. (the version is published already)")
		require.NoError(t, maintainer.With("NPM_CONFIG_OTP="+registrytest.DefaultOTP).StageReject(ctx, dir, npm.Stdio{}, again))
	})

	t.Run("reject with the web login at the terminal", func(t *testing.T) {
		bed.Front.SetAuthenticator("")
		bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)
		control, term := testenv.PTY(t)
		user := testenv.AtTerminal(t, control)
		stdio := npm.Stdio{In: term, Out: term, Err: term}

		require.NoError(t, maintainer.StageReject(context.WithoutCancel(ctx), dir, stdio, second), user.Screen())
		logins := bed.Front.WebLogins()
		require.Len(t, logins, 1)
		assert.Equal(t, []string{logins[0].AuthURL}, user.Opened(), "the page's address was on the terminal")
		assert.True(t, logins[0].Used)
		assert.True(t, awaitScreen(t, user, "Staged package "+second+" has been rejected."), user.Screen())
		list, err := maintainer.StageList(ctx, dir, pkg)
		require.NoError(t, err)
		assert.Empty(t, list)
		_, err = maintainer.Run(ctx, dir, "view", pkg+"@1.0.1", "version")
		assert.Equal(t, "E404", npm.ErrorCode(err), "rejected, never published: %v", err)
	})
}

// awaitScreen waits until the user's terminal shows s, for a minute at most:
// a command's last words may still be in the terminal when it has exited.
func awaitScreen(t *testing.T, user *testenv.User, s string) bool {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return user.Await(ctx, s)
}
