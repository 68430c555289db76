package npm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/agent-facets/facets/scripts/retry"
)

// TrustPace is the least time between two calls of npm's trusted-publisher
// API that npm asks for.
const TrustPace = 2 * time.Second

// Account runs the npm commands that act on a logged-in user's packages
// (npm trust): one at a time, paced as the registry asks, with a one-time
// password when the registry wants one. It is safe for one goroutine at a
// time.
type Account struct {
	CLI   CLI
	Dir   string        // where npm runs
	Stdio Stdio         // the terminal the commands that change things are attached to
	Pace  time.Duration // least time from the end of one command to the start of the next
	// AskOTP asks the user for a one-time password; nil means there is no one
	// to ask, and a registry that wants one is an error saying to set
	// NPM_CONFIG_OTP. A password given is used for the commands that follow,
	// until the registry refuses it.
	AskOTP func(ctx context.Context) (string, error)
	// Sleep waits for d or until ctx ends; nil waits on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	otp  string
	last time.Time
}

// maxOTPTries bounds the passwords asked for one command.
const maxOTPTries = 3

// do runs one command through fn, paced, with the current one-time password,
// asking for another when the registry refuses.
func (a *Account) do(ctx context.Context, fn func(cli CLI) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for try := 1; ; try++ {
		if err := a.wait(ctx); err != nil {
			return err
		}
		cli := a.CLI
		if a.otp != "" {
			cli = cli.With("NPM_CONFIG_OTP=" + a.otp)
		}
		err := fn(cli)
		a.last = a.now() // the registry saw the call before npm ended: pace from there
		if !errors.Is(err, ErrOTP) {
			return err
		}
		if a.AskOTP == nil {
			return fmt.Errorf("%w (set NPM_CONFIG_OTP to a current one-time password, or run on a terminal to be asked): %s", ErrOTP, Brief(err))
		}
		if try >= maxOTPTries {
			return err
		}
		otp, aerr := a.AskOTP(ctx)
		if aerr != nil {
			return fmt.Errorf("%w (asking for a one-time password: %w)", err, aerr)
		}
		a.otp = strings.TrimSpace(otp)
	}
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

// TrustList reads the trusted publishers of pkg.
func (a *Account) TrustList(ctx context.Context, pkg string) ([]Trust, error) {
	var list []Trust
	err := a.do(ctx, func(cli CLI) error {
		var err error
		list, err = cli.TrustList(ctx, a.Dir, pkg)
		return err
	})
	return list, err
}

// TrustCreate runs `npm trust <args…> --yes`, attached to the terminal.
func (a *Account) TrustCreate(ctx context.Context, args ...string) error {
	return a.do(ctx, func(cli CLI) error { return cli.TrustCreate(ctx, a.Dir, a.Stdio, args...) })
}

// TrustRevoke revokes the trusted publisher id of pkg, attached to the
// terminal.
func (a *Account) TrustRevoke(ctx context.Context, pkg, id string) error {
	return a.do(ctx, func(cli CLI) error { return cli.TrustRevoke(ctx, a.Dir, a.Stdio, pkg, id) })
}

// PromptOTP returns an AskOTP that prints a prompt on out and reads a line
// from in (a terminal).
func PromptOTP(in io.Reader, out io.Writer, registry string) func(context.Context) (string, error) {
	r := bufio.NewReader(in)
	return func(ctx context.Context) (string, error) {
		fmt.Fprintf(out, "npm asks for a one-time password for %s\nEnter OTP: ", registry)
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return "", err
		}
		return strings.TrimSpace(line), nil
	}
}
