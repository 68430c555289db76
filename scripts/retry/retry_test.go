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

// recorder is a Sleep that records the waits and returns at once.
type recorder struct{ waits []time.Duration }

func (r *recorder) sleep(_ context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return nil
}

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
	tests := []struct {
		name      string
		errs      []error
		attempts  int
		wantCalls int
		wantErr   string
		check     func(t *testing.T, waits []time.Duration)
	}{
		{name: "success at once", wantCalls: 1},
		{name: "transient failures, then success: the waits double", errs: []error{
			retry.Transient(errBusy, 0), retry.Transient(errBusy, 0), retry.Transient(errBusy, 0), retry.Transient(errBusy, 0), retry.Transient(errBusy, 0)},
			attempts: 6, wantCalls: 6,
			check: func(t *testing.T, waits []time.Duration) {
				ms := time.Millisecond
				assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms}, waits, "up to the maximum")
			}},
		{name: "a refusal is not retried", errs: []error{refused}, wantCalls: 1, wantErr: "401 Unauthorized"},
		{name: "gives up after the attempts", errs: []error{retry.Transient(errBusy, 0), retry.Transient(errBusy, 0), retry.Transient(errBusy, 0)}, attempts: 3,
			wantCalls: 3, wantErr: "503 Service Unavailable (gave up after 3 attempts)"},
		{name: "Retry-After is honoured", errs: []error{retry.Transient(errBusy, 700*time.Millisecond)}, wantCalls: 2,
			check: func(t *testing.T, waits []time.Duration) {
				assert.Equal(t, []time.Duration{700 * time.Millisecond}, waits)
			}},
		{name: "a Retry-After longer than the maximum ends it, saying so", errs: []error{retry.Transient(errBusy, time.Hour)}, wantCalls: 1,
			wantErr: "503 Service Unavailable (the registry asked to wait 1h0m0s before another try, longer than the 1s this waits)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			op, calls := failing(tt.errs...)
			err := retry.Do(t.Context(), retry.Policy{Attempts: tt.attempts, Initial: 100 * time.Millisecond, Max: time.Second, Sleep: r.sleep, Rand: half}, op)
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

func TestGivingUpKeepsTheCause(t *testing.T) {
	var r recorder
	err := retry.Do(t.Context(), retry.Policy{Attempts: 2, Sleep: r.sleep}, func(int) error { return retry.Transient(errBusy, 0) })
	assert.ErrorIs(t, err, errBusy)
	assert.True(t, retry.IsTransient(err), "the caller can tell transient failures from refusals")
	assert.False(t, retry.IsTransient(errBusy))
	assert.NoError(t, retry.Transient(nil, 0))
}

func TestCancellationStopsTheWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := retry.Do(ctx, retry.Policy{Initial: time.Hour, Max: time.Hour}, func(int) error {
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
	require.NoError(t, retry.Do(t.Context(), retry.Policy{Sleep: r.sleep, Notify: func(attempt int, err error, wait time.Duration) {
		heard = append(heard, attempt)
		assert.ErrorIs(t, err, errBusy)
		assert.Equal(t, r.waits, []time.Duration(nil), "notified before the wait")
		assert.Positive(t, wait)
	}}, op))
	assert.Equal(t, []int{1}, heard)
}
