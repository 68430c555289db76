package registrytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Staged publishing, as npm 11.19.1 drives it (lib/commands/stage/*.js,
// libnpmpublish's publish with opts.stage): a version is uploaded, kept
// apart from the registry where nobody can install it, and published only
// when a maintainer approves it with a second factor. The stand-in keeps
// staged versions in its memory; the registry behind sees nothing of them
// until one is approved, so that packuments and tarball downloads never show
// a staged version.

// stagePath is the root of the stage API.
const stagePath = "/-/stage"

// maxStageBody is the largest stage request the stand-in takes: npm posts
// the tarball in it, in base64, and a platform package holds a binary of
// some megabytes.
const maxStageBody = 128 << 20

// StagePlaceholder is the version the stand-in publishes, public, of a name
// the registry does not have yet when one of its versions is staged, as
// npmjs.com does.
const StagePlaceholder = "0.0.0-stage"

// StagedItem is one staged version, as npm's stage API answers it (npm stage
// list --json and npm stage view --json print these).
type StagedItem struct {
	ID          string `json:"id"` // a random (version 4) UUID
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
	Tag         string `json:"tag"`       // the dist-tag it gets once approved
	CreatedAt   string `json:"createdAt"` // RFC 3339, on the stand-in's clock
	// Actor is who staged it: the user, or for a token from the OIDC
	// exchange the trusted publisher's provider ("circleci").
	Actor     string `json:"actor"`
	ActorType string `json:"actorType"` // "user" or "oidc"
	Shasum    string `json:"shasum"`    // sha1 of the tarball, hex
	// Integrity is sha512-<base64> of the tarball; OmitStagedIntegrity
	// leaves it out of the answers, as npm does not document it.
	Integrity string `json:"integrity,omitempty"`
}

// The actor types of a StagedItem.
const (
	ActorUser = "user"
	ActorOIDC = "oidc"
)

// stagedVersion is a staged version and what approving it publishes.
type stagedVersion struct {
	StagedItem
	doc        map[string]json.RawMessage // the publish body npm posted
	attachment string                     // the tarball's key in doc's _attachments
	tgz        []byte
	approving  bool // an approval is publishing it
}

// Staged returns every staged version, oldest first.
func (s *Server) Staged() []StagedItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]StagedItem, len(s.staged))
	for i, v := range s.staged {
		items[i] = v.StagedItem
	}
	return items
}

// ReplaceStagedTarball swaps the tarball of the staged version id for tgz,
// with the shasum and integrity that go with it: a registry that changed a
// staged version between its staging and its approval. What npm stage
// download fetches, and what approving it publishes, is tgz from then on.
func (s *Server) ReplaceStagedTarball(id string, tgz []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.stagedByID(id)
	if v == nil {
		return fmt.Errorf("registrytest: no staged version %q", id)
	}
	v.tgz = bytes.Clone(tgz)
	v.Shasum, v.Integrity = sums(tgz)
	return nil
}

// OmitStagedIntegrity makes the stage API's list and view answers leave
// out each item's integrity (omit true) or give it (false, the default).
// npm documents only shasum of a staged item (lib/utils/key-values.js
// logStageItem; the list); a registry that gives no integrity is
// one a client must cope with. Staged keeps the integrity either way.
func (s *Server) OmitStagedIntegrity(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitStagedIntegrity = omit
}

// ReplaceStagedManifest lets edit change the manifest of the staged
// version id, its versions[<version>] in the publish body npm posted, the
// tarball left as it is: a body crafted so that what approving publishes
// (and what npm installs from) is not the tarball's package.json. edit must
// leave it JSON; its name and version stay the item's.
func (s *Server) ReplaceStagedManifest(id string, edit func(manifest map[string]any)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.stagedByID(id)
	if v == nil {
		return fmt.Errorf("registrytest: no staged version %q", id)
	}
	var versions map[string]map[string]any
	if err := json.Unmarshal(v.doc["versions"], &versions); err != nil {
		return fmt.Errorf("registrytest: staged version %q: %w", id, err)
	}
	edit(versions[v.Version])
	raw, err := json.Marshal(versions)
	if err != nil {
		return fmt.Errorf("registrytest: staged version %q: %w", id, err)
	}
	doc := maps.Clone(v.doc)
	doc["versions"] = raw
	v.doc = doc
	return nil
}

// answered is item as the stage API answers it; s.mu is held.
func (s *Server) answered(item StagedItem) StagedItem {
	if s.omitStagedIntegrity {
		item.Integrity = ""
	}
	return item
}

// stagedByID finds the staged version id; s.mu is held.
func (s *Server) stagedByID(id string) *stagedVersion {
	i := slices.IndexFunc(s.staged, func(v *stagedVersion) bool { return v.ID == id })
	if i < 0 {
		return nil
	}
	return s.staged[i]
}

// isStage says whether an escaped path is the stage API's.
func isStage(path string) bool {
	return path == stagePath || strings.HasPrefix(path, stagePath+"/")
}

// stagedPackageOf is the package a request to the stage API that does not
// name it in its path concerns: the listing's package query, or the package
// of the staged version whose id the path holds. It is "" for anything else.
func (s *Server) stagedPackageOf(r *http.Request) string {
	path := r.URL.EscapedPath()
	if !isStage(path) {
		return ""
	}
	if path == stagePath {
		return r.URL.Query().Get("package")
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(path, stagePath+"/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.stagedByID(id); v != nil {
		return v.PackageName
	}
	return ""
}

// serveStage is npm's stage API:
//
//	POST   /-/stage/package/<name>   stage: npm's publish body → 201 {"stageId"}
//	GET    /-/stage?page=&perPage=&package=   list → {"items","total"}
//	GET    /-/stage/<id>             view → the item
//	GET    /-/stage/<id>/tarball     download → the tarball
//	POST   /-/stage/<id>/approve     publish it → 200 {}
//	DELETE /-/stage/<id>             reject → 200 {}
//
// Staging takes a logged-in user's token (with no second factor: npm stages
// without otplease) or a token from the OIDC exchange for that package whose
// trusted publisher may stage (StagePermission; otherwise 403 "OIDC
// permission denied for this action", as a publish without PublishPermission
// is). The reads take a user or a token from the exchange (its package's
// only; another package is 403). A user stages, sees, approves and rejects
// only the staged versions of packages they maintain (maintains; another
// package is 403, and the listing leaves its items out), as on npmjs.com,
// where only a package's maintainers see what is staged of it. Approving and
// rejecting take a user and a second factor (secondFactor: 401 with
// WWW-Authenticate: OTP, which npm answers with a one-time password or the
// web login); a token from the exchange is 403. No login is 401, an unknown
// id 404.
//
// The details of each are on stagePublish, stageList, approveStaged and
// rejectStaged.
func (s *Server) serveStage(w http.ResponseWriter, r *http.Request, pkg string) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), stagePath), "/")
	if strings.HasPrefix(rest, "package/") {
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path)
			return
		}
		s.stagePublish(w, r, pkg)
		return
	}
	id, action, _ := strings.Cut(rest, "/")
	switch {
	case id == "" && r.Method == http.MethodGet:
		s.stageList(w, r)
	case id != "" && action == "" && r.Method == http.MethodGet:
		s.stageRead(w, r, id, false)
	case id != "" && action == "tarball" && r.Method == http.MethodGet:
		s.stageRead(w, r, id, true)
	case id != "" && action == "approve" && r.Method == http.MethodPost:
		s.approveStaged(w, r, id)
	case id != "" && action == "" && r.Method == http.MethodDelete:
		s.rejectStaged(w, r, id)
	default:
		writeError(w, http.StatusNotFound, "no such stage API: "+r.Method+" "+r.URL.Path)
	}
}

// stageAuth is who sends a request to the stage API: a logged-in user, or a
// token from the OIDC exchange.
type stageAuth struct {
	user  string
	grant *grant
}

// stageAuthOf finds who sends r. If no one it knows, or a token from the
// exchange that has expired, it has answered 401.
func (s *Server) stageAuthOf(w http.ResponseWriter, r *http.Request) (stageAuth, bool) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	var g grant
	var ok bool
	if s.exchange != nil && token != "" {
		g, ok = s.exchange.grants[token]
	}
	s.mu.Unlock()
	if ok {
		if time.Now().After(g.expires) {
			writeError(w, http.StatusUnauthorized, "the token has expired")
			return stageAuth{}, false
		}
		return stageAuth{grant: &g}, true
	}
	user, err := s.user(r.Context(), r)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return stageAuth{}, false
	}
	if user == "" {
		writeError(w, http.StatusUnauthorized, "You must be logged in to use staged publishing")
		return stageAuth{}, false
	}
	return stageAuth{user: user}, true
}

// stagePublish stages the version npm posts, with its tarball in base64, in
// the body of a publish (one version, one tarball, its dist-tag). A body
// that is not one is 400, a larger one than maxStageBody 413. A version the
// registry behind has is 403 "You cannot publish over the previously
// published versions: X." (checked again on approval). For a name the
// registry does not have, the stand-in first publishes a public
// StagePlaceholder of it there, as the user staging it or with the upstream
// token. Staging the same version again makes a second staged version with
// an id of its own.
func (s *Server) stagePublish(w http.ResponseWriter, r *http.Request, pkg string) {
	// A stage the registry has whole is carried out, whether or not its
	// client waits for the answer, as a publish is.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	auth, ok := s.stageAuthOf(w, r)
	if !ok {
		return
	}
	if g := auth.grant; g != nil {
		switch {
		case g.pkg != pkg:
			writeError(w, http.StatusForbidden, fmt.Sprintf("this token may stage %s, not %s", g.pkg, pkg))
			return
		case !slices.Contains(g.permissions, StagePermission):
			// A publisher that may only publish; npm prints "403 Forbidden -
			// POST <url> - OIDC permission denied for this action".
			writeError(w, http.StatusForbidden, "OIDC permission denied for this action")
			return
		}
	}
	body, err := readBodyLimit(r, maxStageBody)
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a stage request may be at most %d MB", maxStageBody>>20))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, err := parseStageBody(body, pkg)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	versions, exists, err := s.upstreamVersions(r.Context(), pkg)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if slices.Contains(versions, v.Version) {
		writeError(w, http.StatusForbidden, publishedOver(v.Version))
		return
	}
	if !exists {
		if err := s.publishPlaceholder(r, pkg); err != nil {
			writeError(w, http.StatusBadGateway, err.Error())
			return
		}
		if auth.user != "" {
			s.mu.Lock()
			if _, ok := s.maintainers[pkg]; !ok {
				s.maintainers[pkg] = auth.user // the first to stage it made it
			}
			s.mu.Unlock()
		}
	}
	if !s.mayMaintain(w, r, auth, pkg, "stage") {
		return
	}
	v.ID = newID()
	v.CreatedAt = s.now().UTC().Format(time.RFC3339)
	v.Actor, v.ActorType = auth.user, ActorUser
	if auth.grant != nil {
		v.Actor, v.ActorType = auth.grant.provider, ActorOIDC
	}
	s.mu.Lock()
	s.staged = append(s.staged, v)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"stageId": v.ID})
}

// publishedOver is npm's refusal of a version the registry has.
func publishedOver(version string) string {
	return "You cannot publish over the previously published versions: " + version + "."
}

// parseStageBody reads npm's publish body for pkg into a staged version
// (without id, date or actor).
func parseStageBody(body []byte, pkg string) (*stagedVersion, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("the body is not npm's publish document: %w", err)
	}
	var name string
	var versions map[string]struct {
		Dist struct {
			Integrity string `json:"integrity"`
		} `json:"dist"`
	}
	var tags map[string]string
	var attachments map[string]struct {
		Data string `json:"data"`
	}
	for key, into := range map[string]any{"name": &name, "versions": &versions, "dist-tags": &tags, "_attachments": &attachments} {
		if err := json.Unmarshal(doc[key], into); err != nil {
			return nil, fmt.Errorf("the publish document's %s: %w", key, err)
		}
	}
	if name != pkg {
		return nil, fmt.Errorf("the publish document is of %q, not of %q", name, pkg)
	}
	if len(versions) != 1 {
		return nil, fmt.Errorf("stage one version at a time, not %d", len(versions))
	}
	v := &stagedVersion{doc: doc, StagedItem: StagedItem{PackageName: pkg}}
	for version := range versions {
		v.Version = version
	}
	for tag, version := range tags {
		if version == v.Version {
			v.Tag = tag
		}
	}
	if v.Tag == "" {
		return nil, fmt.Errorf("no dist-tag names version %s", v.Version)
	}
	for key := range attachments {
		if strings.HasSuffix(key, ".tgz") {
			if v.attachment != "" {
				return nil, errors.New("more than one tarball attached")
			}
			v.attachment = key
		}
	}
	if v.attachment == "" {
		return nil, errors.New("no tarball attached")
	}
	tgz, err := base64.StdEncoding.DecodeString(attachments[v.attachment].Data)
	if err != nil {
		return nil, fmt.Errorf("the tarball %s is not base64: %w", v.attachment, err)
	}
	v.tgz = tgz
	v.Shasum, v.Integrity = sums(tgz)
	if want := versions[v.Version].Dist.Integrity; want != "" && want != v.Integrity {
		return nil, fmt.Errorf("the tarball's integrity is %s, not %s as its manifest says", v.Integrity, want)
	}
	return v, nil
}

// publishBody is the publish that approving v sends to the registry behind:
// npm's body, with v's tarball (ReplaceStagedTarball may have swapped it)
// and the dist that goes with it.
func (v *stagedVersion) publishBody() ([]byte, error) {
	doc := make(map[string]json.RawMessage, len(v.doc))
	for k, val := range v.doc {
		doc[k] = val
	}
	var versions map[string]map[string]json.RawMessage
	if err := json.Unmarshal(doc["versions"], &versions); err != nil {
		return nil, err
	}
	manifest := versions[v.Version]
	dist := map[string]json.RawMessage{}
	if raw, ok := manifest["dist"]; ok {
		if err := json.Unmarshal(raw, &dist); err != nil {
			return nil, err
		}
	}
	for key, val := range map[string]string{"shasum": v.Shasum, "integrity": v.Integrity} {
		raw, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		dist[key] = raw
	}
	var err error
	if manifest["dist"], err = json.Marshal(dist); err != nil {
		return nil, err
	}
	if doc["versions"], err = json.Marshal(versions); err != nil {
		return nil, err
	}
	attachments := map[string]any{v.attachment: map[string]any{
		"content_type": "application/octet-stream",
		"data":         base64.StdEncoding.EncodeToString(v.tgz),
		"length":       len(v.tgz),
	}}
	if doc["_attachments"], err = json.Marshal(attachments); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// publishPlaceholder publishes a public StagePlaceholder of pkg to the
// registry behind, for a name staged before it exists: with the upstream
// token, or else as the user of r. Another stage that published it first is
// no failure.
func (s *Server) publishPlaceholder(r *http.Request, pkg string) error {
	body, err := minimalPublish(pkg, StagePlaceholder, "latest", "a placeholder for a package with staged versions", s.URL)
	if err != nil {
		return err
	}
	auth := r.Header.Get("Authorization")
	if s.upstreamToken != "" {
		auth = "Bearer " + s.upstreamToken
	}
	status, msg := s.publishUpstream(r, pkg, body, auth)
	if status == http.StatusCreated || status == http.StatusOK {
		return nil
	}
	if exists, err := s.upstreamExists(r.Context(), pkg); err == nil && exists {
		return nil
	}
	return fmt.Errorf("publishing the placeholder %s@%s: %d %s", pkg, StagePlaceholder, status, strings.TrimSpace(string(msg)))
}

// publishUpstream publishes body (npm's publish document) of pkg to the
// registry behind with the Authorization auth, as a PUT through the
// stand-in is (dated on a virtual clock, the CDN's copies left as they
// are), and returns the registry's status and answer. r is the request
// that leads to it, for its context and host.
func (s *Server) publishUpstream(r *http.Request, pkg string, body []byte, auth string) (int, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPut, "http://"+r.Host+"/"+escapeName(pkg), bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	s.dated(rec, req, pkg, func(w http.ResponseWriter, r *http.Request, _ string) { s.proxy.ServeHTTP(w, r) })
	return rec.Code, rec.Body.Bytes()
}

// upstreamVersions are the versions of pkg the registry behind has, and
// whether it has pkg at all.
func (s *Server) upstreamVersions(ctx context.Context, pkg string) ([]string, bool, error) {
	u := s.upstream.JoinPath()
	u.RawPath = "/" + escapeName(pkg)
	u.Path = "/" + pkg
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, false, nil
	case http.StatusOK:
	default:
		return nil, false, fmt.Errorf("upstream: %s", resp.Status)
	}
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, false, fmt.Errorf("upstream: reading %s's document: %w", pkg, err)
	}
	var versions []string
	for v := range doc.Versions {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions, true, nil
}

// stageList lists staged versions, oldest first, a page at a time: page
// counts from 0 (npm's first), perPage from 1 to 100 (100 by default), and
// total is how many there are in all. package narrows the list to one
// package; a token from the exchange sees its own package's only, and
// asking for another package with one is 403; a user sees the packages they
// maintain only, and asking for another is 403. Bad paging is 400.
func (s *Server) stageList(w http.ResponseWriter, r *http.Request) {
	auth, ok := s.stageAuthOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	page, perPage := 0, 100
	var err error
	if p := q.Get("page"); p != "" {
		if page, err = strconv.Atoi(p); err != nil || page < 0 {
			writeError(w, http.StatusBadRequest, "page must be a whole number from 0")
			return
		}
	}
	if p := q.Get("perPage"); p != "" {
		if perPage, err = strconv.Atoi(p); err != nil || perPage < 1 || perPage > 100 {
			writeError(w, http.StatusBadRequest, "perPage must be a whole number from 1 to 100")
			return
		}
	}
	pkg := q.Get("package")
	if g := auth.grant; g != nil {
		if pkg != "" && pkg != g.pkg {
			writeError(w, http.StatusForbidden, fmt.Sprintf("this token may read the staged versions of %s, not of %s", g.pkg, pkg))
			return
		}
		pkg = g.pkg
	}
	if auth.user != "" && pkg != "" && !s.mayMaintain(w, r, auth, pkg, "list the staged versions of") {
		return
	}
	var items []StagedItem
	mine := map[string]bool{} // by package, for a user
	for _, item := range s.Staged() {
		if pkg != "" && item.PackageName != pkg {
			continue
		}
		if auth.user != "" {
			ok, seen := mine[item.PackageName]
			if !seen {
				var err error
				if ok, err = s.maintains(r.Context(), auth.user, item.PackageName); err != nil {
					writeError(w, http.StatusBadGateway, err.Error())
					return
				}
				mine[item.PackageName] = ok
			}
			if !ok {
				continue // another's package: not shown
			}
		}
		s.mu.Lock()
		items = append(items, s.answered(item))
		s.mu.Unlock()
	}
	total := len(items)
	from := min(page*perPage, total)
	to := min(from+perPage, total)
	writeJSON(w, http.StatusOK, map[string]any{"items": append([]StagedItem{}, items[from:to]...), "total": total})
}

// stageRead answers the staged version id (GET /-/stage/<id>), or its
// tarball's bytes (GET /-/stage/<id>/tarball), to whoever may list it.
func (s *Server) stageRead(w http.ResponseWriter, r *http.Request, id string, tarball bool) {
	auth, ok := s.stageAuthOf(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	var item StagedItem
	var tgz []byte
	v := s.stagedByID(id)
	if v != nil {
		item, tgz = s.answered(v.StagedItem), v.tgz
	}
	s.mu.Unlock()
	switch {
	case v == nil:
		writeError(w, http.StatusNotFound, "no staged package "+id)
		return
	case auth.grant != nil && auth.grant.pkg != item.PackageName:
		writeError(w, http.StatusForbidden, fmt.Sprintf("this token may read the staged versions of %s, not of %s", auth.grant.pkg, item.PackageName))
		return
	case !s.mayMaintain(w, r, auth, item.PackageName, "read the staged versions of"):
		return
	case !tarball:
		writeJSON(w, http.StatusOK, item)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(tgz)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(tgz)
}

// maintainer checks that r comes from a logged-in user who maintains the
// package of the staged version id (when the registry has it) with a second
// factor, as approving and rejecting need; if not, it has answered (401, or
// 403 for a token from the OIDC exchange or another user).
func (s *Server) maintainer(w http.ResponseWriter, r *http.Request, id, what string) bool {
	auth, ok := s.stageAuthOf(w, r)
	if !ok {
		return false
	}
	if auth.grant != nil {
		writeError(w, http.StatusForbidden, "an OIDC token cannot "+what+" a staged package: a maintainer does, with two-factor authentication")
		return false
	}
	s.mu.Lock()
	pkg := ""
	if v := s.stagedByID(id); v != nil {
		pkg = v.PackageName
	}
	s.mu.Unlock()
	if pkg != "" && !s.mayMaintain(w, r, auth, pkg, what+" the staged versions of") {
		return false
	}
	return s.secondFactor(w, r)
}

// maintains reports whether user maintains pkg: the user whose stage made it
// (its placeholder), or, for any other package, the user of the upstream
// token. Verdaccio records no maintainer of a package (neither does npm's
// publish body name one), and the bed's user, whose token that is, publishes
// every package of the bed; without an upstream token no one does.
func (s *Server) maintains(ctx context.Context, user, pkg string) (bool, error) {
	s.mu.Lock()
	m, ok := s.maintainers[pkg]
	s.mu.Unlock()
	if ok {
		return m == user, nil
	}
	if s.upstreamToken == "" {
		return false, nil
	}
	owner, err := s.userOf(ctx, "Bearer "+s.upstreamToken)
	return owner != "" && owner == user, err
}

// mayMaintain checks that auth, when a user, maintains pkg, to do what; if
// not, it has answered 403 (or 502 if the upstream could not say).
func (s *Server) mayMaintain(w http.ResponseWriter, r *http.Request, auth stageAuth, pkg, what string) bool {
	if auth.user == "" {
		return true // a token from the exchange: its grant says
	}
	ok, err := s.maintains(r.Context(), auth.user, pkg)
	switch {
	case err != nil:
		writeError(w, http.StatusBadGateway, err.Error())
		return false
	case !ok:
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is not a maintainer of %s and may not %s it", auth.user, pkg, what))
		return false
	}
	return true
}

// approveStaged publishes the staged version id to the registry behind, as
// its user's publish through the stand-in would be (see publishUpstream),
// and forgets it: 200 {}. An unknown id is 404, one being approved 409. A
// version the registry has meanwhile is 403 "You cannot publish over …", and
// another refusal of the registry is passed on; either way the staged
// version stays.
func (s *Server) approveStaged(w http.ResponseWriter, r *http.Request, id string) {
	r = r.WithContext(context.WithoutCancel(r.Context()))
	if !s.maintainer(w, r, id, "approve") {
		return
	}
	s.mu.Lock()
	v := s.stagedByID(id)
	switch {
	case v == nil:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "no staged package "+id)
		return
	case v.approving:
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "staged package "+id+" is being approved")
		return
	}
	v.approving = true
	body, err := v.publishBody()
	pkg, version := v.PackageName, v.Version
	s.mu.Unlock()
	status, msg := http.StatusInternalServerError, []byte(nil)
	if err == nil {
		var versions []string
		versions, _, err = s.upstreamVersions(r.Context(), pkg)
		switch {
		case err != nil:
			status = http.StatusBadGateway
		case slices.Contains(versions, version):
			status, err = http.StatusForbidden, errors.New(publishedOver(version))
		default:
			status, msg = s.publishUpstream(r, pkg, body, r.Header.Get("Authorization"))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v.approving = false
	switch {
	case err != nil:
		writeError(w, status, err.Error())
	case status == http.StatusConflict: // the registry's word for a version it has
		writeError(w, http.StatusForbidden, publishedOver(version))
	case status != http.StatusCreated && status != http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(msg)
	default:
		s.staged = slices.DeleteFunc(s.staged, func(x *stagedVersion) bool { return x == v })
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}

// rejectStaged forgets the staged version id: 200 {}. An unknown id is 404,
// one being approved 409.
func (s *Server) rejectStaged(w http.ResponseWriter, r *http.Request, id string) {
	if !s.maintainer(w, r, id, "reject") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.stagedByID(id)
	switch {
	case v == nil:
		writeError(w, http.StatusNotFound, "no staged package "+id)
	case v.approving:
		writeError(w, http.StatusConflict, "staged package "+id+" is being approved")
	default:
		s.staged = slices.DeleteFunc(s.staged, func(x *stagedVersion) bool { return x == v })
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}
