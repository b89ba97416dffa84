package llada_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/llada-go/llada"
)

// A regular-expression constraint on the shipped Brown model: whatever the sampler, the text matches.
func ExampleCompileRegex() {
	m, err := llada.Open("models/brown")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c, err := llada.CompileRegex(`\d{3}-\d{4}`, m.Tokenizer().(llada.Vocabulary))
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Generate(context.Background(), "Call", llada.GenerateConfig{GenLength: 12, Constraint: c,
		Sampler: llada.SamplerByName("fast-dllm-threshold")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.MatchString(res.Sequences[0].Text))
	// Output: true
}

// A JSON Schema constraint: the output parses and has the required fields.
func ExampleCompileJSONSchema() {
	m, err := llada.Open("models/brown")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	schema := `{"type":"object","properties":{"name":{"type":"string","maxLength":6},"year":{"type":"integer"}},"required":["name","year"]}`
	c, err := llada.CompileJSONSchema([]byte(schema), m.Tokenizer().(llada.Vocabulary))
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Generate(context.Background(), "The", llada.GenerateConfig{GenLength: 24, Constraint: c})
	if err != nil {
		log.Fatal(err)
	}
	var v struct {
		Name *string `json:"name"`
		Year *int    `json:"year"`
	}
	err = json.Unmarshal([]byte(strings.TrimSpace(res.Sequences[0].Text)), &v)
	fmt.Println(err == nil, v.Name != nil, v.Year != nil)
	// Output: true true true
}

// The regular expression a JSON Schema compiles to.
func ExampleJSONSchemaRegex() {
	re, err := llada.JSONSchemaRegex([]byte(`{"type":"array","items":{"enum":["a","b"]},"maxItems":2}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(re)
	// Output: \[(?:(?:"a"|"b")(?:, ?(?:"a"|"b")){0,1})?\]
}

// An impossible constraint is an error before any forward pass.
func ExampleErrUnsatisfiable() {
	m, err := llada.Open("models/brown")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c, err := llada.CompileRegex(`x{100}`, m.Tokenizer().(llada.Vocabulary))
	if err != nil {
		log.Fatal(err)
	}
	_, err = m.Generate(context.Background(), "The", llada.GenerateConfig{GenLength: 8, Constraint: c})
	fmt.Println(errors.Is(err, llada.ErrUnsatisfiable))
	// Output: true
}
