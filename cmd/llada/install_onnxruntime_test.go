package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/llada-go/llada/onnx/install"
	"github.com/stretchr/testify/assert"
)

func TestInstallONNXRuntimeCommand(t *testing.T) {
	calls := 0
	installFunc = func(ctx context.Context, log io.Writer) (string, error) {
		calls++
		if calls == 2 {
			return "", errors.New("install: offline")
		}
		io.WriteString(log, "fetching\n")
		return "/cache/libonnxruntime.so.1", nil
	}
	t.Cleanup(func() { installFunc = install.Install })
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"install-onnxruntime"}, nil, &out, &errOut))
	assert.Equal(t, "/cache/libonnxruntime.so.1\n", out.String(), "the path goes to stdout, progress to stderr")
	assert.Equal(t, "fetching\n", errOut.String())
	errOut.Reset()
	assert.Equal(t, 1, run(t.Context(), []string{"install-onnxruntime"}, nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "llada install-onnxruntime: install: offline")
	assert.Equal(t, 1, run(t.Context(), []string{"install-onnxruntime", "-x"}, nil, &out, &errOut))
	assert.Equal(t, 2, calls)
}
