// Package continuous embeds llada's continuous-family model: a small embedding-space (CDCD/Plaid-style) Gaussian
// diffusion LM trained on the Brown corpus by export/train_continuous.py, with the Brown BPE tokenizer. It is far
// too small to write well; see export/README.md for its measured quality and the command that reproduces it.
//
// Importing this package adds the model (a few MB) to the binary; the root package does not import it.
package continuous

import (
	"embed"
	"io/fs"

	"github.com/llada-go/llada"
)

//go:embed model.onnx embeddings.bin tokenizer.json
var files embed.FS

// FS holds model.onnx, embeddings.bin and tokenizer.json at its root.
func FS() fs.FS { return files }

// Open loads the embedded model with ONNX Runtime.
func Open(opts ...llada.Option) (*llada.Model, error) { return llada.OpenFS(files, opts...) }
