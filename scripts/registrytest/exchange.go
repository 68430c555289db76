package registrytest

import "net/http"

// exchange is the OIDC token exchange's configuration.
type exchange struct{}

// serveExchange plays npm's OIDC token exchange.
func (s *Server) serveExchange(w http.ResponseWriter, r *http.Request, pkg string) {
	writeError(w, http.StatusNotFound, "OIDC token exchange is not configured")
}

// servePublish passes a publish through.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request, pkg string) {
	s.proxy.ServeHTTP(w, r)
}
