package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/retry"
)

// recorder is a clock whose Sleep records the waits, moves the time on and
// returns at once.
type recorder struct {
	waits []time.Duration
	now   time.Time
}

func (r *recorder) sleep(_ context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	r.now = r.now.Add(d)
	return nil
}

func (r *recorder) clock() time.Time { return r.now }

var errBusy = errors.New("503 Service Unavailable")

// half makes the jitter factor exactly 1.
func half() float64 { return 0.5 }

// The jitter spreads each wait over [0.5, 1.5) of it, never past the maximum.
func TestBackoffJitter(t *testing.T) {
	for _, tt := range []struct {
		r    float64
		n    int
		want time.Duration
	}{
		{0, 1, 50 * time.Millisecond}, {0.999999, 1, 149999900 * time.Nanosecond}, {0.5, 3, 400 * time.Millisecond},
		{0.99, 5, time.Second}, {0, 10, 500 * time.Millisecond},
	} {
		b := retry.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return tt.r }}
		assert.InDelta(t, tt.want, b.Delay(tt.n), float64(time.Microsecond), "r=%v n=%d", tt.r, tt.n)
	}
	b := retry.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Delay(1)] = true
	}
	assert.Greater(t, len(seen), 1, "without Rand the waits are random")
}

// failing returns an op that fails with errs in turn, then succeeds.
func failing(errs ...error) (op func(int) error, calls *int) {
	n := 0
	return func(attempt int) error {
		n++
		if attempt != n {
			panic("attempts are counted from 1")
		}
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}, &n
}

func TestDo(t *testing.T) {
	refused := errors.New("401 Unauthorized")
	busy := func(n int, after time.Duration) []error {
		errs := make([]error, n)
		for i := range errs {
			errs[i] = retry.Transient(errBusy, after)
		}
		return errs
	}
	ms := time.Millisecond
	tests := []struct {
		name      string
		errs      []error
		policy    retry.Policy // Initial 100 ms and Max 1 s unless set
		wantCalls int
		wantErr   string
		check     func(t *testing.T, waits []time.Duration)
	}{
		{name: "success at once", wantCalls: 1},
		{name: "transient failures, then success: the waits double", errs: busy(5, 0), wantCalls: 6,
			check: func(t *testing.T, waits []time.Duration) {
				assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms}, waits, "up to the maximum")
			}},
		{name: "a refusal is not retried", errs: []error{refused}, wantCalls: 1, wantErr: "401 Unauthorized"},
		{name: "bounded by time, not by a few attempts", errs: busy(40, 0), policy: retry.Policy{For: time.Minute}, wantCalls: 41,
			check: func(t *testing.T, waits []time.Duration) {
				assert.Len(t, waits, 40)
			}},
		{name: "gives up when the time is spent, naming the last error", errs: busy(100, 0), policy: retry.Policy{For: 5 * time.Second, What: "FACET_WAIT"},
			// 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 + 1 = 4.5 s; 0.5 s left is more than Initial: one last wait of 0.5 s, then nothing left
			wantCalls: 9, wantErr: "503 Service Unavailable (gave up: FACET_WAIT ran out; 9 attempts in 5s)",
			check: func(t *testing.T, waits []time.Duration) {
				assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second, 500 * ms}, waits, "the last wait ends at the budget")
			}},
		{name: "a deadline bounds it too", errs: busy(100, 0), policy: retry.Policy{For: time.Hour, Deadline: time.Unix(0, 0).Add(700 * ms)},
			wantCalls: 4, wantErr: "503 Service Unavailable (gave up: the time to retry ran out; 4 attempts in 700ms)"},
		{name: "an attempt cap, if set, bounds it", errs: busy(3, 0), policy: retry.Policy{Attempts: 3},
			wantCalls: 3, wantErr: "503 Service Unavailable (gave up after 3 attempts)"},
		{name: "Retry-After is honoured", errs: busy(1, 700*ms), wantCalls: 2,
			check: func(t *testing.T, waits []time.Duration) {
				assert.Equal(t, []time.Duration{700 * ms}, waits)
			}},
		{name: "a Retry-After longer than the backoff's cap is honoured while the time lasts", errs: busy(2, 40*time.Second), policy: retry.Policy{For: 2 * time.Minute},
			wantCalls: 3,
			check: func(t *testing.T, waits []time.Duration) {
				assert.Equal(t, []time.Duration{40 * time.Second, 40 * time.Second}, waits)
			}},
		{name: "a Retry-After longer than what is left ends it at once, saying so", errs: busy(1, time.Hour), policy: retry.Policy{For: 10 * time.Minute, What: "FACET_WAIT"},
			wantCalls: 1, wantErr: "503 Service Unavailable (the server asked to wait 1h0m0s before another try, and FACET_WAIT leaves 10m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{now: time.Unix(0, 0)}
			op, calls := failing(tt.errs...)
			p := tt.policy
			p.Initial, p.Max, p.Sleep, p.Now, p.Rand = 100*time.Millisecond, time.Second, r.sleep, r.clock, half
			err := retry.Do(t.Context(), p, op)
			assert.Equal(t, tt.wantCalls, *calls)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
			} else {
				require.NoError(t, err)
			}
			if tt.check != nil {
				tt.check(t, r.waits)
			}
		})
	}
}

// The zero policy keeps trying for DefaultFor.
func TestDefaultBudget(t *testing.T) {
	r := &recorder{now: time.Unix(0, 0)}
	err := retry.Do(t.Context(), retry.Policy{Sleep: r.sleep, Now: r.clock, Rand: half}, func(int) error { return retry.Transient(errBusy, 0) })
	require.Error(t, err)
	assert.Equal(t, retry.DefaultFor, r.now.Sub(time.Unix(0, 0)))
}

func TestGivingUpKeepsTheCause(t *testing.T) {
	var r recorder
	err := retry.Do(t.Context(), retry.Policy{Attempts: 2, Sleep: r.sleep, Now: r.clock}, func(int) error { return retry.Transient(errBusy, 0) })
	assert.ErrorIs(t, err, errBusy)
	assert.True(t, retry.IsTransient(err), "the caller can tell transient failures from refusals")
	assert.False(t, retry.IsTransient(errBusy))
	assert.NoError(t, retry.Transient(nil, 0))
}

func TestCancellationStopsTheWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := retry.Do(ctx, retry.Policy{For: 2 * time.Hour, Initial: time.Hour, Max: time.Hour}, func(int) error {
		calls++
		cancel() // the real timer would wait an hour; cancellation ends it
		return retry.Transient(errBusy, 0)
	})
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errBusy)
}

func TestNotify(t *testing.T) {
	var r recorder
	var heard []int
	op, _ := failing(retry.Transient(errBusy, 0))
	require.NoError(t, retry.Do(t.Context(), retry.Policy{Sleep: r.sleep, Now: r.clock, Notify: func(attempt int, err error, wait time.Duration) {
		heard = append(heard, attempt)
		assert.ErrorIs(t, err, errBusy)
		assert.Equal(t, r.waits, []time.Duration(nil), "notified before the wait")
		assert.Positive(t, wait)
	}}, op))
	assert.Equal(t, []int{1}, heard)
}
