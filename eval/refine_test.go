//go:build cgo

package eval

import (
	"context"
	"fmt"
	"testing"

	"github.com/llada-go/llada"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefineScoresDraftsAndRepairs runs the shipped judge as drafter and scorer and the Brown model as
// repairer on two held-out prompts.
func TestRefineScoresDraftsAndRepairs(t *testing.T) {
	m, err := llada.Open("../models/brown", llada.WithIntraOpThreads(1))
	require.NoError(t, err)
	defer m.Close()
	d, err := llada.OpenDrafter("../models/judge/model.onnx", llada.WithIntraOpThreads(1))
	require.NoError(t, err)
	defer d.Close()
	judge, err := OpenJudge("../models/judge/model.onnx")
	require.NoError(t, err)
	defer judge.Close()
	sentences, err := LoadSentences(heldout)
	require.NoError(t, err)
	prompts, err := SentencePrefixes(m.Tokenizer(), sentences, 6, 2)
	require.NoError(t, err)
	cfg := llada.RefineConfig{Draft: llada.DraftConfig{Tokens: 8, Temperature: 1, Seed: 1}, Repair: llada.RepairConfig{K: 2}}
	s, err := Refine(context.Background(), m, d, judge, prompts, cfg)
	require.NoError(t, err)
	assert.Equal(t, 2, s.Samples)
	assert.Greater(t, s.Before.GenPPL, 1.0)
	assert.Greater(t, s.After.GenPPL, 1.0)
	assert.LessOrEqual(t, s.ChangedShare, 0.25, "at most 2 of 8 tokens per sample")
	assert.Greater(t, s.LogProbAfter, s.LogProbBefore-1e-9, "greedy repair of the least likely tokens does not lower the mean log-probability here")
	again, err := Refine(context.Background(), m, d, judge, prompts, cfg)
	require.NoError(t, err)
	assert.Equal(t, s.After.GenPPL, again.After.GenPPL, "seeded")
	_, err = Refine(context.Background(), m, d, judge, nil, cfg)
	assert.ErrorIs(t, err, ErrEmptyDataset)
}

// Refine drafts with the judge, repairs with the Brown model and scores both with the judge.
func ExampleRefine() {
	m, err := llada.Open("../models/brown")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	d, err := llada.OpenDrafter("../models/judge/model.onnx")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	judge, err := OpenJudge("../models/judge/model.onnx")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer judge.Close()
	prompt, err := m.Tokenizer().Encode("The jury said that", false)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := Refine(context.Background(), m, d, judge, [][]int{prompt},
		llada.RefineConfig{Draft: llada.DraftConfig{Tokens: 8}, Repair: llada.RepairConfig{K: 2}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Samples, s.ChangedShare <= 0.25)
	// Output: 1 true
}
