package llada

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScoreLogits(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name   string
		logits []float32
		never  int
		want   PositionScore
		bad    bool
	}{
		// softmax(0, ln2, ln3) = (1, 2, 3)/6; entropy = -Σ p ln p.
		{name: "plain", logits: []float32{0, float32(math.Ln2), float32(math.Log(3))}, never: -1,
			want: PositionScore{Token: 2, Prob: 0.5, Margin: 0.5 - 1.0/3, Entropy: -(math.Log(1.0/6)/6 + math.Log(2.0/6)*2/6 + math.Log(0.5)/2)}},
		{name: "never skips the top", logits: []float32{0, float32(math.Ln2), float32(math.Log(3))}, never: 2,
			want: PositionScore{Token: 1, Prob: 1.0 / 3, Margin: 0.5 - 1.0/3, Entropy: -(math.Log(1.0/6)/6 + math.Log(2.0/6)*2/6 + math.Log(0.5)/2)}},
		{name: "tie goes low, margin 0", logits: []float32{1, 3, 3, 0}, never: -1,
			want: PositionScore{Token: 1, Prob: math.Exp(3) / (math.E + 2*math.Exp(3) + 1), Margin: 0,
				Entropy: entropyOf(1, 3, 3, 0)}},
		{name: "-Inf logits add nothing", logits: []float32{-inf, 1, -inf, 1}, never: -1,
			want: PositionScore{Token: 1, Prob: 0.5, Margin: 0, Entropy: math.Ln2}},
		{name: "NaN", logits: []float32{1, float32(math.NaN())}, never: -1, bad: true},
		{name: "+Inf", logits: []float32{1, inf}, never: -1, bad: true},
		{name: "only the never id finite", logits: []float32{-inf, 2}, never: 1, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScoreLogits(tc.logits, tc.never)
			if tc.bad {
				require.ErrorIs(t, err, ErrBadLogits)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Token, got.Token)
			assert.InDelta(t, tc.want.Prob, got.Prob, 1e-6)
			assert.InDelta(t, tc.want.Margin, got.Margin, 1e-6)
			assert.InDelta(t, tc.want.Entropy, got.Entropy, 1e-6)
		})
	}
	_, err := ScoreLogits(nil, -1)
	require.Error(t, err)
	_, err = ScoreLogits([]float32{1, 2}, 2)
	require.ErrorContains(t, err, "outside")
	require.False(t, errors.Is(err, ErrBadLogits))
}

func entropyOf(xs ...float64) float64 {
	z := 0.0
	for _, x := range xs {
		z += math.Exp(x)
	}
	h := 0.0
	for _, x := range xs {
		p := math.Exp(x) / z
		h -= p * math.Log(p)
	}
	return h
}

func ExampleScoreLogits() {
	// Three tokens; id 2 is the mask, never proposed.
	s, err := ScoreLogits([]float32{2, 1, 5}, 2)
	if err != nil {
		panic(err)
	}
	fmt.Printf("token %d prob %.3f margin %.3f entropy %.3f\n", s.Token, s.Prob, s.Margin, s.Entropy)
	// Output: token 0 prob 0.047 margin 0.890 entropy 0.274
}
