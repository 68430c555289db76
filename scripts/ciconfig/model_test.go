package ciconfig_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/agent-facets/facets/scripts/ciconfig"
	"github.com/agent-facets/facets/scripts/testenv"
)

// config is the part of a CircleCI 2.1 configuration the tests read. Unknown
// keys are an error, so a key this model does not know fails the tests
// instead of slipping past them.
type config struct {
	Version    string               `yaml:"version"`
	Orbs       map[string]any       `yaml:"orbs"`
	Parameters map[string]parameter `yaml:"parameters"`
	Executors  map[string]executor  `yaml:"executors"`
	Commands   map[string]command   `yaml:"commands"`
	Jobs       map[string]job       `yaml:"jobs"`
	Workflows  map[string]workflow  `yaml:"workflows"`
}

type parameter struct {
	Type        string   `yaml:"type"`
	Enum        []string `yaml:"enum"` // the values of an enum parameter
	Default     any      `yaml:"default"`
	Description string   `yaml:"description"`
}

type executor struct {
	Docker []struct {
		Image string `yaml:"image"`
	} `yaml:"docker"`
	Environment map[string]string `yaml:"environment"`
}

type command struct {
	Description string               `yaml:"description"`
	Parameters  map[string]parameter `yaml:"parameters"`
	Steps       []step               `yaml:"steps"`
}

type job struct {
	Executor   string               `yaml:"executor"`
	Parameters map[string]parameter `yaml:"parameters"`
	Steps      []step               `yaml:"steps"`
}

type workflow struct {
	When   string        `yaml:"when"`
	Unless string        `yaml:"unless"`
	Jobs   []workflowJob `yaml:"jobs"`
}

// workflowJob is one entry of a workflow's jobs: a job name, alone or with
// its settings. Job parameters given here would be unknown keys: the
// configuration passes none.
type workflowJob struct {
	Job string
	jobSettings
}

type jobSettings struct {
	Requires    []string `yaml:"requires"`
	Context     yamlList `yaml:"context"`
	SerialGroup string   `yaml:"serial-group"`
	Filters     *filters `yaml:"filters"`
	Matrix      *matrix  `yaml:"matrix"`
}

type filters struct {
	Tags     *filter `yaml:"tags"`
	Branches *filter `yaml:"branches"`
}

type filter struct {
	Only   string `yaml:"only"`
	Ignore string `yaml:"ignore"`
}

type matrix struct {
	Alias      string              `yaml:"alias"`
	Parameters map[string][]string `yaml:"parameters"`
}

func (w *workflowJob) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode:
		w.Job = n.Value
		return nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		w.Job = n.Content[0].Value
		if err := decodeStrict(n.Content[1], &w.jobSettings); err != nil {
			return fmt.Errorf("workflow job %s: %w", w.Job, err)
		}
		return nil
	}
	return fmt.Errorf("line %d: a workflow job is a name or a map of one name", n.Line)
}

// yamlList is a value CircleCI takes as a string or a list of strings.
type yamlList []string

func (l *yamlList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = []string{n.Value}
		return nil
	}
	var s []string
	err := n.Decode(&s)
	*l = s
	return err
}

// step is one step of a job or command: a built-in (checkout, run,
// persist_to_workspace, …), a when/unless block, or a command invocation.
type step struct {
	Kind string // "checkout", "run", …, "when", or the command's name
	// run
	Name, Command   string
	NoOutputTimeout string
	// store_artifacts
	Path, Destination string
	// persist_to_workspace, attach_workspace
	Root, At string
	Paths    []string
	// restore_cache, save_cache
	Key  string
	Keys []string
	// when, unless
	Condition yaml.Node
	Steps     []step
	// a command invocation's arguments
	Args map[string]string
}

func (s *step) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Kind = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: a step is a name or a map of one name", n.Line)
	}
	s.Kind = n.Content[0].Value
	body := n.Content[1]
	switch s.Kind {
	case "run":
		if body.Kind == yaml.ScalarNode {
			s.Command = body.Value
			return nil
		}
		var r struct {
			Name            string `yaml:"name"`
			Command         string `yaml:"command"`
			NoOutputTimeout string `yaml:"no_output_timeout"`
		}
		err := decodeStrict(body, &r)
		s.Name, s.Command, s.NoOutputTimeout = r.Name, r.Command, r.NoOutputTimeout
		return err
	case "store_artifacts":
		// No when: it is a key of run and save_cache; CircleCI runs
		// store_artifacts after a failed step anyway.
		var a struct {
			Path        string `yaml:"path"`
			Destination string `yaml:"destination"`
		}
		err := decodeStrict(body, &a)
		s.Path, s.Destination = a.Path, a.Destination
		return err
	case "persist_to_workspace":
		var p struct {
			Root  string   `yaml:"root"`
			Paths []string `yaml:"paths"`
		}
		err := decodeStrict(body, &p)
		s.Root, s.Paths = p.Root, p.Paths
		return err
	case "attach_workspace":
		var a struct {
			At string `yaml:"at"`
		}
		err := decodeStrict(body, &a)
		s.At = a.At
		return err
	case "restore_cache", "save_cache":
		var c struct {
			Key   string   `yaml:"key"`
			Keys  []string `yaml:"keys"`
			Paths []string `yaml:"paths"`
		}
		err := decodeStrict(body, &c)
		s.Key, s.Keys, s.Paths = c.Key, c.Keys, c.Paths
		return err
	case "when", "unless":
		var w struct {
			Condition yaml.Node `yaml:"condition"`
			Steps     []step    `yaml:"steps"`
		}
		err := decodeStrict(body, &w)
		s.Condition, s.Steps = w.Condition, w.Steps
		return err
	}
	return body.Decode(&s.Args)
}

// decodeStrict decodes n into v, refusing keys v does not have (yaml.v3
// checks keys only when decoding a document, so n becomes one).
func decodeStrict(n *yaml.Node, v any) error {
	data, err := yaml.Marshal(resolve(n))
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// resolve returns a copy of n with every alias (*name) replaced by what it
// names, so that n can stand alone.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return resolve(n.Alias)
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = resolve(child)
	}
	return &c
}

// load reads the repository's configuration, refusing keys the model does not
// know.
func load(t *testing.T) config {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), ciconfig.Path))
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c config
	require.NoError(t, dec.Decode(&c))
	return c
}

// flatSteps is a job's steps with every command invocation replaced by the
// command's steps and every when/unless block by its steps (both branches of
// a condition count), in order.
func (c config) flatSteps(steps []step) []step {
	var out []step
	for _, s := range steps {
		if cmd, ok := c.Commands[s.Kind]; ok {
			out = append(out, c.flatSteps(cmd.Steps)...)
			continue
		}
		if s.Kind == "when" || s.Kind == "unless" {
			out = append(out, c.flatSteps(s.Steps)...)
			continue
		}
		out = append(out, s)
	}
	return out
}
