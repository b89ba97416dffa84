package llada

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// ErrConstraintTooLarge is wrapped when a pattern's byte automaton would exceed the state cap
// (WithMaxDFAStates).
var ErrConstraintTooLarge = errors.New("llada: constraint automaton too large")

// DefaultMaxDFAStates caps the deterministic automaton of one constraint pattern.
const DefaultMaxDFAStates = 4096

// byteDFA is a deterministic automaton over bytes: state 0 is the start, trans[s*256+b] the successor of s on
// byte b (-1: dead), acc[s] whether s accepts. Every state can still reach an accepting state (dead ones are
// pruned to -1), so "not -1" means "some continuation matches".
type byteDFA struct {
	n     int
	trans []int32
	acc   []bool
}

// nfa is a Thompson automaton over bytes built from a regexp/syntax tree.
type nfa struct {
	eps   [][]int32
	edges [][]byteEdge
}

type byteEdge struct {
	lo, hi byte
	to     int32
}

func (a *nfa) node() int32 {
	a.eps = append(a.eps, nil)
	a.edges = append(a.edges, nil)
	return int32(len(a.eps) - 1)
}

func (a *nfa) epsilon(from, to int32) { a.eps[from] = append(a.eps[from], to) }

// frag is a sub-automaton with one entry and one exit.
type frag struct{ in, out int32 }

// compileRegexDFA parses pattern with Go's regexp syntax (Perl flags) and builds the byte DFA of its full
// match. Empty-width assertions other than a leading ^ or \A and a trailing $ or \z are rejected: the match is
// always of the whole text, so those are the only ones with a meaning that does not depend on context.
func compileRegexDFA(pattern string, maxStates int) (*byteDFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("llada: constraint pattern: %w", err)
	}
	re = stripAnchors(re.Simplify())
	a := &nfa{}
	f, err := a.build(re)
	if err != nil {
		return nil, err
	}
	return a.determinize(f, maxStates)
}

// stripAnchors removes a leading begin-text and a trailing end-text from a concatenation (or a lone one).
func stripAnchors(re *syntax.Regexp) *syntax.Regexp {
	isBegin := func(r *syntax.Regexp) bool { return r.Op == syntax.OpBeginText || r.Op == syntax.OpBeginLine }
	isEnd := func(r *syntax.Regexp) bool { return r.Op == syntax.OpEndText || r.Op == syntax.OpEndLine }
	if isBegin(re) || isEnd(re) {
		return &syntax.Regexp{Op: syntax.OpEmptyMatch}
	}
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 {
		return re
	}
	sub := re.Sub
	if isBegin(sub[0]) {
		sub = sub[1:]
	}
	if len(sub) > 0 && isEnd(sub[len(sub)-1]) {
		sub = sub[:len(sub)-1]
	}
	out := *re
	out.Sub = sub
	return &out
}

func (a *nfa) build(re *syntax.Regexp) (frag, error) {
	switch re.Op {
	case syntax.OpNoMatch:
		return frag{a.node(), a.node()}, nil
	case syntax.OpEmptyMatch:
		n := a.node()
		return frag{n, n}, nil
	case syntax.OpLiteral:
		in := a.node()
		cur := in
		for _, r := range re.Rune {
			ranges := []rune{r, r}
			if re.Flags&syntax.FoldCase != 0 {
				ranges = foldRanges(r)
			}
			f := a.runeRanges(ranges)
			a.epsilon(cur, f.in)
			cur = f.out
		}
		return frag{in, cur}, nil
	case syntax.OpCharClass:
		return a.runeRanges(re.Rune), nil
	case syntax.OpAnyChar:
		return a.runeRanges([]rune{0, unicode.MaxRune}), nil
	case syntax.OpAnyCharNotNL:
		return a.runeRanges([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}), nil
	case syntax.OpCapture:
		return a.build(re.Sub[0])
	case syntax.OpConcat:
		in := a.node()
		cur := in
		for _, s := range re.Sub {
			f, err := a.build(s)
			if err != nil {
				return frag{}, err
			}
			a.epsilon(cur, f.in)
			cur = f.out
		}
		return frag{in, cur}, nil
	case syntax.OpAlternate:
		in, out := a.node(), a.node()
		for _, s := range re.Sub {
			f, err := a.build(s)
			if err != nil {
				return frag{}, err
			}
			a.epsilon(in, f.in)
			a.epsilon(f.out, out)
		}
		return frag{in, out}, nil
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		f, err := a.build(re.Sub[0])
		if err != nil {
			return frag{}, err
		}
		in, out := a.node(), a.node()
		a.epsilon(in, f.in)
		a.epsilon(f.out, out)
		if re.Op != syntax.OpPlus {
			a.epsilon(in, out)
		}
		if re.Op != syntax.OpQuest {
			a.epsilon(f.out, f.in)
		}
		return frag{in, out}, nil
	case syntax.OpRepeat:
		// Simplify expands counted repetition; one left here would be x{0,-1} forms it keeps as is.
		return frag{}, fmt.Errorf("llada: constraint pattern: repetition %s is not supported", re)
	}
	return frag{}, fmt.Errorf("llada: constraint pattern: %s (%v) is not supported: constraints match the whole text, so only a leading ^ and a trailing $ are allowed among empty-width assertions", re, re.Op)
}

// foldRanges returns r and its simple case folds as a sorted range list.
func foldRanges(r rune) []rune {
	rs := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		rs = append(rs, f)
	}
	slices.Sort(rs)
	out := make([]rune, 0, 2*len(rs))
	for _, x := range rs {
		out = append(out, x, x)
	}
	return out
}

// runeRanges builds the byte automaton of a set of runes (pairs lo, hi), each range split into UTF-8 byte
// sequences of one length whose bytes vary independently (surrogates excluded: Go encodes them as U+FFFD).
func (a *nfa) runeRanges(ranges []rune) frag {
	in, out := a.node(), a.node()
	for i := 0; i+1 < len(ranges); i += 2 {
		utf8Sequences(ranges[i], ranges[i+1], func(lo, hi []byte) {
			cur := in
			for k := range lo {
				next := out
				if k < len(lo)-1 {
					next = a.node()
				}
				a.edges[cur] = append(a.edges[cur], byteEdge{lo[k], hi[k], next})
				cur = next
			}
		})
	}
	return frag{in, out}
}

// utf8Sequences calls fn with byte-range sequences whose concatenated languages are exactly the UTF-8
// encodings of the runes in [lo, hi]: each sequence is a run of ranges lo[k]..hi[k], one per byte.
func utf8Sequences(lo, hi rune, fn func(lo, hi []byte)) {
	if lo > hi {
		return
	}
	// Surrogates have no UTF-8 encoding.
	if lo <= 0xDFFF && hi >= 0xD800 {
		utf8Sequences(lo, 0xD7FF, fn)
		utf8Sequences(0xE000, hi, fn)
		return
	}
	// Split where the encoded length changes.
	for _, edge := range []rune{0x7F, 0x7FF, 0xFFFF} {
		if lo <= edge && hi > edge {
			utf8Sequences(lo, edge, fn)
			utf8Sequences(edge+1, hi, fn)
			return
		}
	}
	if hi > unicode.MaxRune {
		hi = unicode.MaxRune
		if lo > hi {
			return
		}
	}
	n := utf8.RuneLen(lo)
	// Split until every trailing 6-bit group spans its full range or a single value, so that the byte
	// ranges are independent.
	for i := 1; i < n; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				utf8Sequences(lo, lo|m, fn)
				utf8Sequences((lo|m)+1, hi, fn)
				return
			}
			if hi&m != m {
				utf8Sequences(lo, (hi&^m)-1, fn)
				utf8Sequences(hi&^m, hi, fn)
				return
			}
		}
	}
	var bl, bh [utf8.UTFMax]byte
	utf8.EncodeRune(bl[:], lo)
	utf8.EncodeRune(bh[:], hi)
	fn(bl[:n], bh[:n])
}

// interner numbers the states of a construction in order of discovery, up to a cap.
type interner[K comparable, V any] struct {
	index map[K]int32
	vals  []V
	max   int
	what  string // completes the cap's error message
}

func newInterner[K comparable, V any](maxStates int, what string) *interner[K, V] {
	return &interner[K, V]{index: map[K]int32{}, max: maxStates, what: what}
}

func (in *interner[K, V]) add(k K, v V) (int32, error) {
	if id, ok := in.index[k]; ok {
		return id, nil
	}
	if len(in.vals) >= in.max {
		return 0, fmt.Errorf("%w: the pattern needs more than %d states%s (raise the cap with WithMaxDFAStates or simplify the pattern)", ErrConstraintTooLarge, in.max, in.what)
	}
	id := int32(len(in.vals))
	in.index[k] = id
	in.vals = append(in.vals, v)
	return id, nil
}

// closure extends set (sorted, unique) with every node reachable by epsilon edges.
func (a *nfa) closure(set []int32, seen []bool) []int32 {
	stack := append([]int32(nil), set...)
	for _, s := range set {
		seen[s] = true
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range a.eps[s] {
			if !seen[t] {
				seen[t] = true
				set = append(set, t)
				stack = append(stack, t)
			}
		}
	}
	for _, s := range set {
		seen[s] = false
	}
	slices.Sort(set)
	return set
}

// determinize is the subset construction, capped at maxStates states.
func (a *nfa) determinize(f frag, maxStates int) (*byteDFA, error) {
	seen := make([]bool, len(a.eps))
	key := func(set []int32) string {
		b := make([]byte, 4*len(set))
		for i, s := range set {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(s))
		}
		return string(b)
	}
	states := newInterner[string, []int32](maxStates, "")
	add := func(set []int32) (int32, error) { return states.add(key(set), set) }
	if _, err := add(a.closure([]int32{f.in}, seen)); err != nil {
		return nil, err
	}
	d := &byteDFA{}
	var targets [256][]int32
	for s := 0; s < len(states.vals); s++ {
		for b := range targets {
			targets[b] = targets[b][:0]
		}
		for _, q := range states.vals[s] {
			for _, e := range a.edges[q] {
				for b := int(e.lo); b <= int(e.hi); b++ {
					targets[b] = append(targets[b], e.to)
				}
			}
		}
		row := make([]int32, 256)
		for b := range targets {
			if len(targets[b]) == 0 {
				row[b] = -1
				continue
			}
			t := slices.Clone(targets[b])
			slices.Sort(t)
			t = slices.Compact(t)
			id, err := add(a.closure(t, seen))
			if err != nil {
				return nil, err
			}
			row[b] = id
		}
		d.trans = append(d.trans, row...)
		_, fin := slices.BinarySearch(states.vals[s], f.out)
		d.acc = append(d.acc, fin)
	}
	d.n = len(states.vals)
	return d.prune(), nil
}

// prune maps states that cannot reach an accepting state to -1 and renumbers the rest, keeping 0 the start
// (a DFA whose start is dead keeps one state with no transitions and no acceptance).
func (d *byteDFA) prune() *byteDFA {
	live := make([]bool, d.n)
	for changed := true; changed; {
		changed = false
		for s := 0; s < d.n; s++ {
			if live[s] {
				continue
			}
			if d.acc[s] {
				live[s], changed = true, true
				continue
			}
			for _, t := range d.trans[s*256 : (s+1)*256] {
				if t >= 0 && live[t] {
					live[s], changed = true, true
					break
				}
			}
		}
	}
	if !live[0] {
		row := make([]int32, 256)
		for i := range row {
			row[i] = -1
		}
		return &byteDFA{n: 1, trans: row, acc: []bool{false}}
	}
	// Renumber in breadth-first order from the start, dropping unreachable states too.
	newID := make([]int32, d.n)
	for i := range newID {
		newID[i] = -1
	}
	order := []int32{0}
	newID[0] = 0
	for i := 0; i < len(order); i++ {
		for _, t := range d.trans[int(order[i])*256 : int(order[i]+1)*256] {
			if t >= 0 && live[t] && newID[t] < 0 {
				newID[t] = int32(len(order))
				order = append(order, t)
			}
		}
	}
	out := &byteDFA{n: len(order), trans: make([]int32, 256*len(order)), acc: make([]bool, len(order))}
	for i, s := range order {
		out.acc[i] = d.acc[s]
		for b, t := range d.trans[int(s)*256 : int(s+1)*256] {
			out.trans[i*256+b] = -1
			if t >= 0 && live[t] {
				out.trans[i*256+b] = newID[t]
			}
		}
	}
	return out
}

// isTrimSpace is the whitespace trimmed from generated text before it is matched: ASCII space, tab, newline,
// vertical tab, form feed and carriage return.
func isTrimSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// trimmed returns the DFA of { a c b : a, b whitespace runs, c in L(d), c empty or starting and ending with a
// non-whitespace byte }, which is exactly the set of texts whose trimmed form is in L(d). A state of the
// product is the lead phase (only whitespace so far) or (p, ws, f): p the state of d after the core
// hypothesis (whitespace included, -1 once dead), ws whether the last byte was whitespace, f whether d
// accepted at the last non-whitespace byte.
func (d *byteDFA) trimmed(maxStates int) (*byteDFA, error) {
	type pstate struct {
		lead bool
		p    int32
		ws   bool
		f    bool
	}
	in := newInterner[pstate, pstate](maxStates, " once surrounding whitespace is allowed")
	add := func(s pstate) (int32, error) {
		if !s.lead && s.p < 0 && !(s.ws && s.f) {
			return -1, nil
		}
		if !s.ws {
			s.f = false
		}
		return in.add(s, s)
	}
	step := func(p int32, b byte) int32 {
		if p < 0 {
			return -1
		}
		return d.trans[int(p)*256+int(b)]
	}
	if _, err := add(pstate{lead: true}); err != nil {
		return nil, err
	}
	out := &byteDFA{}
	for i := 0; i < len(in.vals); i++ {
		s := in.vals[i]
		row := make([]int32, 256)
		for b := 0; b < 256; b++ {
			ws := isTrimSpace(byte(b))
			var next pstate
			switch {
			case s.lead && ws:
				next = pstate{lead: true}
			case s.lead:
				next = pstate{p: step(0, byte(b))}
			case ws && !s.ws:
				next = pstate{p: step(s.p, byte(b)), ws: true, f: d.acc[s.p]}
			case ws:
				next = pstate{p: step(s.p, byte(b)), ws: true, f: s.f}
			default:
				next = pstate{p: step(s.p, byte(b))}
			}
			id, err := add(next)
			if err != nil {
				return nil, err
			}
			row[b] = id
		}
		out.trans = append(out.trans, row...)
		var acc bool
		switch {
		case s.lead:
			acc = d.acc[0]
		case s.ws:
			acc = s.f
		default:
			acc = d.acc[s.p]
		}
		out.acc = append(out.acc, acc)
	}
	out.n = len(in.vals)
	return out.prune(), nil
}

// run feeds bs from state s and returns the state reached, or -1.
func (d *byteDFA) run(s int32, bs []byte) int32 {
	for _, b := range bs {
		if s < 0 {
			return -1
		}
		s = d.trans[int(s)*256+int(b)]
	}
	return s
}

// matches reports whether the DFA accepts bs.
func (d *byteDFA) matches(bs []byte) bool {
	s := d.run(0, bs)
	return s >= 0 && d.acc[s]
}

// minimize merges equivalent states (Moore's partition refinement over the byte columns that differ) and
// returns the minimal DFA of the same language, start state 0.
func (d *byteDFA) minimize() *byteDFA {
	// Bytes whose columns agree in every state behave alike; refine over one representative of each.
	var reps []int
	seenCol := map[string]bool{}
	col := make([]byte, 4*d.n)
	for b := 0; b < 256; b++ {
		for s := 0; s < d.n; s++ {
			binary.LittleEndian.PutUint32(col[4*s:], uint32(d.trans[s*256+b]))
		}
		if !seenCol[string(col)] {
			seenCol[string(col)] = true
			reps = append(reps, b)
		}
	}
	block := make([]int32, d.n)
	for s := range block {
		if d.acc[s] {
			block[s] = 1
		}
	}
	sig := make([]byte, 4*(len(reps)+1))
	for count := -1; ; {
		index := map[string]int32{}
		next := make([]int32, d.n)
		for s := 0; s < d.n; s++ {
			binary.LittleEndian.PutUint32(sig, uint32(block[s]))
			for i, b := range reps {
				t := d.trans[s*256+b]
				v := int32(-1)
				if t >= 0 {
					v = block[t]
				}
				binary.LittleEndian.PutUint32(sig[4*(i+1):], uint32(v))
			}
			id, ok := index[string(sig)]
			if !ok {
				id = int32(len(index))
				index[string(sig)] = id
			}
			next[s] = id
		}
		block = next
		if len(index) == count {
			break
		}
		count = len(index)
	}
	// One state per block, transitions from any member (they agree), then renumber from the start.
	nb := 0
	for _, x := range block {
		nb = max(nb, int(x)+1)
	}
	out := &byteDFA{n: nb, trans: make([]int32, 256*nb), acc: make([]bool, nb)}
	for s := 0; s < d.n; s++ {
		x := int(block[s])
		out.acc[x] = d.acc[s]
		for b := 0; b < 256; b++ {
			t := d.trans[s*256+b]
			if t >= 0 {
				t = block[t]
			}
			out.trans[x*256+b] = t
		}
	}
	if block[0] != 0 {
		// Swap blocks so that the start is 0.
		z := block[0]
		swap := func(v int32) int32 {
			switch v {
			case 0:
				return z
			case z:
				return 0
			}
			return v
		}
		for i, t := range out.trans {
			out.trans[i] = swap(t)
		}
		for b := 0; b < 256; b++ {
			out.trans[b], out.trans[int(z)*256+b] = out.trans[int(z)*256+b], out.trans[b]
		}
		out.acc[0], out.acc[z] = out.acc[z], out.acc[0]
	}
	return out.prune()
}
