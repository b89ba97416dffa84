package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

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
	Library  string            `json:"onnxruntime,omitempty"` // the ONNX Runtime library, with --backend ort
	Backend  string            `json:"backend"`               // "onnxruntime" or what the alternative backend reports
	Device   string            `json:"device"`
	Weights  weightsInfo       `json:"weights"`           // from llada.weights (info_weights.go)
	Distill  *llada.Distill    `json:"distill,omitempty"` // from llada.distill.* (distilled students only)
	// KVCache is the KV-cache extension the model advertises (llada.kv_cache), null without one.
	KVCache *onnx.KVCacheInfo `json:"kv_cache"`
}

// infoSession is what info reads of a model of either family.
type infoSession interface {
	Metadata() map[string]string
	Inputs() []onnx.TensorInfo
	Outputs() []onnx.TensorInfo
	Close() error
}

func runInfo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", stderr)
	var mf modelFlags
	mf.add(fs)
	mf.be.add(fs)
	format := fs.String("format", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	out, err := modelInfo(mf)
	if err != nil {
		return err
	}
	return printInfo(stdout, out, *format)
}

// modelInfo opens the model on the chosen backend and reads its contract and signature.
func modelInfo(mf modelFlags) (infoOutput, error) {
	alt, err := mf.be.alt()
	if err != nil {
		return infoOutput{}, err
	}
	if alt != nil {
		return alt.info(mf.dir, mf.be.device)
	}
	gpu, cuda, err := mf.be.ortCUDA()
	if err != nil {
		return infoOutput{}, err
	}
	device := "cpu"
	var opts []onnx.Option
	if cuda {
		opts = append(opts, onnx.WithCUDA(gpu))
		device = fmt.Sprintf("cuda:%d", gpu)
	}
	if mf.library != "" {
		opts = append(opts, onnx.WithLibraryPath(mf.library))
	}
	var sess infoSession
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
		return infoOutput{}, err
	}
	defer sess.Close()
	c, err := llada.ParseContract(sess.Metadata())
	if err != nil {
		return infoOutput{}, err
	}
	out := infoOutput{Contract: c, Metadata: sess.Metadata(), Inputs: sess.Inputs(), Outputs: sess.Outputs(),
		Library: onnx.LoadedLibrary(), Backend: "onnxruntime", Device: device}
	if s, ok := sess.(*onnx.Session); ok {
		if kv, ok := s.KVCache(); ok {
			out.KVCache = &kv
		}
	}
	return out, nil
}

func printInfo(stdout io.Writer, out infoOutput, format string) error {
	c := out.Contract
	out.Weights = readWeights(out.Metadata)
	out.Distill = llada.ReadDistill(out.Metadata)
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "family %s, contract v%d, vocab %d, max_seq_len %d, logits_shift %v\n",
		c.Family, c.Version, c.VocabSize, c.MaxSeqLen, c.LogitsShift)
	fmt.Fprintf(stdout, "mask %d, eos %d, pad %d, eot %d, bos %d\n", c.MaskID, c.EOSID, c.PadID, c.EOTID, c.BOSID)
	fmt.Fprintf(stdout, "weights %s\n", readWeights(out.Metadata))
	if kv := out.KVCache; kv != nil {
		fmt.Fprintf(stdout, "kv_cache %s (layers %d, kv_heads %d, head_dim %d): --cache %s\n",
			strings.Join(kv.Modes, ","), kv.Layers, kv.KVHeads, kv.HeadDim, strings.Join(kv.Modes, " or "))
	} else {
		fmt.Fprintln(stdout, "kv_cache none")
	}
	printDistill(stdout, out.Distill)
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
	if out.Library != "" {
		fmt.Fprintf(stdout, "onnxruntime %s\n", out.Library)
	}
	fmt.Fprintf(stdout, "backend %s, device %s\n", out.Backend, out.Device)
	return nil
}
