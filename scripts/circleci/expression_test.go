package circleci_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/circleci"
)

// The grammar of CircleCI's expressions reference and of
// github.com/CircleCI-Public/expr: each case shows how an expression is
// grouped, every operation in parentheses.
func TestParseExpression(t *testing.T) {
	tests := []struct{ in, want string }{
		{`pipeline.git.tag starts-with "agent-facets@" and not job.ssh.enabled`,
			`((pipeline.git.tag starts-with "agent-facets@") and (not job.ssh.enabled))`},
		// or is weaker than and; both are left associative.
		{`a or b and c`, `(a or (b and c))`},
		{`a and b or c`, `((a and b) or c)`},
		{`a and b and c`, `((a and b) and c)`},
		{`a or b or c`, `((a or b) or c)`},
		// not binds tightest (the reference's example).
		{`not foo and bar`, `((not foo) and bar)`},
		{`not (foo and bar)`, `(not (foo and bar))`},
		{`not not a`, `(not (not a))`},
		{`!a`, `(not a)`},
		{`not a starts-with "x"`, `((not a) starts-with "x")`},
		// ==, != and the infix functions share a level, left associative;
		// comparisons bind tighter.
		{`a == "x" starts-with "y"`, `((a == "x") starts-with "y")`},
		{`a != "x"`, `(a != "x")`},
		{`1 < 2 == true`, `((1 < 2) == true)`},
		{`a >= 3 and b <= 4 or c > 5 and d < 6`, `(((a >= 3) and (b <= 4)) or ((c > 5) and (d < 6)))`},
		{`a matches /^x/ and b contains "y"`, `((a matches /^x/) and (b contains "y"))`},
		// Keywords in lower case or capitals, nothing in between.
		{`A AND NOT B OR C`, `((A and (not B)) or C)`},
		{`x STARTS-WITH "y" and y MATCHES /z/ and z CONTAINS "w"`, `(((x starts-with "y") and (y matches /z/)) and (z contains "w"))`},
		{`TRUE or FALSE`, `(true or false)`},
		// Literals.
		{`x == "You can embed \" and \\ characters"`, `(x == "You can embed \" and \\ characters")`},
		{`x == "a\nb"`, `(x == "a\\nb")`}, // \n is no escape: a backslash and an n
		{`x == ""`, `(x == "")`},
		{`pipeline.number > 768`, `(pipeline.number > 768)`},
		{`x matches /a\/b/`, `(x matches /a\/b/)`},
		{`x matches /é/`, `(x matches /é/)`}, // Latin-1 is allowed in patterns
		// Identifiers: a letter, then letters, digits, - _ ?, in dotted segments.
		{`fo19-bar.baz_12 == a?`, `(fo19-bar.baz_12 == a?)`},
		{`pipeline.git.branch=="main"`, `(pipeline.git.branch == "main")`},
		// Whitespace of any kind separates tokens, and nothing else.
		{"pipeline.git.branch == \"main\"\n\tand not job.ssh.enabled\r\n", `((pipeline.git.branch == "main") and (not job.ssh.enabled))`},
		{`((a))`, `a`},
	}
	for _, tt := range tests {
		e, err := circleci.ParseExpression(tt.in)
		if assert.NoError(t, err, tt.in) {
			assert.Equal(t, tt.want, e.String(), tt.in)
		}
	}
}

func TestParseExpressionErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `at offset 0: expected an expression, found the end`},
		{`   `, `at offset 3: expected an expression, found the end`},
		{`a and`, `at offset 5: expected an expression, found the end`},
		{`and`, `at offset 0: expected an expression, found "and"`},
		{`(a`, `at offset 2: expected ')' to close the '(' at offset 0, found the end`},
		{`a)`, `at offset 1: unexpected ")" after a complete expression`},
		{`a "b"`, `at offset 2: unexpected "\"b\"" after a complete expression`},
		{`a startswith "b"`, `at offset 2: unknown operator "startswith"`},
		{`a And b`, `at offset 2: unknown operator "And"`},
		{`a = "b"`, `at offset 2: "=" is not an operator: want "=="`},
		{`a && b`, `at offset 2: unexpected character '&'`},
		{`a == 'b'`, `at offset 5: unexpected character '\''`},
		{`a == "b`, `at offset 5: a string without its closing '"'`},
		{`a == "b\"`, `at offset 5: a string without its closing '"'`},
		{`a matches /b`, `at offset 10: a pattern without its closing '/'`},
		{`a matches /(/`, `at offset 10: a pattern that is not a regular expression`},
		{`a matches /\u0041/`, `at offset 11: \u and \x escapes are not allowed in a pattern`},
		{`a matches /€/`, `at offset 11: '€' is not allowed in a pattern (ASCII and Latin-1 only)`},
		{`a matches /` + strings.Repeat("a", 257) + `/`, `at offset 10: a pattern longer than 256 bytes`},
		{`a > 9223372036854775808`, `at offset 4: a number out of range (0 to 2^63-1)`},
		{`foo..bar`, `at offset 3: unexpected character '.'`},
		{`.foo`, `at offset 0: unexpected character '.'`},
		{`_foo`, `at offset 0: unexpected character '_'`},
		{`14bar`, `at offset 2: unknown operator "bar"`},
		{`pipeline.git.tag starts-with`, `at offset 28: expected an expression, found the end`},
		{strings.Repeat("(", 101) + "a" + strings.Repeat(")", 101), `nested more than 100 deep`},
		{strings.Repeat("not ", 101) + "a", `nested more than 100 deep`},
	}
	for _, tt := range tests {
		e, err := circleci.ParseExpression(tt.in)
		if assert.Error(t, err, "%s parsed as %v", tt.in, e) {
			assert.Contains(t, err.Error(), tt.want, tt.in)
			var se *circleci.SyntaxError
			assert.ErrorAs(t, err, &se)
		}
	}
	_, err := circleci.ParseExpression(strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100))
	assert.NoError(t, err, "100 deep is allowed")
}

// Whether an expression confines a context to release tags is decided
// soundly: what cannot be proven does not confine.
func TestConfinesTag(t *testing.T) {
	const prefix = "agent-facets@"
	tests := []struct {
		in       string
		confines bool
		noSSH    bool
	}{
		{circleci.LockExpression(prefix), true, true},
		{`pipeline.git.tag starts-with "agent-facets@"`, true, false},
		{`pipeline.git.tag starts-with "agent-facets@1."`, true, false},
		{`pipeline.git.tag STARTS-WITH "agent-facets@" AND NOT job.ssh.enabled`, true, true},
		{`((pipeline.git.tag)) starts-with ("agent-facets@")`, true, false},
		{`pipeline.git.tag == "agent-facets@1.2.3"`, true, false},
		{`"agent-facets@1.2.3" == pipeline.git.tag`, true, false},
		{`pipeline.git.branch == "main" and (pipeline.git.tag starts-with "agent-facets@")`, true, false},
		{`pipeline.git.tag starts-with "agent-facets@" or pipeline.git.tag == "agent-facets@1.0.0"`, true, false},
		{`pipeline.git.tag matches /^agent-facets@\d+\.\d+\.\d+$/`, true, false},
		{`pipeline.git.tag matches /\Aagent-facets@/`, true, false},
		// Too wide, or not provably confining.
		{`pipeline.git.tag starts-with "agent"`, false, false},
		{`pipeline.git.tag starts-with "agent-facets@" or pipeline.git.branch == "main"`, false, false},
		{`not (pipeline.git.tag starts-with "agent-facets@")`, false, false},
		{`pipeline.git.tag != "agent-facets@1.2.3"`, false, false},
		{`"agent-facets@1.2.3" starts-with pipeline.git.tag`, false, false},
		{`pipeline.git.branch starts-with "agent-facets@"`, false, false},
		{`pipeline.git.tag contains "agent-facets@"`, false, false},
		{`PIPELINE.GIT.TAG starts-with "agent-facets@"`, false, false},
		{`pipeline.git.tag == "agent-facets"`, false, false},
		{`pipeline.git.tag matches /agent-facets@.*/`, false, false},
		{`pipeline.git.tag matches /(?i)^agent-facets@/`, false, false},
		{`pipeline.git.tag matches /(?m)^agent-facets@/`, false, false},
		{`pipeline.git.tag matches /^agent/`, false, false},
		{`pipeline.git.tag matches /^agent-facets@|^x/`, false, false},
		{`pipeline.git.tag starts-with "agent-facets@" == true`, false, false},
		{`pipeline.git.branch == "main"`, false, false},
		{`true`, false, false},
		// SSH reruns.
		{`not job.ssh.enabled`, false, true},
		{`not (job.ssh.enabled)`, false, true},
		{`job.ssh.enabled == false`, false, true},
		{`false == job.ssh.enabled`, false, true},
		{`job.ssh.enabled != true`, false, true},
		{`job.ssh.enabled == true`, false, false},
		{`job.ssh.enabled`, false, false},
		{`not job.ssh.enabled or pipeline.git.branch == "main"`, false, false},
		{`not job.ssh.enabled or job.ssh.enabled == false`, false, true},
		{`not not job.ssh.enabled`, false, false},
	}
	for _, tt := range tests {
		e, err := circleci.ParseExpression(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.confines, e.ConfinesTag(prefix), "confines: %s", tt.in)
		assert.Equal(t, tt.noSSH, e.ForbidsSSH(), "forbids SSH: %s", tt.in)
	}
}

func TestLockExpression(t *testing.T) {
	assert.Equal(t, `pipeline.git.tag starts-with "agent-facets@" and not job.ssh.enabled and not (pipeline.config_source starts-with "api")`, circleci.LockExpression("agent-facets@"))
	assert.Equal(t, `pipeline.git.tag starts-with "a\"b\\" and not job.ssh.enabled and not (pipeline.config_source starts-with "api")`, circleci.LockExpression(`a"b\`))
	e, err := circleci.ParseExpression(circleci.LockExpression(`a"b\`))
	require.NoError(t, err)
	assert.True(t, e.ConfinesTag(`a"b\`), "quoted so that it reads back")
	assert.True(t, e.ForbidsAPIConfig())
	assert.True(t, e.ForbidsSSH())
}

// A pipeline triggered through CircleCI's API with a configuration of its
// own can run it on an existing release tag: the lock refuses it.
func TestForbidsAPIConfig(t *testing.T) {
	for in, want := range map[string]bool{
		`not (pipeline.config_source starts-with "api")`:                               true,
		`not pipeline.config_source starts-with "api"`:                                 false, // not binds tighter: (not x) starts-with "api"
		`not (pipeline.config_source starts-with "a")`:                                 true,
		`not (pipeline.config_source starts-with "apix")`:                              false,
		`not (pipeline.config_source starts-with "")`:                                  false,
		`pipeline.config_source starts-with "api"`:                                     false,
		`not (pipeline.config_source == "api")`:                                        false,
		`x == 1 and not ((pipeline.config_source) starts-with ("api"))`:                true,
		`not (pipeline.config_source starts-with "api") or pipeline.git.branch == "x"`: false,
		`not (pipeline.git.branch starts-with "api")`:                                  false,
	} {
		e, err := circleci.ParseExpression(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, e.ForbidsAPIConfig(), in)
	}
}

func TestLockOf(t *testing.T) {
	const project = "c7b3dd0a-e9b0-4e95-8345-fc984443e02b"
	expr := func(id, s string) circleci.Restriction {
		return circleci.Restriction{ID: id, Type: circleci.RestrictionExpression, Pattern: s}
	}
	proj := circleci.Restriction{ID: "p", Type: circleci.RestrictionProject, Pattern: project, Name: "facets"}
	group := circleci.Restriction{ID: "g", Type: circleci.RestrictionGroup, Pattern: "1234", Name: "release-managers"}
	all := circleci.Restriction{ID: "a", Type: circleci.RestrictionGroup, Pattern: "org", Name: "All members"}

	t.Run("locked", func(t *testing.T) {
		l := circleci.LockOf([]circleci.Restriction{expr("e", circleci.LockExpression("agent-facets@")), proj, group}, "agent-facets@")
		assert.True(t, l.Locked())
		assert.True(t, l.NoSSH)
		assert.Empty(t, l.Warnings(project))
		assert.Equal(t, map[string]string{"e": "confines to agent-facets@ tags; no configuration from the API; no SSH reruns", "p": "only jobs of this project", "g": "only members of this group"}, l.Verdicts)
	})
	t.Run("tags alone: a configuration from the API passes", func(t *testing.T) {
		l := circleci.LockOf([]circleci.Restriction{expr("e", `pipeline.git.tag starts-with "agent-facets@" and not job.ssh.enabled`), proj, group}, "agent-facets@")
		assert.False(t, l.Locked())
		assert.Equal(t, "confines to agent-facets@ tags; allows a configuration from the API; no SSH reruns", l.Verdicts["e"])
	})
	t.Run("whether every expression must hold or one is not documented: each must confine", func(t *testing.T) {
		l := circleci.LockOf([]circleci.Restriction{expr("wide", `pipeline.git.branch == "main" or true`), expr("e", circleci.LockExpression("agent-facets@"))}, "agent-facets@")
		assert.False(t, l.Locked())
		assert.Equal(t, "e", l.Confining[0].ID)
		assert.Equal(t, "wide", l.Wide[0].ID)
		assert.Equal(t, "does not confine to agent-facets@ tags; allows a configuration from the API", l.Verdicts["wide"])
		two := circleci.LockOf([]circleci.Restriction{expr("a", `pipeline.git.tag starts-with "agent-facets@" and not (pipeline.config_source starts-with "api")`),
			expr("b", circleci.LockExpression("agent-facets@"))}, "agent-facets@")
		assert.True(t, two.Locked(), "two that each confine")
		assert.False(t, two.NoSSH, "one allows SSH reruns")
	})
	t.Run("not locked", func(t *testing.T) {
		l := circleci.LockOf([]circleci.Restriction{expr("x", `pipeline.git.tag starts-with "agent"`), expr("bad", `pipeline.git.tag starts-with`), all}, "agent-facets@")
		assert.False(t, l.Locked())
		assert.Contains(t, l.Verdicts["bad"], "cannot be parsed: at offset 28: expected an expression")
		assert.Equal(t, "every member of the organization: restricts nothing", l.Verdicts["a"])
		assert.Equal(t, []string{
			"an expression restriction allows SSH reruns: add `and not job.ssh.enabled` to it (npm refuses SSH-rerun tokens anyway; this keeps the job from starting)",
			"no project restriction: any project of the organization may use the context; add a project restriction for project " + project,
			"no security group: every member of the organization may run a job with the context; add a security group of the release managers",
		}, l.Warnings(project))
	})
	t.Run("another project", func(t *testing.T) {
		other := circleci.Restriction{ID: "o", Type: circleci.RestrictionProject, Pattern: "11111111-1111-4111-8111-111111111111", Name: "other"}
		l := circleci.LockOf([]circleci.Restriction{expr("e", circleci.LockExpression("agent-facets@")), other, group}, "agent-facets@")
		assert.Equal(t, []string{"the project restrictions name other (11111111-1111-4111-8111-111111111111), not project " + project +
			": the release jobs will be refused the context unless it is one of them"}, l.Warnings(project))
		byReference := proj
		byReference.Pattern, byReference.SubjectID = "", project
		assert.Empty(t, circleci.LockOf([]circleci.Restriction{expr("e", circleci.LockExpression("agent-facets@")), byReference, group}, "agent-facets@").Warnings(project))
	})
	t.Run("unknown type", func(t *testing.T) {
		l := circleci.LockOf([]circleci.Restriction{{ID: "u", Type: "branch", Pattern: "agent-facets@*"}}, "agent-facets@")
		assert.False(t, l.Locked())
		assert.Equal(t, `a restriction of a kind this does not know ("branch")`, l.Verdicts["u"])
	})
}
