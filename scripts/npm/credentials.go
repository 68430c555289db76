package npm

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Credential is a setting of npm's that authenticates to a registry, as
// `npm config list` shows it: its key, never its value.
type Credential struct {
	// Key is the setting's name: "//npm.pkg.github.com/:_authToken" for a
	// registry, "_authToken" for none.
	Key string
	// Where is where it is set: "user config /home/me/.npmrc", "project
	// config /src/x/.npmrc", "environment" (npm_config_…), with ", overridden
	// by env" when a later source sets the same key.
	Where string
	// Alone is a username without a _password for the same registry, or the
	// other way round: npm sends neither.
	Alone bool
}

// Scope is the registry part of a key ("//npm.pkg.github.com/"), "" when
// the key names no registry.
func (c Credential) Scope() string {
	if !strings.HasPrefix(c.Key, "//") {
		return ""
	}
	return c.Key[:strings.LastIndex(c.Key, ":")]
}

// field is the credential a key holds: "_authToken", "_auth", "username" or
// "_password".
func (c Credential) field() string { return c.Key[strings.LastIndex(c.Key, ":")+1:] }

// SentTo reports whether npm authenticates its requests to the registry at
// registry with c, as npm-registry-fetch decides (lib/auth.js, regFromURI):
// for a request to https://host[:port]/path…, it looks for a key of
// "//host[:port]/path…", then walks up, dropping the last path segment or the
// slash before it, down to "//host[:port]" (the port as URLs write it: none
// when it is the scheme's default). So a key is sent when it is the
// registry's, one of those it walks up to, or one under it (which requests
// for some packages reach). A key that names no registry is not sent by
// npm 11, which takes it for invalid configuration (older npm sent it to the
// default registry): SentTo is false for it; see Scope.
func (c Credential) SentTo(registry *url.URL) bool {
	scope := c.Scope()
	if scope == "" || c.Alone {
		return false
	}
	reg := NerfDart(registry)
	if strings.HasPrefix(scope, reg) {
		return true
	}
	return len(scope) > len("//") && strings.HasPrefix(reg, scope) &&
		(strings.HasSuffix(scope, "/") || reg[len(scope)] == '/')
}

// NerfDart is the key prefix of npm's settings for the registry at u:
// "//host[:port]/path/", host and port as a URL parser writes them (the host
// in lower case, no port when it is the scheme's default), as npm derives
// it from a request's URL.
func NerfDart(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if port := u.Port(); port != "" && port != defaultPorts[u.Scheme] {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return "//" + host + path
}

// defaultPorts are the ports a URL parser leaves out.
var defaultPorts = map[string]string{"http": "80", "https": "443"}

// Credentials lists the credentials npm's configuration holds in dir (its
// npmrc files, the project's among them, and npm_config_* variables), from
// `npm config list`, which shows their keys and hides their values: every
// _authToken, _auth, username and _password, for a registry or for none.
func (c CLI) Credentials(ctx context.Context, dir string) ([]Credential, error) {
	out, err := c.Run(ctx, dir, "config", "list")
	if err != nil {
		return nil, fmt.Errorf("reading npm's configuration for credentials: %w", err)
	}
	return parseCredentials(string(out)), nil
}

// configSource is a heading of `npm config list`: `; "user" config from
// /home/me/.npmrc`, `; "env" config from environment`.
var configSource = regexp.MustCompile(`^; "([a-z]+)" config from (.*)$`)

// protectedSetting is a setting `npm config list` hides: `key = (protected)`,
// commented out with the source that wins when a later one sets it too.
var protectedSetting = regexp.MustCompile(`^(?:; )?(\S+) = \(protected\)(?: ; overridden by (\S+))?$`)

// credentialFields are the settings that authenticate, as npm-registry-fetch
// reads them.
var credentialFields = []string{"_authToken", "_auth", "username", "_password"}

func parseCredentials(list string) []Credential {
	var creds []Credential
	where := ""
	for line := range strings.SplitSeq(list, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := configSource.FindStringSubmatch(line); m != nil {
			where = m[1] + " config " + m[2]
			if m[1] == "env" {
				where = "environment"
			}
			continue
		}
		m := protectedSetting.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cred := Credential{Key: m[1], Where: where}
		if m[2] != "" {
			cred.Where += ", overridden by " + m[2]
		}
		field := cred.field()
		if cred.Scope() == "" {
			// npm_config__authtoken comes in lower case.
			field = cred.Key
		}
		for _, f := range credentialFields {
			if f == field || (cred.Scope() == "" && strings.EqualFold(f, field)) {
				creds = append(creds, cred)
				break
			}
		}
	}
	// username and _password go together, for the same registry.
	has := map[string]bool{}
	for _, cr := range creds {
		has[cr.Scope()+":"+strings.ToLower(cr.field())] = true
	}
	for i, cr := range creds {
		switch strings.ToLower(cr.field()) {
		case "username":
			creds[i].Alone = !has[cr.Scope()+":_password"]
		case "_password":
			creds[i].Alone = !has[cr.Scope()+":username"]
		}
	}
	return creds
}
