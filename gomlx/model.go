package gomlx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/llada-go/llada"
)

// OpenModel loads a model directory (model.onnx + tokenizer.json) onto GoMLX and assembles a llada.Model
// with the contract read from the ONNX metadata. The returned Denoiser is the model's network (also
// m.Denoiser()); close it to free the compiled graphs (llada.Model.Close does not know this backend).
func OpenModel(dir string, opts ...Option) (*llada.Model, *Denoiser, error) {
	path := filepath.Join(dir, llada.ModelFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("gomlx: open model directory %q: %w", dir, err)
	}
	return assemble(data, dir, opts, func() (llada.Tokenizer, error) {
		return llada.LoadTokenizer(filepath.Join(dir, llada.TokenizerFile))
	})
}

// OpenModelFS is OpenModel over a file system, such as the embed.FS of models/brown.
func OpenModelFS(fsys fs.FS, opts ...Option) (*llada.Model, *Denoiser, error) {
	data, err := fs.ReadFile(fsys, llada.ModelFile)
	if err != nil {
		return nil, nil, fmt.Errorf("gomlx: read %s: %w", llada.ModelFile, err)
	}
	return assemble(data, "", opts, func() (llada.Tokenizer, error) {
		tj, err := fs.ReadFile(fsys, llada.TokenizerFile)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", llada.TokenizerFile, err)
		}
		return llada.ParseTokenizer(tj)
	})
}

func assemble(data []byte, dir string, opts []Option, loadTok func() (llada.Tokenizer, error)) (*llada.Model, *Denoiser, error) {
	d, err := open(data, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*llada.Model, *Denoiser, error) { return nil, nil, errors.Join(err, d.Close()) }
	c, err := d.Contract()
	if err != nil {
		return fail(err)
	}
	if c.VocabSize != d.VocabSize() {
		return fail(fmt.Errorf("gomlx: logits output has vocabulary %d but llada.vocab_size is %d", d.VocabSize(), c.VocabSize))
	}
	tok, err := loadTok()
	if err != nil {
		return fail(fmt.Errorf("gomlx: tokenizer: %w", err))
	}
	if tok.VocabSize() > c.VocabSize {
		return fail(fmt.Errorf("gomlx: tokenizer has %d tokens but the model's vocabulary is %d", tok.VocabSize(), c.VocabSize))
	}
	m, err := llada.New(d, tok, c)
	if err != nil {
		return fail(err)
	}
	return m, d, nil
}
