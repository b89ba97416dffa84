package llada

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// reductionsModelEnv names a model directory with the in-graph reduction outputs for
// BenchmarkReductionsStep (default: testdata/reductions, the tiny model, so the benchmark runs anywhere).
const reductionsModelEnv = "LLADA_REDUCTIONS_MODEL"

// logitsOnly hides every capability but the logits and determinism: the same file then runs on the logits
// path. It counts the bytes the network hands the host.
type logitsOnly struct {
	Denoiser
	bytes int64
}

func (d *logitsOnly) Forward(ctx context.Context, in Batch, logits []float32) error {
	d.bytes += int64(len(logits)) * 4
	return d.Denoiser.Forward(ctx, in, logits)
}

func (d *logitsOnly) Deterministic() bool { return true }

// countedReductions is the reductions path with the bytes counted (8 for the id, 4 for each float).
type countedReductions struct {
	ReductionDenoiser
	bytes int64
}

func (d *countedReductions) ForwardReductions(ctx context.Context, in Batch, start, n int, out *Reductions) error {
	d.bytes += int64(in.Rows*n) * 20
	return d.ReductionDenoiser.ForwardReductions(ctx, in, start, n, out)
}

func (d *countedReductions) Deterministic() bool { return true }

// BenchmarkReductionsStep times greedy generation on the logits path and on the in-graph reductions of the
// same model file (same weights, same run), and reports ms/step, the bytes the network hands the host per
// step and tokens/s; it fails when the two paths generate different ids. Models (none committed but the tiny):
//
//	go test -run '^$' -bench BenchmarkReductionsStep -benchtime 3x .                 # testdata/reductions
//	/usr/bin/python3 export/add_reductions.py models/brown/model.onnx --out /tmp/brown-red/model.onnx
//	cp models/brown/tokenizer.json /tmp/brown-red/
//	LLADA_REDUCTIONS_MODEL=/tmp/brown-red go test -run '^$' -bench BenchmarkReductionsStep -benchtime 3x .
//	OMP_NUM_THREADS=2 /usr/bin/python3 export/make_bench_model.py --d-model 2048 --layers 2 --reductions
//	LLADA_REDUCTIONS_MODEL=export/bench-models/d2048-l2-red LLADA_BENCH_THREADS=2 \
//	    go test -run '^$' -bench BenchmarkReductionsStep -benchtime 3x -cpu 2 .
//
// The canvas is L=128 (96 prompt ids, 32 generated in one block, 32 steps), as BenchmarkRealisticScale's.
func BenchmarkReductionsStep(b *testing.B) {
	dir := os.Getenv(reductionsModelEnv)
	if dir == "" {
		dir = filepath.Join("testdata", "reductions")
	}
	threads, _ := strconv.Atoi(os.Getenv("LLADA_BENCH_THREADS"))
	m, err := Open(dir, WithIntraOpThreads(threads))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rd, ok := m.Denoiser().(ReductionDenoiser)
	if !ok {
		b.Fatalf("%s has no in-graph reductions: add them with export/add_reductions.py", dir)
	}
	c := m.Contract()
	promptLen, gen := 96, 32
	if c.MaxSeqLen > 0 && c.MaxSeqLen < promptLen+gen {
		promptLen, gen = c.MaxSeqLen/2, c.MaxSeqLen/4 // the tiny test model holds 32 positions
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int, promptLen)
	for i := range prompt {
		for prompt[i] = rng.IntN(c.VocabSize); prompt[i] == c.MaskID; prompt[i] = rng.IntN(c.VocabSize) {
		}
	}
	canvases := map[string][]int{}
	for _, preset := range []string{"llada-low-confidence", "fast-dllm-threshold"} {
		cfg := GenerateConfig{GenLength: gen, Steps: gen, BlockLength: gen, Sampler: SamplerByName(preset)}
		for _, path := range []string{"logits", "reductions"} {
			b.Run(fmt.Sprintf("%s/path=%s", preset, path), func(b *testing.B) {
				var den Denoiser
				var bytes *int64
				if path == "logits" {
					d := &logitsOnly{Denoiser: m.Denoiser()}
					den, bytes = d, &d.bytes
				} else {
					d := &countedReductions{ReductionDenoiser: rd}
					den, bytes = d, &d.bytes
				}
				// A warm-up generation: the first reductions pass opens ONNX Runtime's second session.
				for _, err := range Stream(context.Background(), den, c, [][]int{prompt}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
				}
				*bytes = 0
				steps := 0
				var last []int
				b.ResetTimer()
				start := time.Now()
				for b.Loop() {
					for st, err := range Stream(context.Background(), den, c, [][]int{prompt}, cfg) {
						if err != nil {
							b.Fatal(err)
						}
						steps++
						last = append(last[:0], st.Canvas...)
					}
				}
				total := time.Since(start)
				b.ReportMetric(total.Seconds()*1000/float64(steps), "ms/step")
				b.ReportMetric(float64(*bytes)/float64(steps), "host-bytes/step")
				b.ReportMetric(float64(steps)/float64(b.N), "steps/gen")
				b.ReportMetric(float64(gen*b.N)/total.Seconds(), "tokens/s")
				canvases[preset+"/"+path] = last
			})
		}
		if a, r := canvases[preset+"/logits"], canvases[preset+"/reductions"]; a != nil && r != nil && fmt.Sprint(a) != fmt.Sprint(r) {
			b.Fatalf("%s: the logits and reductions paths generated different ids", preset)
		}
	}
}

// BenchmarkReductionsStepLoopAllocs reports the Go heap allocations per step of the reductions path on an
// allocation-free test denoiser, as BenchmarkStepLoopAllocs does for the logits path.
//
//	go test -run '^$' -bench ReductionsStepLoopAllocs -benchtime 3x .
func BenchmarkReductionsStepLoopAllocs(b *testing.B) {
	c := testContract(2048)
	den := &reducingDenoiser{Denoiser: &patternDenoiser{vocab: 2048}, exclude: c.MaskID}
	run := func(steps int) {
		cfg := GenerateConfig{GenLength: 32, Steps: steps, BlockLength: 32}
		for _, err := range Stream(context.Background(), den, c, [][]int{{5, 6}, {7}}, cfg) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	run(4) // sizes the double's buffer
	b.ReportAllocs()
	var few, many float64
	for b.Loop() {
		few = testing.AllocsPerRun(1, func() { run(4) })
		many = testing.AllocsPerRun(1, func() { run(32) })
	}
	if den.logitCalls != 0 {
		b.Fatal("the reductions path asked for logits")
	}
	b.ReportMetric((many-few)/28, "allocs/step")
}
