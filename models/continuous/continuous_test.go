package continuous_test

import (
	"context"
	"testing"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/models/continuous"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedModelGenerates(t *testing.T) {
	m, err := continuous.Open(llada.WithIntraOpThreads(1))
	require.NoError(t, err)
	defer m.Close()
	c := m.Contract()
	require.Equal(t, llada.FamilyContinuous, c.Family)
	require.NotNil(t, m.Embeddings())
	assert.Equal(t, c.Continuous.EmbedDim, m.Embeddings().Dim)

	cfg := llada.GenerateConfig{GenLength: 12, Steps: 8, Seed: 3, Sampler: llada.SamplerByName(llada.SamplerDPMSolverPP)}
	a, err := m.Generate(context.Background(), "The jury said", cfg)
	require.NoError(t, err)
	b, err := m.Generate(context.Background(), "The jury said", cfg)
	require.NoError(t, err)
	assert.Equal(t, a.Sequences[0].IDs, b.Sequences[0].IDs, "equal seeds, equal outputs")
	assert.Equal(t, 8, a.NFE)
	assert.NotEmpty(t, a.Sequences[0].Text)
	prompt, err := m.Tokenizer().Encode("The jury said", true)
	require.NoError(t, err)
	assert.Equal(t, prompt, a.Sequences[0].IDs[:len(prompt)], "the prompt is held clean")
}

func Example() {
	m, err := continuous.Open()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	res, err := m.Generate(context.Background(), "The", llada.GenerateConfig{GenLength: 8, Steps: 8,
		Sampler: llada.SamplerByName("ddim")})
	if err != nil {
		panic(err)
	}
	_ = res.Sequences[0].Text // a short continuation of "The"
}
