package registry

import "time"

// CDNMargin is added to a CDN's max-age: the time between a publish and a
// copy of the document the CDN may have fetched just before it showed it.
const CDNMargin = 5 * time.Second

// CDNClear is when the CDN in front of the registry, keeping documents up to
// maxAge (Packument.MaxAge of a Served read), can no longer serve a copy of
// any of shown's documents made before its version was published: maxAge and
// CDNMargin after the last publish. It returns that time and the package
// published last.
//
// The registry stamps a version's time before its document shows it, so a
// copy made in between lives maxAge past the stamp: a version's publish time
// is the later of the registry's (Status.PublishedAt) and done[i], when the
// caller saw it done (zero: not known); when neither is known, now.
func CDNClear(shown []Status, done []time.Time, maxAge time.Duration, now time.Time) (time.Time, string) {
	var last time.Time
	lastName := ""
	for i, s := range shown {
		at := s.PublishedAt
		if i < len(done) && done[i].After(at) {
			at = done[i]
		}
		if at.IsZero() {
			at = now
		}
		// Not After: of packages published at the same time, the last in
		// shown's order is named, as it is the last one the caller saw done.
		if !at.Before(last) {
			last, lastName = at, s.Name
		}
	}
	return last.Add(maxAge + CDNMargin), lastName
}
