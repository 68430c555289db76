package registrytest

import (
	"net/http"
	"path"
	"strconv"
	"strings"
)

// ReplaceTarball makes the stand-in serve data instead of the published
// tarball of pkg at version, as a registry or mirror whose stored bytes were
// changed would: its packument still names the integrity of what was
// published. The returned function serves the published bytes again.
func (s *Server) ReplaceTarball(pkg, version string, data []byte) (restore func()) {
	key := pkg + "@" + version
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tarballs == nil {
		s.tarballs = map[string][]byte{}
	}
	s.tarballs[key] = data
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.tarballs, key)
	}
}

// replacedTarball returns the bytes ReplaceTarball put in place of the
// tarball a GET asks for, if any.
func (s *Server) replacedTarball(r *http.Request, pkg string) ([]byte, bool) {
	p := r.URL.EscapedPath()
	if r.Method != http.MethodGet || pkg == "" || !strings.Contains(p, "/-/") || !strings.HasSuffix(p, ".tgz") {
		return nil, false
	}
	short := pkg[strings.LastIndex(pkg, "/")+1:]
	version, ok := strings.CutPrefix(strings.TrimSuffix(path.Base(p), ".tgz"), short+"-")
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.tarballs[pkg+"@"+version]
	return data, ok
}

// serveTarball answers with the bytes of a tarball.
func serveTarball(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// hasReplacedTarball reports whether ReplaceTarball replaced the tarball a
// GET asks for.
func (s *Server) hasReplacedTarball(r *http.Request, pkg string) bool {
	_, ok := s.replacedTarball(r, pkg)
	return ok
}
