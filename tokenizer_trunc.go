package llada

import (
	"encoding/json"
	"fmt"
)

// truncation is tokenizer.json's "truncation" for single sequences (tokenizers/src/utils/truncation.rs): the
// ids are cut to max_length minus what the post-processor will add.
type truncation struct {
	MaxLength int    `json:"max_length"`
	Strategy  string `json:"strategy"`
	Direction string `json:"direction"`
	Stride    int    `json:"stride"`
}

func parseTruncation(raw json.RawMessage) (*truncation, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	t := &truncation{Strategy: "LongestFirst", Direction: "Right"}
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, fmt.Errorf("truncation: %w", err)
	}
	switch t.Strategy {
	case "LongestFirst", "OnlyFirst", "OnlySecond":
	default:
		return nil, fmt.Errorf("truncation: unknown strategy %q", t.Strategy)
	}
	if t.Direction != "Right" && t.Direction != "Left" {
		return nil, fmt.Errorf("truncation: unknown direction %q", t.Direction)
	}
	if t.MaxLength < 0 {
		return nil, fmt.Errorf("truncation: negative max_length %d", t.MaxLength)
	}
	return t, nil
}

func (t *truncation) apply(ids []int, added int) ([]int, error) {
	if t == nil {
		return ids, nil
	}
	if t.Strategy == "OnlySecond" {
		return nil, fmt.Errorf("truncation: strategy OnlySecond needs a second sequence")
	}
	limit := t.MaxLength
	if added > 0 {
		if limit < added {
			return nil, fmt.Errorf("truncation: max_length %d is smaller than the %d special tokens", limit, added)
		}
		limit -= added
	}
	if len(ids) <= limit {
		return ids, nil
	}
	if t.Direction == "Left" {
		return ids[len(ids)-limit:], nil
	}
	return ids[:limit], nil
}

// padding is tokenizer.json's "padding" (tokenizers/src/utils/padding.rs); a single sequence is its own batch,
// so BatchLongest only rounds up to pad_to_multiple_of.
type padding struct {
	strategy int // 0 for BatchLongest, else the fixed length
	multiple int
	left     bool
	padID    int
}

// maxPadLength bounds padding targets read from a file, which size allocations.
const maxPadLength = 1 << 20

func parsePadding(raw json.RawMessage) (*padding, error) {
	if isJSONNull(raw) {
		return nil, nil
	}
	var j struct {
		Strategy        json.RawMessage `json:"strategy"`
		Direction       string          `json:"direction"`
		PadToMultipleOf *int            `json:"pad_to_multiple_of"`
		PadID           int             `json:"pad_id"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("padding: %w", err)
	}
	p := &padding{padID: j.PadID}
	var name string
	var fixed struct {
		Fixed *int `json:"Fixed"`
	}
	switch {
	case json.Unmarshal(j.Strategy, &name) == nil:
		if name != "BatchLongest" {
			return nil, fmt.Errorf("padding: unknown strategy %q", name)
		}
	case json.Unmarshal(j.Strategy, &fixed) == nil && fixed.Fixed != nil:
		if *fixed.Fixed < 0 || *fixed.Fixed > maxPadLength {
			return nil, fmt.Errorf("padding: fixed length %d outside [0, %d]", *fixed.Fixed, maxPadLength)
		}
		p.strategy = *fixed.Fixed
	default:
		return nil, fmt.Errorf("padding: unknown strategy %s", j.Strategy)
	}
	switch j.Direction {
	case "Right", "":
	case "Left":
		p.left = true
	default:
		return nil, fmt.Errorf("padding: unknown direction %q", j.Direction)
	}
	if j.PadToMultipleOf != nil {
		if *j.PadToMultipleOf < 0 || *j.PadToMultipleOf > maxPadLength {
			return nil, fmt.Errorf("padding: pad_to_multiple_of %d outside [0, %d]", *j.PadToMultipleOf, maxPadLength)
		}
		p.multiple = *j.PadToMultipleOf
	}
	return p, nil
}

func (p *padding) apply(ids []int) []int {
	if p == nil {
		return ids
	}
	target := len(ids)
	if p.strategy > 0 {
		target = p.strategy
	}
	if p.multiple > 0 && target%p.multiple != 0 {
		target += p.multiple - target%p.multiple
	}
	if len(ids) >= target {
		return ids
	}
	out := make([]int, 0, target)
	if p.left {
		for len(out) < target-len(ids) {
			out = append(out, p.padID)
		}
		return append(out, ids...)
	}
	out = append(out, ids...)
	for len(out) < target {
		out = append(out, p.padID)
	}
	return out
}
