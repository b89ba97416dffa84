package llada

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// model maps one pre-token to ids (tokenizers/src/models).
type model interface {
	tokenize(word string, dst []int) ([]int, error)
	vocab() map[string]int
}

// bpe is byte-pair encoding as in tokenizers/src/models/bpe/{model,word}.rs: the word starts as characters
// (or <0xXX> byte tokens with byte_fallback, or unk), then the lowest-ranked adjacent pair is merged repeatedly,
// leftmost first on ties. Written here rather than taken from a library because it is short, and owning it lets
// the merge loop avoid allocations.
type bpe struct {
	tokens       map[string]int
	merges       map[uint64]uint64 // (left<<32 | right) -> (rank<<32 | merged id)
	unk          string
	hasUnk       bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	byteTokens   [256]int // ids of <0xXX>, -1 if absent

	// joinable holds (last rune of a)<<32 | (first rune of b) for every merge (a, b); nil when segmenting long
	// words is not valid (continuing_subword_prefix or end_of_word_suffix make symbols position-dependent).
	joinable map[uint64]struct{}

	mu    sync.RWMutex
	cache map[string][]int
}

// bpeCacheSize and bpeCacheMaxWord follow tokenizers' BPE cache (10,000 words, words under 256 bytes): long
// words are rare repeats and would pin memory.
const (
	bpeCacheSize    = 10000
	bpeCacheMaxWord = 256
)

type bpeJSON struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

func buildBPE(raw json.RawMessage) (*bpe, error) {
	var j bpeJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("BPE: %w", err)
	}
	if j.Dropout != nil && *j.Dropout > 0 {
		return nil, fmt.Errorf("BPE: unsupported dropout %v (random merges at inference are not reproducible)", *j.Dropout)
	}
	if j.Vocab == nil {
		return nil, fmt.Errorf("BPE: missing vocab")
	}
	m := &bpe{
		tokens:       j.Vocab,
		fuseUnk:      j.FuseUnk,
		byteFallback: j.ByteFallback,
		ignoreMerges: j.IgnoreMerges,
		cache:        make(map[string][]int),
	}
	if j.UnkToken != nil {
		m.unk, m.hasUnk = *j.UnkToken, true
	}
	if j.ContinuingSubwordPrefix != nil {
		m.prefix = *j.ContinuingSubwordPrefix
	}
	if j.EndOfWordSuffix != nil {
		m.suffix = *j.EndOfWordSuffix
	}
	for id, t := range j.Vocab {
		if t < 0 {
			return nil, fmt.Errorf("BPE: negative id %d for %q", t, id)
		}
	}
	for b := range m.byteTokens {
		m.byteTokens[b] = -1
		if id, ok := j.Vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteTokens[b] = id
		}
	}
	pairs, err := parseMerges(j.Merges)
	if err != nil {
		return nil, fmt.Errorf("BPE: %w", err)
	}
	m.merges = make(map[uint64]uint64, len(pairs))
	for rank, p := range pairs {
		a, ok := j.Vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("BPE: merge %d: token %q not in vocab", rank+1, p[0])
		}
		b, ok := j.Vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("BPE: merge %d: token %q not in vocab", rank+1, p[1])
		}
		right := p[1]
		if m.prefix != "" {
			right = strings.TrimPrefix(right, m.prefix)
		}
		n, ok := j.Vocab[p[0]+right]
		if !ok {
			return nil, fmt.Errorf("BPE: merge %d: result %q not in vocab", rank+1, p[0]+right)
		}
		// A repeated pair keeps its last rank, as tokenizers' HashMap collect does.
		m.merges[uint64(a)<<32|uint64(b)] = uint64(rank)<<32 | uint64(n)
	}
	if m.prefix == "" && m.suffix == "" {
		m.joinable = make(map[uint64]struct{}, len(pairs))
		for _, p := range pairs {
			last, _ := utf8.DecodeLastRuneInString(p[0])
			first, _ := utf8.DecodeRuneInString(p[1])
			m.joinable[uint64(last)<<32|uint64(first)] = struct{}{}
		}
	}
	return m, nil
}

// parseMerges accepts both layouts found in tokenizer.json: ["a b", ...] and [["a", "b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	raw = bytes.TrimSpace(raw)
	if isJSONNull(raw) {
		return nil, nil
	}
	if len(raw) < 2 || raw[0] != '[' {
		return nil, fmt.Errorf("merges: want a list, got %.20s", raw)
	}
	inner := bytes.TrimSpace(raw[1:])
	if len(inner) > 0 && inner[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("merges: %w", err)
		}
		out := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("merges: entry %d has %d parts, want 2", i+1, len(p))
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	out := make([][2]string, len(lines))
	for i, l := range lines {
		a, b, ok := strings.Cut(l, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merges: entry %d %q is not two space-separated tokens", i+1, l)
		}
		out[i] = [2]string{a, b}
	}
	return out, nil
}

func (m *bpe) vocab() map[string]int { return m.tokens }

func (m *bpe) tokenize(word string, dst []int) ([]int, error) {
	if word == "" {
		return dst, nil
	}
	if m.ignoreMerges {
		if id, ok := m.tokens[word]; ok {
			return append(dst, id), nil
		}
	}
	if len(word) >= bpeCacheMaxWord && m.joinable != nil {
		return m.tokenizeSegments(word, dst)
	}
	return m.cachedMerge(word, dst)
}

// cachedMerge is mergeWord behind the word cache.
func (m *bpe) cachedMerge(word string, dst []int) ([]int, error) {
	if len(word) >= bpeCacheMaxWord {
		return m.mergeWord(word, dst)
	}
	m.mu.RLock()
	ids, ok := m.cache[word]
	m.mu.RUnlock()
	if ok {
		return append(dst, ids...), nil
	}
	start := len(dst)
	dst, err := m.mergeWord(word, dst)
	if err != nil {
		return dst, err
	}
	m.mu.Lock()
	if len(m.cache) < bpeCacheSize {
		m.cache[word] = append([]int(nil), dst[start:]...)
	}
	m.mu.Unlock()
	return dst, nil
}

// tokenizeSegments cuts a long word where no merge can ever join the two sides and merges the pieces on their
// own (through the cache). A merge (a, b) is the only way two characters become adjacent inside one symbol, so
// if no merge puts c2 right after c1, a boundary c1|c2 between two in-vocabulary characters is never crossed;
// BPE then applies the same merges, in the same relative order, to each side. This matters for files without a
// pre-tokenizer (LLaMA-2 style), where the whole text is one word.
func (m *bpe) tokenizeSegments(word string, dst []int) ([]int, error) {
	start, prev, prevKnown := 0, rune(-1), false
	var err error
	for i, r := range word {
		_, known := m.tokens[word[i:i+utf8.RuneLen(r)]]
		if i > 0 && known && prevKnown {
			if _, join := m.joinable[uint64(prev)<<32|uint64(r)]; !join {
				if dst, err = m.cachedMerge(word[start:i], dst); err != nil {
					return dst, err
				}
				start = i
			}
		}
		prev, prevKnown = r, known
	}
	return m.cachedMerge(word[start:], dst)
}

type bpeSymbol struct {
	id         int
	prev, next int
	gone       bool
}

// bpeMerge is a queued merge; key packs (rank, pos) so that one comparison orders by rank, then leftmost.
type bpeMerge struct {
	key uint64
	id  int
}

func newMerge(v uint64, pos int) bpeMerge {
	return bpeMerge{key: v>>32<<32 | uint64(pos), id: int(uint32(v))}
}

func (m bpeMerge) pos() int { return int(uint32(m.key)) }

// mergeHeap is a 4-ary min-heap on (rank, pos): half the depth of a binary heap, which matters when a whole
// text is one word (files without a pre-tokenizer).
type mergeHeap []bpeMerge

func (h mergeHeap) down(i int) {
	n := len(h)
	x := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h[k].key < h[m].key {
				m = k
			}
		}
		if h[m].key >= x.key {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = x
}

func (h *mergeHeap) push(x bpeMerge) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s[p].key <= x.key {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = x
}

func (h *mergeHeap) pop() bpeMerge {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	if n > 0 {
		s.down(0)
	}
	*h = s
	return top
}

func (m *bpe) mergeWord(w string, dst []int) ([]int, error) {
	syms := make([]bpeSymbol, 0, len(w))
	add := func(id int) {
		syms = append(syms, bpeSymbol{id: id, prev: len(syms) - 1, next: len(syms) + 1})
	}
	unkID, pendingUnk := -1, false
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+n]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+n == len(w) && m.suffix != "" {
			s += m.suffix
		}
		i += n
		if id, ok := m.tokens[s]; ok {
			if pendingUnk {
				add(unkID)
				pendingUnk = false
			}
			add(id)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if m.byteTokens[s[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				for k := 0; k < len(s); k++ {
					add(m.byteTokens[s[k]])
				}
				continue
			}
		}
		if !m.hasUnk {
			continue // tokenizers drops characters it cannot represent when there is no unk token
		}
		id, ok := m.tokens[m.unk]
		if !ok {
			return dst, fmt.Errorf("BPE: unk token %q not in vocab", m.unk)
		}
		if pendingUnk && !m.fuseUnk {
			add(unkID)
		}
		unkID, pendingUnk = id, true
	}
	if pendingUnk {
		add(unkID)
	}
	if len(syms) == 0 {
		return dst, nil
	}
	syms[len(syms)-1].next = -1
	var h mergeHeap = make([]bpeMerge, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if v, ok := m.merges[uint64(syms[i].id)<<32|uint64(syms[i+1].id)]; ok {
			h = append(h, newMerge(v, i))
		}
	}
	// Build the heap bottom-up: O(n) instead of n pushes.
	for i := (len(h) - 2) / 4; len(h) > 1 && i >= 0; i-- {
		h.down(i)
	}
	for len(h) > 0 {
		top := h.pop()
		pos := top.pos()
		cur := &syms[pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		rightPos := cur.next
		right := syms[rightPos]
		v, ok := m.merges[uint64(cur.id)<<32|uint64(right.id)]
		if !ok || int(uint32(v)) != top.id {
			continue // stale entry: one side changed since it was queued
		}
		cur.id = top.id
		cur.next = right.next
		syms[rightPos].gone = true
		if right.next >= 0 {
			syms[right.next].prev = pos
		}
		if cur.prev >= 0 {
			if v, ok := m.merges[uint64(syms[cur.prev].id)<<32|uint64(cur.id)]; ok {
				h.push(newMerge(v, cur.prev))
			}
		}
		if cur.next >= 0 {
			if v, ok := m.merges[uint64(cur.id)<<32|uint64(syms[cur.next].id)]; ok {
				h.push(newMerge(v, pos))
			}
		}
	}
	for i := 0; i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	return dst, nil
}
