package llada

import (
	"errors"
	"fmt"
)

// PositionScore is what a greedy (temperature 0) low-confidence sampler reads from one position's logits.
type PositionScore struct {
	Token   int     // argmax of the logits with the never-proposed id excluded; ties go to the lowest id
	Prob    float64 // Token's softmax probability over the whole vocabulary
	Margin  float64 // top-1 minus top-2 softmax probability over the whole vocabulary
	Entropy float64 // softmax entropy, in nats
}

// ScoreLogits scores one position's logits with the samplers' own scorer at temperature 0, without EOS
// handling: never is the id that is never proposed (the contract's mask id; -1 for none). Backends that
// compute these statistics on the device (package gomlx) check themselves against it. Logits holding NaN or
// +Inf, or no finite proposable logit, are an error wrapping ErrBadLogits.
func ScoreLogits(logits []float32, never int) (PositionScore, error) {
	if len(logits) == 0 {
		return PositionScore{}, errors.New("llada: ScoreLogits: empty logits")
	}
	if never < -1 || never >= len(logits) {
		return PositionScore{}, fmt.Errorf("llada: ScoreLogits: never-proposed id %d is outside [-1,%d)", never, len(logits))
	}
	s := scorer{proposal: ProposeLLaDA, score: ScoreMargin, proposeSkip: noSkip3(), confSkip: noSkip3()}
	s.proposeSkip[2] = never
	r := s.run(logits, nil, nil)
	if !r.ok {
		return PositionScore{}, fmt.Errorf("%w: NaN, +Inf or no finite proposable logit", ErrBadLogits)
	}
	return PositionScore{Token: r.token, Prob: r.prob, Margin: r.score, Entropy: r.entropy}, nil
}
