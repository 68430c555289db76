package registrytest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// SetCDN puts a CDN in front of the package documents, as the public
// registry has one: a plain GET of a package document is answered from a
// copy up to maxAge old on the stand-in's clock (Options.Now), with
// "Cache-Control: public, max-age=<seconds>" and an Age header. A publish
// does not purge the copy, and a request's own "Cache-Control: no-cache" does
// not get past it (canonical/pragma PR #1097 saw both on npmjs.com). The
// origin is read with ?write=true, uncached. Copies are kept by path and
// Accept header (npm asks for the abbreviated document), 404s too. 0, the
// default, turns the CDN off: Verdaccio sends no Cache-Control of its own.
func (s *Server) SetCDN(maxAge time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cdnMaxAge = maxAge
	s.cdn = map[string]cdnCopy{}
}

// CDNHits is how many plain reads the CDN answered from a copy.
func (s *Server) CDNHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cdnHits
}

// cdnCopy is an answer the CDN keeps.
type cdnCopy struct {
	status int
	header http.Header
	body   []byte
	at     time.Time // when it was fetched from the origin
}

// cached reports whether r is a read the CDN answers: a GET or HEAD of a
// package document, not of the origin.
func (s *Server) cached(r *http.Request, pkg string) bool {
	s.mu.Lock()
	on := s.cdnMaxAge > 0
	s.mu.Unlock()
	if !on || pkg == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.URL.Query().Get("write") == "true" {
		return false
	}
	// A document is one name: "name", "@scope%2fname" or "@scope/name";
	// not a tarball, not the API under /-/.
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	return segs[0] != "-" && (len(segs) == 1 || (len(segs) == 2 && strings.HasPrefix(segs[0], "@")))
}

// serveCDN answers a plain read of a package document from the CDN's copy,
// fetching a new one from the origin when the copy is older than max-age.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.EscapedPath() + "\x00" + r.Header.Get("Accept")
	now := s.now()
	s.mu.Lock()
	maxAge := s.cdnMaxAge
	c, ok := s.cdn[key]
	fresh := ok && now.Sub(c.at) < maxAge
	if fresh {
		s.cdnHits++
	}
	s.mu.Unlock()
	if !fresh {
		// The CDN asks the origin as it was asked: its own request headers
		// do not reach the origin's cache logic, there is none.
		origin := r.Clone(r.Context())
		origin.Header.Del("Cache-Control")
		origin.Header.Del("Pragma")
		origin.Header.Del("If-None-Match")
		origin.Header.Del("If-Modified-Since")
		rec := httptest.NewRecorder()
		s.proxy.ServeHTTP(rec, origin)
		c = cdnCopy{status: rec.Code, header: rec.Header().Clone(), body: rec.Body.Bytes(), at: now}
		if c.status == http.StatusOK || c.status == http.StatusNotFound {
			s.mu.Lock()
			if s.cdn != nil {
				s.cdn[key] = c
			}
			s.mu.Unlock()
		}
	}
	for k, v := range c.header {
		if !strings.EqualFold(k, "Cache-Control") && !strings.EqualFold(k, "Age") && !strings.EqualFold(k, "Content-Length") &&
			!strings.EqualFold(k, "Date") && !strings.EqualFold(k, "ETag") && !strings.EqualFold(k, "Last-Modified") {
			w.Header()[k] = v
		}
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	w.Header().Set("Age", strconv.Itoa(int(now.Sub(c.at)/time.Second)))
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	w.WriteHeader(c.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(c.body)
	}
}
