package npm_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/agent-facets/facets/scripts/circleci"
	"github.com/agent-facets/facets/scripts/npm"
	"github.com/agent-facets/facets/scripts/registrytest"
	"github.com/agent-facets/facets/scripts/testenv"
)

const pkg = "@agent-facets/cli-linux-x64"

// webBed is a registry bed whose maintainer has web two-factor
// authentication and no authenticator app, with pkg published and two
// trusted publishers.
func webBed(t *testing.T) (*testenv.Bed, []registrytest.Trust) {
	t.Helper()
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", pkg)
	p := circleci.Facets()
	p.ContextIDs = append(p.ContextIDs, "0b5b0c2c-5b7a-4d53-9a53-8f8a1f2f3e4d")
	staged := registrytest.TrustFor(p)
	staged.Permissions = []string{"createPackage", "createStagedPackage"}
	bed.Front.SetTrust(pkg, staged, registrytest.TrustFor(circleci.Facets()))
	bed.Front.SetAuthenticator("")
	bed.Front.SetWebLoginRetryAfter(20 * time.Millisecond)
	return bed, bed.Front.TrustOf(pkg)
}

// want is what npm trust list reads of the stand-in's configurations.
func want(stored []registrytest.Trust) []npm.Trust {
	var list []npm.Trust
	for _, s := range stored {
		t := npm.Trust{ID: s.ID, Type: s.Type, Permissions: s.Permissions,
			OrgID: s.Claims[registrytest.ClaimOrgID].(string), ProjectID: s.Claims[registrytest.ClaimProjectID].(string),
			PipelineDefinitionID: s.Claims[registrytest.ClaimPipelineDefinitionID].(string), VCSOrigin: s.Claims[registrytest.ClaimVCSOrigin].(string)}
		for _, id := range s.Claims[registrytest.ClaimContextIDs].([]any) {
			t.ContextIDs = append(t.ContextIDs, id.(string))
		}
		list = append(list, t)
	}
	return list
}

func termios(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var tio *unix.Termios
	require.NoError(t, rc.Control(func(fd uintptr) { tio, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) }))
	require.NoError(t, err)
	return tio
}

// On the user's terminal, npm trust list runs npm's web login: the page to
// approve shows on the terminal, the user opens it, and the trusted
// publishers come back to the program. The terminal is as it was after, and
// what the user types next is not taken.
func TestTrustListOnTerminalWebLogin(t *testing.T) {
	bed, stored := webBed(t)
	control, term := testenv.PTY(t)
	user := testenv.AtTerminal(t, control)
	before := termios(t, term)

	list, err := bed.NPM(t, true).TrustListOnTerminal(t.Context(), t.TempDir(), npm.Stdio{In: term, Out: term, Err: term}, pkg)
	require.NoError(t, err, user.Screen())
	assert.Equal(t, want(stored), list)
	assert.Len(t, list[0].ContextIDs, 2)

	logins := bed.Front.WebLogins()
	require.Len(t, logins, 1, "one web login for the call")
	assert.True(t, logins[0].Used, "npm repeated the call with the login's token")
	assert.Equal(t, []string{logins[0].AuthURL}, user.Opened(), "the page's address was on the terminal")
	assert.True(t, awaitScreen(t, user, "type: circleci"), "npm's answer was shown too: %s", user.Screen())
	assert.NotContains(t, user.Screen(), logins[0].Token)
	assert.Equal(t, before, termios(t, term), "the terminal is restored")

	// Nothing reads the user's keyboard once the call has returned.
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	assert.NotContains(t, string(stacks), "scripts/npm.relay(", "no goroutine is left relaying the keyboard")
	user.Type("next\r")
	read := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := term.Read(buf)
		read <- string(buf[:n])
	}()
	select {
	case got := <-read:
		assert.Equal(t, "next\n", got)
	case <-time.After(20 * time.Second): // a bound on failure, not a wait
		t.Fatal("what the user typed after the call was taken")
	}
}

// An authenticator's code asked for on the terminal (npm's legacy auth
// type): the user's keystrokes reach npm, with the terminal in raw mode
// while npm asks. A Ctrl-C there stops the account's commands.
func TestTrustListOnTerminalOneTimePassword(t *testing.T) {
	bed := testenv.RegistryBed(t)
	bed.Publish(t, "0.0.1", pkg)
	bed.Front.SetTrust(pkg, registrytest.TrustFor(circleci.Facets()))
	control, term := testenv.PTY(t)
	user := testenv.AtTerminal(t, control)
	cli := bed.NPM(t, true).With("NPM_CONFIG_AUTH_TYPE=legacy")
	stdio := npm.Stdio{In: term, Out: term, Err: term}

	type result struct {
		list []npm.Trust
		err  error
	}
	ended := make(chan result, 1)
	go func() {
		list, err := cli.TrustListOnTerminal(context.Background(), t.TempDir(), stdio, pkg)
		ended <- result{list, err}
	}()
	require.True(t, user.Await(t.Context(), "Enter OTP:"), user.Screen())
	raw := termios(t, term)
	assert.Zero(t, raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG), "the user's terminal is raw while npm asks")
	user.Type(registrytest.DefaultOTP + "\r")
	r := <-ended
	require.NoError(t, r.err, user.Screen())
	require.Len(t, r.list, 1)
	assert.Equal(t, bed.Front.TrustOf(pkg)[0].ID, r.list[0].ID)
	assert.Empty(t, bed.Front.WebLogins(), "no web login asked for")
	assert.NotZero(t, termios(t, term).Lflag&unix.ICANON, "restored")

	// A mistyped code: the account says so.
	account := &npm.Account{CLI: cli, Dir: t.TempDir(), Stdio: stdio, Terminal: true}
	user.Answer("Enter OTP:", "000000")
	_, err := account.TrustList(t.Context(), pkg)
	require.ErrorIs(t, err, npm.ErrOTP)
	assert.Equal(t, "the registry asks for a one-time password: npm trust list "+pkg+": the registry refused the second factor given on the terminal "+
		"(a mistyped or expired code, or a page not approved?): run again", err.Error())

	// Ctrl-C at the prompt: npm gives up, and so does the account.
	account = &npm.Account{CLI: cli, Dir: t.TempDir(), Stdio: stdio, Terminal: true}
	prompts := strings.Count(user.Screen(), "Enter OTP:")
	go func() {
		_, err := account.TrustList(context.Background(), pkg)
		ended <- result{nil, err}
	}()
	require.True(t, user.AwaitN(t.Context(), "Enter OTP:", prompts+1), user.Screen())
	user.Type("\x03")
	r = <-ended
	require.ErrorIs(t, r.err, npm.ErrInterrupted)
	assert.Regexp(t, `npm error canceled\r\n`, user.Screen(), "npm's errors, on a raw terminal, return the carriage")
	assert.NotRegexp(t, `[^\r]\n`, user.Screen())
	calls := len(bed.Front.Requests())
	user.Answer("Enter OTP:", registrytest.DefaultOTP) // were npm asked again
	_, err = account.TrustList(t.Context(), pkg)
	require.ErrorIs(t, err, npm.ErrInterrupted)
	assert.Len(t, bed.Front.Requests(), calls, "npm was not run again")
}
