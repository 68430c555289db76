package registrytest

import (
	"context"
	"sync"
	"time"
)

// Clock is a virtual clock for tests: time passes only when someone sleeps on
// it. A release under test sleeps on it (its retries, its waits) while the
// stand-in reads it (its CDN, its rate limit), so that minutes of waiting
// cost no real time and a test still sees them pass.
//
// Sleepers may overlap, and there is no scheduler to line their waits up:
// each Sleep moves the clock on by its own duration from wherever it is.
// So every sleeper waits at least its duration, and overlapping sleepers
// make virtual time pass faster than real time would: a test may rely on a
// wait having lasted at least so long, never on the clock's total as a
// measure of how long something took.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that starts at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep moves the clock d on from where it is and returns at once; a done
// ctx is an error, as for a real sleep.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	c.Advance(d)
	return nil
}

// Advance moves the clock d forward from now.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
}
