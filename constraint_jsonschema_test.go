package llada

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validJSON validates v against the documented schema subset, independently of the regex translation.
func validJSON(t *testing.T, schema map[string]any, v any) error {
	if e, ok := schema["enum"]; ok {
		for _, x := range e.([]any) {
			if jsonEqual(x, v) {
				return nil
			}
		}
		return fmt.Errorf("%v not in enum %v", v, e)
	}
	if c, ok := schema["const"]; ok {
		if !jsonEqual(c, v) {
			return fmt.Errorf("%v is not const %v", v, c)
		}
		return nil
	}
	if alts, ok := schema["anyOf"]; ok {
		for _, a := range alts.([]any) {
			if validJSON(t, a.(map[string]any), v) == nil {
				return nil
			}
		}
		return fmt.Errorf("%v matches no anyOf branch", v)
	}
	var types []string
	switch ty := schema["type"].(type) {
	case string:
		types = []string{ty}
	case []any:
		for _, x := range ty {
			types = append(types, x.(string))
		}
	default:
		types = []string{"object"}
	}
	var errs []string
	for _, ty := range types {
		err := validTyped(t, ty, schema, v)
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

func validTyped(t *testing.T, ty string, schema map[string]any, v any) error {
	num := func(k string) (int, bool) {
		f, ok := schema[k].(float64)
		return int(f), ok
	}
	switch ty {
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%v is not a string", v)
		}
		n := utf8.RuneCountInString(s)
		if lo, ok := num("minLength"); ok && n < lo {
			return fmt.Errorf("%q shorter than %d", s, lo)
		}
		if hi, ok := num("maxLength"); ok && n > hi {
			return fmt.Errorf("%q longer than %d", s, hi)
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			return fmt.Errorf("%q does not match %s", s, p)
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return fmt.Errorf("%v is not an integer", v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%v is not a number", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%v is not a boolean", v)
		}
	case "null":
		if v != nil {
			return fmt.Errorf("%v is not null", v)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%v is not an array", v)
		}
		if lo, ok := num("minItems"); ok && len(a) < lo {
			return fmt.Errorf("%d items < %d", len(a), lo)
		}
		if hi, ok := num("maxItems"); ok && len(a) > hi {
			return fmt.Errorf("%d items > %d", len(a), hi)
		}
		for _, x := range a {
			if err := validJSON(t, schema["items"].(map[string]any), x); err != nil {
				return err
			}
		}
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%v is not an object", v)
		}
		props, _ := schema["properties"].(map[string]any)
		for k, x := range o {
			ps, ok := props[k]
			if !ok {
				return fmt.Errorf("property %q is not in the schema", k)
			}
			if err := validJSON(t, ps.(map[string]any), x); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := o[r.(string)]; !ok {
				return fmt.Errorf("required %q missing", r)
			}
		}
	default:
		t.Fatalf("validator: unknown type %q", ty)
	}
	return nil
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// jsonSuite is the schema suite: every supported keyword at least once.
var jsonSuite = []string{
	`{"type":"object","properties":{"name":{"type":"string","minLength":1,"maxLength":8},"age":{"type":"integer"}},"required":["name","age"]}`,
	`{"type":"object","properties":{"ok":{"type":"boolean"},"note":{"type":["string","null"],"maxLength":5},"score":{"type":"number"}},"required":["ok"],"additionalProperties":false}`,
	`{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4}`,
	`{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"size":{"const":3},"tag":{"type":"string","pattern":"^[a-z]+-[0-9]$"}},"required":["color","tag"]}`,
	`{"type":"object","properties":{"user":{"type":"object","properties":{"id":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":2}},"required":["id","tags"]}},"required":["user"]}`,
	`{"anyOf":[{"type":"integer"},{"type":"object","properties":{"a":{"type":"null"}},"required":["a"]}]}`,
	`{"title":"t","type":"string","pattern":"ab"}`,
}

// Documents that are valid under a schema match its regex, and invalid ones do not: the translation checked
// against the validator on hand-written documents.
func TestJSONSchemaRegexAgreesWithValidator(t *testing.T) {
	docs := []string{`{"name":"bo","age":3}`, `{"name": "bo", "age": -12}`, `{"age":3,"name":"bo"}`, `{"name":"","age":3}`,
		`{"ok":true}`, `{"ok":false,"note":null,"score":-1.5e3}`, `{"ok":true,"score":2}`, `{"note":"x"}`, `{"ok":true,"note":"toolong"}`,
		`[1,2]`, `[1, 2, 3, 4]`, `[1]`, `[1,2,3,4,5]`, `[1,2.5]`,
		`{"color":"red","tag":"ab-1"}`, `{"color":"red","size":3,"tag":"x-9"}`, `{"color":"pink","tag":"a-1"}`, `{"color":"red","tag":"ab1"}`,
		`{"user":{"id":1,"tags":[]}}`, `{"user":{"id":1,"tags":["abc","d"]}}`, `{"user":{"id":1,"tags":["abcd"]}}`,
		`7`, `{"a":null}`, `{"a":1}`, `"xaby"`, `"\u00e9ab"`, `"a\"b"`, `"ba"`}
	matched := 0
	for _, sch := range jsonSuite {
		pat, err := JSONSchemaRegex([]byte(sch))
		require.NoError(t, err, sch)
		re := regexp.MustCompile(`^(?:` + pat + `)$`)
		var schema map[string]any
		require.NoError(t, json.Unmarshal([]byte(sch), &schema))
		for _, d := range docs {
			var v any
			require.NoError(t, json.Unmarshal([]byte(d), &v), d)
			ok := re.MatchString(d)
			if ok {
				matched++
				assert.NoError(t, validJSON(t, schema, v), "%s matches %s but is invalid", d, sch)
			}
			// Valid compact documents in schema order are matched.
			if validJSON(t, schema, v) == nil && !strings.HasPrefix(d, `{"age"`) && !strings.Contains(d, "\\u") {
				assert.True(t, ok, "%s is valid under %s but does not match %s", d, sch, pat)
			}
		}
	}
	assert.GreaterOrEqual(t, matched, 15, "the valid documents of the list matched")
}

func TestJSONSchemaErrors(t *testing.T) {
	for sch, msg := range map[string]string{
		`{"type":"string","format":"email"}`: `keyword "format" is not supported`,
		`{"type":"integer","minimum":0}`:     `keyword "minimum"`,
		`{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":true}`: "additionalProperties must be false",
		`{"type":"object","properties":{},"required":["x"]}`:                                  `required property "x"`,
		`{"type":"widget"}`:                  `type "widget" is unknown`,
		`{"type":"array"}`:                   "needs items",
		`{"type":"string","maxLength":5000}`: "above 1000",
		`{"type":"string","pattern":"a\"b"}`: "needs escaping",
		`{"enum":[]}`:                        "enum is empty",
		`[1]`:                                "must be an object",
		`{"description":"only"}`:             "needs type",
		`{"type":"string","minLength":3,"maxLength":2}`: "impossible",
	} {
		_, err := JSONSchemaRegex([]byte(sch))
		assert.ErrorContains(t, err, msg, sch)
	}
}

// Every generation of the Brown model under each schema of the suite parses as JSON and validates, for a
// spread of samplers at temperature 0 and 1.
func TestJSONSchemaGenerations(t *testing.T) {
	m := openBrown(t)
	tok := m.Tokenizer().(*HFTokenizer)
	samplers := []string{"llada-low-confidence", "fast-dllm-threshold", "dream-entropy", "mdlm", "eb", "llada2"}
	runs := 0
	for i, sch := range jsonSuite {
		c, err := CompileJSONSchema([]byte(sch), tok)
		require.NoError(t, err, sch)
		var schema map[string]any
		require.NoError(t, json.Unmarshal([]byte(sch), &schema))
		for k, name := range samplers[i%2*3 : i%2*3+3] {
			cfg := GenerateConfig{GenLength: 32, BlockLength: 16, Steps: 32, Seed: uint64(k), Temperature: float64(k % 2),
				Sampler: SamplerByName(name), Constraint: c}
			res, err := m.Generate(context.Background(), "The", cfg)
			require.NoError(t, err, "%s %s", name, sch)
			text := strings.Trim(res.Sequences[0].Text, trimSet)
			var v any
			if assert.NoError(t, json.Unmarshal([]byte(text), &v), "%s: %q", name, text) {
				assert.NoError(t, validJSON(t, schema, v), "%s: %q under %s", name, text, sch)
			}
			runs++
		}
	}
	assert.Equal(t, 3*len(jsonSuite), runs)
}
