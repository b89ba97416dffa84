package main

// Constraint flags for `llada generate`: --regex PATTERN and --json-schema FILE (one at most). They are
// compiled against the loaded model's tokenizer, so apply runs after the model is open.

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/llada-go/llada"
)

func addConstraintFlags(fs *flag.FlagSet) func(cfg *llada.GenerateConfig, m *llada.Model) error {
	regex := fs.String("regex", "", "constrain the generated text (trimmed of whitespace) to match this Go regular expression in full")
	schema := fs.String("json-schema", "", "constrain the generated text to one JSON document valid under this JSON Schema file (subset: docs/constraints.md)")
	maxStates := fs.Int("max-dfa-states", llada.DefaultMaxDFAStates, "state cap of the constraint's automaton")
	return func(cfg *llada.GenerateConfig, m *llada.Model) error {
		if *regex == "" && *schema == "" {
			return nil
		}
		if *regex != "" && *schema != "" {
			return errors.New("give --regex or --json-schema, not both")
		}
		vocab, ok := m.Tokenizer().(llada.Vocabulary)
		if !ok {
			return errors.New("--regex/--json-schema: the model's tokenizer cannot list its tokens' bytes")
		}
		opt := llada.WithMaxDFAStates(*maxStates)
		var err error
		if *regex != "" {
			cfg.Constraint, err = llada.CompileRegex(*regex, vocab, opt)
			if err != nil {
				return fmt.Errorf("--regex: %w", err)
			}
			return nil
		}
		b, err := os.ReadFile(*schema)
		if err != nil {
			return fmt.Errorf("--json-schema: %w", err)
		}
		if cfg.Constraint, err = llada.CompileJSONSchema(b, vocab, opt); err != nil {
			return fmt.Errorf("--json-schema %s: %w", *schema, err)
		}
		return nil
	}
}
