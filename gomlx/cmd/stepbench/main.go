// Command stepbench measures the GoMLX backend's speed on a model directory: the median time of one forward
// pass and of one in-graph confidence pass per (batch, length), and end-to-end generation throughput with
// parallel decoding. scripts/gpu-bench.sh runs it on a CUDA device (build with -tags pjrt):
//
//	go run -tags pjrt ./gomlx/cmd/stepbench --model DIR --device cuda --lengths 128,320,576 --batches 1,8
//
// Output: one JSON object per line, then nothing else, so that runs can be compared by a script.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/gomlx"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stepbench:", err)
		os.Exit(1)
	}
}

// record is one output line.
type record struct {
	What    string  `json:"what"` // forward, confidence, generate, compile
	Device  string  `json:"device"`
	Batch   int     `json:"batch"`
	Seq     int     `json:"seq"`
	MS      float64 `json:"ms"`                  // median per pass (forward, confidence), total (generate, compile)
	Steps   int     `json:"steps,omitempty"`     // generate: denoising steps
	Tokens  int     `json:"tokens,omitempty"`    // generate: tokens generated over the batch
	TokPerS float64 `json:"tok_per_s,omitempty"` // generate
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("stepbench", flag.ContinueOnError)
	dir := fs.String("model", "", "model directory holding model.onnx (and its external data)")
	device := fs.String("device", gomlx.DeviceCPU, "cpu or cuda (cuda needs -tags pjrt and $"+gomlx.PluginEnv+")")
	lengths := fs.String("lengths", "128,320,576", "sequence lengths")
	batches := fs.String("batches", "1,8", "batch sizes")
	reps := fs.Int("reps", 5, "timed passes per shape (after one compiling pass)")
	gen := fs.Int("gen", 256, "generate: tokens per row (0 = skip)")
	steps := fs.Int("steps", 64, "generate: denoising steps (gen/steps tokens committed per step: parallel decoding)")
	prompt := fs.Int("prompt", 64, "generate: prompt tokens per row")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--model is required")
	}
	ls, err := ints(*lengths)
	if err != nil {
		return fmt.Errorf("--lengths: %w", err)
	}
	bs, err := ints(*batches)
	if err != nil {
		return fmt.Errorf("--batches: %w", err)
	}
	if *reps < 1 {
		return errors.New("--reps must be positive")
	}
	t0 := time.Now()
	d, err := gomlx.Open(filepath.Join(*dir, llada.ModelFile), gomlx.WithDevice(*device), gomlx.WithMaxShapes(2*len(ls)*len(bs)+2))
	if err != nil {
		return err
	}
	defer d.Close()
	c, err := d.Contract()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(record{What: "open", Device: d.Device(), MS: ms(time.Since(t0))}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range bs {
		for _, l := range ls {
			batch := llada.Batch{Rows: b, Seq: l, IDs: make([]int64, b*l)}
			for i := range batch.IDs {
				batch.IDs[i] = rng.Int64N(int64(c.MaskID)) // ids below the mask: ordinary tokens
			}
			logits := make([]float32, b*l*d.VocabSize())
			fwd, compile, err := timeIt(*reps, func() error { return d.Forward(ctx, batch, logits) })
			if err != nil {
				return err
			}
			var conf gomlx.Confidences
			cf, _, err := timeIt(*reps, func() error { return d.Confidence(ctx, batch, c.MaskID, &conf) })
			if err != nil {
				return err
			}
			for _, r := range []record{
				{What: "compile", Device: d.Device(), Batch: b, Seq: l, MS: ms(compile)},
				{What: "forward", Device: d.Device(), Batch: b, Seq: l, MS: ms(fwd)},
				{What: "confidence", Device: d.Device(), Batch: b, Seq: l, MS: ms(cf)},
			} {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
	}
	if *gen <= 0 {
		return nil
	}
	for _, b := range bs {
		prompts := make([][]int, b)
		for r := range prompts {
			prompts[r] = make([]int, *prompt)
			for i := range prompts[r] {
				prompts[r][i] = rng.IntN(c.MaskID)
			}
		}
		// LLaDA low-confidence remasking with gen/steps tokens per step; full logits come back to the host
		// every step (the library's step loop scores on the host).
		cfg := llada.GenerateConfig{GenLength: *gen, Steps: *steps}
		start := time.Now()
		var last llada.Step
		n := 0
		for st, err := range llada.Stream(ctx, d, c, prompts, cfg) {
			if err != nil {
				return err
			}
			last, n = st, n+1
		}
		el := time.Since(start)
		toks := b * *gen
		if err := enc.Encode(record{What: "generate", Device: d.Device(), Batch: b, Seq: last.Seq, MS: ms(el),
			Steps: n, Tokens: toks, TokPerS: float64(toks) / el.Seconds()}); err != nil {
			return err
		}
	}
	return nil
}

// timeIt runs fn once untimed (it compiles the shape) and then reps times, and returns the median and the
// first call's duration.
func timeIt(reps int, fn func() error) (median, first time.Duration, err error) {
	t0 := time.Now()
	if err := fn(); err != nil {
		return 0, 0, err
	}
	first = time.Since(t0)
	ds := make([]time.Duration, reps)
	for i := range ds {
		t := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[reps/2], first, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ints(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", p)
		}
		out = append(out, n)
	}
	return out, nil
}
