package main

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplyQuickKeepsExplicitFlags(t *testing.T) {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	samplers := fs.String("samplers", "all", "")
	budgets := fs.String("tokens-per-step", "1,2,4,8", "")
	for _, kv := range quickFlags[2:] {
		fs.String(kv[0], "default", "")
	}
	require.NoError(t, fs.Parse([]string{"--tokens-per-step", "2"}))
	require.NoError(t, applyQuick(fs))
	assert.Equal(t, quickFlags[0][1], *samplers, "quick value for a flag left alone")
	assert.Equal(t, "2", *budgets, "a flag given explicitly wins")

	missing := flag.NewFlagSet("eval", flag.ContinueOnError)
	require.ErrorContains(t, applyQuick(missing), "--quick: samplers")
}
