package main

import (
	"io/fs"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/models/brown"
)

// The embedded default model: a small LLaDA-architecture model trained on the Brown corpus (see export/).
func openDefaultModel(opts ...llada.Option) (*llada.Model, error) { return brown.Open(opts...) }

func defaultModelBytes() ([]byte, error) { return brown.ModelBytes() }

// defaultModelFS holds model.onnx and tokenizer.json, for backends that load a model from files.
func defaultModelFS() fs.FS { return brown.FS() }
