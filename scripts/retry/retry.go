// Package retry runs an operation again after transient failures: exponential
// backoff with jitter, a server's Retry-After honoured, and a bound on the
// attempts and on the time spent. It is a helper: it knows nothing of npm.
//
// The operation decides what is worth another try by wrapping its error with
// [Transient]; any other error ends the loop at once. So an error is never
// retried by accident, and a caller can tell "gave up after transient errors"
// from "refused" with [IsTransient].
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy bounds the retries. The zero value means 5 attempts, starting at
// 500 ms and doubling up to 30 s, with ±50 % jitter.
type Policy struct {
	Attempts int           // attempts in all, the first included; 0 means 5
	Initial  time.Duration // delay before the second attempt; 0 means 500 ms
	Max      time.Duration // longest delay, and the cap on a server's Retry-After; 0 means 30 s
	// Sleep waits for d or until ctx ends; nil waits on a timer. Tests pass a
	// function that records the delays and returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Notify, if set, hears of each failed attempt before the wait that
	// follows it.
	Notify func(attempt int, err error, wait time.Duration)
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand.
	// Tests pass one that returns 0.5: no jitter.
	Rand func() float64
}

// withDefaults fills in the zero fields.
func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = 5
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
	return p
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
// error that is not transient, or the attempts are used up; it waits between
// attempts as the policy says. The error returned is op's last, with the
// number of attempts when there was more than one.
func Do(ctx context.Context, p Policy, op func(attempt int) error) error {
	p = p.withDefaults()
	b := Backoff{Initial: p.Initial, Max: p.Max, Rand: p.Rand}
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return nil
		}
		var t *TransientError
		if !errors.As(err, &t) {
			return err
		}
		if attempt >= p.Attempts {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := b.Delay(attempt)
		if t.After > p.Max {
			return fmt.Errorf("%w (the registry asked to wait %s before another try, longer than the %s this waits)", err, t.After, p.Max)
		}
		wait = max(wait, t.After)
		if p.Notify != nil {
			p.Notify(attempt, err, wait)
		}
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (stopped retrying: %w)", err, serr)
		}
	}
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
