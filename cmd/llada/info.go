package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/onnx"
)

func init() {
	register("info", command{summary: "print a model's contract metadata and I/O signature", run: runInfo})
}

type infoOutput struct {
	Contract llada.Contract    `json:"contract"`
	Metadata map[string]string `json:"metadata"`
	Inputs   []onnx.TensorInfo `json:"inputs"`
	Outputs  []onnx.TensorInfo `json:"outputs"`
	Library  string            `json:"onnxruntime"`
}

// infoSession is what info reads of a model of either family.
type infoSession interface {
	Metadata() map[string]string
	Inputs() []onnx.TensorInfo
	Outputs() []onnx.TensorInfo
	Close() error
}

func runInfo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mf modelFlags
	mf.add(fs)
	format := fs.String("format", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var opts []onnx.Option
	if mf.library != "" {
		opts = append(opts, onnx.WithLibraryPath(mf.library))
	}
	var sess infoSession
	var err error
	if mf.dir == "" {
		var data []byte
		if data, err = defaultModelBytes(); err == nil {
			sess, err = onnx.OpenBytes(data, opts...)
		}
	} else {
		path := filepath.Join(mf.dir, llada.ModelFile)
		if sess, err = onnx.Open(path, opts...); errors.Is(err, onnx.ErrContinuousModel) {
			sess, err = onnx.OpenContinuous(path, opts...)
		}
	}
	if err != nil {
		return err
	}
	defer sess.Close()
	c, err := llada.ParseContract(sess.Metadata())
	if err != nil {
		return err
	}
	out := infoOutput{Contract: c, Metadata: sess.Metadata(), Inputs: sess.Inputs(), Outputs: sess.Outputs(), Library: onnx.LoadedLibrary()}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "family %s, contract v%d, vocab %d, max_seq_len %d, logits_shift %v\n",
		c.Family, c.Version, c.VocabSize, c.MaxSeqLen, c.LogitsShift)
	fmt.Fprintf(stdout, "mask %d, eos %d, pad %d, eot %d, bos %d\n", c.MaskID, c.EOSID, c.PadID, c.EOTID, c.BOSID)
	for _, t := range out.Inputs {
		fmt.Fprintf(stdout, "input  %s\n", t)
	}
	for _, t := range out.Outputs {
		fmt.Fprintf(stdout, "output %s\n", t)
	}
	keys := make([]string, 0, len(out.Metadata))
	for k := range out.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := out.Metadata[k]
		if len(v) > 80 {
			v = v[:77] + "..."
		}
		fmt.Fprintf(stdout, "meta   %s = %q\n", k, v)
	}
	fmt.Fprintf(stdout, "onnxruntime %s\n", out.Library)
	return nil
}
