package ciconfig_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// mageCall is one run of the build tool in a step's command: through go tool
// mage, or the binary mage -compile made.
type mageCall struct {
	Via     string   // "go tool mage", or the path of the compiled tool
	Compile string   // the -compile output path, when the call compiles the tool
	Target  string   // the target run; empty for -compile and -l
	Args    []string // the target's arguments
}

// mageFlagsWithValue are the mage flags that take a value.
var mageFlagsWithValue = map[string]bool{
	"compile": true, "d": true, "w": true, "gocmd": true, "goos": true, "goarch": true, "ldflags": true, "t": true,
}

// mageCalls finds the build tool's runs in a shell command: each simple
// command that is go tool mage, or a program named mage (a path ending in
// /mage), with its flags, target and arguments.
func mageCalls(command string) []mageCall {
	var calls []mageCall
	for _, words := range simpleCommands(command) {
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:] // VAR=value before the command
		}
		var c mageCall
		switch {
		case len(words) >= 3 && words[0] == "go" && words[1] == "tool" && words[2] == "mage":
			c.Via, words = "go tool mage", words[3:]
		case len(words) >= 1 && (words[0] == "mage" || strings.HasSuffix(words[0], "/mage")):
			c.Via, words = words[0], words[1:]
		default:
			continue
		}
		for len(words) > 0 && strings.HasPrefix(words[0], "-") {
			name, value, hasValue := strings.Cut(strings.TrimLeft(words[0], "-"), "=")
			words = words[1:]
			if mageFlagsWithValue[name] && !hasValue && len(words) > 0 {
				value, words = words[0], words[1:]
			}
			if name == "compile" {
				c.Compile = value
			}
		}
		if len(words) > 0 && c.Compile == "" {
			c.Target, c.Args = words[0], words[1:]
		}
		calls = append(calls, c)
	}
	return calls
}

// simpleCommands splits a shell command into its simple commands (split at
// newlines, ;, &&, || and |), each as words with quotes and comments removed.
// It knows as much of the shell as the configuration and .ci/run use.
func simpleCommands(command string) [][]string {
	var (
		out     [][]string
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune
		flushed = func() {
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		}
		endCommand = func() {
			flushed()
			if len(words) > 0 {
				out = append(out, words)
			}
			words = nil
		}
	)
	runes := []rune(command)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '#' && !inWord:
			for i+1 < len(runes) && runes[i+1] != '\n' {
				i++ // a comment, to the end of the line
			}
		case r == '\\' && i+1 < len(runes) && runes[i+1] == '\n':
			i++ // line continuation
		case r == ' ' || r == '\t':
			flushed()
		case r == '\n' || r == ';' || r == '|' || r == '&':
			endCommand()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return out
}

func TestMageCalls(t *testing.T) {
	tests := []struct {
		command string
		want    []mageCall
	}{
		{`go tool mage -compile "$PWD/dist/tool/mage"`, []mageCall{{Via: "go tool mage", Compile: "$PWD/dist/tool/mage"}}},
		{`dist/tool/mage build:target "linux-x64 linux-x64-musl"`, []mageCall{{Via: "dist/tool/mage", Target: "build:target", Args: []string{"linux-x64 linux-x64-musl"}}}},
		{"go version > /tmp/go-version", nil},
		{"CI=true go tool mage -v package:all && ./dist/tool/mage release\nbash .ci/run", []mageCall{
			{Via: "go tool mage", Target: "package:all", Args: []string{}},
			{Via: "./dist/tool/mage", Target: "release", Args: []string{}},
		}},
		{"go tool mage -l", []mageCall{{Via: "go tool mage"}}},
		{"go tool mage -d magefiles -t 5m clean", []mageCall{{Via: "go tool mage", Target: "clean", Args: []string{}}}},
		{"echo mage build", nil},
		{"# it's not mage build\nmage clean # mage build", []mageCall{{Via: "mage", Target: "clean", Args: []string{}}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, mageCalls(tt.command), tt.command)
	}
}
