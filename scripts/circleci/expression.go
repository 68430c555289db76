package circleci

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// This file reads CircleCI's expression language, the language of context
// expression restrictions, as CircleCI's expressions reference describes it
// (https://circleci.com/docs/reference/expressions-reference/) and as
// CircleCI's own implementation, github.com/CircleCI-Public/expr, scans and
// parses it. That module is not served by the Go module proxy, so this is a
// small parser of the same grammar, from weakest to strongest binding:
//
//	expression -> or
//	or         -> and ( ("or" | "OR") and )*
//	and        -> equality ( ("and" | "AND") equality )*
//	equality   -> comparison ( ( "==" | "!=" | BUILTIN ) comparison )*
//	comparison -> unary ( ( ">=" | ">" | "<=" | "<" ) unary )*
//	unary      -> ( "not" | "NOT" | "!" ) unary | primary
//	primary    -> "true" | "false" | NUMBER | STRING | PATTERN | IDENTIFIER | "(" expression ")"
//
// BUILTIN is starts-with, matches or contains (or the same in capitals).
// All binary operators are left associative. A STRING is in double quotes,
// `\"` and `\\` its only escapes; a PATTERN is a regular expression between
// slashes (`\/` a slash), of at most 256 bytes; a NUMBER is a whole
// number that fits in 64 bits; an IDENTIFIER starts with a letter, goes on
// with letters, digits, '-', '_' and '?', in segments joined by single dots
// (pipeline.git.tag, job.ssh.enabled). Spaces, tabs and line breaks separate
// tokens. Evaluation fails closed: an error, or a variable without a value,
// makes the context unavailable.

// Expression is a parsed CircleCI expression.
type Expression struct {
	root node
}

// ParseExpression parses s. A syntax error says where it is.
func ParseExpression(s string) (*Expression, error) {
	toks, err := scan(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	root, err := p.expression()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokIdent {
			return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("unknown operator %q", t.text)}
		}
		return nil, &SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("unexpected %q after a complete expression", t.text)}
	}
	return &Expression{root: root}, nil
}

// String is e with every operation in parentheses: how it was parsed.
func (e *Expression) String() string { return e.root.String() }

// SyntaxError is an expression CircleCI would not parse either.
type SyntaxError struct {
	Pos int // the byte offset of the error in the expression
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at offset %d: %s", e.Pos, e.Msg) }

// The variables a release lock is about.
const (
	TagVariable = "pipeline.git.tag" // the tag of a tag pipeline
	SSHVariable = "job.ssh.enabled"  // true in a job rerun with SSH
	// ConfigSourceVariable says where a pipeline's configuration came from;
	// it starts with "api" when the run's configuration was given through
	// CircleCI's API rather than read from the repository.
	ConfigSourceVariable = "pipeline.config_source"
)

// APIConfigSource is how pipeline.config_source starts for a configuration
// given through the API.
const APIConfigSource = "api"

// ConfinesTag reports whether e, when it lets a job use the context, proves
// that the pipeline's tag (pipeline.git.tag) starts with prefix. It decides
// soundly and no further: `tag starts-with S` and `tag == S` (either side)
// with S a string starting with prefix, `tag matches /^P…/` with P a literal
// starting with prefix; `a and b` when a or b does; `a or b` when both do.
// Anything else, negations among them, is "cannot tell", reported as false.
func (e *Expression) ConfinesTag(prefix string) bool { return confines(e.root, prefix) }

// ForbidsSSH reports whether e keeps the context from a job rerun with SSH:
// `not job.ssh.enabled` or `job.ssh.enabled == false` (`!= true`), joined by
// and (either side) or or (both sides).
func (e *Expression) ForbidsSSH() bool { return forbidsSSH(e.root) }

// ForbidsAPIConfig reports whether e keeps the context from a pipeline whose
// configuration came through CircleCI's API (which could run any config on
// an existing release tag): `not (pipeline.config_source starts-with "api")`
// (or a shorter prefix of "api"), joined by and (either side) or or (both
// sides).
func (e *Expression) ForbidsAPIConfig() bool { return forbidsAPIConfig(e.root) }

func forbidsAPIConfig(n node) bool {
	switch n := unwrap(n).(type) {
	case logical:
		if n.op == "and" {
			return forbidsAPIConfig(n.left) || forbidsAPIConfig(n.right)
		}
		return forbidsAPIConfig(n.left) && forbidsAPIConfig(n.right)
	case not:
		b, ok := unwrap(n.x).(binary)
		if !ok || b.op != "starts-with" || !isVar(unwrap(b.left), ConfigSourceVariable) {
			return false
		}
		s, ok := unwrap(b.right).(str)
		return ok && s.value != "" && strings.HasPrefix(APIConfigSource, s.value)
	}
	return false
}

func confines(n node, prefix string) bool {
	switch n := unwrap(n).(type) {
	case logical:
		if n.op == "and" {
			return confines(n.left, prefix) || confines(n.right, prefix)
		}
		return confines(n.left, prefix) && confines(n.right, prefix)
	case binary:
		l, r := unwrap(n.left), unwrap(n.right)
		switch n.op {
		case "starts-with":
			return isVar(l, TagVariable) && isStringWithPrefix(r, prefix)
		case "==":
			return (isVar(l, TagVariable) && isStringWithPrefix(r, prefix)) ||
				(isVar(r, TagVariable) && isStringWithPrefix(l, prefix))
		case "matches":
			p, ok := r.(pattern)
			return isVar(l, TagVariable) && ok && strings.HasPrefix(anchoredPrefix(p.source), prefix)
		}
	}
	return false
}

func forbidsSSH(n node) bool {
	switch n := unwrap(n).(type) {
	case logical:
		if n.op == "and" {
			return forbidsSSH(n.left) || forbidsSSH(n.right)
		}
		return forbidsSSH(n.left) && forbidsSSH(n.right)
	case not:
		return isVar(unwrap(n.x), SSHVariable)
	case binary:
		l, r := unwrap(n.left), unwrap(n.right)
		want := n.op == "!=" // job.ssh.enabled != true, or == false
		if n.op != "==" && n.op != "!=" {
			return false
		}
		return (isVar(l, SSHVariable) && isBool(r, want)) || (isVar(r, SSHVariable) && isBool(l, want))
	}
	return false
}

// unwrap strips parentheses, which change nothing of a value.
func unwrap(n node) node {
	for {
		g, ok := n.(group)
		if !ok {
			return n
		}
		n = g.x
	}
}

func isVar(n node, name string) bool {
	v, ok := n.(ident)
	return ok && v.name == name
}

func isStringWithPrefix(n node, prefix string) bool {
	s, ok := n.(str)
	return ok && strings.HasPrefix(s.value, prefix)
}

func isBool(n node, v bool) bool {
	b, ok := n.(boolean)
	return ok && b.value == v
}

// anchoredPrefix is the literal text every string the pattern matches starts
// with, when the pattern is anchored at the start of the text (^ or \A, not
// in multi-line mode); "" otherwise. Whether `matches` looks for the pattern
// anywhere or matches it whole, such a match starts with that text.
func anchoredPrefix(source string) string {
	re, err := syntax.Parse(source, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b strings.Builder
	for _, sub := range re.Sub[1:] {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			break
		}
		b.WriteString(string(sub.Rune))
	}
	return b.String()
}

// The syntax tree. String shows each operation in parentheses.
type (
	node interface{ String() string }

	logical struct {
		op          string // "and", "or"
		left, right node
	}
	binary struct {
		op          string // "==", "!=", "<", "<=", ">", ">=", "starts-with", "matches", "contains"
		left, right node
	}
	not     struct{ x node }
	group   struct{ x node }
	ident   struct{ name string }
	str     struct{ value string }
	number  struct{ value int64 }
	boolean struct{ value bool }
	pattern struct{ source string }
)

func (n logical) String() string {
	return "(" + n.left.String() + " " + n.op + " " + n.right.String() + ")"
}
func (n binary) String() string {
	return "(" + n.left.String() + " " + n.op + " " + n.right.String() + ")"
}
func (n not) String() string     { return "(not " + n.x.String() + ")" }
func (n group) String() string   { return n.x.String() }
func (n ident) String() string   { return n.name }
func (n str) String() string     { return Quote(n.value) }
func (n number) String() string  { return strconv.FormatInt(n.value, 10) }
func (n boolean) String() string { return strconv.FormatBool(n.value) }
func (n pattern) String() string { return "/" + strings.ReplaceAll(n.source, "/", `\/`) + "/" }

// Quote writes s as a string literal of the expression language.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// maxDepth bounds the nesting of parentheses and negations: an expression
// is a line or two that a person wrote.
const maxDepth = 100

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) expression() (node, error) { return p.or() }

// nest enters a parenthesis or a negation at pos; the function returned
// leaves it.
func (p *parser) nest(pos int) (leave func(), err error) {
	if p.depth++; p.depth > maxDepth {
		return nil, &SyntaxError{Pos: pos, Msg: fmt.Sprintf("nested more than %d deep", maxDepth)}
	}
	return func() { p.depth-- }, nil
}

func (p *parser) or() (node, error) {
	left, err := p.and()
	for err == nil && p.peek().kind == tokOr {
		p.next()
		var right node
		if right, err = p.and(); err == nil {
			left = logical{"or", left, right}
		}
	}
	return left, err
}

func (p *parser) and() (node, error) {
	left, err := p.equality()
	for err == nil && p.peek().kind == tokAnd {
		p.next()
		var right node
		if right, err = p.equality(); err == nil {
			left = logical{"and", left, right}
		}
	}
	return left, err
}

func (p *parser) equality() (node, error) {
	left, err := p.comparison()
	for err == nil && (p.peek().kind == tokEquality || p.peek().kind == tokBuiltin) {
		op := strings.ToLower(p.next().text)
		var right node
		if right, err = p.comparison(); err == nil {
			left = binary{op, left, right}
		}
	}
	return left, err
}

func (p *parser) comparison() (node, error) {
	left, err := p.unary()
	for err == nil && p.peek().kind == tokComparison {
		op := p.next().text
		var right node
		if right, err = p.unary(); err == nil {
			left = binary{op, left, right}
		}
	}
	return left, err
}

func (p *parser) unary() (node, error) {
	if p.peek().kind != tokNot {
		return p.primary()
	}
	leave, err := p.nest(p.next().pos)
	if err != nil {
		return nil, err
	}
	defer leave()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return not{x}, nil
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokTrue:
		return boolean{true}, nil
	case tokFalse:
		return boolean{false}, nil
	case tokNumber:
		return number{t.number}, nil
	case tokString:
		return str{t.value}, nil
	case tokPattern:
		return pattern{t.value}, nil
	case tokIdent:
		return ident{t.text}, nil
	case tokLeftParen:
		leave, err := p.nest(t.pos)
		if err != nil {
			return nil, err
		}
		defer leave()
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRightParen {
			return nil, &SyntaxError{Pos: c.pos, Msg: fmt.Sprintf("expected ')' to close the '(' at offset %d, found %s", t.pos, c.describe())}
		}
		return group{x}, nil
	}
	return nil, &SyntaxError{Pos: t.pos, Msg: "expected an expression, found " + t.describe()}
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokLeftParen
	tokRightParen
	tokOr
	tokAnd
	tokNot
	tokEquality   // == !=
	tokComparison // < <= > >=
	tokBuiltin    // starts-with matches contains
	tokTrue
	tokFalse
	tokNumber
	tokString
	tokPattern
	tokIdent
)

type token struct {
	kind   tokenKind
	text   string // as written
	pos    int    // byte offset
	value  string // a string's value, a pattern's source
	number int64
}

func (t token) describe() string {
	if t.kind == tokEOF {
		return "the end"
	}
	return strconv.Quote(t.text)
}

// keywords are the words that are not variables; only these spellings are.
var keywords = map[string]tokenKind{
	"and": tokAnd, "AND": tokAnd, "or": tokOr, "OR": tokOr, "not": tokNot, "NOT": tokNot,
	"true": tokTrue, "TRUE": tokTrue, "false": tokFalse, "FALSE": tokFalse,
	"starts-with": tokBuiltin, "STARTS-WITH": tokBuiltin, "matches": tokBuiltin, "MATCHES": tokBuiltin,
	"contains": tokBuiltin, "CONTAINS": tokBuiltin,
}

// maxPattern is the longest pattern CircleCI accepts, in bytes.
const maxPattern = 256

func scan(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		start := i
		emit := func(kind tokenKind, end int) {
			toks = append(toks, token{kind: kind, text: s[start:end], pos: start})
			i = end
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			emit(tokLeftParen, i+1)
		case c == ')':
			emit(tokRightParen, i+1)
		case c == '!' && strings.HasPrefix(s[i:], "!="):
			emit(tokEquality, i+2)
		case c == '!':
			emit(tokNot, i+1)
		case c == '=':
			if !strings.HasPrefix(s[i:], "==") {
				return nil, &SyntaxError{Pos: i, Msg: `"=" is not an operator: want "=="`}
			}
			emit(tokEquality, i+2)
		case c == '<' || c == '>':
			end := i + 1
			if end < len(s) && s[end] == '=' {
				end++
			}
			emit(tokComparison, end)
		case c == '"':
			value, end, err := scanString(s, i)
			if err != nil {
				return nil, err
			}
			emit(tokString, end)
			toks[len(toks)-1].value = value
		case c == '/':
			source, end, err := scanPattern(s, i)
			if err != nil {
				return nil, err
			}
			emit(tokPattern, end)
			toks[len(toks)-1].value = source
		case isDigit(c):
			end := i
			for end < len(s) && isDigit(s[end]) {
				end++
			}
			n, err := strconv.ParseInt(s[i:end], 10, 64)
			if err != nil {
				return nil, &SyntaxError{Pos: i, Msg: "a number out of range (0 to 2^63-1)"}
			}
			emit(tokNumber, end)
			toks[len(toks)-1].number = n
		case isAlpha(c):
			end := i + 1
			for end < len(s) && (isTail(s[end]) || (s[end] == '.' && end+1 < len(s) && isTail(s[end+1]))) {
				end++
			}
			kind, ok := keywords[s[i:end]]
			if !ok {
				kind = tokIdent
			}
			emit(kind, end)
		default:
			r := []rune(s[i:])[0]
			return nil, &SyntaxError{Pos: i, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(s)}), nil
}

// scanString reads the string literal at s[start] ('"'): its value and the
// offset after it.
func scanString(s string, start int) (string, int, error) {
	var b strings.Builder
	for i := start + 1; i < len(s); i++ {
		switch {
		case s[i] == '"':
			return b.String(), i + 1, nil
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
		}
		b.WriteByte(s[i])
	}
	return "", 0, &SyntaxError{Pos: start, Msg: "a string without its closing '\"'"}
}

// scanPattern reads the pattern literal at s[start] ('/'): its source and
// the offset after it. Like CircleCI, it takes only Latin-1 characters and
// no \u or \x escapes, and the pattern must compile.
func scanPattern(s string, start int) (string, int, error) {
	var b strings.Builder
	for i := start + 1; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= 0x80 {
			r = []rune(s[i:])[0]
			size = len(string(r))
		}
		switch {
		case r == '/':
			source := b.String()
			if len(source) > maxPattern {
				return "", 0, &SyntaxError{Pos: start, Msg: fmt.Sprintf("a pattern longer than %d bytes", maxPattern)}
			}
			if _, err := regexp.Compile(source); err != nil {
				return "", 0, &SyntaxError{Pos: start, Msg: "a pattern that is not a regular expression: " + err.Error()}
			}
			return source, i + 1, nil
		case r == '\\' && i+1 < len(s) && s[i+1] == '/':
			b.WriteByte('/')
			i += 2
			continue
		case r == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'x'):
			return "", 0, &SyntaxError{Pos: i, Msg: `\u and \x escapes are not allowed in a pattern`}
		case r > 0xff:
			return "", 0, &SyntaxError{Pos: i, Msg: fmt.Sprintf("%q is not allowed in a pattern (ASCII and Latin-1 only)", r)}
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return "", 0, &SyntaxError{Pos: start, Msg: "a pattern without its closing '/'"}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isTail(c byte) bool  { return isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '?' }
