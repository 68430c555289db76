package npm

import "regexp"

// Staged is a staged version of a package, as npm stage list --json prints
// it and the registry's GET /-/stage lists it: uploaded with npm stage
// publish, installable by nobody until a maintainer approves it.
type Staged struct {
	ID          string `json:"id"` // the stage id, a UUID
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
	Tag         string `json:"tag"`       // the dist-tag approval sets
	CreatedAt   string `json:"createdAt"` // RFC 3339
	Actor       string `json:"actor"`
	ActorType   string `json:"actorType"` // "oidc" or "user"
	Shasum      string `json:"shasum"`    // sha1 of the tarball, hex
	Integrity   string `json:"integrity"` // sha512-<base64> of the tarball
}

// stagedLine is npm stage publish's line for a staged version (npm 11.19.1,
// lib/commands/publish.js): "+ <name>@<version> (staged with id <uuid>)".
var stagedLine = regexp.MustCompile(`(?m)^\+ \S+@\S+ \(staged with id ([0-9A-Za-z-]+)\)\s*$`)

// ParseStaged returns the stage id from npm stage publish's output: its
// "+ <name>@<version> (staged with id <uuid>)" line. ok is false when there
// is no such line (npm prints "(staged)" alone when the registry gave no
// id).
func ParseStaged(out string) (id string, ok bool) {
	m := stagedLine.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}
