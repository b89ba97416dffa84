package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
)

// backendFlags choose where the network runs, for the commands that take them (generate, info).
type backendFlags struct {
	name   string // "ort" or "gomlx"
	device string // "cpu", "cuda", "cuda:N" (ort); "cpu", "cuda" or a PJRT plugin name (gomlx)
}

func (b *backendFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&b.name, "backend", "ort", "network backend: ort (ONNX Runtime) or gomlx (GoMLX; in builds with -tags gomlx)")
	fs.StringVar(&b.device, "device", "cpu", "device: cpu or cuda (ort: cuda:N picks a GPU and needs a CUDA build of "+
		"ONNX Runtime; gomlx: needs -tags gomlx,pjrt and a PJRT plugin, see $LLADA_PJRT_PLUGIN)")
}

// altBackend is a backend other than ONNX Runtime, compiled in by a build tag (backend_gomlx.go).
type altBackend struct {
	open func(dir, device string) (*llada.Model, error) // dir "" = the embedded default model
	info func(dir, device string) (infoOutput, error)
}

// altBackends holds the backends this binary was built with, by --backend name.
var altBackends = map[string]altBackend{}

// knownBackends are the names --backend accepts in some build, with the tag that adds each.
var knownBackends = map[string]string{"gomlx": "gomlx"}

// alt returns the chosen non-ORT backend, nil for ort, or an error naming what to do.
func (b backendFlags) alt() (*altBackend, error) {
	if b.name == "" || b.name == "ort" {
		return nil, nil
	}
	if a, ok := altBackends[b.name]; ok {
		return &a, nil
	}
	if tag, ok := knownBackends[b.name]; ok {
		return nil, fmt.Errorf("--backend %s: this llada binary was built without it: rebuild with -tags %s "+
			"(go build -tags %s ./cmd/llada)", b.name, tag, tag)
	}
	return nil, fmt.Errorf("--backend %q: want ort or gomlx", b.name)
}

// ortCUDA reads --device for ONNX Runtime: cpu, or cuda[:N] (GPU N, default 0).
func (b backendFlags) ortCUDA() (gpu int, cuda bool, err error) {
	switch d := b.device; {
	case d == "" || d == "cpu":
		return 0, false, nil
	case d == "cuda":
		return 0, true, nil
	case strings.HasPrefix(d, "cuda:"):
		n, err := strconv.Atoi(d[len("cuda:"):])
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("--device %q: want cuda:N with N a GPU index", d)
		}
		return n, true, nil
	default:
		return 0, false, fmt.Errorf("--device %q: with --backend ort, want cpu, cuda or cuda:N", d)
	}
}
