// Package secret keeps tokens out of output. A Redactor masks what looks like
// a token (a JWT such as an OIDC ID token, an npm token, the value of an
// _authToken setting or a Bearer header) and every value it has been told is
// secret; its Writer does so line by line for a stream such as npm's output.
// It is a helper.
package secret

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync"
)

// Mask replaces a secret in output.
const Mask = "[redacted]"

// patterns match what looks like a token, wherever it comes from.
var patterns = []*regexp.Regexp{
	// A JWT: three base64url parts, the header a JSON object ("eyJ" is `{"`).
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`),
	// npm's tokens (granular and automation alike).
	regexp.MustCompile(`npm_[A-Za-z0-9]{20,}`),
}

// settings match a secret by its name: the value after it is masked.
var settings = regexp.MustCompile(`(?i)((?:_authToken|_auth|_password|NPM_ID_TOKEN|NPM_TOKEN|NODE_AUTH_TOKEN)"?\s*[=:]\s*"?|Bearer\s+)([^\s"']+)`)

// Redactor masks secrets in text. The zero value is ready to use and safe for
// concurrent use.
type Redactor struct {
	mu    sync.RWMutex
	known []string
}

// Add makes r mask s wherever it appears (a token minted at run time). Short
// values are ignored: they could not be told from ordinary text.
func (r *Redactor) Add(s string) {
	if len(s) < 8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known = append(r.known, s)
}

// Redact returns s with every secret masked.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	for _, k := range r.known {
		s = strings.ReplaceAll(s, k, Mask)
	}
	r.mu.RUnlock()
	for _, p := range patterns {
		s = p.ReplaceAllString(s, Mask)
	}
	return settings.ReplaceAllString(s, "${1}"+Mask)
}

// Writer returns a writer that passes what it is given to w a line at a time,
// masked. Close writes what is left of an unfinished line.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser { return &writer{r: r, w: w} }

type writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	i := bytes.LastIndexByte(w.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := string(w.buf[:i+1])
	w.buf = append(w.buf[:0], w.buf[i+1:]...)
	if _, err := io.WriteString(w.w, w.r.Redact(lines)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(w.w, w.r.Redact(string(w.buf)))
	w.buf = nil
	return err
}
