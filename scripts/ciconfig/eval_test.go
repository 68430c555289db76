package ciconfig_test

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/agent-facets/facets/platforms"
)

// instance is one job as a workflow runs it: a workflow job, or one job of
// its matrix, with the values of its parameters.
type instance struct {
	Name   string            // the workflow job, with the matrix value for a matrix job
	Job    string            // the job it runs
	Params map[string]string // its parameters, defaults included
}

// instances lists the jobs w runs, in w's order, a matrix job once per value.
func (c config) instances(t *testing.T, w workflow) []instance {
	t.Helper()
	var out []instance
	for _, wj := range w.Jobs {
		j, ok := c.Jobs[wj.Job]
		require.True(t, ok, "job %s", wj.Job)
		if wj.Matrix == nil {
			out = append(out, instance{Name: wj.Job, Job: wj.Job, Params: defaults(j.Parameters)})
			continue
		}
		require.Len(t, wj.Matrix.Parameters, 1, "job %s: these tests play a matrix of one parameter", wj.Job)
		for name, values := range wj.Matrix.Parameters {
			for _, v := range values {
				p := defaults(j.Parameters)
				p[name] = v
				out = append(out, instance{Name: wj.Job + " " + v, Job: wj.Job, Params: p})
			}
		}
	}
	return out
}

// defaults are the default values of parameters, as strings.
func defaults(params map[string]parameter) map[string]string {
	out := map[string]string{}
	for name, p := range params {
		if p.Default != nil {
			out[name] = fmt.Sprint(p.Default)
		}
	}
	return out
}

// concurrent reports whether a and b may run at the same time in w: neither
// requires the other, directly or not.
func concurrent(w workflow, a, b instance) bool {
	return a.Name != b.Name && !upstream(w, a.Job)[b.Job] && !upstream(w, b.Job)[a.Job]
}

// steps are the steps inst runs, as CircleCI compiles them for a pipeline
// whose parameters have their default values: every command invocation
// replaced by the command's steps with its arguments, every when/unless block
// by its steps if its condition says so, and every << parameters.name >> and
// << pipeline.parameters.name >> in a run step by its value.
func (c config) steps(t *testing.T, inst instance) []step {
	t.Helper()
	return c.stepsIn(t, inst, nil)
}

// stepsIn is steps for a pipeline whose parameters are set as in pipeline,
// the others having their default values.
func (c config) stepsIn(t *testing.T, inst instance, pipeline map[string]string) []step {
	t.Helper()
	params := maps.Clone(inst.Params)
	for name, v := range defaults(c.Parameters) {
		params[pipelinePrefix+name] = v
	}
	for name, v := range pipeline {
		_, declared := c.Parameters[name]
		require.True(t, declared, "no pipeline parameter %s", name)
		params[pipelinePrefix+name] = v
	}
	return c.compile(t, c.Jobs[inst.Job].Steps, params)
}

// pipelinePrefix marks a pipeline parameter among a job's or command's
// parameters (whose names have no dot).
const pipelinePrefix = "pipeline.parameters."

func (c config) compile(t *testing.T, steps []step, params map[string]string) []step {
	t.Helper()
	var out []step
	for _, s := range steps {
		if cmd, ok := c.Commands[s.Kind]; ok {
			args := defaults(cmd.Parameters)
			for k, v := range params {
				if strings.HasPrefix(k, pipelinePrefix) {
					args[k] = v // pipeline parameters are everywhere
				}
			}
			for k, v := range s.Args {
				_, declared := cmd.Parameters[k]
				require.True(t, declared, "command %s has no parameter %s", s.Kind, k)
				args[k] = substitute(t, v, params)
			}
			out = append(out, c.compile(t, cmd.Steps, args)...)
			continue
		}
		if s.Kind == "when" || s.Kind == "unless" {
			if holds(t, &s.Condition, params) == (s.Kind == "when") {
				out = append(out, c.compile(t, s.Steps, params)...)
			}
			continue
		}
		s.Name = substitute(t, s.Name, params)
		s.Command = substitute(t, s.Command, params)
		out = append(out, s)
	}
	return out
}

var parameterRef = regexp.MustCompile(`<<\s*((?:pipeline\.)?parameters\.[\w-]+)\s*>>`)

// substitute replaces every << parameters.name >> and
// << pipeline.parameters.name >> in s by its value.
func substitute(t *testing.T, s string, params map[string]string) string {
	t.Helper()
	return parameterRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := parameterRef.FindStringSubmatch(ref)[1]
		if local, ok := strings.CutPrefix(name, "parameters."); ok {
			name = local
		}
		v, ok := params[name]
		assert.True(t, ok, "%s: no such parameter here", ref)
		return v
	})
}

// holds evaluates a logic statement of CircleCI's (configuration reference,
// "Logic statements") with params substituted: a literal, and, or, not, equal
// and matches. Anything else fails the test.
func holds(t *testing.T, n *yaml.Node, params map[string]string) bool {
	t.Helper()
	n = resolve(n)
	switch {
	case n.Kind == yaml.ScalarNode:
		// false, null, 0, NaN and "" are false; every other literal is true.
		var v any
		require.NoError(t, yaml.Unmarshal([]byte(substitute(t, n.Value, params)), &v))
		switch v := v.(type) {
		case nil:
			return false
		case bool:
			return v
		case int:
			return v != 0
		case float64:
			return v != 0 && !math.IsNaN(v)
		case string:
			return v != ""
		}
		return true
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		op, arg := n.Content[0].Value, resolve(n.Content[1])
		switch op {
		case "and", "or":
			// An empty and/or is false.
			if len(arg.Content) == 0 {
				return false
			}
			decisive := op == "or" // the value that decides: true for or, false for and
			for _, a := range arg.Content {
				if holds(t, a, params) == decisive {
					return decisive
				}
			}
			return !decisive
		case "not":
			return !holds(t, arg, params)
		case "equal":
			require.Equal(t, yaml.SequenceNode, arg.Kind, "line %d: equal takes a list", arg.Line)
			var values []string
			for _, a := range arg.Content {
				values = append(values, substitute(t, a.Value, params))
			}
			return len(values) > 0 && !slices.ContainsFunc(values, func(v string) bool { return v != values[0] })
		case "matches":
			var m struct{ Pattern, Value string }
			require.NoError(t, decodeStrict(arg, &m))
			return fullMatch(t, m.Pattern, substitute(t, m.Value, params))
		}
	}
	t.Fatalf("line %d: a logic statement these tests cannot evaluate", n.Line)
	return false
}

// fullMatch is CircleCI's matches: the pattern must match the whole value
// ("A full match pattern must be provided, prefix matching is not an
// option"), unlike regexp's MatchString, which finds it anywhere.
func fullMatch(t *testing.T, pattern, value string) bool {
	t.Helper()
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	require.NoError(t, err)
	return re.MatchString(value)
}

// builds lists the targets a run of the build tool builds.
func builds(t *testing.T, call mageCall) []platforms.Target {
	t.Helper()
	switch call.Target {
	case "build:target":
		ts, err := platforms.Select(call.Args...)
		require.NoError(t, err)
		return ts
	case "build", "build:all", "package", "package:all":
		return platforms.All()
	case "build:host":
		t.Errorf("build:host builds the machine's own target: CI names its targets")
	}
	return nil
}

// aptPackages lists the Debian packages a shell command installs with
// apt-get install.
func aptPackages(command string) []string {
	var out []string
	for _, words := range simpleCommands(command) {
		i := slices.Index(words, "apt-get")
		if i < 0 || i+1 >= len(words) || words[i+1] != "install" {
			continue
		}
		for _, w := range words[i+2:] {
			if !strings.HasPrefix(w, "-") {
				out = append(out, w)
			}
		}
	}
	return out
}

func TestHolds(t *testing.T) {
	params := map[string]string{"targets": "linux-x64 linux-x64-musl", "flag": "false", "empty": ""}
	tests := []struct {
		statement string
		want      bool
	}{
		{`{matches: {pattern: "^linux-.*$", value: << parameters.targets >>}}`, true},
		{`{matches: {pattern: "linux-.*", value: << parameters.targets >>}}`, true},
		{`{matches: {pattern: "^linux-", value: << parameters.targets >>}}`, false}, // a prefix is not a match
		{`{matches: {pattern: "x64", value: << parameters.targets >>}}`, false},
		{`{matches: {pattern: "^darwin-.*$", value: << parameters.targets >>}}`, false},
		{`{equal: [linux-x64 linux-x64-musl, << parameters.targets >>]}`, true},
		{`{equal: [linux-x64, << parameters.targets >>]}`, false},
		{`{not: {equal: [linux-x64, << parameters.targets >>]}}`, true},
		{`{and: [true, << parameters.flag >>]}`, false},
		{`{or: [<< parameters.flag >>, "<< parameters.empty >>", 0, yes]}`, true},
		{`{and: []}`, false},
		{`<< parameters.flag >>`, false},
		{`"<< parameters.empty >>"`, false},
		{`<< parameters.targets >>`, true},
	}
	for _, tt := range tests {
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(tt.statement), &doc))
		assert.Equal(t, tt.want, holds(t, doc.Content[0], params), tt.statement)
	}
}
