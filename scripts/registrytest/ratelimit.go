package registrytest

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// limiter admits at most n requests in any window-long stretch of the
// stand-in's clock: a sliding window, the log of what it admitted.
type limiter struct {
	n        int
	window   time.Duration
	admitted []time.Time // within the last window, oldest first
}

// LimitExchanges rate-limits the OIDC exchange, as npmjs.com may: at most n
// exchanges (answered or refused, whatever their answer) in any window on
// the stand-in's clock (Options.Now, SetClock). One more is answered 429
// Too Many Requests, with Retry-After the whole seconds, rounded up, until a
// slot is free, and counts for nothing. n <= 0 lifts the limit.
//
// A 429 carries {"error":"Too Many Requests"}, as npmjs.com's rate limit
// answers (npm/cli#7298: "429 Too Many Requests - PUT … - Too Many
// Requests"), not one of the exchange's four messages: the limit answers
// before the exchange looks at the request. npm logs the exchange's body
// "message" only, so it says "Unknown error"; what a client can go by is the
// status and Retry-After.
func (s *Server) LimitExchanges(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exchangeLimit = nil
	if n > 0 && window > 0 {
		s.exchangeLimit = &limiter{n: n, window: window}
	}
}

// limitExchange answers 429 and reports true when the exchange is over its
// limit (see LimitExchanges); otherwise it counts the exchange.
func (s *Server) limitExchange(w http.ResponseWriter) bool {
	now := s.now()
	s.mu.Lock()
	l := s.exchangeLimit
	var wait time.Duration
	if l != nil {
		// Forget what has left the window.
		i := 0
		for i < len(l.admitted) && now.Sub(l.admitted[i]) >= l.window {
			i++
		}
		l.admitted = slices.Delete(l.admitted, 0, i)
		if len(l.admitted) < l.n {
			l.admitted = append(l.admitted, now)
		} else {
			wait = l.admitted[0].Add(l.window).Sub(now)
		}
	}
	s.mu.Unlock()
	if wait <= 0 {
		return false
	}
	if rec, ok := w.(*recorder); ok {
		rec.limited = true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, "Too Many Requests")
	return true
}
