package llada

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llada-go/llada/onnx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quantModelsEnv lists the weight variants BenchmarkQuantizedWeights compares, as name=path pairs separated by
// commas; the first one is the reference for the greedy-parity metric.
const quantModelsEnv = "LLADA_QUANT_MODELS"

// The toy and its int8/int4 MatMulNBits copies (export/test_quantize.py): what CI times.
const defaultQuantModels = "fp32=testdata/toy/model.onnx,int8=testdata/quant/int8.onnx,int4=testdata/quant/int4.onnx"

type quantVariant struct{ name, path string }

// parseQuantModels reads quantModelsEnv's format; a path may be a model directory or an .onnx file.
func parseQuantModels(s string) ([]quantVariant, error) {
	var out []quantVariant
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("%s: %q is not name=path", quantModelsEnv, part)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: variant %q named twice", quantModelsEnv, name)
		}
		seen[name] = true
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			path = filepath.Join(path, ModelFile)
		}
		out = append(out, quantVariant{name, path})
	}
	return out, nil
}

// modelFileMB is the size of an .onnx file plus the external-data files beside it, which is what a quantized
// copy shrinks. Exporters name external data freely (torch.onnx writes one file per tensor, quantize.py one
// model.onnx.data), so every file in the directory counts except other .onnx files and the tokenizer, config and
// expected-output files (.json, .go, .md).
func modelFileMB(path string) (float64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	n := st.Size()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".onnx", ".json", ".go", ".md":
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return 0, err
		}
		n += info.Size()
	}
	return float64(n) / 1e6, nil
}

// rssMB is the process's resident set now (VmRSS) in MB, 0 where /proc is unavailable: with the earlier
// variants' sessions closed, mostly the running session's weights and arenas, after the load-time peak that
// peakRSSMB reports (ONNX Runtime holds a file's raw initializers and its prepacked copies at once while it
// loads).
func rssMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// quantPrompts are the benchmark's prompts: with a tokenizer.json beside the model (the shipped Brown model, and
// the wide random-weight models of export/make_bench_model.py, which carry Brown's tokenizer), held-out Brown
// sentences, each repeated to n ids as scripts/llamacpp-compare.sh builds its prompt; otherwise
// (the toy) seeded random ids other than the mask.
func quantPrompts(path string, c Contract, count, n int) ([][]int, error) {
	prompts := make([][]int, count)
	tokPath := filepath.Join(filepath.Dir(path), TokenizerFile)
	if _, err := os.Stat(tokPath); err == nil {
		tok, err := LoadTokenizer(tokPath)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(filepath.Join("testdata", "eval", "brown_heldout.json"))
		if err != nil {
			return nil, err
		}
		var held struct {
			Sentences []string `json:"sentences"`
		}
		if err := json.Unmarshal(raw, &held); err != nil {
			return nil, err
		}
		if len(held.Sentences) < count {
			return nil, fmt.Errorf("%d held-out sentences, want %d", len(held.Sentences), count)
		}
		for i := range prompts {
			ids, err := tok.Encode(held.Sentences[i], false)
			if err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				return nil, fmt.Errorf("held-out sentence %d has no tokens", i)
			}
			for j := 0; j < n; j++ {
				prompts[i] = append(prompts[i], ids[j%len(ids)])
			}
		}
		return prompts, nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range prompts {
		prompts[i] = make([]int, n)
		for j := range prompts[i] {
			for prompts[i][j] = rng.IntN(c.VocabSize); prompts[i][j] == c.MaskID; prompts[i][j] = rng.IntN(c.VocabSize) {
			}
		}
	}
	return prompts, nil
}

// BenchmarkQuantizedWeights times greedy generation (LLaDA's low-confidence remasking, temperature 0) with
// float32 weights and their int8/int4 MatMulNBits copies (export/quantize.py) on the same prompts, one prompt
// per generation: ms per step, tokens/s, the model file's size, the process's peak resident memory so far
// (peak-rss-MB: ONNX Runtime's weights and arenas included; it covers the variants run before, so run one
// variant per process, -bench 'BenchmarkQuantizedWeights/int8$', for each one's own), the resident memory at
// the end of the variant's run (rss-MB) and greedy parity: the share of generated ids equal to
// the first variant's (same-ids-%, reported when the first variant ran in the same process).
//
// Without LLADA_QUANT_MODELS it runs on the toy (testdata/toy, testdata/quant; 16 prompt ids, 16 generated),
// which CI does at -benchtime 1x. With it, at full size (96 prompt ids, 32 generated in one block, 32 steps:
// L=128 as BenchmarkRealisticScale; LLADA_QUANT_PROMPTS sets the number of prompts, default 4), for example:
//
//	/usr/bin/python3 export/quantize.py --bits 8 models/brown export/bench-models/brown-int8
//	/usr/bin/python3 export/quantize.py --bits 4 models/brown export/bench-models/brown-int4
//	LLADA_QUANT_MODELS=fp32=models/brown,int8=export/bench-models/brown-int8,int4=export/bench-models/brown-int4 \
//	    LLADA_BENCH_THREADS=2 go test -run '^$' -bench BenchmarkQuantizedWeights -benchtime 3x -cpu 2 .
func BenchmarkQuantizedWeights(b *testing.B) {
	spec := os.Getenv(quantModelsEnv)
	promptLen, gen, count := 96, 32, 4
	if spec == "" {
		spec, promptLen, gen = defaultQuantModels, 16, 16
	}
	variants, err := parseQuantModels(spec)
	if err != nil {
		b.Fatal(err)
	}
	if n := os.Getenv("LLADA_QUANT_PROMPTS"); n != "" {
		if count, err = strconv.Atoi(n); err != nil || count < 1 {
			b.Fatalf("LLADA_QUANT_PROMPTS=%q: want a positive count", n)
		}
	}
	threads, _ := strconv.Atoi(os.Getenv("LLADA_BENCH_THREADS"))
	cfg := GenerateConfig{GenLength: gen, Steps: gen, BlockLength: gen}
	var ref [][]int // the first variant's generated ids, per prompt
	for vi, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			fileMB, err := modelFileMB(v.path)
			if err != nil {
				b.Fatal(err)
			}
			sess, err := onnx.Open(v.path, onnx.WithIntraOpThreads(threads))
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			c, err := ParseContract(sess.Metadata())
			if err != nil {
				b.Fatal(err)
			}
			if c.MaxSeqLen > 0 && promptLen+gen > c.MaxSeqLen {
				b.Fatalf("%s: max_seq_len %d is under the %d+%d canvas", v.name, c.MaxSeqLen, promptLen, gen)
			}
			prompts, err := quantPrompts(v.path, c, count, promptLen)
			if err != nil {
				b.Fatal(err)
			}
			den := newONNXDenoiser(sess, c.VocabSize)
			generate := func(prompts [][]int) ([][]int, int) {
				out := make([][]int, len(prompts))
				steps := 0
				for pi, p := range prompts {
					for st, err := range Stream(context.Background(), den, c, [][]int{p}, cfg) {
						if err != nil {
							b.Fatal(err)
						}
						steps++
						out[pi] = append(out[pi][:0], st.Canvas[len(p):]...)
					}
				}
				return out, steps
			}
			generate(prompts[:1]) // warm-up: ONNX Runtime's first run allocates its arenas and plans
			b.ResetTimer()
			start := time.Now()
			var ids [][]int
			steps := 0
			for i := 0; i < b.N; i++ {
				var n int
				ids, n = generate(prompts)
				steps += n
			}
			total := time.Since(start)
			b.StopTimer()
			b.ReportMetric(total.Seconds()*1000/float64(steps), "ms/step")
			b.ReportMetric(float64(gen*len(prompts)*b.N)/total.Seconds(), "tokens/s")
			b.ReportMetric(fileMB, "file-MB")
			b.ReportMetric(peakRSSMB(), "peak-rss-MB")
			b.ReportMetric(rssMB(), "rss-MB")
			if vi == 0 {
				ref = ids
			}
			if ref != nil {
				same, all := 0, 0
				for pi := range ids {
					for j := range ids[pi] {
						all++
						if ids[pi][j] == ref[pi][j] {
							same++
						}
					}
				}
				b.ReportMetric(100*float64(same)/float64(all), "same-ids-%")
			}
		})
	}
}

func TestParseQuantModels(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		spec    string
		want    []quantVariant
		wantErr string
	}{
		{spec: "fp32=a.onnx,int8=" + dir, want: []quantVariant{{"fp32", "a.onnx"}, {"int8", filepath.Join(dir, ModelFile)}}},
		{spec: "fp32", wantErr: "not name=path"},
		{spec: "=a.onnx", wantErr: "not name=path"},
		{spec: "a=x,a=y", wantErr: "named twice"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := parseQuantModels(tc.spec)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
