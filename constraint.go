package llada

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
)

// Vocabulary gives the bytes each token id stands for, which is what a constraint needs from a tokenizer.
// *HFTokenizer implements it for byte-level BPE tokenizers (decoder ByteLevel).
type Vocabulary interface {
	// VocabSize counts the ids, added tokens included.
	VocabSize() int
	// TokenBytes returns the bytes id decodes to on its own and whether it is a special token (skipped by
	// Decode with skipSpecial). Decoding a sequence must give the concatenation of its tokens' bytes.
	TokenBytes(id int) (b []byte, special bool, err error)
}

// ErrUnsatisfiable is wrapped when no text of the generation's token budget can satisfy a constraint; it is
// reported before the first forward pass.
var ErrUnsatisfiable = errors.New("llada: constraint cannot be satisfied")

// Constraint restricts a generation to texts that, with leading and trailing ASCII whitespace trimmed, fully
// match a regular expression. It is compiled once for a pattern and a vocabulary and is safe for concurrent
// use by any number of generations (put it in GenerateConfig.Constraint).
//
// Compilation builds a byte-level DFA of the pattern (Go regexp syntax) and lifts it to the vocabulary:
// tokens are grouped into classes that move every DFA state the same way, and a class table gives each
// state's successor per class. Generations then only run dynamic programs over that table.
type Constraint struct {
	pattern string
	dfa     *byteDFA
	vocab   int
	// tokClass[t] is t's class: 0 dead everywhere (special tokens, bytes no state accepts), 1 reserved for the
	// end tokens (EOS/EOT/pad, set per generation from the contract), 2.. regular classes.
	tokClass []int32
	classes  int
	special  []bool // special[t]: the vocabulary marks t special (Decode skips it)
	// next[s*classes+k] is the state reached from DFA state s by class k (-1: dead). Rows 0..n-1 are the
	// DFA's states, row n is the end state (after an EOS), where only class 1 loops.
	next []int32
	// The same table sparse: state s's live classes are liveK[liveOff[s]:liveOff[s+1]], with their
	// successors in liveT; most states of a structured pattern have few.
	liveOff, liveK, liveT []int32
}

// ConstraintOption configures constraint compilation.
type ConstraintOption func(*constraintOptions)

type constraintOptions struct{ maxStates int }

// WithMaxDFAStates caps the DFA (default DefaultMaxDFAStates); a pattern needing more is an error wrapping
// ErrConstraintTooLarge.
func WithMaxDFAStates(n int) ConstraintOption { return func(o *constraintOptions) { o.maxStates = n } }

// CompileRegex compiles pattern (Go regexp syntax, matched in full against the trimmed generation) for vocab.
// Compilations are cached by (pattern, vocabulary identity, options): the lift costs one pass over the
// vocabulary per DFA state and is reused by later calls with the same tokenizer value.
func CompileRegex(pattern string, vocab Vocabulary, opts ...ConstraintOption) (*Constraint, error) {
	o := constraintOptions{maxStates: DefaultMaxDFAStates}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxStates <= 0 {
		return nil, fmt.Errorf("llada: constraint state cap %d must be positive", o.maxStates)
	}
	if vocab == nil {
		return nil, errors.New("llada: constraint needs a vocabulary")
	}
	return constraintCache.get(cacheKey{pattern: pattern, vocab: vocabIdentity(vocab), maxStates: o.maxStates}, func() (*Constraint, error) {
		return compileConstraint(pattern, vocab, o)
	})
}

// Pattern returns the regular expression the constraint was compiled from.
func (c *Constraint) Pattern() string { return c.pattern }

// MatchString reports whether text, with leading and trailing ASCII whitespace trimmed, fully matches the
// pattern: the property every constrained generation's decoded text has.
func (c *Constraint) MatchString(text string) bool { return c.dfa.matches([]byte(text)) }

// States is the number of states of the constraint's DFA (surrounding whitespace included).
func (c *Constraint) States() int { return c.dfa.n }

// Classes is the number of token classes the vocabulary falls into under the DFA (dead and end included).
func (c *Constraint) Classes() int { return c.classes }

func compileConstraint(pattern string, vocab Vocabulary, o constraintOptions) (*Constraint, error) {
	core, err := compileRegexDFA(pattern, o.maxStates)
	if err != nil {
		return nil, err
	}
	d, err := core.minimize().trimmed(o.maxStates)
	if err != nil {
		return nil, err
	}
	d = d.minimize()
	c := &Constraint{pattern: pattern, dfa: d, vocab: vocab.VocabSize()}
	if c.vocab <= 0 {
		return nil, fmt.Errorf("llada: constraint: vocabulary size %d", c.vocab)
	}
	n := d.n
	rows := n + 1 // the end state
	c.tokClass = make([]int32, c.vocab)
	c.special = make([]bool, c.vocab)
	var ids []int32
	toks := make([][]byte, c.vocab)
	for id := 0; id < c.vocab; id++ {
		bs, special, err := vocab.TokenBytes(id)
		if err != nil {
			return nil, fmt.Errorf("llada: constraint: token %d: %w", id, err)
		}
		if special {
			c.special[id] = true // class 0; end tokens are assigned per generation
			continue
		}
		toks[id] = bs
		ids = append(ids, int32(id))
	}
	part := liftClasses(d, toks, ids)
	// Dense class numbers from 2 in order of first appearance; 0 stays dead.
	dense := map[int32]int32{0: 0}
	var table [][]int32 // per class, successor per DFA state
	table = append(table, nil, nil)
	for x, id := range ids {
		k, ok := dense[part[x]]
		if !ok {
			k = int32(len(table))
			dense[part[x]] = k
			vec := make([]int32, n)
			for st := range vec {
				vec[st] = d.run(int32(st), toks[id])
			}
			table = append(table, vec)
		}
		c.tokClass[id] = k
	}
	c.classes = len(table)
	c.next = make([]int32, rows*c.classes)
	for s := 0; s < rows; s++ {
		row := c.next[s*c.classes : (s+1)*c.classes]
		row[0] = -1
		row[1] = -1
		if s == n || d.acc[s] {
			row[1] = int32(n) // an end token ends the text: from an accepting state, or again after one
		}
		for k := 2; k < c.classes; k++ {
			row[k] = -1
			if s < n {
				row[k] = table[k][s]
			}
		}
	}
	c.liveOff = make([]int32, rows+1)
	for s := 0; s < rows; s++ {
		for k, t := range c.next[s*c.classes : (s+1)*c.classes] {
			if t >= 0 {
				c.liveK = append(c.liveK, int32(k))
				c.liveT = append(c.liveT, t)
			}
		}
		c.liveOff[s+1] = int32(len(c.liveK))
	}
	return c, nil
}

// liftClasses partitions the tokens ids (with byte strings toks) by how they move every state of d: two
// tokens share a class exactly when they reach the same state (or die) from each state. It refines the
// partition state by state over a trie of the tokens' bytes, so a shared prefix is run once and the
// subtree behind a prefix that dies is skipped: the work per state is the trie nodes alive from it. Class 0
// is dead from every state. The result is indexed like ids (which it sorts by bytes).
func liftClasses(d *byteDFA, toks [][]byte, ids []int32) []int32 {
	slices.SortFunc(ids, func(a, b int32) int { return bytes.Compare(toks[a], toks[b]) })
	// The trie in preorder: node i is the byte b[i] at depth[i] (from 1), its subtree ends before end[i],
	// and the tokens ending there are ids[tokLo[i]:tokLo[i+1]]. Sorted order is preorder.
	var (
		depth, end, tokLo []int32
		b                 []byte
		open              []int32 // nodes on the path to the last one, by depth-1
		rootEnd           int32   // empty tokens end at the root: ids[:rootEnd]
	)
	prev := []byte(nil)
	for x, id := range ids {
		bs := toks[id]
		l := 0
		if x > 0 {
			for l < len(prev) && l < len(bs) && prev[l] == bs[l] {
				l++
			}
		}
		for len(open) > l {
			end[open[len(open)-1]] = int32(len(depth))
			open = open[:len(open)-1]
		}
		for dd := l; dd < len(bs); dd++ {
			open = append(open, int32(len(depth)))
			depth = append(depth, int32(dd+1))
			b = append(b, bs[dd])
			end = append(end, 0)
			tokLo = append(tokLo, int32(x))
		}
		if len(bs) == 0 {
			rootEnd = int32(x + 1)
		}
		prev = bs
	}
	for _, o := range open {
		end[o] = int32(len(depth))
	}
	tokLo = append(tokLo, int32(len(ids)))
	// A node's tokens: those whose last byte it is. tokLo[i] is the first token created with node i; the
	// token that ends at node i is the first listed there when its length equals the depth.
	part := make([]int32, len(ids))
	fresh := int32(1)
	st := make([]int32, 1, 64)
	for s := 0; s < d.n; s++ {
		split := map[[2]int32]int32{}
		refine := func(x int, t int32) {
			key := [2]int32{part[x], t}
			k, ok := split[key]
			if !ok {
				k = fresh
				fresh++
				split[key] = k
			}
			part[x] = k
		}
		for x := 0; x < int(rootEnd); x++ {
			refine(x, int32(s))
		}
		st[0] = int32(s)
		for i := 0; i < len(depth); {
			dep := int(depth[i])
			t := d.trans[int(st[dep-1])*256+int(b[i])]
			if t < 0 {
				i = int(end[i])
				continue
			}
			if len(st) <= dep {
				st = append(st, 0)
			}
			st[dep] = t
			for x := int(tokLo[i]); x < int(tokLo[i+1]) && len(toks[ids[x]]) == dep; x++ {
				refine(x, t)
			}
			i++
		}
	}
	return part
}

// vocabIdentity is the cache key of a vocabulary: the value itself when it is comparable (a pointer, as
// *HFTokenizer), else nil (no caching).
func vocabIdentity(v Vocabulary) any {
	if !reflect.TypeOf(v).Comparable() {
		return nil
	}
	return v
}

type cacheKey struct {
	pattern   string
	vocab     any
	maxStates int
}

// maxCachedConstraints bounds the cache; when full it starts over (a constraint is rebuilt on its next use).
const maxCachedConstraints = 64

type constraintStore struct {
	mu sync.Mutex
	m  map[cacheKey]*Constraint
}

var constraintCache constraintStore

func (s *constraintStore) get(k cacheKey, build func() (*Constraint, error)) (*Constraint, error) {
	if k.vocab == nil {
		return build()
	}
	s.mu.Lock()
	c, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := build()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.m == nil || len(s.m) >= maxCachedConstraints {
		s.m = map[cacheKey]*Constraint{}
	}
	s.m[k] = c
	s.mu.Unlock()
	return c, nil
}
