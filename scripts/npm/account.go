package npm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agent-facets/facets/scripts/retry"
)

// TrustPace is the least time between two calls of npm's trusted-publisher
// API that npm asks for.
const TrustPace = 2 * time.Second

// Account runs the npm commands that act on a logged-in user's packages
// (npm trust): one at a time, paced as the registry asks. It is safe for one
// goroutine at a time.
//
// The registry wants a second factor for each of them. On a terminal npm asks
// for it itself, so every command runs with npm on the user's terminal
// (Terminal): npm shows a page to approve in the browser (npmjs.com's web
// login, for a security key, a passkey or an authenticator) or asks for a
// one-time password, once per command. Elsewhere only NPM_CONFIG_OTP, an
// authenticator's current code in CLI's environment, can serve.
type Account struct {
	CLI CLI
	Dir string // where npm runs
	// Stdio is the user's terminal when Terminal is set: npm trust list runs
	// on a pseudo-terminal relayed to it (CLI.RunOnTerminal), the commands
	// that change things attached to it. Otherwise it takes what those show.
	Stdio Stdio
	// Terminal says Stdio is a terminal the user is at. Where pseudo-terminals
	// are not supported (PTYSupported), npm trust list runs detached all the
	// same.
	Terminal bool
	Pace     time.Duration // least time from the end of one command to the start of the next
	// Sleep waits for d or until ctx ends; nil waits on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu          sync.Mutex
	last        time.Time
	interrupted error // the user interrupted a command: the others are not run
}

// do runs one command through fn, paced.
func (a *Account) do(ctx context.Context, fn func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.interrupted != nil {
		return a.interrupted
	}
	if err := a.wait(ctx); err != nil {
		return err
	}
	err := fn()
	a.last = a.now() // the registry saw the call before npm ended: pace from there
	switch {
	case errors.Is(err, ErrInterrupted):
		a.interrupted = fmt.Errorf("%w: npm trust stopped", ErrInterrupted)
		return err
	case errors.Is(err, ErrOTP):
		return a.otpError(err)
	}
	return err
}

// otpError explains a registry that still wants a second factor. It leaves
// out npm's own words, which name the URLs of the web login.
func (a *Account) otpError(err error) error {
	cmd := "npm trust"
	var e *Error
	if errors.As(err, &e) {
		// The command and its package, without the flags.
		words := e.Args
		if i := slices.IndexFunc(words, func(w string) bool { return strings.HasPrefix(w, "-") }); i >= 0 {
			words = words[:i]
		}
		cmd = "npm " + strings.Join(words, " ")
	}
	switch {
	case a.Terminal && (PTYSupported || !e.listing()):
		return fmt.Errorf("%w: %s: the registry refused the second factor given on the terminal (a mistyped or expired code, or a page not approved?): run again", ErrOTP, cmd)
	case a.CLI.hasOTP():
		return fmt.Errorf("%w: %s: the registry refused NPM_CONFIG_OTP (an authenticator's code lasts 30 seconds): set NPM_CONFIG_OTP to a current one-time password, or run on a terminal without it to approve each command in the browser", ErrOTP, cmd)
	case a.Terminal:
		return fmt.Errorf("%w: %s: npm trust list cannot ask for it on this system (no pseudo-terminals): set NPM_CONFIG_OTP to a current one-time password from your authenticator app", ErrOTP, cmd)
	}
	return fmt.Errorf("%w: %s: npm asks for a second factor only on a terminal: run on a terminal, where npm shows a page to approve in your browser (or asks for a code), or set NPM_CONFIG_OTP to a current one-time password from your authenticator app", ErrOTP, cmd)
}

// listing says whether e is npm trust list, which runs detached where
// pseudo-terminals are not supported.
func (e *Error) listing() bool {
	return e != nil && len(e.Args) > 1 && e.Args[0] == "trust" && e.Args[1] == "list"
}

// hasOTP says whether c's environment gives npm a one-time password.
func (c CLI) hasOTP() bool {
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if strings.EqualFold(name, "npm_config_otp") && value != "" {
			return true
		}
	}
	return false
}

// wait sleeps until Pace has passed since the last command ended.
func (a *Account) wait(ctx context.Context) error {
	if a.last.IsZero() {
		return nil
	}
	d := a.Pace - a.now().Sub(a.last)
	if d <= 0 {
		return nil
	}
	sleep := a.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	return sleep(ctx, d)
}

func (a *Account) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// TrustList reads the trusted publishers of pkg: on the user's terminal when
// there is one (and pseudo-terminals are supported), detached otherwise.
func (a *Account) TrustList(ctx context.Context, pkg string) ([]Trust, error) {
	var list []Trust
	err := a.do(ctx, func() error {
		var err error
		if a.Terminal && PTYSupported {
			list, err = a.CLI.TrustListOnTerminal(ctx, a.Dir, a.Stdio, pkg)
		} else {
			list, err = a.CLI.TrustList(ctx, a.Dir, pkg)
		}
		return err
	})
	return list, err
}

// TrustCreate runs `npm trust <args…> --yes`, attached to Stdio.
func (a *Account) TrustCreate(ctx context.Context, args ...string) error {
	return a.do(ctx, func() error { return a.CLI.TrustCreate(ctx, a.Dir, a.Stdio, args...) })
}

// TrustRevoke revokes the trusted publisher id of pkg, attached to Stdio.
func (a *Account) TrustRevoke(ctx context.Context, pkg, id string) error {
	return a.do(ctx, func() error { return a.CLI.TrustRevoke(ctx, a.Dir, a.Stdio, pkg, id) })
}
