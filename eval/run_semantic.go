package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/llada-go/llada"
)

// SampleSemantics are the feature- and word-based measures of one sampler setting's continuations.
type SampleSemantics struct {
	// Mauve compares the continuations of MauveSamples prompts (the genppl samples and more, drawn the same way)
	// with the human continuations of the same prompts. Curve and histograms are kept for plots.
	Mauve        MauveResult
	MauveSamples int
	// Words is the word-level diversity of the genppl samples (the same samples as the id-based columns).
	Words WordDiversity
}

// MauveReference is a reference row of the MAUVE table: human or synthetic text measured against the same
// human continuations, at the same sample size, so that the model rows can be read against chance and
// against the noise of the estimate.
type MauveReference struct {
	Name  string
	Mauve MauveResult
	// GenPPL is the judge's generative perplexity of the reference's continuations.
	GenPPL float64
}

// Names of the MAUVE reference rows.
const (
	refSameDocs = "held-out text, same documents"
	refHeldOut  = "held-out text, other documents"
	refUnigram  = "unigram samples"
)

// sameDocsBlock is the block length of the same-documents reference: the held-out file lists its sentences
// document by document (about 10 each), so alternate blocks of 4 continuations give two halves drawn from the
// same documents, of which only block edges share text.
const sameDocsBlock = 4

// semantics holds what the feature-based metrics share across sampler settings.
type semantics struct {
	enc          *Encoder
	judge        *Judge
	tok          llada.Tokenizer
	promptLen    int
	human        SentenceFeatures // features of the human continuations of the MAUVE prompts, MAUVE's scale
	mauvePrompts [][]int
	infillRefs   []Features // features of the infill references, encoded on first use
	cfg          Config
}

// newSemantics prepares the feature-based metrics, or returns nil when the judge has no features. It measures
// the reference rows of the MAUVE table and the paraphrase check into rep.
func newSemantics(ctx context.Context, cfg Config, data Data, rep *Report) (*semantics, error) {
	if data.Judge == nil || data.Judge.feats == nil || data.Text == nil {
		return nil, nil
	}
	enc, err := data.Judge.Encoder(cfg.Batch)
	if err != nil {
		return nil, err
	}
	tok := data.Text.Tokenizer()
	sep, err := ParaphraseSeparation(ctx, enc, tok, data.Sentences, cfg.ParaphrasePairs, 32, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("eval: paraphrase check: %w", err)
	}
	rep.Paraphrase = &sep
	s := &semantics{enc: enc, judge: data.Judge, tok: tok, promptLen: cfg.PromptLength, cfg: cfg}
	if !hasTask(cfg, TaskGenPPL) {
		return s, nil
	}
	total := cfg.PromptLength + cfg.GenLength
	conts, err := Continuations(tok, data.Sentences, cfg.PromptLength, total, 2*cfg.MauvePrompts)
	if err != nil {
		return nil, fmt.Errorf("eval: mauve: %w", err)
	}
	if len(conts) < 2*cfg.MauvePrompts {
		return nil, fmt.Errorf("%w: MAUVE needs %d held-out sentences of %d tokens (the prompts' and as many others for the reference row), found %d",
			ErrEmptyDataset, 2*cfg.MauvePrompts, cfg.PromptLength, len(conts))
	}
	own, other := conts[:cfg.MauvePrompts], conts[cfg.MauvePrompts:]
	if s.human, err = s.features(ctx, own); err != nil {
		return nil, err
	}
	if _, err = MauveVectors(s.human, s.human); err != nil {
		return nil, fmt.Errorf("eval: mauve: %w", err)
	}
	rep.MauveHumanGenPPL = genPPLOf(s.human)
	s.mauvePrompts = make([][]int, len(own))
	for i, c := range own {
		s.mauvePrompts[i] = c[:cfg.PromptLength]
	}
	uni, err := unigramContinuations(tok, data.Sentences, s.mauvePrompts, cfg.GenLength, cfg.Seed)
	if err != nil {
		return nil, err
	}
	// The same-documents row deals all the held-out continuations here (the prompts' and the others) into two
	// halves by alternate blocks and measures one half against the other: the prompts' own documents have no
	// sentences left to compare their continuations with.
	half, rest := alternateBlocks(conts, sameDocsBlock)
	refs := []struct {
		name  string
		human [][]int
		seqs  [][]int
	}{{refSameDocs, half, rest}, {refHeldOut, own, other}, {refUnigram, own, uni}}
	for _, ref := range refs {
		human, err := s.features(ctx, ref.human)
		if err != nil {
			return nil, err
		}
		f, err := s.features(ctx, ref.seqs)
		if err != nil {
			return nil, err
		}
		m, err := s.mauve(human, f)
		if err != nil {
			return nil, err
		}
		rep.MauveReferences = append(rep.MauveReferences, MauveReference{Name: ref.name, Mauve: m, GenPPL: genPPLOf(f)})
	}
	return s, nil
}

// alternateBlocks splits seqs into blocks of n and deals them alternately to two halves.
func alternateBlocks(seqs [][]int, n int) (a, b [][]int) {
	for i, q := range seqs {
		if (i/n)%2 == 0 {
			a = append(a, q)
		} else {
			b = append(b, q)
		}
	}
	return a, b
}

// genPPLOf is the generative perplexity of equal-length continuations from their mean log-probabilities.
func genPPLOf(f SentenceFeatures) float64 {
	s := 0.0
	for _, v := range f.LogProb {
		s += v
	}
	return math.Exp(-s / float64(len(f.LogProb)))
}

// mauve measures model features against human ones, both placed on the scale of the prompts' human
// continuations (MauveVectors).
func (s *semantics) mauve(human, model SentenceFeatures) (MauveResult, error) {
	hv, err := MauveVectors(s.human, human)
	if err != nil {
		return MauveResult{}, fmt.Errorf("eval: mauve: %w", err)
	}
	mv, err := MauveVectors(s.human, model)
	if err != nil {
		return MauveResult{}, fmt.Errorf("eval: mauve: %w", err)
	}
	return Mauve(hv, mv, MauveConfig{Seed: s.cfg.Seed})
}

func hasTask(cfg Config, t string) bool {
	for _, x := range cfg.Tasks {
		if x == t {
			return true
		}
	}
	return false
}

// features are the judge's sentence features of each sequence's continuation (after the prompt).
func (s *semantics) features(ctx context.Context, seqs [][]int) (SentenceFeatures, error) {
	from := make([]int, len(seqs))
	for i := range from {
		from[i] = s.promptLen
	}
	return JudgeSentenceFeatures(ctx, s.judge, s.enc, seqs, from, s.cfg.Batch)
}

// samples measures one setting's continuations: seqs are the genppl samples (prompt + continuation) of the
// first len(seqs) MAUVE prompts; the remaining MAUVE prompts are sampled here with dec.
func (s *semantics) samples(ctx context.Context, m *llada.Model, dec Decoding, seqs [][]int) (*SampleSemantics, error) {
	for i, q := range seqs {
		if i < len(s.mauvePrompts) && !slices.Equal(q[:s.promptLen], s.mauvePrompts[i]) {
			return nil, fmt.Errorf("eval: sample %d does not start with MAUVE prompt %d", i, i)
		}
	}
	texts := make([]string, len(seqs))
	for i, q := range seqs {
		t, err := s.tok.Decode(q[s.promptLen:], true)
		if err != nil {
			return nil, fmt.Errorf("eval: decode sample %d: %w", i, err)
		}
		texts[i] = t
	}
	out := &SampleSemantics{Words: MeasureWordDiversity(texts)}
	all := append([][]int(nil), seqs...)
	if extra := s.mauvePrompts[min(len(seqs), len(s.mauvePrompts)):]; len(extra) > 0 {
		more, _, err := Sample(ctx, m.Denoiser(), m.Contract(), extra, s.cfg.GenLength, dec, s.cfg.Batch, s.cfg.Seed^0x4d415556)
		if err != nil {
			return nil, err
		}
		all = append(all, more...)
	}
	all = all[:min(len(all), len(s.mauvePrompts))]
	f, err := s.features(ctx, all)
	if err != nil {
		return nil, err
	}
	if out.Mauve, err = s.mauve(s.human, f); err != nil {
		return nil, err
	}
	out.MauveSamples = len(all)
	return out, nil
}

// infill compares filled spans with the held-out tokens: greedy matching and pooled cosine from the span start.
// The references are the same for every setting of a run; they are encoded once.
func (s *semantics) infill(ctx context.Context, items []InfillItem, filled [][]int) (*SimilarityScore, error) {
	from := make([]int, len(items))
	for i, it := range items {
		from[i] = it.Start
	}
	if len(s.infillRefs) != len(items) {
		refs := make([][]int, len(items))
		for i, it := range items {
			refs[i] = it.Tokens
		}
		rf, err := s.enc.Encode(ctx, refs)
		if err != nil {
			return nil, err
		}
		s.infillRefs = rf
	}
	for i := range filled {
		if len(filled[i]) != s.infillRefs[i].Len || from[i] >= len(filled[i]) {
			return nil, fmt.Errorf("%w: infill item %d has %d tokens, its reference %d", ErrBadConfig, i, len(filled[i]), s.infillRefs[i].Len)
		}
	}
	sc, err := similarityTo(ctx, s.enc, filled, s.infillRefs, from)
	if err != nil {
		return nil, err
	}
	return &sc, nil
}

// Continuations returns, for up to limit sentences with at least prefixLen tokens (the sentences, in order,
// that SentencePrefixes turns into prompts), the first total tokens of the held-out text from that sentence
// on: the sentence followed by the next ones joined by spaces, tokenized sentence by sentence as TextWindows
// does. Its first prefixLen tokens are the prompt; the rest is the human continuation of that prompt.
func Continuations(tok llada.Tokenizer, sentences []string, prefixLen, total, limit int) ([][]int, error) {
	if prefixLen <= 0 || total < prefixLen {
		return nil, fmt.Errorf("%w: continuation of %d tokens after a prefix of %d", ErrBadConfig, total, prefixLen)
	}
	// plain[j] tokenizes sentence j alone (it starts a continuation), spaced[j] with a leading space (it
	// follows another sentence).
	plain := make([][]int, len(sentences))
	spaced := make([][]int, len(sentences))
	encode := func(cache [][]int, j int, prefix string) ([]int, error) {
		if cache[j] == nil {
			ids, err := tok.Encode(prefix+sentences[j], false)
			if err != nil {
				return nil, fmt.Errorf("eval: tokenize %q: %w", sentences[j], err)
			}
			cache[j] = ids
		}
		return cache[j], nil
	}
	var out [][]int
	for i := 0; i < len(sentences) && len(out) < limit; i++ {
		first, err := encode(plain, i, "")
		if err != nil {
			return nil, err
		}
		if len(first) < prefixLen {
			continue
		}
		seq := append([]int(nil), first...)
		for j := i + 1; j < len(sentences) && len(seq) < total; j++ {
			ids, err := encode(spaced, j, " ")
			if err != nil {
				return nil, err
			}
			seq = append(seq, ids...)
		}
		if len(seq) >= total {
			out = append(out, seq[:total])
		}
	}
	return out, nil
}

// unigramContinuations continues each prompt with genLen tokens drawn independently from the unigram
// distribution of the held-out text: fluent-free text with the right word frequencies, the MAUVE floor.
func unigramContinuations(tok llada.Tokenizer, sentences []string, prompts [][]int, genLen int, seed uint64) ([][]int, error) {
	var pool []int
	for _, s := range sentences {
		ids, err := tok.Encode(s, false)
		if err != nil {
			return nil, fmt.Errorf("eval: tokenize %q: %w", s, err)
		}
		pool = append(pool, ids...)
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("%w: no held-out tokens", ErrEmptyDataset)
	}
	rng := rand.New(rand.NewPCG(seed, 0x0415))
	out := make([][]int, len(prompts))
	for i, p := range prompts {
		seq := append([]int(nil), p...)
		for range genLen {
			seq = append(seq, pool[rng.IntN(len(pool))])
		}
		out[i] = seq
	}
	return out, nil
}
