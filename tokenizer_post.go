package llada

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds the special tokens around a single encoded sequence (tokenizers/src/processors). Only
// single sequences are encoded here, so pair templates are parsed but not used.
type postProcessor interface {
	process(ids []int) []int
	added() int // how many ids process adds, for truncation
	ids() []int // every id process can add, for validation
}

// templatePost is TemplateProcessing's single template, resolved to ids: the sequence sits between before and after.
type templatePost struct{ before, after []int }

func (p templatePost) process(ids []int) []int {
	out := make([]int, 0, len(p.before)+len(ids)+len(p.after))
	out = append(out, p.before...)
	out = append(out, ids...)
	return append(out, p.after...)
}

func (p templatePost) added() int { return len(p.before) + len(p.after) }

func (p templatePost) ids() []int { return append(append([]int(nil), p.before...), p.after...) }

type postSeq []postProcessor

func (q postSeq) process(ids []int) []int {
	for _, p := range q {
		ids = p.process(ids)
	}
	return ids
}

func (q postSeq) ids() []int {
	var out []int
	for _, p := range q {
		out = append(out, p.ids()...)
	}
	return out
}

func (q postSeq) added() int {
	n := 0
	for _, p := range q {
		n += p.added()
	}
	return n
}

type templatePieceJSON struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type postJSON struct {
	Type       string            `json:"type"`
	Processors []json.RawMessage `json:"processors"`
	// TemplateProcessing
	Single        []templatePieceJSON `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	// BertProcessing / RobertaProcessing: [token, id]
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`
}

func tokenPairID(raw []json.RawMessage, what string) (int, error) {
	if len(raw) != 2 {
		return 0, fmt.Errorf("%s: want [token, id]", what)
	}
	var id int
	if err := json.Unmarshal(raw[1], &id); err != nil {
		return 0, fmt.Errorf("%s id: %w", what, err)
	}
	return id, nil
}

func buildPostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	var j postJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch j.Type {
	case "Sequence":
		seq, err := buildSequence(j.Processors, buildPostProcessor)
		return postSeq(seq), err
	case "ByteLevel":
		return templatePost{}, nil // only adjusts offsets, which are not tracked
	case "TemplateProcessing":
		var p templatePost
		seen := false
		for i, pc := range j.Single {
			switch {
			case pc.Sequence != nil:
				if pc.Sequence.ID != "A" {
					return nil, fmt.Errorf("TemplateProcessing: single template uses sequence %q, want A", pc.Sequence.ID)
				}
				if seen {
					return nil, fmt.Errorf("TemplateProcessing: single template repeats the sequence")
				}
				seen = true
			case pc.SpecialToken != nil:
				st, ok := j.SpecialTokens[pc.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("TemplateProcessing: special token %q missing from special_tokens", pc.SpecialToken.ID)
				}
				if seen {
					p.after = append(p.after, st.IDs...)
				} else {
					p.before = append(p.before, st.IDs...)
				}
			default:
				return nil, fmt.Errorf("TemplateProcessing: single[%d] is neither SpecialToken nor Sequence", i)
			}
		}
		if !seen {
			return nil, fmt.Errorf("TemplateProcessing: single template lacks the sequence A")
		}
		return p, nil
	case "BertProcessing", "RobertaProcessing":
		sep, err := tokenPairID(j.Sep, j.Type+" sep")
		if err != nil {
			return nil, err
		}
		cls, err := tokenPairID(j.Cls, j.Type+" cls")
		if err != nil {
			return nil, err
		}
		return templatePost{before: []int{cls}, after: []int{sep}}, nil
	case "":
		return nil, fmt.Errorf("post_processor without type")
	}
	return nil, fmt.Errorf("unsupported post_processor %q", j.Type)
}
