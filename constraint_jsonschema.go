package llada

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
)

// CompileJSONSchema compiles a JSON Schema (the subset documented in docs/constraints.md and JSONSchemaRegex)
// into a Constraint: every generation under it decodes, trimmed, to one JSON document valid under the schema.
func CompileJSONSchema(schema []byte, vocab Vocabulary, opts ...ConstraintOption) (*Constraint, error) {
	pattern, err := JSONSchemaRegex(schema)
	if err != nil {
		return nil, err
	}
	return CompileRegex(pattern, vocab, opts...)
}

// JSONSchemaRegex translates a JSON Schema into a regular expression (Go syntax) whose full matches are
// compact JSON documents valid under it: no whitespace except an optional space after ':' and ','; object
// properties in the schema's order, optional ones omitted or present, no others.
//
// Supported keywords: type (a name or a list of names: object, string, integer, number, boolean, null,
// array), properties, required, additionalProperties (false only, which is the behaviour either way),
// enum, const, anyOf, minLength/maxLength (code points, at most 1000), pattern (search semantics like JSON
// Schema; its characters must not need escaping in JSON: '"', '\' and control characters are removed from
// its classes; not combined with minLength/maxLength), items, minItems/maxItems (at most 1000). Annotations
// (title, description, $schema, $id, default, examples, $comment) are ignored. Every other keyword is an
// error naming it, rather than a constraint silently dropped.
func JSONSchemaRegex(schema []byte) (string, error) {
	var s jsonNode
	if err := json.Unmarshal(schema, &s); err != nil {
		return "", fmt.Errorf("llada: json schema: %w", err)
	}
	re, err := s.regex("#")
	if err != nil {
		return "", fmt.Errorf("llada: json schema: %w", err)
	}
	return re, nil
}

// jsonNode is one schema with its keywords, object properties kept in document order.
type jsonNode struct {
	keys  map[string]json.RawMessage
	props []string // property names in order
	prop  map[string]*jsonNode
}

func (n *jsonNode) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("true")) {
		n.keys = map[string]json.RawMessage{}
		return nil
	}
	if err := json.Unmarshal(b, &n.keys); err != nil {
		return fmt.Errorf("a schema must be an object: %w", err)
	}
	raw, ok := n.keys["properties"]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("properties must be an object")
	}
	n.prop = map[string]*jsonNode{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name := t.(string)
		var sub jsonNode
		if err := dec.Decode(&sub); err != nil {
			return fmt.Errorf("property %q: %w", name, err)
		}
		if _, dup := n.prop[name]; dup {
			return fmt.Errorf("property %q appears twice", name)
		}
		n.props = append(n.props, name)
		n.prop[name] = &sub
	}
	return nil
}

var jsonIgnored = map[string]bool{"title": true, "description": true, "$schema": true, "$id": true, "default": true,
	"examples": true, "$comment": true}

const (
	jsonStringChar = `(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}))`
	jsonInteger    = `-?(?:0|[1-9][0-9]*)`
	jsonNumber     = jsonInteger + `(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`
	jsonComma      = `, ?`
	jsonColon      = `: ?`
	maxJSONRepeat  = 1000
)

func (n *jsonNode) regex(path string) (string, error) {
	used := map[string]bool{}
	get := func(k string, v any) (bool, error) {
		raw, ok := n.keys[k]
		if !ok {
			return false, nil
		}
		used[k] = true
		if err := json.Unmarshal(raw, v); err != nil {
			return false, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		return true, nil
	}
	out, err := n.body(path, get)
	if err != nil {
		return "", err
	}
	for k := range n.keys {
		if !used[k] && !jsonIgnored[k] {
			return "", fmt.Errorf("%s: keyword %q is not supported (see docs/constraints.md)", path, k)
		}
	}
	return out, nil
}

// body is the regex of a schema: enum, const, anyOf, or by type.
func (n *jsonNode) body(path string, get func(string, any) (bool, error)) (string, error) {
	var values []json.RawMessage
	if ok, err := get("enum", &values); err != nil || ok {
		if err == nil && len(values) == 0 {
			err = fmt.Errorf("%s: enum is empty", path)
		}
		if err != nil {
			return "", err
		}
		return literalAlternatives(path+": enum", values)
	}
	var one json.RawMessage
	if ok, err := get("const", &one); err != nil || ok {
		if err != nil {
			return "", err
		}
		return literalAlternatives(path+": const", []json.RawMessage{one})
	}
	var anyOf []jsonNode
	if ok, err := get("anyOf", &anyOf); err != nil || ok {
		if err != nil {
			return "", err
		}
		alts := make([]string, len(anyOf))
		for i := range anyOf {
			if alts[i], err = anyOf[i].regex(fmt.Sprintf("%s/anyOf/%d", path, i)); err != nil {
				return "", err
			}
		}
		return "(?:" + strings.Join(alts, "|") + ")", nil
	}
	return n.typed(path, get)
}

// typed is the regex of a schema selected by "type" (an object schema may leave it out).
func (n *jsonNode) typed(path string, get func(string, any) (bool, error)) (string, error) {
	var types []string
	var tv any
	if ok, err := get("type", &tv); err != nil {
		return "", err
	} else if ok {
		switch v := tv.(type) {
		case string:
			types = []string{v}
		case []any:
			for _, x := range v {
				t, isStr := x.(string)
				if !isStr {
					return "", fmt.Errorf("%s: type list holds %v, not a type name", path, x)
				}
				types = append(types, t)
			}
		default:
			return "", fmt.Errorf("%s: type must be a name or a list of names", path)
		}
	} else if n.prop != nil {
		types = []string{"object"}
	} else {
		return "", fmt.Errorf("%s: a schema needs type, enum, const, anyOf or properties", path)
	}
	if len(types) == 0 {
		return "", fmt.Errorf("%s: type list is empty", path)
	}
	alts := make([]string, 0, len(types))
	for _, t := range types {
		var re string
		var err error
		switch t {
		case "string":
			re, err = n.stringRegex(path, get)
		case "integer":
			re = jsonInteger
		case "number":
			re = jsonNumber
		case "boolean":
			re = `(?:true|false)`
		case "null":
			re = `null`
		case "object":
			re, err = n.objectRegex(path, get)
		case "array":
			re, err = n.arrayRegex(path, get)
		default:
			return "", fmt.Errorf("%s: type %q is unknown", path, t)
		}
		if err != nil {
			return "", err
		}
		alts = append(alts, re)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return "(?:" + strings.Join(alts, "|") + ")", nil
}

func literalAlternatives(what string, values []json.RawMessage) (string, error) {
	alts := make([]string, len(values))
	for i, v := range values {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		b, err := json.Marshal(x) // compact form
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		alts[i] = regexp.QuoteMeta(string(b))
	}
	return "(?:" + strings.Join(alts, "|") + ")", nil
}

// repeat returns re{lo,hi} (hi < 0: unbounded), checking Go's repetition limit.
func repeat(re string, lo, hi int, what string) (string, error) {
	if lo < 0 || (hi >= 0 && hi < lo) {
		return "", fmt.Errorf("%s: bounds %d..%d are impossible", what, lo, hi)
	}
	if lo > maxJSONRepeat || hi > maxJSONRepeat {
		return "", fmt.Errorf("%s: bounds above %d are not supported", what, maxJSONRepeat)
	}
	if hi < 0 {
		return fmt.Sprintf("(?:%s){%d,}", re, lo), nil
	}
	return fmt.Sprintf("(?:%s){%d,%d}", re, lo, hi), nil
}

func (n *jsonNode) stringRegex(path string, get func(string, any) (bool, error)) (string, error) {
	lo, hi := 0, -1
	hasLo, err := get("minLength", &lo)
	if err != nil {
		return "", err
	}
	hasHi, err := get("maxLength", &hi)
	if err != nil {
		return "", err
	}
	var pat string
	hasPat, err := get("pattern", &pat)
	if err != nil {
		return "", err
	}
	if hasPat {
		if hasLo || hasHi {
			return "", fmt.Errorf("%s: pattern together with minLength/maxLength is not supported", path)
		}
		inner, err := jsonPatternRegex(pat)
		if err != nil {
			return "", fmt.Errorf("%s: pattern: %w", path, err)
		}
		return `"` + inner + `"`, nil
	}
	body, err := repeat(jsonStringChar, lo, hi, path+": minLength/maxLength")
	if err != nil {
		return "", err
	}
	return `"` + body + `"`, nil
}

// jsonPatternRegex turns a JSON Schema pattern (ECMA-style search, read with Go's syntax) into a regex of the
// string body: its classes lose the characters JSON must escape, so the raw body equals the decoded value
// around the match; an unanchored side may hold any JSON string characters.
func jsonPatternRegex(pat string) (string, error) {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return "", err
	}
	re = re.Simplify()
	anchoredStart, anchoredEnd := false, false
	if re.Op == syntax.OpConcat && len(re.Sub) > 0 {
		if op := re.Sub[0].Op; op == syntax.OpBeginText || op == syntax.OpBeginLine {
			anchoredStart = true
		}
		if op := re.Sub[len(re.Sub)-1].Op; op == syntax.OpEndText || op == syntax.OpEndLine {
			anchoredEnd = true
		}
	}
	re = stripAnchors(re)
	if err := plainJSONChars(re); err != nil {
		return "", err
	}
	out := "(?:" + re.String() + ")"
	if !anchoredStart {
		out = jsonStringChar + "*" + out
	}
	if !anchoredEnd {
		out += jsonStringChar + "*"
	}
	return out, nil
}

// plainJSONChars removes '"', '\' and control characters from every character set of re, in place; a literal
// holding one is an error.
func plainJSONChars(re *syntax.Regexp) error {
	bad := func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }
	switch re.Op {
	case syntax.OpLiteral:
		if slices.ContainsFunc(re.Rune, bad) {
			return fmt.Errorf("literal %q needs escaping in JSON, which patterns do not support", string(re.Rune))
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		re.Op = syntax.OpCharClass
		re.Rune = []rune{0x20, 0x21, 0x23, 0x5b, 0x5d, unicode.MaxRune}
	case syntax.OpCharClass:
		var out []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			out = appendMinus(out, re.Rune[i], re.Rune[i+1])
		}
		re.Rune = out
	}
	for _, s := range re.Sub {
		if err := plainJSONChars(s); err != nil {
			return err
		}
	}
	return nil
}

// appendMinus appends [lo, hi] minus the control characters, '"' and '\' as ranges.
func appendMinus(out []rune, lo, hi rune) []rune {
	allowed := [][2]rune{{0x20, 0x21}, {0x23, 0x5b}, {0x5d, unicode.MaxRune}}
	for _, a := range allowed {
		l, h := max(lo, a[0]), min(hi, a[1])
		if l <= h {
			out = append(out, l, h)
		}
	}
	return out
}

func (n *jsonNode) objectRegex(path string, get func(string, any) (bool, error)) (string, error) {
	var required []string
	if _, err := get("required", &required); err != nil {
		return "", err
	}
	var extra any
	if ok, err := get("additionalProperties", &extra); err != nil {
		return "", err
	} else if ok && extra != false {
		return "", fmt.Errorf("%s: additionalProperties must be false (generated objects hold the listed properties only)", path)
	}
	for _, r := range required {
		if _, ok := n.prop[r]; !ok {
			return "", fmt.Errorf("%s: required property %q is not in properties", path, r)
		}
	}
	if _, err := get("properties", new(json.RawMessage)); err != nil {
		return "", err
	}
	props := make([]string, len(n.props))
	opt := make([]bool, len(n.props))
	for i, name := range n.props {
		key, _ := json.Marshal(name)
		val, err := n.prop[name].regex(path + "/properties/" + name)
		if err != nil {
			return "", err
		}
		props[i] = regexp.QuoteMeta(string(key)) + jsonColon + val
		opt[i] = !slices.Contains(required, name)
	}
	// rest[i] is the tail from property i once something was written (each present one preceded by a
	// comma); head[i] the tail when nothing was written yet. head stays quadratic in the property count.
	m := len(props)
	rest := make([]string, m+1)
	head := make([]string, m+1)
	for i := m - 1; i >= 0; i-- {
		withComma := jsonComma + props[i]
		if opt[i] {
			rest[i] = "(?:" + withComma + ")?" + rest[i+1]
			head[i] = "(?:" + props[i] + rest[i+1] + "|" + head[i+1] + ")"
			if head[i+1] == "" {
				head[i] = "(?:" + props[i] + rest[i+1] + ")?"
			}
		} else {
			rest[i] = withComma + rest[i+1]
			head[i] = props[i] + rest[i+1]
		}
	}
	return `\{` + head[0] + `\}`, nil
}

func (n *jsonNode) arrayRegex(path string, get func(string, any) (bool, error)) (string, error) {
	var items jsonNode
	ok, err := get("items", &items)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s: an array needs items", path)
	}
	item, err := items.regex(path + "/items")
	if err != nil {
		return "", err
	}
	lo, hi := 0, -1
	if _, err := get("minItems", &lo); err != nil {
		return "", err
	}
	if _, err := get("maxItems", &hi); err != nil {
		return "", err
	}
	if hi == 0 {
		return `\[\]`, nil
	}
	restHi := -1
	if hi > 0 {
		restHi = hi - 1
	}
	tail, err := repeat(jsonComma+item, max(lo-1, 0), restHi, path+": minItems/maxItems")
	if err != nil {
		return "", err
	}
	if hi >= 0 && hi < lo {
		return "", fmt.Errorf("%s: maxItems %d < minItems %d", path, hi, lo)
	}
	body := item + tail
	if lo == 0 {
		body = "(?:" + body + ")?"
	}
	return `\[` + body + `\]`, nil
}
