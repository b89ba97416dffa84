package llada_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/llada-go/llada"
)

// timedDenoiser measures the time spent inside the network so that the benchmark can report the sampler's own
// share of a step.
type timedDenoiser struct {
	llada.Denoiser
	mu sync.Mutex
	d  time.Duration
}

// Deterministic passes the wrapped denoiser's capability on, so the benchmark counts the NFE Model does.
func (t *timedDenoiser) Deterministic() bool {
	d, ok := t.Denoiser.(llada.Deterministic)
	return ok && d.Deterministic()
}

func (t *timedDenoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	start := time.Now()
	err := t.Denoiser.Forward(ctx, in, logits)
	t.mu.Lock()
	t.d += time.Since(start)
	t.mu.Unlock()
	return err
}

var (
	benchOnce  sync.Once
	benchModel *llada.Model
	benchErr   error
)

func defaultModel(b *testing.B) *llada.Model {
	benchOnce.Do(func() {
		threads, _ := strconv.Atoi(os.Getenv("LLADA_BENCH_THREADS")) // 0: ONNX Runtime's default
		benchModel, benchErr = llada.Open("models/brown", llada.WithThreadSpinning(os.Getenv("LLADA_BENCH_SPIN") == "1"),
			llada.WithIntraOpThreads(threads))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchModel
}

// BenchmarkGenerateDefaultModel reports, for the embedded model with steps = gen_length: tokens/s, forward
// passes per token, forward and sampler milliseconds per step, the sampler's share of a step, and Go heap
// allocations per step (sampler and ONNX glue together).
func BenchmarkGenerateDefaultModel(b *testing.B) {
	m := defaultModel(b)
	prompt, err := m.Tokenizer().Encode("The jury said that the city", true)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ gen, block int }{{64, 64}, {64, 32}, {128, 128}, {128, 32}} {
		b.Run(fmt.Sprintf("gen=%d/block=%d", tc.gen, tc.block), func(b *testing.B) {
			td := &timedDenoiser{Denoiser: m.Denoiser()}
			cfg := llada.GenerateConfig{GenLength: tc.gen, Steps: tc.gen, BlockLength: tc.block}
			var steps, nfe int
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for st, err := range llada.Stream(context.Background(), td, m.Contract(), [][]int{prompt}, cfg) {
					if err != nil {
						b.Fatal(err)
					}
					steps++
					nfe = st.NFE
				}
			}
			total := time.Since(start)
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(tc.gen*b.N)/total.Seconds(), "tokens/s")
			b.ReportMetric(float64(nfe)/float64(tc.gen), "nfe/token")
			fwd := td.d.Seconds() * 1000 / float64(steps)
			all := total.Seconds() * 1000 / float64(steps)
			b.ReportMetric(fwd, "forward-ms/step")
			b.ReportMetric(all-fwd, "sampler-ms/step")
			b.ReportMetric(100*(all-fwd)/all, "sampler-%")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(steps), "allocs/step")
		})
	}
}
