package llada

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// wordPiece is greedy longest-match-first subword splitting (tokenizers/src/models/wordpiece/mod.rs): a word
// with any unmatchable rest, or longer than maxChars characters, becomes the single unk token.
type wordPiece struct {
	tokens   map[string]int
	unk      string
	prefix   string
	maxChars int
}

type wordPieceJSON struct {
	UnkToken                *string        `json:"unk_token"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	MaxInputCharsPerWord    *int           `json:"max_input_chars_per_word"`
	Vocab                   map[string]int `json:"vocab"`
}

func buildWordPiece(raw json.RawMessage) (*wordPiece, error) {
	var j wordPieceJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("WordPiece: %w", err)
	}
	if j.Vocab == nil {
		return nil, fmt.Errorf("WordPiece: missing vocab")
	}
	m := &wordPiece{tokens: j.Vocab, unk: "[UNK]", prefix: "##", maxChars: 100}
	if j.UnkToken != nil {
		m.unk = *j.UnkToken
	}
	if j.ContinuingSubwordPrefix != nil {
		m.prefix = *j.ContinuingSubwordPrefix
	}
	if j.MaxInputCharsPerWord != nil {
		m.maxChars = *j.MaxInputCharsPerWord
	}
	return m, nil
}

func (m *wordPiece) vocab() map[string]int { return m.tokens }

func (m *wordPiece) unkID() (int, error) {
	id, ok := m.tokens[m.unk]
	if !ok {
		return 0, fmt.Errorf("WordPiece: unk token %q not in vocab", m.unk)
	}
	return id, nil
}

func (m *wordPiece) tokenize(word string, dst []int) ([]int, error) {
	if utf8.RuneCountInString(word) > m.maxChars {
		id, err := m.unkID()
		return append(dst, id), err
	}
	start0 := len(dst)
	buf := make([]byte, 0, len(m.prefix)+len(word))
	for start := 0; start < len(word); {
		end := len(word)
		found := -1
		for start < end {
			var id int
			var ok bool
			if start > 0 {
				buf = append(append(buf[:0], m.prefix...), word[start:end]...)
				id, ok = m.tokens[string(buf)]
			} else {
				id, ok = m.tokens[word[start:end]]
			}
			if ok {
				found = id
				break
			}
			_, n := utf8.DecodeLastRuneInString(word[start:end])
			end -= n
		}
		if found < 0 {
			id, err := m.unkID()
			return append(dst[:start0], id), err
		}
		dst = append(dst, found)
		start = end
	}
	return dst, nil
}

// wordLevel maps each whole pre-token to its id, or to unk.
type wordLevel struct {
	tokens map[string]int
	unk    string
}

type wordLevelJSON struct {
	UnkToken *string        `json:"unk_token"`
	Vocab    map[string]int `json:"vocab"`
}

func buildWordLevel(raw json.RawMessage) (*wordLevel, error) {
	var j wordLevelJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("WordLevel: %w", err)
	}
	if j.Vocab == nil {
		return nil, fmt.Errorf("WordLevel: missing vocab")
	}
	m := &wordLevel{tokens: j.Vocab, unk: "<unk>"}
	if j.UnkToken != nil {
		m.unk = *j.UnkToken
	}
	return m, nil
}

func (m *wordLevel) vocab() map[string]int { return m.tokens }

func (m *wordLevel) tokenize(word string, dst []int) ([]int, error) {
	if id, ok := m.tokens[word]; ok {
		return append(dst, id), nil
	}
	id, ok := m.tokens[m.unk]
	if !ok {
		return dst, fmt.Errorf("WordLevel: %q is not in the vocab and unk token %q is missing", word, m.unk)
	}
	return append(dst, id), nil
}
