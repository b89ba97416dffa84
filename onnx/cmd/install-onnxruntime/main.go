// Command install-onnxruntime installs the ONNX Runtime shared library that github.com/llada-go/llada expects
// into the llada cache, where llada finds it without configuration. Run it from a module that requires llada,
// so that the version matches:
//
//	go run github.com/llada-go/llada/onnx/cmd/install-onnxruntime
//
// It prints the installed path. See package github.com/llada-go/llada/onnx/install.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/llada-go/llada/onnx/install"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	path, err := install.Install(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(path)
}
