package testenv

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// User is a maintainer at a terminal (the control side of PTY): it reads
// what programs show there, opens in the browser every page npm asks to have
// approved ("Authenticate your account at:" and its address), which approves
// it on the npmjs.com stand-in, and types the answers it was given to
// prompts.
type User struct {
	t       testing.TB
	control *os.File

	mu      sync.Mutex
	screen  strings.Builder
	opened  []string
	answers []*answer
	changed chan struct{} // closed and replaced when the screen changes
}

type answer struct {
	prompt, reply string
	seen          int // times prompt had appeared when the answer was given
}

// authURL finds the pages npm asks to have approved on the screen.
var authURL = regexp.MustCompile(`Authenticate your account at:\r?\n(\S+)\r?\n`)

// AtTerminal puts a User at the terminal whose control side is control,
// until t ends.
func AtTerminal(t testing.TB, control *os.File) *User {
	u := &User{t: t, control: control, changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.read()
	}()
	t.Cleanup(func() {
		control.Close()
		<-done
	})
	return u
}

// Answer makes the user type reply and Enter the next time prompt appears.
func (u *User) Answer(prompt, reply string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.answers = append(u.answers, &answer{prompt: prompt, reply: reply, seen: strings.Count(u.screen.String(), prompt)})
}

// Type types s at the terminal.
func (u *User) Type(s string) {
	if _, err := u.control.Write([]byte(s)); err != nil {
		u.t.Errorf("typing at the terminal: %v", err)
	}
}

// Screen is everything shown on the terminal so far.
func (u *User) Screen() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.screen.String()
}

// Opened are the pages the user opened and approved, in order.
func (u *User) Opened() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.opened...)
}

// Await waits until the screen shows s, or ctx ends; it reports whether it
// does.
func (u *User) Await(ctx context.Context, s string) bool { return u.AwaitN(ctx, s, 1) }

// AwaitN waits until the screen shows s n times, or ctx ends; it reports
// whether it does.
func (u *User) AwaitN(ctx context.Context, s string, n int) bool {
	for {
		u.mu.Lock()
		shown, changed := strings.Count(u.screen.String(), s) >= n, u.changed
		u.mu.Unlock()
		if shown {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

func (u *User) read() {
	buf := make([]byte, 4096)
	for {
		n, err := u.control.Read(buf)
		if n > 0 {
			u.mu.Lock()
			u.screen.Write(buf[:n])
			screen := u.screen.String()
			var open, typed []string
			for _, m := range authURL.FindAllStringSubmatch(screen, -1)[len(u.opened):] {
				open = append(open, m[1])
			}
			u.opened = append(u.opened, open...)
			u.answers = slices.DeleteFunc(u.answers, func(a *answer) bool {
				if strings.Count(screen, a.prompt) > a.seen {
					typed = append(typed, a.reply+"\r")
					return true
				}
				return false
			})
			close(u.changed)
			u.changed = make(chan struct{})
			u.mu.Unlock()
			for _, url := range open {
				u.approve(url)
			}
			for _, s := range typed {
				_, _ = u.control.Write([]byte(s))
			}
		}
		if err != nil {
			return
		}
	}
}

// approve opens url as the user's browser does, approving the login.
func (u *User) approve(url string) {
	resp, err := http.Get(url)
	if err != nil {
		u.t.Errorf("opening %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		u.t.Errorf("opening %s: %s", url, resp.Status)
	}
}
