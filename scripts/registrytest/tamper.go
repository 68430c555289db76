package registrytest

import (
	"net/http"
	"path"
	"strconv"
)

// ReplaceTarball makes the stand-in serve tgz for the tarball of name at
// version, as a registry whose stored bytes were changed after the publish
// would: the package document (and its dist.integrity) stays as published,
// the download is tgz. nil serves the published bytes again.
func (s *Server) ReplaceTarball(name, version string, tgz []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replaced == nil {
		s.replaced = map[string][]byte{}
	}
	key := tarballPath(name, version)
	if tgz == nil {
		delete(s.replaced, key)
		return
	}
	s.replaced[key] = tgz
}

// tarballPath is the unescaped path of a tarball, as npm registries write
// it: "/@scope/name/-/name-1.0.0.tgz".
func tarballPath(name, version string) string {
	return "/" + name + "/-/" + path.Base(name) + "-" + version + ".tgz"
}

// serveReplaced answers a GET of a replaced tarball (ReplaceTarball) and
// reports whether it did.
func (s *Server) serveReplaced(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	s.mu.Lock()
	tgz, ok := s.replaced[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(tgz)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(tgz)
	return true
}
