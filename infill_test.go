package llada

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holeDenoiser's logits depend on the position and on both neighbours of the real canvas, so that the order
// in which holes are filled matters, and the mask token (id 0) is the argmax wherever pos%5 == 2, so that a
// filler that proposed it would show.
func holeDenoiser(vocab int) *tableDenoiser {
	return &tableDenoiser{vocab: vocab, fill: func(ids, att []int64, pos int, out []float32) {
		left, right := int64(3), int64(5)
		if pos > 0 {
			left = ids[pos-1]
		}
		if pos+1 < len(ids) {
			right = ids[pos+1]
		}
		h := uint32(pos*2654435761) ^ uint32(left*40503) ^ uint32(right*9973)
		for v := range out {
			h = h*1664525 + 1013904223
			out[v] = float32(h>>8) / float32(1<<24) * 4
		}
		if pos%5 == 2 {
			out[0] = 9
		}
	}}
}

// referenceGreedyInfill is the default semantics written directly on the real canvas: until no hole
// is left, run the network, take at every hole the argmax over all tokens but the mask and its probability
// (softmax over the whole vocabulary), and commit the single most probable hole, ties to the lowest position.
func referenceGreedyInfill(t *testing.T, den Denoiser, c Contract, canvas []int) ([]int, int) {
	cv := append([]int(nil), canvas...)
	v := den.VocabSize()
	logits := make([]float32, len(cv)*v)
	steps := 0
	for {
		ids := make([]int64, len(cv))
		holes := 0
		for i, id := range cv {
			ids[i] = int64(id)
			if id == c.MaskID {
				holes++
			}
		}
		if holes == 0 {
			return cv, steps
		}
		require.NoError(t, den.Forward(context.Background(), Batch{IDs: ids, Rows: 1, Seq: len(cv)}, logits))
		steps++
		bestP, bestPos, bestTok := -1.0, -1, -1
		for p, id := range cv {
			if id != c.MaskID {
				continue
			}
			l := logits[p*v : (p+1)*v]
			z := 0.0
			arg := -1
			for k, x := range l {
				z += math.Exp(float64(x))
				if k != c.MaskID && (arg < 0 || x > l[arg]) {
					arg = k
				}
			}
			if pr := math.Exp(float64(l[arg])) / z; pr > bestP {
				bestP, bestPos, bestTok = pr, p, arg
			}
		}
		cv[bestPos] = bestTok
	}
}

func TestInfillDefaultSemanticsMatchTheReference(t *testing.T) {
	c := testContract(24)
	m := c.MaskID
	for _, canvas := range [][]int{
		{5, m, 7, m, m, 9, m, 11},
		{m, m, 4, 5, 6, m, m, m, 8, m},
		{m, m, m, m, m, m},
		{6, 7, m, 8},
	} {
		den := holeDenoiser(24)
		want, wantSteps := referenceGreedyInfill(t, den, c, canvas)
		got, nfe, steps, err := FillHoles(context.Background(), den, c, [][]int{canvas}, GenerateConfig{})
		require.NoError(t, err)
		assert.Equal(t, want, got[0], "canvas %v", canvas)
		assert.Equal(t, wantSteps, steps, "one token per step")
		assert.Equal(t, wantSteps, nfe)
		assert.NotContains(t, got[0], m)
	}
}

func TestInfillTiesGoToTheLowestPosition(t *testing.T) {
	c := testContract(16)
	den := &tableDenoiser{vocab: 16, fill: func(ids, att []int64, pos int, out []float32) {
		for v := range out {
			out[v] = 0
		}
		out[6] = 2 // the same confidence at every hole
	}}
	m := c.MaskID
	var order []int
	canvas := []int{m, 5, m, 5, m}
	pd := &recordingDenoiser{Denoiser: den, mask: int64(m)}
	got, _, _, err := FillHoles(context.Background(), pd, c, [][]int{canvas}, GenerateConfig{})
	require.NoError(t, err)
	order = pd.filledOrder()
	assert.Equal(t, []int{6, 5, 6, 5, 6}, got[0])
	assert.Equal(t, []int{0, 2, 4}, order)
}

// recordingDenoiser records the real canvases it is shown, to read the order in which holes were filled.
type recordingDenoiser struct {
	Denoiser
	mask int64
	seen [][]int64
}

func (r *recordingDenoiser) Forward(ctx context.Context, in Batch, logits []float32) error {
	r.seen = append(r.seen, append([]int64(nil), in.IDs[:in.Seq]...))
	return r.Denoiser.Forward(ctx, in, logits)
}

// filledOrder lists the positions in the order they stopped being masks across the recorded passes.
func (r *recordingDenoiser) filledOrder() []int {
	var order []int
	for i := 1; i < len(r.seen); i++ {
		for p := range r.seen[i] {
			if r.seen[i-1][p] == r.mask && r.seen[i][p] != r.mask {
				order = append(order, p)
			}
		}
	}
	// The last fill is never shown to the network: it is the position still masked in the last pass.
	for p, id := range r.seen[len(r.seen)-1] {
		if id == r.mask {
			order = append(order, p)
		}
	}
	return order
}

func TestInfillEverySamplerFillsAllHolesAndNothingElse(t *testing.T) {
	for _, shift := range []bool{false, true} {
		c := testContract(24)
		c.LogitsShift = shift
		m := c.MaskID
		canvas := []int{m, m, 5, 6, m, m, m, 7, 8, 9, m, m, m}
		for _, name := range SamplerNames() {
			for _, block := range []int{0, 2} {
				cfg := GenerateConfig{Sampler: SamplerByName(name), BlockLength: block, Seed: 3, Temperature: 0.7}
				if block == 2 {
					cfg.Steps = 8
				}
				got, nfe, _, err := FillHoles(context.Background(), holeDenoiser(24), c, [][]int{canvas, canvas}, cfg)
				require.NoError(t, err, "%s block %d shift %v", name, block, shift)
				for r := range got {
					for p, id := range canvas {
						if id == m {
							assert.NotEqual(t, m, got[r][p], "%s: hole %d left masked", name, p)
						} else {
							assert.Equal(t, id, got[r][p], "%s: position %d outside the holes changed", name, p)
						}
					}
				}
				assert.Positive(t, nfe, name)
			}
		}
	}
}

func TestInfillBadInput(t *testing.T) {
	c := testContract(16)
	c.MaxSeqLen = 8
	m := c.MaskID
	den := holeDenoiser(16)
	for _, tc := range []struct {
		name     string
		canvases [][]int
		cfg      GenerateConfig
		want     string
	}{
		{"no canvases", nil, GenerateConfig{}, "no canvases"},
		{"empty canvas", [][]int{{}}, GenerateConfig{}, "canvas 0 is empty"},
		{"hole past max_seq_len", [][]int{{5, 5, 5, 5, 5, 5, 5, 5, m}}, GenerateConfig{}, "hole at position 8, which the model cannot see (max_seq_len 8)"},
		{"too long", [][]int{{m, 5, 5, 5, 5, 5, 5, 5, 5}}, GenerateConfig{}, "9 tokens, over the model's max_seq_len 8"},
		{"id outside vocab", [][]int{{m, 16}}, GenerateConfig{}, "id 16 outside the vocabulary"},
		{"negative id", [][]int{{m, -1}}, GenerateConfig{}, "id -1 outside the vocabulary"},
		{"shapes differ", [][]int{{m, 5}, {m, m}}, GenerateConfig{}, "equal shapes"},
		{"gen_length", [][]int{{m, 5}}, GenerateConfig{GenLength: 3}, "exactly its 1 holes"},
		{"negative prompt", [][]int{{m, 5}}, GenerateConfig{Guidance: Guidance{Scale: 1, NegativeIDs: [][]int{{4}}}}, "negative prompt"},
		{"bad steps", [][]int{{m, m, m, 5}}, GenerateConfig{BlockLength: 2}, "not a multiple of block_length"},
	} {
		_, _, _, err := FillHoles(context.Background(), den, c, tc.canvases, tc.cfg)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	got, nfe, _, err := FillHoles(context.Background(), den, c, [][]int{{5, 6}}, GenerateConfig{})
	require.NoError(t, err)
	assert.Equal(t, [][]int{{5, 6}}, got, "no holes: unchanged")
	assert.Zero(t, nfe)
}

func TestInfillHonoursCancellation(t *testing.T) {
	c := testContract(16)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := FillHoles(ctx, holeDenoiser(16), c, [][]int{{c.MaskID, 5}}, GenerateConfig{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestParseCanvasPlaceholders(t *testing.T) {
	m := openTiny(t)
	defer m.Close()
	c := m.Contract()
	ids, err := ParseCanvas(m.Tokenizer(), c, "w5 <|mask:3|> w7 <mask> w8<|mask:1|>")
	require.NoError(t, err)
	assert.Equal(t, []int{5, c.MaskID, c.MaskID, c.MaskID, 7, c.MaskID, 8, c.MaskID}, ids)
	ids, err = ParseCanvas(m.Tokenizer(), c, "<|mask:2|>w9")
	require.NoError(t, err)
	assert.Equal(t, []int{c.MaskID, c.MaskID, 9}, ids)
	for _, tc := range []struct{ text, want string }{
		{"w5 <|mask|> w6", "byte 3 has no hole count"},
		{"w5 <|mask:|> w6", "no hole count"},
		{"w5 <|mask:x|> w6", "no hole count"},
		{"w5 <|mask:0|> w6", "no hole count"},
		{"w5 <|mask:-2|> w6", "no hole count"},
		{"w5 <|mask:3 w6", "no hole count"},
		{"w5 <|mask:33|>", "33 holes, over the model's max_seq_len 32"},
		{"", "no tokens"},
	} {
		_, err := ParseCanvas(m.Tokenizer(), c, tc.text)
		require.ErrorIs(t, err, ErrBadCanvas, tc.text)
		assert.Contains(t, err.Error(), tc.want, tc.text)
	}
}

func TestModelInfillText(t *testing.T) {
	m := openTiny(t)
	defer m.Close()
	res, err := m.InfillText(context.Background(), "w5 <|mask:2|> w7 <|mask:1|>", GenerateConfig{})
	require.NoError(t, err)
	require.Len(t, res.IDs, 5)
	assert.Equal(t, []int{1, 2, 4}, res.Holes)
	assert.Equal(t, 5, res.IDs[0])
	assert.Equal(t, 7, res.IDs[3])
	assert.Equal(t, 3, res.NFE)
	assert.Equal(t, 3, res.Steps)
	assert.NotContains(t, res.IDs, m.Contract().MaskID)
	text, err := m.Tokenizer().Decode(res.IDs, true)
	require.NoError(t, err)
	assert.Equal(t, text, res.Text)
}

func TestInfillWithGuidanceMasksTheKnownTokensInTheUnconditionalRow(t *testing.T) {
	den := guidanceDenoiser() // prefers 9 when position 0 holds 7, else 10 (9 under mild guidance)
	c := testContract(16)
	m := c.MaskID
	got, nfe, _, err := FillHoles(context.Background(), den, c, [][]int{{7, m, 5, m}}, GenerateConfig{CFGScale: 1})
	require.NoError(t, err)
	assert.Equal(t, []int{7, 9, 5, 9}, got[0])
	assert.Equal(t, 2, nfe)
	require.Equal(t, 2, den.last.Rows, "cond and uncond in one pass")
	assert.Equal(t, []int64{7, 9, 5, int64(m)}, den.last.IDs[:4], "the real canvas, in its real order")
	assert.Equal(t, []int64{int64(m), 9, int64(m), int64(m)}, den.last.IDs[4:], "known tokens masked, filled holes kept")
}
