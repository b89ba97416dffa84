package main

import (
	"context"
	"fmt"
	"io"

	"github.com/llada-go/llada/onnx/install"
)

func init() {
	register("install-onnxruntime", command{
		summary: "install the ONNX Runtime library llada needs into the llada cache (from the npm registry)",
		run:     runInstallONNXRuntime,
	})
}

// installFunc is the installer; tests replace it so that they do not download.
var installFunc = install.Install

func runInstallONNXRuntime(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("install-onnxruntime", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path, err := installFunc(ctx, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}
