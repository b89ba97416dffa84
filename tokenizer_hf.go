package llada

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// HFTokenizer is a Hugging Face tokenizer.json pipeline in pure Go: added tokens, normalizer, pre-tokenizer,
// model (BPE, WordPiece, WordLevel), post-processor, truncation, padding and decoder, each following the
// reference implementation (github.com/huggingface/tokenizers) so that ids match it exactly; the golden tests
// in testdata/tokenizers check that against tokenizers@0.23.2. It is safe for concurrent use.
//
// Not implemented, and reported as errors naming them when a file uses them: the Unigram model, the Precompiled
// and NMT normalizers, the UnicodeScripts and FixedLength pre-tokenizers, the CTC decoder, BPE dropout. Only
// single sequences are encoded (pair templates are ignored) and offsets are not tracked.
type HFTokenizer struct {
	normalizer normalizer
	preTok     preTokenizer
	model      model
	post       postProcessor
	decoder    decoder
	trunc      *truncation
	pad        *padding

	raw, norm *addedMatcher // added tokens matched on the input / on the normalized text
	added     map[string]*addedToken
	addedByID map[int]*addedToken
	idToTok   []string // model vocabulary by id; "" where no token has the id
	size      int      // max id + 1 over the vocabulary and added tokens
}

var _ Tokenizer = (*HFTokenizer)(nil)

// MaxTokenizerInput bounds the text Encode accepts, in bytes: a runaway input fails fast instead of exhausting
// memory (ids take up to 8 bytes per input byte).
const MaxTokenizerInput = 1 << 28

// maxEncodeBytes is MaxTokenizerInput; tests lower it.
var maxEncodeBytes = MaxTokenizerInput

// LoadTokenizer reads a tokenizer.json file.
func LoadTokenizer(path string) (*HFTokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := ParseTokenizer(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

type tokenizerJSON struct {
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// ParseTokenizer builds a tokenizer from the contents of a tokenizer.json file. A component this package does
// not implement is an error naming it, never a silent approximation.
func ParseTokenizer(data []byte) (*HFTokenizer, error) {
	var j tokenizerJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	t := &HFTokenizer{}
	var err error
	if t.model, err = buildModel(j.Model); err != nil {
		return nil, fmt.Errorf("tokenizer.json model: %w", err)
	}
	if t.normalizer, err = buildNormalizer(j.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if t.preTok, err = buildPreTokenizer(j.PreTokenizer); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if t.post, err = buildPostProcessor(j.PostProcessor); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if t.decoder, err = buildDecoder(j.Decoder); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if t.trunc, err = parseTruncation(j.Truncation); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if t.pad, err = parsePadding(j.Padding); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if err := t.indexVocab(j.AddedTokens); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

func buildModel(raw json.RawMessage) (model, error) {
	if isJSONNull(raw) {
		return nil, errors.New("missing model")
	}
	var head struct {
		Type   *string         `json:"type"`
		Merges json.RawMessage `json:"merges"`
		Prefix json.RawMessage `json:"continuing_subword_prefix"`
		Max    json.RawMessage `json:"max_input_chars_per_word"`
		Vocab  json.RawMessage `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	typ := ""
	if head.Type != nil {
		typ = *head.Type
	} else {
		// Files written by older tokenizers omit the type; tokenizers then tries each model's fields in turn.
		v := bytes.TrimSpace(head.Vocab)
		switch {
		case head.Merges != nil:
			typ = "BPE"
		case head.Max != nil:
			typ = "WordPiece"
		case len(v) > 0 && v[0] == '[':
			typ = "Unigram"
		default:
			typ = "WordLevel"
		}
	}
	switch typ {
	case "BPE":
		return buildBPE(raw)
	case "WordPiece":
		return buildWordPiece(raw)
	case "WordLevel":
		return buildWordLevel(raw)
	}
	return nil, fmt.Errorf("unsupported model type %q", typ)
}

func (t *HFTokenizer) indexVocab(added []addedToken) error {
	vocab := t.model.vocab()
	maxID := -1
	for tok, id := range vocab {
		if id < 0 {
			return fmt.Errorf("model vocab: negative id %d for %q", id, tok)
		}
		maxID = max(maxID, id)
	}
	t.added = make(map[string]*addedToken, len(added))
	t.addedByID = make(map[int]*addedToken, len(added))
	var rawPats, normPats []addedPattern
	for i := range added {
		a := &added[i]
		if a.Content == "" {
			continue
		}
		if a.ID < 0 {
			return fmt.Errorf("added token %q: negative id %d", a.Content, a.ID)
		}
		if prev, ok := t.added[a.Content]; ok {
			// A later entry with the same content replaces the earlier one, as in tokenizers.
			delete(t.addedByID, prev.ID)
		}
		t.added[a.Content] = a
		t.addedByID[a.ID] = a
		maxID = max(maxID, a.ID)
	}
	for _, a := range added {
		a := t.added[a.Content]
		if a == nil {
			continue
		}
		if !a.Normalized {
			rawPats = append(rawPats, addedPattern{a.Content, a})
			continue
		}
		text := a.Content
		if t.normalizer != nil {
			var err error
			if text, err = t.normalizer.normalize(text); err != nil {
				return fmt.Errorf("added token %q: %w", a.Content, err)
			}
		}
		normPats = append(normPats, addedPattern{text, a})
	}
	t.raw, t.norm = newAddedMatcher(dedupe(rawPats)), newAddedMatcher(dedupe(normPats))
	// Ids index a dense table (and size logits rows downstream): a file whose ids are far sparser than its
	// entries is refused rather than allowed to allocate gigabytes.
	if entries := len(vocab) + len(t.added); maxID >= 4*entries+1024 {
		return fmt.Errorf("implausible vocabulary: largest id %d for %d tokens", maxID, entries)
	}
	t.size = maxID + 1
	t.idToTok = make([]string, t.size)
	for tok, id := range vocab {
		t.idToTok[id] = tok
	}
	// Every id Encode can emit must have a token, or callers indexing logits by id would go out of range.
	known := func(id int) bool { _, ok := t.IDToken(id); return ok }
	if t.post != nil {
		for _, id := range t.post.ids() {
			if !known(id) {
				return fmt.Errorf("post_processor: special token id %d is not in the vocabulary", id)
			}
		}
	}
	if t.pad != nil && !known(t.pad.padID) {
		return fmt.Errorf("padding: pad_id %d is not in the vocabulary", t.pad.padID)
	}
	return nil
}

func dedupe(p []addedPattern) []addedPattern {
	seen := map[*addedToken]bool{}
	out := p[:0]
	for _, x := range p {
		if !seen[x.tok] {
			seen[x.tok] = true
			out = append(out, x)
		}
	}
	return out
}

// VocabSize is one more than the largest id, so it sizes a logits row.
func (t *HFTokenizer) VocabSize() int { return t.size }

// TokenID looks up a token, added tokens first.
func (t *HFTokenizer) TokenID(token string) (int, bool) {
	if a, ok := t.added[token]; ok {
		return a.ID, true
	}
	id, ok := t.model.vocab()[token]
	return id, ok
}

// IDToken returns the token string of id, added tokens first.
func (t *HFTokenizer) IDToken(id int) (string, bool) {
	if a, ok := t.addedByID[id]; ok {
		return a.Content, true
	}
	if id < 0 || id >= len(t.idToTok) || t.idToTok[id] == "" {
		return "", false
	}
	return t.idToTok[id], true
}

// IsSpecial reports whether id is an added token marked special (skipped by Decode with skipSpecial).
func (t *HFTokenizer) IsSpecial(id int) bool {
	a, ok := t.addedByID[id]
	return ok && a.Special
}

// InvalidUTF8Error reports text that is not valid UTF-8; Offset is the first bad byte. Tokenizers operate on
// Unicode text, and guessing a repair would silently change the ids.
type InvalidUTF8Error struct{ Offset int }

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("tokenizer: input is not valid UTF-8 at byte offset %d", e.Offset)
}

// Encode returns the ids of text. addSpecial applies the post-processor (BOS, CLS/SEP...), as tokenizers'
// add_special_tokens does; truncation and padding from the file apply either way.
func (t *HFTokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if len(text) > maxEncodeBytes {
		return nil, fmt.Errorf("tokenizer: input of %d bytes exceeds the %d byte limit", len(text), maxEncodeBytes)
	}
	if off := invalidUTF8At(text); off >= 0 {
		return nil, &InvalidUTF8Error{Offset: off}
	}
	ids := make([]int, 0, len(text)/3+4)
	var err error
	for _, seg := range t.raw.split(text) {
		if seg.tok != nil {
			ids = append(ids, seg.tok.ID)
			continue
		}
		if ids, err = t.encodeText(text[seg.start:seg.end], seg.start == 0, ids); err != nil {
			return nil, err
		}
	}
	n := 0
	if addSpecial && t.post != nil {
		n = t.post.added()
	}
	if ids, err = t.trunc.apply(ids, n); err != nil {
		return nil, err
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return t.pad.apply(ids), nil
}

// encodeText normalizes a stretch of input without raw added tokens, cuts out the normalized added tokens,
// pre-tokenizes and runs the model.
func (t *HFTokenizer) encodeText(s string, first bool, ids []int) ([]int, error) {
	var err error
	if t.normalizer != nil {
		if s, err = t.normalizer.normalize(s); err != nil {
			return nil, err
		}
	}
	segs := []segment{{0, len(s), nil}}
	if !t.norm.empty() {
		segs = t.norm.split(s)
	}
	for _, seg := range segs {
		if seg.tok != nil {
			ids = append(ids, seg.tok.ID)
			continue
		}
		if seg.end == seg.start {
			continue
		}
		pieces := []piece{{s[seg.start:seg.end], first && seg.start == 0}}
		if t.preTok != nil {
			if pieces, err = t.preTok.preTokenize(pieces); err != nil {
				return nil, err
			}
		}
		for _, p := range pieces {
			if ids, err = t.model.tokenize(p.s, ids); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// Decode returns the text of ids; skipSpecial drops special added tokens. Ids outside the vocabulary are an
// error (tokenizers would drop them silently).
func (t *HFTokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	toks := make([]string, 0, len(ids))
	for i, id := range ids {
		if a, ok := t.addedByID[id]; ok {
			if skipSpecial && a.Special {
				continue
			}
			toks = append(toks, a.Content)
			continue
		}
		if id < 0 || id >= len(t.idToTok) || t.idToTok[id] == "" {
			return "", fmt.Errorf("tokenizer: decode: id %d at position %d is not in the vocabulary (size %d)", id, i, t.size)
		}
		toks = append(toks, t.idToTok[id])
	}
	if t.decoder == nil {
		return strings.Join(toks, " "), nil
	}
	out, err := t.decoder.decodeChain(toks)
	if err != nil {
		return "", fmt.Errorf("tokenizer: decode: %w", err)
	}
	return strings.Join(out, ""), nil
}

// buildSequence builds the elements of a Sequence component (normalizer, pre-tokenizer, post-processor or
// decoder) with build, dropping the nil ones that stand for "does nothing", and names the failing element.
func buildSequence[T comparable](raws []json.RawMessage, build func(json.RawMessage) (T, error)) ([]T, error) {
	var zero T
	seq := make([]T, 0, len(raws))
	for i, r := range raws {
		c, err := build(r)
		if err != nil {
			return nil, fmt.Errorf("Sequence[%d]: %w", i, err)
		}
		if c != zero {
			seq = append(seq, c)
		}
	}
	return seq, nil
}
