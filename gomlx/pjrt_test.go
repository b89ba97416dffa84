//go:build pjrt && cgo

package gomlx

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPJRTDevice runs in builds with -tags pjrt. Where $LLADA_PJRT_PLUGIN names a plugin (a GPU machine), the
// brown model on that device must match the pure-Go backend within the logits tolerance; without one, asking
// for CUDA must fail with the instructions.
func TestPJRTDevice(t *testing.T) {
	require.True(t, PJRTAvailable)
	plugin := os.Getenv(PluginEnv)
	if plugin == "" {
		t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir()) // an empty search path: nothing to find
		_, err := Open(testModels["tiny"], WithDevice(DeviceCUDA))
		require.Error(t, err)
		require.ErrorContains(t, err, PluginEnv)
		require.ErrorContains(t, err, "pjrt_c_api_cuda_plugin.so")
		_, err = Open(testModels["tiny"], WithDevice(DeviceCUDA), WithPJRTPlugin("relative.so"))
		require.ErrorContains(t, err, "must be an absolute path")
		t.Setenv(PluginEnv, "/nonexistent/pjrt_c_api_cuda_plugin.so")
		_, err = Open(testModels["tiny"], WithDevice(DeviceCUDA))
		require.ErrorContains(t, err, `failed to stat "/nonexistent/pjrt_c_api_cuda_plugin.so"`, "the env var is read")
		return
	}
	dev, err := Open(testModels["brown"], WithDevice(DeviceCUDA))
	require.NoError(t, err)
	defer dev.Close()
	cpu := gomlxModel(t, "brown")
	rng := rand.New(rand.NewPCG(3, 4))
	b := randomBatch(rng, 2, 32, cpu.VocabSize(), 4)
	want := make([]float32, 2*32*cpu.VocabSize())
	got := make([]float32, len(want))
	require.NoError(t, cpu.Forward(t.Context(), b, want))
	require.NoError(t, dev.Forward(t.Context(), b, got))
	diff, _ := maxAbsDiff(got, want)
	require.LessOrEqual(t, diff, logitsTolerance)
}
