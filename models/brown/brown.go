// Package brown embeds llada's default model: a small LLaDA-architecture masked diffusion model (byte-level
// BPE, LLaDA-8B parameter names) trained on the Brown corpus by export/train.py. It exists so that llada runs
// out of the box and tests have a real model; it is far too small to write well. See export/README.md for its
// measured quality and the command that reproduces it.
//
// Importing this package adds the model (a few MB) to the binary; the root package does not import it.
package brown

import (
	"embed"
	"io/fs"

	"github.com/llada-go/llada"
)

//go:embed model.onnx tokenizer.json
var files embed.FS

// FS holds model.onnx and tokenizer.json at its root.
func FS() fs.FS { return files }

// ModelBytes returns the ONNX file.
func ModelBytes() ([]byte, error) { return files.ReadFile(llada.ModelFile) }

// Open loads the embedded model with ONNX Runtime.
func Open(opts ...llada.Option) (*llada.Model, error) { return llada.OpenFS(files, opts...) }
