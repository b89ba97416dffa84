// Command ort-logits runs one forward pass of a contract model through ONNX Runtime (the same session code the
// library uses) and writes the logits as raw little-endian float32. It is the ORT oracle of the Python tools in
// export/ (Python has no onnxruntime package on the machines these tools run on), e.g. export/onnx_to_ckpt.py,
// which checks that the checkpoint it recovers from a model file reproduces that file's logits.
//
//	go run ./onnx/cmd/ort-logits --model model.onnx --in cases.json --out logits.f32
//
// cases.json is {"cases": [{"input_ids": [[...], ...], "attention_mask": [[...], ...]}, ...]}: rows of equal
// length per case. A continuous-family model (docs/contract.md, "Continuous diffusion") takes
// {"rows": R, "seq": L, "x_t": [R*L*D floats], "timestep": [R*L], "self_cond": [R*L*D] (optional),
// "attention_mask": [R*L]} per case instead, flat and row-major (what export/onnx_to_ckpt.py --family continuous
// sends). The output holds each case's [rows, seq, vocab] logits, cases in order; the vocabulary size is printed
// on stdout.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/llada-go/llada/onnx"
)

type batch struct {
	InputIDs      [][]int64 `json:"input_ids"`
	AttentionMask [][]int64 `json:"attention_mask"`
}

// contBatch is one case of a continuous-family model, flat row-major.
type contBatch struct {
	Rows          int       `json:"rows"`
	Seq           int       `json:"seq"`
	X             []float32 `json:"x_t"`
	Timestep      []float32 `json:"timestep"`
	SelfCond      []float32 `json:"self_cond"`
	AttentionMask []int64   `json:"attention_mask"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ort-logits:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "model.onnx")
	in := flag.String("in", "", "cases JSON")
	out := flag.String("out", "", "output file (raw float32)")
	flag.Parse()
	if *model == "" || *in == "" || *out == "" {
		return errors.New("--model, --in and --out are required")
	}
	raw, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	sess, err := onnx.Open(*model)
	if errors.Is(err, onnx.ErrContinuousModel) {
		return runContinuous(*model, raw, *in, *out)
	}
	if err != nil {
		return err
	}
	defer sess.Close()
	var spec struct {
		Cases []batch `json:"cases"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if len(spec.Cases) == 0 {
		return fmt.Errorf("%s: no cases", *in)
	}
	vocab := sess.VocabSize()
	if vocab <= 0 {
		return fmt.Errorf("%s: logits have no static vocabulary dimension", *model)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	for ci, c := range spec.Cases {
		rows := len(c.InputIDs)
		if rows == 0 || len(c.AttentionMask) != rows {
			return fmt.Errorf("case %d: %d input rows, %d attention rows", ci, rows, len(c.AttentionMask))
		}
		seq := len(c.InputIDs[0])
		var ids, att []int64
		for r := 0; r < rows; r++ {
			if len(c.InputIDs[r]) != seq || len(c.AttentionMask[r]) != seq {
				return fmt.Errorf("case %d row %d: length differs from row 0 (%d)", ci, r, seq)
			}
			ids = append(ids, c.InputIDs[r]...)
			att = append(att, c.AttentionMask[r]...)
		}
		logits := make([]float32, rows*seq*vocab)
		if err := sess.Forward(context.Background(), ids, att, rows, seq, logits); err != nil {
			return fmt.Errorf("case %d: %w", ci, err)
		}
		if err := writeFloats(f, logits); err != nil {
			return err
		}
	}
	fmt.Println(vocab)
	return f.Close()
}

// runContinuous is run for a continuous-family model: float inputs instead of token ids.
func runContinuous(model string, raw []byte, in, out string) error {
	var spec struct {
		Cases []contBatch `json:"cases"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(spec.Cases) == 0 {
		return fmt.Errorf("%s: no cases", in)
	}
	sess, err := onnx.OpenContinuous(model)
	if err != nil {
		return err
	}
	defer sess.Close()
	vocab, dim := sess.VocabSize(), sess.EmbedDim()
	if vocab <= 0 || dim <= 0 {
		return fmt.Errorf("%s: no static vocabulary (%d) or embedding (%d) dimension", model, vocab, dim)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	for ci, c := range spec.Cases {
		if c.Rows <= 0 || c.Seq <= 0 {
			return fmt.Errorf("case %d: rows %d and seq %d must be positive", ci, c.Rows, c.Seq)
		}
		if c.AttentionMask != nil && len(c.AttentionMask) != c.Rows*c.Seq {
			return fmt.Errorf("case %d: %d attention values, want rows*seq = %d", ci, len(c.AttentionMask), c.Rows*c.Seq)
		}
		logits := make([]float32, c.Rows*c.Seq*vocab)
		ci2 := onnx.ContinuousInput{X: c.X, Timestep: c.Timestep, SelfCond: c.SelfCond, Attention: c.AttentionMask, Rows: c.Rows, Seq: c.Seq}
		if err := sess.Forward(context.Background(), ci2, dim, logits); err != nil {
			return fmt.Errorf("case %d: %w", ci, err)
		}
		if err := writeFloats(f, logits); err != nil {
			return err
		}
	}
	fmt.Println(vocab)
	return f.Close()
}

func writeFloats(w io.Writer, v []float32) error {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	_, err := w.Write(buf)
	return err
}
