package registrytest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Trust is one trusted-publisher configuration of a package, as npm's API
// has it (GET|POST /-/package/<name>/trust).
type Trust struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"` // "circleci", "github", "gitlab"
	Claims      map[string]any `json:"claims"`
	Permissions []string       `json:"permissions,omitempty"` // PublishPermission, StagePermission
}

// The permissions of a trusted publisher, as npm's API names them. Since
// 2026-09-03 npmjs.com makes a publisher without PublishPermission stage-only:
// its ID tokens are exchanged all the same, and a publish with the npm token
// is refused with 403 "OIDC permission denied for this action". A publisher
// cannot be edited, only replaced.
const (
	PublishPermission = "createPackage"       // npm publish
	StagePermission   = "createStagedPackage" // npm stage publish
)

// Claims of CircleCI's ID tokens; the first five (and context-ids) are what a
// trusted publisher matches.
const (
	ClaimOrgID                = "oidc.circleci.com/org-id"
	ClaimProjectID            = "oidc.circleci.com/project-id"
	ClaimPipelineDefinitionID = "oidc.circleci.com/pipeline-definition-id"
	ClaimVCSOrigin            = "oidc.circleci.com/vcs-origin"
	ClaimContextIDs           = "oidc.circleci.com/context-ids" // an array
	ClaimSSHRerun             = "oidc.circleci.com/ssh-rerun"   // a bool
	ClaimVCSRef               = "oidc.circleci.com/vcs-ref"     // refs/heads/<branch>, refs/tags/<tag>
	ClaimPipelineID           = "oidc.circleci.com/pipeline-id"
	ClaimWorkflowID           = "oidc.circleci.com/workflow-id"
	ClaimJobID                = "oidc.circleci.com/job-id"
)

// requiredCircleCIClaims must be in every CircleCI configuration.
var requiredCircleCIClaims = []string{ClaimOrgID, ClaimProjectID, ClaimPipelineDefinitionID, ClaimVCSOrigin}

// SetTrust replaces the trusted publishers of pkg, as if configured on the
// website; an empty ID gets one.
func (s *Server) SetTrust(pkg string, configs ...Trust) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range configs {
		if configs[i].ID == "" {
			configs[i].ID = newID()
		}
	}
	s.trust[pkg] = configs
}

// TrustOf returns the trusted publishers of pkg.
func (s *Server) TrustOf(pkg string) []Trust {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.trust[pkg])
}

// serveTrust is npm's trusted-publisher API:
//
//	GET    /-/package/<name>/trust        the configurations, a JSON array
//	POST   /-/package/<name>/trust        create from a JSON array of one; 409 if one exists
//	DELETE /-/package/<name>/trust/<id>   revoke
//
// Each needs a logged-in user (a bearer token the registry behind accepts) and
// a second factor (secondFactor: an authenticator's code or a web login's
// token in the npm-otp header; 401 with WWW-Authenticate: OTP otherwise); a
// package the registry does not have is 404.
func (s *Server) serveTrust(w http.ResponseWriter, r *http.Request, pkg string) {
	user, err := s.user(r.Context(), r)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if user == "" {
		writeError(w, http.StatusUnauthorized, "You must be logged in to manage trusted publishers")
		return
	}
	if !s.secondFactor(w, r) {
		return
	}
	exists, err := s.upstreamExists(r.Context(), pkg)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if !exists {
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	_, tail, _ := strings.Cut(r.URL.EscapedPath(), "/trust")
	id := strings.TrimPrefix(tail, "/")
	switch {
	case r.Method == http.MethodGet && id == "":
		s.mu.Lock()
		configs := slices.Clone(s.trust[pkg])
		s.mu.Unlock()
		if configs == nil {
			configs = []Trust{}
		}
		writeJSON(w, http.StatusOK, configs)
	case r.Method == http.MethodPost && id == "":
		s.createTrust(w, r, pkg)
	case r.Method == http.MethodDelete && id != "":
		s.mu.Lock()
		defer s.mu.Unlock()
		i := slices.IndexFunc(s.trust[pkg], func(t Trust) bool { return t.ID == id })
		if i < 0 {
			writeError(w, http.StatusNotFound, "no trusted publisher "+id)
			return
		}
		s.trust[pkg] = slices.Delete(s.trust[pkg], i, i+1)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path)
	}
}

// createTrust handles the POST: one configuration per package, kept as
// posted, its permissions among it (npm trust … --allow-publish posts
// [PublishPermission]; without it, the publisher may only stage).
func (s *Server) createTrust(w http.ResponseWriter, r *http.Request, pkg string) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var configs []Trust
	if err := json.Unmarshal(body, &configs); err != nil || len(configs) != 1 {
		writeError(w, http.StatusBadRequest, "want a JSON array of one trusted publisher configuration")
		return
	}
	c := configs[0]
	if c.Type != "circleci" {
		writeError(w, http.StatusBadRequest, "this stand-in knows only circleci trusted publishers, not "+c.Type)
		return
	}
	for _, claim := range requiredCircleCIClaims {
		if v, _ := c.Claims[claim].(string); v == "" {
			writeError(w, http.StatusBadRequest, "missing claim "+claim)
			return
		}
	}
	if len(c.Permissions) == 0 {
		writeError(w, http.StatusBadRequest, "at least one permission is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.trust[pkg]) > 0 {
		writeError(w, http.StatusConflict, "a trusted publisher configuration already exists for "+pkg)
		return
	}
	c.ID = newID()
	s.trust[pkg] = []Trust{c}
	writeJSON(w, http.StatusCreated, []Trust{c})
}
