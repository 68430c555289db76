package registrytest

import (
	"net/http"
	"strconv"
	"strings"
)

// Kind is how a fault fails a request.
type Kind int

// The ways a request can fail.
const (
	Status500 Kind = iota + 1 // 500 Internal Server Error
	Status429                 // 429 Too Many Requests, with Retry-After
	Drop                      // the connection is closed with no answer
	NotFound                  // 404, as a stale cache might answer for a package that exists
	Forbidden                 // 403: a refusal that another try will not change
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Status500:
		return "500"
	case Status429:
		return "429"
	case Drop:
		return "dropped connection"
	case NotFound:
		return "404"
	case Forbidden:
		return "403"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Fault makes matching requests fail.
type Fault struct {
	Kind       Kind
	RetryAfter int    // seconds, sent with Status429
	Package    string // only requests about this package; "" matches any
	Method     string // only requests with this method; "" matches any
	Path       string // only requests whose escaped path starts with this; "" matches any
	// Share is the share of matching requests that fail, chosen at random
	// from the server's seed; 0 means all of them.
	Share float64
	// Times ends the fault after it has failed this many requests; 0 means
	// it lasts until removed.
	Times int
	// After handles the request first and then fails its answer: a publish
	// that reached the registry whose answer was lost.
	After bool
}

// fault is an injected Fault and its count.
type fault struct {
	Fault
	failed int
}

// Inject adds f; the returned function removes it.
func (s *Server) Inject(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inj := &fault{Fault: f}
	s.faults = append(s.faults, inj)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, g := range s.faults {
			if g == inj {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
				return
			}
		}
	}
}

// failure returns the fault that fails this request, if any, and counts it.
func (s *Server) failure(method, path, pkg string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if (f.Package != "" && f.Package != pkg) || (f.Method != "" && f.Method != method) ||
			(f.Path != "" && !strings.HasPrefix(path, f.Path)) {
			continue
		}
		if f.Times > 0 && f.failed >= f.Times {
			continue
		}
		if f.Share > 0 && s.rand.Float64() >= f.Share {
			continue
		}
		f.failed++
		return f
	}
	return nil
}

// serve fails the request as f says.
func (f *fault) serve(w http.ResponseWriter, r *http.Request) {
	switch f.Kind {
	case Status429:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		writeError(w, http.StatusTooManyRequests, "rate limited (registrytest fault)")
	case Drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		panic(http.ErrAbortHandler) // closes the connection too
	case NotFound:
		writeError(w, http.StatusNotFound, "Not found")
	case Forbidden:
		writeError(w, http.StatusForbidden, "forbidden (registrytest fault)")
	default:
		writeError(w, http.StatusInternalServerError, "internal server error (registrytest fault)")
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}
