// Package retry runs an operation again after transient failures: exponential
// backoff with jitter up to a cap, a server's Retry-After honoured, and a
// bound on the time spent (and, if asked, on the attempts). It is a helper:
// it knows nothing of npm.
//
// The operation decides what is worth another try by wrapping its error with
// [Transient]; any other error ends the loop at once. So an error is never
// retried by accident, and a caller can tell "gave up after transient errors"
// from "refused" with [IsTransient].
//
// A rate-limited registry may ask for minutes (429 with Retry-After): the
// bound is time, not a small count of quick attempts, so a slow registry is
// waited out as long as the caller's budget allows and no longer.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultFor is how long Do keeps trying when the policy sets no bound.
const DefaultFor = 5 * time.Minute

// Policy bounds the retries. The zero value keeps trying for DefaultFor,
// waiting from 500 ms, doubling up to 30 s, with ±50 % jitter.
type Policy struct {
	// For is how long Do keeps trying, from its first attempt: no wait that
	// would end later is started. 0 means DefaultFor, unless Attempts or
	// Deadline bounds the loop.
	For time.Duration
	// Deadline, if set, is a time no wait may end after, whatever For says:
	// the budget of a whole release (FACET_WAIT).
	Deadline time.Time
	// Attempts, if set, also bounds the attempts, the first included.
	Attempts int
	Initial  time.Duration // delay before the second attempt; 0 means 500 ms
	Max      time.Duration // longest backoff delay (a server's Retry-After may be longer); 0 means 30 s
	// Sleep waits for d or until ctx ends; nil waits on a timer. Tests pass a
	// function that records the delays and returns at once, or a virtual
	// clock's Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notify, if set, hears of each failed attempt before the wait that
	// follows it.
	Notify func(attempt int, err error, wait time.Duration)
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand.
	// Tests pass one that returns 0.5: no jitter.
	Rand func() float64
	// What names the budget in messages ("FACET_WAIT"); "" says nothing.
	What string
}

// withDefaults fills in the zero fields.
func (p Policy) withDefaults() Policy {
	if p.For <= 0 && p.Attempts <= 0 && p.Deadline.IsZero() {
		p.For = DefaultFor
	}
	if p.Initial <= 0 {
		p.Initial = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// end is when the loop that started at start must stop waiting; zero means
// never (only Attempts bounds it).
func (p Policy) end(start time.Time) time.Time {
	var end time.Time
	if p.For > 0 {
		end = start.Add(p.For)
	}
	if !p.Deadline.IsZero() && (end.IsZero() || p.Deadline.Before(end)) {
		end = p.Deadline
	}
	return end
}

// TransientError is a failure that may pass: a 5xx or 429 answer, a dropped
// connection, a timeout.
type TransientError struct {
	Err   error
	After time.Duration // the least wait the server asked for (Retry-After); 0 if it said nothing
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as worth another attempt, no sooner than after (0: as
// the backoff says). A nil err stays nil.
func Transient(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err, After: after}
}

// IsTransient reports whether err, or an error it wraps, is transient.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// Do calls op (with attempt counting from 1) until it succeeds, returns an
// error that is not transient, or the policy's budget is spent; between
// attempts it waits as long as the backoff says, or as the server asked
// (Retry-After), whichever is longer. It gives up before a wait that would
// end past the budget, at once when the server asks for more than is left.
// The error returned is op's last, saying how long and how often it tried.
func Do(ctx context.Context, p Policy, op func(attempt int) error) error {
	p = p.withDefaults()
	b := Backoff{Initial: p.Initial, Max: p.Max, Rand: p.Rand}
	start := p.Now()
	end := p.end(start)
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return nil
		}
		var t *TransientError
		if !errors.As(err, &t) {
			return err
		}
		if p.Attempts > 0 && attempt >= p.Attempts {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		now := p.Now()
		wait := max(b.Delay(attempt), t.After)
		if !end.IsZero() {
			left := end.Sub(now)
			switch {
			case t.After > 0 && t.After > left:
				return fmt.Errorf("%w (the server asked to wait %s before another try, and %s leaves %s%s)",
					err, round(t.After), p.budget(), round(max(left, 0)), p.tried(attempt, now.Sub(start)))
			case wait > left:
				// The backoff would outlast the budget: one last try at its
				// end is better than none, if there is time for one.
				if left < p.Initial {
					return fmt.Errorf("%w (gave up: %s ran out%s)", err, p.budget(), p.tried(attempt, now.Sub(start)))
				}
				wait = left
			}
		}
		if p.Notify != nil {
			p.Notify(attempt, err, wait)
		}
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (stopped retrying: %w)", err, serr)
		}
	}
}

// budget names what bounds the retries, for a message.
func (p Policy) budget() string {
	if p.What != "" {
		return p.What
	}
	return "the time to retry"
}

// tried says how often and for how long Do tried, for a message.
func (p Policy) tried(attempts int, took time.Duration) string {
	if attempts == 1 {
		return ""
	}
	return fmt.Sprintf("; %d attempts in %s", attempts, round(took))
}

// round shortens a duration for a message.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Backoff is exponential backoff with jitter: the n-th delay is Initial
// doubled n-1 times, at most Max, times a random factor in [0.5, 1.5), and
// never more than Max.
type Backoff struct {
	Initial, Max time.Duration
	Rand         func() float64 // in [0, 1); nil means math/rand
}

// Delay is the wait after the n-th failure (n from 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	jittered := time.Duration(float64(d) * (0.5 + r()))
	return min(jittered, b.Max)
}

// Sleep waits for d or until ctx ends, on a timer.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
