//go:build !gomlx

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without -tags gomlx the GoMLX backend is not compiled in, and asking for it says how to get it.
func TestGoMLXBackendNeedsTag(t *testing.T) {
	for _, cmd := range []string{"generate", "info"} {
		_, errs, code := runCLI(t, "", cmd, "--model", tinyDir, "--prompt", "w5", "--backend", "gomlx")
		if cmd == "info" {
			_, errs, code = runCLI(t, "", cmd, "--model", tinyDir, "--backend", "gomlx")
		}
		require.Equal(t, 1, code)
		assert.Contains(t, errs, "rebuild with -tags gomlx", cmd)
	}
}
