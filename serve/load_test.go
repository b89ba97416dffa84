package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada"
)

// loadRequest is one client call of the load test and the benchmarks.
type loadRequest struct {
	body   map[string]any
	stream bool
	cancel bool // stream, then disconnect after the first chunk
}

// outcome of one client call.
type outcome struct {
	latency time.Duration
	text    string
	err     error
}

// call runs one request against url and checks its answer's shape.
func call(ctx context.Context, client *http.Client, url string, lr loadRequest) outcome {
	body := map[string]any{}
	for k, v := range lr.body {
		body[k] = v
	}
	if lr.stream || lr.cancel {
		body["stream"] = true
	}
	raw, _ := json.Marshal(body)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", strings.NewReader(string(raw)))
	if err != nil {
		return outcome{err: err}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return outcome{err: fmt.Errorf("status %d: %s", resp.StatusCode, msg)}
	}
	if !lr.stream && !lr.cancel {
		var c struct {
			Choices []struct{ Text string } `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || len(c.Choices) != 1 {
			return outcome{err: fmt.Errorf("bad body (%d choices): %v", len(c.Choices), err)}
		}
		return outcome{latency: time.Since(start), text: c.Choices[0].Text}
	}
	sc := bufio.NewScanner(resp.Body)
	var text strings.Builder
	done := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if lr.cancel {
			cancel() // disconnect mid-generation
			return outcome{latency: time.Since(start)}
		}
		if line == "[DONE]" {
			done = true
			break
		}
		var c struct {
			Choices []struct{ Text string } `json:"choices"`
			Error   *apiError               `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return outcome{err: err}
		}
		if c.Error != nil {
			return outcome{err: errors.New(c.Error.Message)}
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Text)
		}
	}
	if !done {
		return outcome{err: fmt.Errorf("stream ended without [DONE]: %v", sc.Err())}
	}
	return outcome{latency: time.Since(start), text: text.String()}
}

// runClients has clients goroutines each send perClient requests in turn; mix picks request i's kind.
func runClients(ctx context.Context, url string, clients, perClient int, mix func(i int) loadRequest) []outcome {
	return runTotal(ctx, url, clients, clients*perClient, mix)
}

// runTotal has clients goroutines send total requests between them, each taking the next request when its
// last one is answered.
func runTotal(ctx context.Context, url string, clients, total int, mix func(i int) loadRequest) []outcome {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	out := make([]outcome, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < total; i = int(next.Add(1) - 1) {
				out[i] = call(ctx, client, url, mix(i))
			}
		}()
	}
	wg.Wait()
	return out
}

var tinyPrompts = []string{"w2 w3 w4", "w5", "w6 w7 w8 w9", "w10 w11", "w12 w13 w14 w15 w16", "w17", "w18 w19 w20", "w21 w22"}

// The bounded load test: 64 concurrent clients, 4 requests each, a mix of plain, streamed and disconnecting
// requests of different lengths and samplers. Every request that is not cancelled succeeds, greedy requests
// give the text they give alone, and the server is idle afterwards.
func TestLoad64Clients(t *testing.T) {
	model := openTiny(t)
	s, ts := newTestServer(t, model)
	mix := func(i int) loadRequest {
		body := map[string]any{"prompt": tinyPrompts[i%len(tinyPrompts)], "max_tokens": []int{8, 12, 16}[i%3]}
		if i%5 == 0 {
			body["sampler"] = "fast-dllm-threshold"
		}
		if i%7 == 0 {
			body["temperature"], body["seed"] = 0.9, i
		}
		return loadRequest{body: body, stream: i%4 == 1, cancel: i%8 == 3}
	}
	const clients, per = 64, 4
	// What each greedy request gives alone, one at a time.
	alone := map[string]string{}
	key := func(b map[string]any) string { raw, _ := json.Marshal(b); return string(raw) }
	for i := range clients * per {
		lr := mix(i)
		if lr.cancel || lr.body["temperature"] != nil {
			continue
		}
		if _, ok := alone[key(lr.body)]; !ok {
			o := call(context.Background(), ts.Client(), ts.URL, loadRequest{body: lr.body})
			require.NoError(t, o.err)
			alone[key(lr.body)] = o.text
		}
	}
	out := runClients(context.Background(), ts.URL, clients, per, mix)
	cancelled := 0
	for i, o := range out {
		lr := mix(i)
		require.NoError(t, o.err, "request %d", i)
		if lr.cancel {
			cancelled++
			continue
		}
		if want, ok := alone[key(lr.body)]; ok {
			assert.Equal(t, want, o.text, "request %d: batched greedy output equals the one alone", i)
		}
	}
	assert.Equal(t, clients*per/8, cancelled)
	require.Eventually(t, func() bool {
		s.batch.mu.Lock()
		defer s.batch.mu.Unlock()
		return s.batch.members == 0 && len(s.batch.pending) == 0 && len(s.admitted) == 0
	}, 5*time.Second, 10*time.Millisecond, "no generation is left behind")
}

// benchModel opens the model the serving benchmarks run: LLADA_SERVE_MODEL, else the shipped Brown model.
func benchModel(b *testing.B) (*llada.Model, string) {
	dir := os.Getenv("LLADA_SERVE_MODEL")
	if dir == "" {
		dir = "../models/brown"
	}
	m, err := llada.Open(dir)
	require.NoError(b, err)
	b.Cleanup(func() { _ = m.Close() })
	return m, dir
}

var brownPrompts = []string{
	"The jury said that", "In the morning the", "He had never seen", "The city council voted",
	"She looked at the", "It was the first time", "The committee reported", "After the war the",
}

// benchEnv reads an integer knob of the benchmarks from the environment.
func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkServe measures throughput and latency at 1, 8, 32 and 64 concurrent clients, with cross-request
// batching against sequential serving (one generation at a time, the queue holding the rest) and against
// concurrent generations without batching. Each op is every client sending LLADA_SERVE_REQS requests (default
// 2) of LLADA_SERVE_TOKENS greedy tokens (default 32, steps = tokens).
//
//	go test -run '^$' -bench BenchmarkServe$ -benchtime 1x ./serve
//	LLADA_SERVE_MODEL=export/bench-models/d2048-l1 LLADA_SERVE_TOKENS=8 go test -run '^$' -bench BenchmarkServe$ -benchtime 1x ./serve
func BenchmarkServe(b *testing.B) {
	model, _ := benchModel(b)
	tokens, per := benchEnv("LLADA_SERVE_TOKENS", 32), benchEnv("LLADA_SERVE_REQS", 2)
	modes := []struct {
		name string
		opts []Option
	}{
		{"batched", nil},
		{"sequential", []Option{WithoutBatching(), WithMaxConcurrent(1), WithQueue(1024)}},
		{"unbatched", []Option{WithoutBatching()}},
	}
	for _, clients := range []int{1, 8, 32, 64} {
		for _, mode := range modes {
			if clients == 1 && mode.name != "batched" && mode.name != "sequential" {
				continue
			}
			b.Run(fmt.Sprintf("clients=%d/%s", clients, mode.name), func(b *testing.B) {
				s, err := New(model, append([]Option{WithMaxTokens(tokens)}, mode.opts...)...)
				require.NoError(b, err)
				ts := httptest.NewServer(s)
				defer func() { ts.Close(); _ = s.Close() }()
				mix := func(i int) loadRequest {
					return loadRequest{body: map[string]any{"prompt": brownPrompts[i%len(brownPrompts)], "max_tokens": tokens, "steps": tokens}}
				}
				call(context.Background(), ts.Client(), ts.URL, mix(0)) // warm-up
				var lat []time.Duration
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					for _, o := range runClients(context.Background(), ts.URL, clients, per, mix) {
						if o.err != nil {
							b.Fatal(o.err)
						}
						lat = append(lat, o.latency)
					}
				}
				elapsed := time.Since(start)
				b.StopTimer()
				slices.Sort(lat)
				n := float64(len(lat))
				b.ReportMetric(n/elapsed.Seconds(), "req/s")
				b.ReportMetric(n*float64(tokens)/elapsed.Seconds(), "tokens/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[min(len(lat)-1, int(0.99*n))].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// BenchmarkServeSoak sends LLADA_SOAK_REQS requests (default 10,000) from 64 clients, a quarter of them
// streamed and one in sixteen disconnecting, and reports resident memory and the live heap before and after:
// a server that leaks per request grows with the count.
//
//	go test -run '^$' -bench BenchmarkServeSoak -benchtime 1x ./serve
func BenchmarkServeSoak(b *testing.B) {
	model, err := llada.Open(tinyDir)
	require.NoError(b, err)
	defer model.Close()
	total := benchEnv("LLADA_SOAK_REQS", 10000)
	s, err := New(model)
	require.NoError(b, err)
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); _ = s.Close() }()
	mix := func(i int) loadRequest {
		return loadRequest{body: map[string]any{"prompt": tinyPrompts[i%len(tinyPrompts)], "max_tokens": []int{8, 16}[i%2]},
			stream: i%4 == 1, cancel: i%16 == 3}
	}
	// Warm up, so that pools and the runtime's buffers exist before the first reading.
	for _, o := range runClients(context.Background(), ts.URL, 64, 4, mix) {
		require.NoError(b, o.err)
	}
	rss0, heap0 := memNow()
	var rssMid float64
	b.ResetTimer()
	for range b.N {
		// Two halves, so that a plateau (the runtime and ONNX Runtime settling) shows apart from growth.
		for half := range 2 {
			for _, o := range runTotal(context.Background(), ts.URL, 64, total/2, mix) {
				if o.err != nil {
					b.Fatal(o.err)
				}
			}
			if half == 0 {
				b.StopTimer()
				rssMid, _ = memNow()
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	rss1, heap1 := memNow()
	b.ReportMetric(rss0, "rss-start-MB")
	b.ReportMetric(rssMid, "rss-mid-MB")
	b.ReportMetric(rss1, "rss-end-MB")
	b.ReportMetric(heap0, "heap-start-MB")
	b.ReportMetric(heap1, "heap-end-MB")
	b.ReportMetric(float64(total/2*2), "requests")
}

// memNow reads the process's resident set (VmRSS) and the live heap after a GC, in MB.
func memNow() (rss, heap float64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap = float64(ms.HeapAlloc) / (1 << 20)
	if raw, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				rss = kb / 1024
			}
		}
	}
	return rss, heap
}
