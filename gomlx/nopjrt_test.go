//go:build !(pjrt && cgo)

package gomlx

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCUDAWithoutPJRT: in a build without -tags pjrt (CI's), asking for a GPU says how to get one.
func TestCUDAWithoutPJRT(t *testing.T) {
	require.False(t, PJRTAvailable)
	_, err := Open(testModels["tiny"], WithDevice(DeviceCUDA))
	require.ErrorContains(t, err, "rebuild with CGO_ENABLED=1 and -tags pjrt")
	require.ErrorContains(t, err, PluginEnv)
}
