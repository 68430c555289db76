package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/agent-facets/facets/scripts/retry"
)

// Want is what a package should look like on the registry.
type Want struct {
	Name      string
	Version   string
	Integrity string // the tarball's sha512 integrity; "" is not compared
	Tag       string // a dist-tag that must point at Version; "" is not checked
	// OptionalDependencies must be exactly these at Version; nil is not checked.
	OptionalDependencies map[string]string
	// Served checks what users' npm is served (a plain read, through any
	// CDN) instead of the origin.
	Served bool
}

// Status is what the registry showed of a Want.
type Status struct {
	Want
	Found      bool   // the registry has the version
	Integrity  string // its integrity, when found
	TagVersion string // the version Want.Tag points at, "" if the tag is not set
	// Superseded is true when Want.Tag points at a version newer than
	// Version: a later release moved it on, as it should, and Version is
	// done.
	Superseded bool
	DistTags   map[string]string // every dist-tag of the package, when read
	// PublishedAt is when the version was published, on the client's clock,
	// when the registry says (see Packument.PublishedAt).
	PublishedAt time.Time
	Problems    []string
	// Final is true when waiting cannot fix the problems: the version is there
	// but differs from what was wanted. A missing version, a tag pointing
	// elsewhere or a registry that could not answer may yet change.
	Final bool
	Err   error // the registry could not answer (after retries)
}

// OK reports whether the package is as wanted.
func (s Status) OK() bool { return s.Err == nil && len(s.Problems) == 0 }

// Check reads w's package once and compares it with w.
func (c *Client) Check(ctx context.Context, w Want) Status {
	s := Status{Want: w}
	read := c.Packument
	if w.Served {
		read = c.Served
	}
	p, err := read(ctx, w.Name)
	if errors.Is(err, ErrNotFound) {
		s.Problems = append(s.Problems, "the package does not exist")
		return s
	}
	if err != nil {
		s.Err = err
		// A refusal (401, 403) or an answer that is not a package document
		// will not change by waiting; an error that outlasted the retries may.
		s.Final = !retry.IsTransient(err)
		s.Problems = append(s.Problems, "the registry could not answer: "+err.Error())
		return s
	}
	s.DistTags = p.DistTags
	if w.Tag != "" {
		s.TagVersion = p.DistTags[w.Tag]
	}
	m, ok := p.Version(w.Version)
	if !ok {
		s.Problems = append(s.Problems, "version "+w.Version+" is not there")
		return s
	}
	s.Found = true
	s.PublishedAt, _ = p.PublishedAt(w.Version)
	s.Integrity = m.Dist.Integrity
	if w.Integrity != "" && m.Dist.Integrity != w.Integrity {
		s.Final = true
		s.Problems = append(s.Problems, fmt.Sprintf("integrity %s, want %s (the tarball in dist/)", short(m.Dist.Integrity), short(w.Integrity)))
	}
	if w.OptionalDependencies != nil && !maps.Equal(m.OptionalDependencies, w.OptionalDependencies) {
		s.Final = true
		s.Problems = append(s.Problems, "optionalDependencies "+depsDiff(m.OptionalDependencies, w.OptionalDependencies))
	}
	if w.Tag != "" && s.TagVersion != w.Version && Newer(s.TagVersion, w.Version) {
		s.Superseded = true
	}
	if w.Tag != "" && s.TagVersion != w.Version && !s.Superseded {
		got := s.TagVersion
		if got == "" {
			got = "nothing"
		}
		s.Problems = append(s.Problems, fmt.Sprintf("dist-tag %s points at %s, want %s", w.Tag, got, w.Version))
	}
	return s
}

// Poll bounds the waiting of Await.
type Poll struct {
	Initial time.Duration // first wait; 0 means 1 s
	Max     time.Duration // longest wait; 0 means 30 s
	Timeout time.Duration // time to wait in all; 0 means 5 min
	// Deadline, if set, is a time no wait may end after, whatever Timeout
	// says: the budget of a whole release (FACET_WAIT).
	Deadline time.Time
	// Sleep waits for d or until ctx ends; nil waits on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notify, if set, hears which packages are still pending before each wait.
	Notify func(pending []Status, wait time.Duration)
	// Rand returns a number in [0, 1) for the jitter; nil means math/rand.
	Rand func() float64
}

// Await checks every want at once, then checks again only those that may yet
// change (see Status.Final), with exponential backoff and jitter, until every
// one is as wanted or final, or the time is up (no read outlasts it). It
// returns the last status of each, in the order of wants.
func (c *Client) Await(ctx context.Context, wants []Want, p Poll) []Status {
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 5 * time.Minute
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Sleep == nil {
		p.Sleep = retry.Sleep
	}
	b := retry.Backoff{Initial: p.Initial, Max: p.Max, Rand: p.Rand}
	deadline := p.Now().Add(p.Timeout)
	if !p.Deadline.IsZero() && p.Deadline.Before(deadline) {
		deadline = p.Deadline
	}
	// No read's retries outlast the time either.
	c = c.until(deadline)

	out := make([]Status, len(wants))
	pending := make([]int, len(wants))
	for i := range wants {
		pending[i] = i
	}
	for round := 1; ; round++ {
		var wg sync.WaitGroup
		for _, i := range pending {
			wg.Go(func() { out[i] = c.Check(ctx, wants[i]) })
		}
		wg.Wait()
		pending = slices.DeleteFunc(pending, func(i int) bool { return out[i].OK() || out[i].Final })
		if len(pending) == 0 || ctx.Err() != nil {
			return out
		}
		wait := b.Delay(round)
		if p.Now().Add(wait).After(deadline) {
			return out
		}
		if p.Notify != nil {
			var still []Status
			for _, i := range pending {
				still = append(still, out[i])
			}
			p.Notify(still, wait)
		}
		if p.Sleep(ctx, wait) != nil {
			return out
		}
	}
}

// Newer reports whether version a is a semantic version newer than b; false
// when either is not one.
func Newer(a, b string) bool {
	va, err := semver.StrictNewVersion(a)
	if err != nil {
		return false
	}
	vb, err := semver.StrictNewVersion(b)
	if err != nil {
		return false
	}
	return va.GreaterThan(vb)
}

// until is c with retries that end by deadline.
func (c *Client) until(deadline time.Time) *Client {
	cc := *c
	if cc.Retry.Deadline.IsZero() || deadline.Before(cc.Retry.Deadline) {
		cc.Retry.Deadline = deadline
	}
	return &cc
}

// short abbreviates an integrity for a message.
func short(integrity string) string {
	if len(integrity) > 20 {
		return integrity[:20] + "…"
	}
	if integrity == "" {
		return "(none)"
	}
	return integrity
}

// depsDiff says how dependencies have differ from want.
func depsDiff(have, want map[string]string) string {
	var diffs []string
	for name, v := range want {
		switch hv, ok := have[name]; {
		case !ok:
			diffs = append(diffs, "missing "+name+"@"+v)
		case hv != v:
			diffs = append(diffs, fmt.Sprintf("%s@%s, want %s", name, hv, v))
		}
	}
	for name, v := range have {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, "stray "+name+"@"+v)
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}
