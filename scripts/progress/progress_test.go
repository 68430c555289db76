package progress_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/progress"
)

func TestPlain(t *testing.T) {
	var out bytes.Buffer
	p := progress.NewPlain(&out)
	p.Start("building 3 targets", []string{"linux-x64", "darwin-arm64", "win"})
	p.Update("linux-x64", progress.Compiling, "")
	p.Update("darwin-arm64", progress.Compiling, "")
	p.Update("linux-x64", progress.Done, "2.0 MB in 1.5s")
	p.Update("darwin-arm64", progress.Failed, "")
	p.Update("win", progress.Canceled, "")
	p.Stop()
	assert.Equal(t, `building 3 targets
linux-x64     compiling
darwin-arm64  compiling
linux-x64     done: 2.0 MB in 1.5s [1/3]
darwin-arm64  failed [2/3]
win           canceled [3/3]
3/3 finished, 1 built, 1 failed, 1 canceled
`, out.String())
}

func TestPlainRelease(t *testing.T) {
	var out bytes.Buffer
	p := progress.NewPlain(&out)
	p.Start("publishing 3 packages", []string{"a", "b", "c"})
	p.Update("a", progress.Publishing, "attempt 1")
	p.Update("a", progress.Published, "in 2s")
	p.Update("b", progress.Skipped, "already published")
	p.Update("c", progress.Failed, "")
	p.Stop()
	assert.Equal(t, `publishing 3 packages
a  publishing: attempt 1
a  published: in 2s [1/3]
b  skipped: already published [2/3]
c  failed [3/3]
3/3 finished, 1 published, 1 skipped, 1 failed
`, out.String())
}

func TestUseBars(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	tests := []struct {
		name           string
		stdout, stderr bool
		env            map[string]string
		want           bool
	}{
		{"terminal", true, true, map[string]string{"TERM": "xterm-256color"}, true},
		{"stdout piped", false, true, nil, false},
		{"stderr redirected", true, false, nil, false},
		{"CI log", true, true, map[string]string{"CI": "true"}, false},
		{"dumb terminal", true, true, map[string]string{"TERM": "dumb"}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, progress.UseBars(tt.stdout, tt.stderr, env(tt.env)), tt.name)
	}
}

func TestStates(t *testing.T) {
	for s, want := range map[progress.State]bool{
		progress.Queued: false, progress.Compiling: false, progress.Verifying: false,
		progress.Done: true, progress.UpToDate: true, progress.Failed: true, progress.Canceled: true,
		progress.Publishing: false, progress.Published: true, progress.Skipped: true,
	} {
		assert.Equal(t, want, s.Final(), s.String())
	}
	assert.Equal(t, "up to date", progress.UpToDate.String())
}

// Bars draws on a terminal when there is one and falls back to plain lines
// when there is none; either way every item and the summary are shown.
func TestBarsShowEverything(t *testing.T) {
	var tty, fallback bytes.Buffer
	b := progress.NewBars(&tty, &fallback)
	b.Start("building 2 targets", []string{"a", "b"})
	b.Update("a", progress.Compiling, "")
	b.Update("a", progress.Done, "1.0 MB in 1s")
	b.Update("b", progress.UpToDate, "")
	b.Stop()
	all := tty.String() + fallback.String()
	for _, want := range []string{"building 2 targets", "a", "b", "2/2 finished, 1 built, 1 up to date"} {
		assert.Contains(t, all, want)
	}
	if fallback.Len() > 0 {
		assert.False(t, strings.Contains(fallback.String(), "\x1b"), "plain fallback has no escape codes")
	}
}
