//go:build cgo

package onnx

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testThreads keeps tests polite on a shared machine.
const testThreads = 1

func modelPath(name string) string { return filepath.Join("..", "testdata", "onnx", name) }

// requireLibrary fails (never skips) when ONNX Runtime is missing, with the installer hint from LibraryPath.
func requireLibrary(t testing.TB) string {
	t.Helper()
	p, err := LibraryPath("")
	require.NoError(t, err, "the onnx tests need ONNX Runtime %s", RuntimeVersion)
	return p
}

var sessions struct {
	sync.Mutex
	m map[string]*Session
}

// shared opens each test model once per test binary; tests that close sessions open their own.
func shared(t testing.TB, name string) *Session {
	t.Helper()
	requireLibrary(t)
	sessions.Lock()
	defer sessions.Unlock()
	if s, ok := sessions.m[name]; ok {
		return s
	}
	s, err := Open(modelPath(name), WithIntraOpThreads(testThreads))
	require.NoError(t, err)
	if sessions.m == nil {
		sessions.m = map[string]*Session{}
	}
	sessions.m[name] = s
	return s
}
