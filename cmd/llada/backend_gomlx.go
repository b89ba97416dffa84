//go:build gomlx

package main

import (
	"fmt"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/gomlx"
)

// Built with -tags gomlx, the CLI can run the network on GoMLX (package gomlx): --backend gomlx, on the pure-Go
// CPU backend, or with -tags gomlx,pjrt on a PJRT plugin (--device cuda).
func init() {
	altBackends["gomlx"] = altBackend{open: openGoMLX, info: infoGoMLX}
}

func openGoMLXDenoiser(dir, device string) (*llada.Model, *gomlx.Denoiser, error) {
	opts := []gomlx.Option{gomlx.WithDevice(device)}
	if dir == "" {
		return gomlx.OpenModelFS(defaultModelFS(), opts...)
	}
	return gomlx.OpenModel(dir, opts...)
}

// openGoMLX returns the model; its denoiser lives until the process exits (the CLI opens one model per run).
func openGoMLX(dir, device string) (*llada.Model, error) {
	m, _, err := openGoMLXDenoiser(dir, device)
	return m, err
}

func infoGoMLX(dir, device string) (infoOutput, error) {
	m, d, err := openGoMLXDenoiser(dir, device)
	if err != nil {
		return infoOutput{}, err
	}
	defer d.Close()
	return infoOutput{Contract: m.Contract(), Metadata: d.Metadata(), Inputs: d.Inputs(), Outputs: d.Outputs(),
		Backend: fmt.Sprintf("gomlx (%s)", d.Backend()), Device: d.Device()}, nil
}
