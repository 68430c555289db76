package registrytest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A registry stamps each version with the time it was published (the
// document's "time"), and each answer with its Date, on its own clock. On a
// virtual clock (SetClock) the stand-in does both on that clock, as a
// registry that shares the test's time: a publish after minutes of virtual
// waiting is dated minutes later, where Verdaccio, on the real clock, would
// date it seconds later.

// notePublish records the versions a publish (its body, the document npm
// PUTs) carried as published at at, once the registry accepted it.
func (s *Server) notePublish(pkg string, body []byte, status int, at time.Time) {
	if status != http.StatusCreated && status != http.StatusOK {
		return
	}
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.published == nil {
		s.published = map[string]map[string]time.Time{}
	}
	if s.published[pkg] == nil {
		s.published[pkg] = map[string]time.Time{}
	}
	for v := range doc.Versions {
		s.published[pkg][v] = at
	}
}

// dateAnswer rewrites a package document the registry behind answered: the
// times of the versions published through the stand-in, and the Date, on
// the stand-in's clock. It does nothing on the real clock.
func (s *Server) dateAnswer(resp *http.Response) error {
	s.mu.Lock()
	virtual := s.virtualClock
	s.mu.Unlock()
	r := resp.Request
	if !virtual || r.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if segs[0] == "" || segs[0] == "-" || !(len(segs) == 1 || (len(segs) == 2 && strings.HasPrefix(segs[0], "@"))) {
		return nil
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "gzip") {
		return nil // an encoding this does not read (br): left as it is, dated by the registry
	}
	pkg := PackageOf(r.URL.EscapedPath())
	var body io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return err
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) == nil && doc["time"] != nil {
		var times map[string]string
		if json.Unmarshal(doc["time"], &times) == nil {
			s.mu.Lock()
			for v, at := range s.published[pkg] {
				if _, ok := times[v]; ok {
					times[v] = at.UTC().Format(time.RFC3339Nano)
				}
			}
			s.mu.Unlock()
			if t, err := json.Marshal(times); err == nil {
				doc["time"] = t
				if d, err := json.Marshal(doc); err == nil {
					data = d
				}
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Del("Content-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp.Header.Set("Date", s.now().UTC().Format(http.TimeFormat))
	return nil
}
