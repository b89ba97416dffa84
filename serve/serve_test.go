package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llada-go/llada"
)

const tinyDir = "../testdata/tiny"

// tinyChat renders messages as their contents separated by spaces: the tiny model's words are w2..w48.
const tinyChat = `{% for m in messages %}{{ m.content + ' ' }}{% endfor %}`

func openTiny(t testing.TB) *llada.Model {
	t.Helper()
	m, err := llada.Open(tinyDir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func newTestServer(t testing.TB, model *llada.Model, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(model, opts...)
	require.NoError(t, err)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); _ = s.Close() })
	return s, ts
}

type reply struct {
	status int
	body   []byte
	header http.Header
}

func post(t testing.TB, ts *httptest.Server, path, key string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, body: raw, header: resp.Header}
}

type completionResp struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Text         string  `json:"text"`
		Index        int     `json:"index"`
		FinishReason *string `json:"finish_reason"`
		Message      *struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decode(t testing.TB, r reply) completionResp {
	t.Helper()
	var c completionResp
	require.NoError(t, json.Unmarshal(r.body, &c), string(r.body))
	return c
}

func TestCompletionMatchesLibraryWithoutBatching(t *testing.T) {
	model := openTiny(t)
	_, ts := newTestServer(t, model, WithoutBatching())
	for _, tc := range []struct {
		name string
		req  map[string]any
		cfg  llada.GenerateConfig
	}{
		{"greedy", map[string]any{"prompt": "w2 w3 w4", "max_tokens": 8}, llada.GenerateConfig{GenLength: 8}},
		{"blocks and steps", map[string]any{"prompt": "w5 w6", "max_tokens": 8, "block_length": 4, "steps": 4},
			llada.GenerateConfig{GenLength: 8, BlockLength: 4, Steps: 4}},
		{"temperature and seed", map[string]any{"prompt": "w7", "max_tokens": 6, "temperature": 0.8, "seed": 42},
			llada.GenerateConfig{GenLength: 6, Temperature: 0.8, Seed: 42}},
		{"sampler knob", map[string]any{"prompt": "w8 w9", "max_tokens": 8, "sampler": "fast-dllm-threshold", "threshold": 0.5},
			llada.GenerateConfig{GenLength: 8, Sampler: func() llada.Sampler { s := llada.SamplerByName("fast-dllm-threshold"); s.Threshold = 0.5; return s }()}},
		{"cfg", map[string]any{"prompt": "w10 w11", "max_tokens": 4, "cfg_scale": 1.5}, llada.GenerateConfig{GenLength: 4, CFGScale: 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, ts, "/v1/completions", "", tc.req)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			got := decode(t, r)
			want, err := model.Generate(context.Background(), tc.req["prompt"].(string), tc.cfg)
			require.NoError(t, err)
			require.Len(t, got.Choices, 1)
			assert.Equal(t, want.Sequences[0].Text, got.Choices[0].Text)
			assert.Equal(t, "text_completion", got.Object)
			assert.Equal(t, "llada", got.Model)
			require.NotNil(t, got.Usage)
			assert.Equal(t, want.Sequences[0].PromptLen, got.Usage.PromptTokens)
			assert.Equal(t, got.Usage.PromptTokens+got.Usage.CompletionTokens, got.Usage.TotalTokens)
		})
	}
}

// The cross-request batching promise: a greedy request gives the same output alone as among other requests.
func TestBatchedGreedyEqualsAlone(t *testing.T) {
	model := openTiny(t)
	_, ts := newTestServer(t, model, WithBatching(64, 50*time.Millisecond, 8))
	prompts := []string{"w2 w3 w4", "w5", "w6 w7 w8 w9 w10 w11", "w12 w13", "w14 w15 w16 w17", "w18", "w19 w20 w21", "w22 w23 w24 w25 w26"}
	reqFor := func(i int) map[string]any {
		req := map[string]any{"prompt": prompts[i], "max_tokens": 8 + 4*(i%3), "steps": 8 + 4*(i%3)}
		if i%2 == 1 {
			req["sampler"] = "fast-dllm-threshold"
		}
		return req
	}
	alone := make([]string, len(prompts))
	for i := range prompts {
		r := post(t, ts, "/v1/completions", "", reqFor(i))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		alone[i] = decode(t, r).Choices[0].Text
	}
	for round := range 3 {
		got := make([]string, len(prompts))
		var wg sync.WaitGroup
		for i := range prompts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := post(t, ts, "/v1/completions", "", reqFor(i))
				if assert.Equal(t, http.StatusOK, r.status, string(r.body)) {
					got[i] = decode(t, r).Choices[0].Text
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, alone, got, "round %d", round)
	}
}

func TestAPIKey(t *testing.T) {
	_, ts := newTestServer(t, openTiny(t), WithAPIKey("s3cret"))
	body := map[string]any{"prompt": "w2", "max_tokens": 4}
	for _, key := range []string{"", "wrong", "s3cre"} {
		r := post(t, ts, "/v1/completions", key, body)
		assert.Equal(t, http.StatusUnauthorized, r.status)
		e := decode(t, r)
		require.NotNil(t, e.Error)
		assert.Equal(t, "invalid_api_key", *e.Error.Code)
	}
	assert.Equal(t, http.StatusOK, post(t, ts, "/v1/completions", "s3cret", body).status)
	resp, err := ts.Client().Get(ts.URL + "/v1/models")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, open := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := ts.Client().Get(ts.URL + open)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, open)
	}
}

func TestBadRequests(t *testing.T) {
	_, ts := newTestServer(t, openTiny(t))
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		param      string
		msg        string
	}{
		{"malformed", "/v1/completions", `{"prompt": "w2",`, 400, "", "malformed JSON"},
		{"wrong type", "/v1/completions", `{"prompt": "w2", "max_tokens": "many"}`, 400, "max_tokens", "must be int"},
		{"no prompt", "/v1/completions", map[string]any{"max_tokens": 4}, 400, "prompt", "prompt is required"},
		{"max_tokens 0", "/v1/completions", map[string]any{"prompt": "w2", "max_tokens": 0}, 400, "max_tokens", "out of range"},
		{"too long", "/v1/completions", map[string]any{"prompt": "w2 w3 w4", "max_tokens": 30}, 400, "max_tokens", "exceeds the model's 32 positions"},
		{"block split", "/v1/completions", map[string]any{"prompt": "w2", "max_tokens": 6, "block_length": 4}, 400, "", "not a multiple of block_length"},
		{"unknown sampler", "/v1/completions", map[string]any{"prompt": "w2", "sampler": "nope"}, 400, "sampler", "unknown sampler"},
		{"knob off sampler", "/v1/completions", map[string]any{"prompt": "w2", "threshold": 0.5}, 400, "threshold", "does not apply"},
		{"temperature", "/v1/completions", map[string]any{"prompt": "w2", "temperature": -1}, 400, "temperature", "out of range"},
		{"n", "/v1/completions", map[string]any{"prompt": "w2", "n": 0}, 400, "n", "out of range"},
		{"stop", "/v1/completions", map[string]any{"prompt": "w2", "stop": []string{"a", "b", "c", "d", "e"}}, 400, "stop", "at most 4"},
		{"logprobs", "/v1/completions", map[string]any{"prompt": "w2", "logprobs": 2}, 400, "logprobs", "not supported"},
		{"prompt too long", "/v1/completions", map[string]any{"prompt": strings.Repeat("w2 ", 40)}, 400, "prompt", "prompt 0 has 40 tokens"},
		{"model", "/v1/completions", map[string]any{"prompt": "w2", "model": "gpt-4"}, 404, "model", "not served here"},
		{"stream_steps alone", "/v1/completions", map[string]any{"prompt": "w2", "stream_steps": true}, 400, "stream_steps", "needs stream"},
		{"chat without template", "/v1/chat/completions", map[string]any{"messages": []map[string]string{{"role": "user", "content": "w2"}}}, 400, "messages", "no chat template"},
		{"route", "/v1/embeddings", map[string]any{}, 404, "", "no route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, ts, tc.path, "", tc.body)
			assert.Equal(t, tc.status, r.status, string(r.body))
			e := decode(t, r)
			require.NotNil(t, e.Error, string(r.body))
			assert.Contains(t, e.Error.Message, tc.msg)
			assert.NotEmpty(t, e.Error.Type)
			if tc.param != "" {
				require.NotNil(t, e.Error.Param)
				assert.Equal(t, tc.param, *e.Error.Param)
			}
		})
	}
}

func TestChatCompletion(t *testing.T) {
	model := openTiny(t)
	_, ts := newTestServer(t, model, WithChatTemplate(tinyChat), WithoutBatching())
	r := post(t, ts, "/v1/chat/completions", "", map[string]any{"max_tokens": 6,
		"messages": []map[string]any{{"role": "system", "content": "w2 w3"}, {"role": "user", "content": []map[string]string{{"type": "text", "text": "w4"}}}}})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	got := decode(t, r)
	ids, err := model.Tokenizer().Encode("w2 w3 w4 ", false)
	require.NoError(t, err)
	want, err := model.GenerateIDs(context.Background(), [][]int{ids}, llada.GenerateConfig{GenLength: 6})
	require.NoError(t, err)
	assert.Equal(t, "chat.completion", got.Object)
	require.NotNil(t, got.Choices[0].Message)
	assert.Equal(t, "assistant", got.Choices[0].Message.Role)
	assert.Equal(t, want.Sequences[0].Text, got.Choices[0].Message.Content)
	assert.Equal(t, len(ids), got.Usage.PromptTokens)

	bad := post(t, ts, "/v1/chat/completions", "", map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]string{{"type": "image_url"}}}}})
	assert.Equal(t, http.StatusBadRequest, bad.status)
	assert.Contains(t, string(bad.body), "image_url")
}

// sseEvents reads an SSE body into (event, data) pairs.
func sseEvents(t testing.TB, body io.Reader) (events []string, datas []string) {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			events = append(events, event)
			datas = append(datas, strings.TrimPrefix(line, "data: "))
			event = ""
		}
	}
	require.NoError(t, sc.Err())
	return events, datas
}

func TestStreamingConcatenatesToWholeResponse(t *testing.T) {
	model := openTiny(t)
	_, ts := newTestServer(t, model, WithChatTemplate(tinyChat))
	for _, tc := range []struct {
		name, path string
		req        map[string]any
	}{
		{"completion", "/v1/completions", map[string]any{"prompt": "w2 w3", "max_tokens": 12, "n": 2, "temperature": 0.7, "seed": 3}},
		{"completion blocks", "/v1/completions", map[string]any{"prompt": []string{"w2 w3", "w9"}, "max_tokens": 12, "block_length": 4, "steps": 12}},
		{"completion stop", "/v1/completions", map[string]any{"prompt": "w2 w3", "max_tokens": 12, "stop": []string{"w41"}}},
		{"chat", "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": "w5 w6"}}, "max_tokens": 8}},
		{"remdm (streams at the end)", "/v1/completions", map[string]any{"prompt": "w2", "max_tokens": 8, "sampler": "remdm-cap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := decode(t, post(t, ts, tc.path, "", tc.req))
			require.Nil(t, whole.Error)
			sreq := map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}
			for k, v := range tc.req {
				sreq[k] = v
			}
			r := post(t, ts, tc.path, "", sreq)
			require.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "text/event-stream", r.header.Get("Content-Type"))
			_, datas := sseEvents(t, bytes.NewReader(r.body))
			require.NotEmpty(t, datas)
			assert.Equal(t, "[DONE]", datas[len(datas)-1])
			texts := map[int]string{}
			finish := map[int]string{}
			var u *usage
			for _, d := range datas[:len(datas)-1] {
				var c completionResp
				require.NoError(t, json.Unmarshal([]byte(d), &c), d)
				require.Nil(t, c.Error, d)
				if c.Usage != nil {
					u = c.Usage
					assert.Empty(t, c.Choices)
				}
				for _, ch := range c.Choices {
					if ch.Delta != nil {
						if ch.Delta.Content != nil {
							texts[ch.Index] += *ch.Delta.Content
						}
					} else {
						texts[ch.Index] += ch.Text
					}
					if ch.FinishReason != nil {
						_, dup := finish[ch.Index]
						assert.False(t, dup, "one finish chunk per choice")
						finish[ch.Index] = *ch.FinishReason
					}
				}
			}
			require.Len(t, texts, len(whole.Choices))
			for _, ch := range whole.Choices {
				want := ch.Text
				if ch.Message != nil {
					want = ch.Message.Content
				}
				assert.Equal(t, want, texts[ch.Index], "choice %d", ch.Index)
				assert.Equal(t, *ch.FinishReason, finish[ch.Index])
			}
			require.NotNil(t, u)
			assert.Equal(t, *whole.Usage, *u)
		})
	}
}

func TestStopSequence(t *testing.T) {
	_, ts := newTestServer(t, openTiny(t))
	free := decode(t, post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2 w3", "max_tokens": 12}))
	text := free.Choices[0].Text
	words := strings.Fields(text)
	require.GreaterOrEqual(t, len(words), 3, text)
	stop := words[2]
	cut := text[:strings.Index(text, stop)]
	got := decode(t, post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2 w3", "max_tokens": 12, "stop": stop}))
	assert.Equal(t, cut, got.Choices[0].Text)
	assert.Equal(t, "stop", *got.Choices[0].FinishReason)
	assert.Equal(t, "length", *free.Choices[0].FinishReason)
}

func TestStreamSteps(t *testing.T) {
	_, ts := newTestServer(t, openTiny(t))
	r := post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2", "max_tokens": 8, "stream": true, "stream_steps": true})
	require.Equal(t, http.StatusOK, r.status)
	events, datas := sseEvents(t, bytes.NewReader(r.body))
	steps := 0
	lastMasked := 9
	for i, e := range events {
		if e != "step" {
			continue
		}
		var st struct {
			Object  string `json:"object"`
			Step    int    `json:"step"`
			Choices []struct {
				Canvas string `json:"canvas"`
				Masked int    `json:"masked"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal([]byte(datas[i]), &st))
		assert.Equal(t, "llada.step", st.Object)
		assert.Equal(t, steps, st.Step)
		assert.Equal(t, st.Choices[0].Masked, strings.Count(st.Choices[0].Canvas, "\u2591"))
		assert.Less(t, st.Choices[0].Masked, lastMasked, "one more token each step")
		lastMasked = st.Choices[0].Masked
		steps++
	}
	assert.Equal(t, 8, steps)
	assert.Equal(t, 0, lastMasked)
}

// blockingDenoiser wraps a denoiser and holds every forward pass until released.
type blockingDenoiser struct {
	llada.Denoiser
	entered   chan struct{}
	release   chan struct{}
	calls     atomic.Int64
	ignoreCtx bool // hold the pass until release even when the request's context ends
}

func (d *blockingDenoiser) Forward(ctx context.Context, in llada.Batch, logits []float32) error {
	select {
	case d.entered <- struct{}{}:
	default:
	}
	if d.ignoreCtx {
		<-d.release
	} else {
		select {
		case <-d.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.calls.Add(1)
	return d.Denoiser.Forward(ctx, in, logits)
}

func blockedModel(t testing.TB) (*llada.Model, *blockingDenoiser) {
	tiny := openTiny(t)
	den := &blockingDenoiser{Denoiser: tiny.Denoiser(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	m, err := llada.New(den, tiny.Tokenizer(), tiny.Contract())
	require.NoError(t, err)
	return m, den
}

func TestQueueFullGets429AndTimeoutGets504(t *testing.T) {
	model, den := blockedModel(t)
	den.ignoreCtx = true // the first request keeps its slot past its own deadline, until released below
	s, ts := newTestServer(t, model, WithMaxConcurrent(1), WithQueue(1), WithTimeout(time.Second), WithoutBatching())
	body := map[string]any{"prompt": "w2", "max_tokens": 4}
	first := make(chan reply, 1)
	go func() { first <- post(t, ts, "/v1/completions", "", body) }()
	<-den.entered // the first generation holds the slot
	second := make(chan reply, 1)
	go func() { second <- post(t, ts, "/v1/completions", "", body) }()
	require.Eventually(t, func() bool { return len(s.admitted) == 2 }, time.Second, time.Millisecond, "the second request waits in the queue")
	r := post(t, ts, "/v1/completions", "", body)
	require.Equal(t, http.StatusTooManyRequests, r.status, "a full queue answers 429")
	assert.Equal(t, "rate_limit_error", decode(t, r).Error.Type)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	r2 := <-second
	assert.Equal(t, http.StatusGatewayTimeout, r2.status, "timed out waiting in the queue")
	assert.Contains(t, string(r2.body), "waiting for a generation slot")
	close(den.release)
	r1 := <-first
	assert.Equal(t, http.StatusGatewayTimeout, r1.status, string(r1.body))
	assert.Equal(t, "timeout", decode(t, r1).Error.Type)
}

func TestClientDisconnectCancelsGeneration(t *testing.T) {
	model, den := blockedModel(t)
	s, ts := newTestServer(t, model)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"w2","max_tokens":8,"stream":true}`))
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := ts.Client().Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-den.entered
	cancel()
	<-done
	close(den.release) // the pass already running finishes (other rows may share it); then the generation stops
	require.Eventually(t, func() bool {
		s.batch.mu.Lock()
		defer s.batch.mu.Unlock()
		return s.batch.members == 0 && len(s.batch.pending) == 0
	}, 2*time.Second, 5*time.Millisecond, "the generation left the batcher")
	require.NoError(t, s.Drain(context.Background()), "nothing is left in flight")
	// The server notices the closed connection asynchronously, so a few more passes may run; never all 8.
	assert.Less(t, den.calls.Load(), int64(8), "the generation stopped before its end")
	assert.Equal(t, 1.0, testutil.ToFloat64(s.metrics.rejected.WithLabelValues("cancelled")), "counted as cancelled")
}

func TestDrain(t *testing.T) {
	model, den := blockedModel(t)
	s, ts := newTestServer(t, model)
	got := make(chan reply, 1)
	go func() { got <- post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2", "max_tokens": 4}) }()
	<-den.entered
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(context.Background()) }()
	require.Eventually(t, func() bool {
		resp, err := ts.Client().Get(ts.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, time.Second, 5*time.Millisecond)
	r := post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2"})
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	select {
	case <-drained:
		t.Fatal("drain returned while a generation was in flight")
	default:
	}
	close(den.release)
	assert.Equal(t, http.StatusOK, (<-got).status, "the in-flight request finishes")
	require.NoError(t, <-drained)

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	require.NoError(t, s.Drain(ctx), "nothing left")
}

func TestModelsAndMetrics(t *testing.T) {
	_, ts := newTestServer(t, openTiny(t), WithModelName("tiny"))
	resp, err := ts.Client().Get(ts.URL + "/v1/models")
	require.NoError(t, err)
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	require.Len(t, list.Data, 1)
	assert.Equal(t, "tiny", list.Data[0].ID)
	require.Equal(t, http.StatusOK, post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2", "max_tokens": 4, "model": "tiny"}).status)
	require.Equal(t, http.StatusBadRequest, post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2", "max_tokens": 0}).status)
	resp, err = ts.Client().Get(ts.URL + "/metrics")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(raw)
	for _, want := range []string{
		`llada_requests_total{code="200",endpoint="completions"} 1`,
		`llada_requests_total{code="400",endpoint="completions"} 1`,
		`llada_tokens_total{kind="completion"} 4`,
		`llada_batch_rows_count`, `llada_denoising_steps_total 4`, `go_goroutines`, `process_resident_memory_bytes`,
	} {
		assert.Contains(t, m, want)
	}
}

func TestNewRejectsImpossibleOptions(t *testing.T) {
	model := openTiny(t)
	for _, opt := range []Option{WithMaxConcurrent(0), WithQueue(-1), WithMaxTokens(0), WithBatching(0, time.Millisecond, 8),
		WithTimeout(-time.Second), WithModelName(""), WithMaxN(0)} {
		_, err := New(model, opt)
		assert.Error(t, err)
	}
	_, err := New(nil)
	assert.Error(t, err)
	_, err = New(model, WithChatTemplate("{% for %}"))
	require.NoError(t, err, "a broken template disables chat, it does not stop the server")
}

func TestHoldBack(t *testing.T) {
	for _, tc := range []struct {
		in      string
		maxStop int
		want    string
	}{
		{"hello", 0, "hello"},
		{"hello", 1, "hello"},
		{"hello", 3, "hel"},
		{"hé\uFFFD", 0, "hé"},
		{"hé", 2, "h"},
		{"ab", 5, ""},
	} {
		assert.Equal(t, tc.want, holdBack(tc.in, tc.maxStop), fmt.Sprintf("%q/%d", tc.in, tc.maxStop))
	}
}

// A continuous-family model runs through the model's own Stream (its denoiser is not batched), with the
// continuous samplers selectable by name and the masked ones refused.
func TestContinuousModel(t *testing.T) {
	model, err := llada.Open("../testdata/continuous-tiny")
	require.NoError(t, err)
	defer model.Close()
	s, ts := newTestServer(t, model)
	assert.Nil(t, s.batch)
	for _, body := range []map[string]any{
		{"prompt": "w2 w3", "max_tokens": 6, "steps": 4},
		{"prompt": "w2 w3", "max_tokens": 6, "steps": 4, "sampler": "ddim", "eta": 0},
		{"prompt": "w2 w3", "max_tokens": 6, "steps": 4, "stream": true},
	} {
		r := post(t, ts, "/v1/completions", "", body)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	r := post(t, ts, "/v1/completions", "", map[string]any{"prompt": "w2", "max_tokens": 4, "sampler": "fast-dllm-threshold"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), "does not run on a continuous model")
}

// countingTokenizer counts Decode calls, to show which requests decode text at every step.
type countingTokenizer struct {
	llada.Tokenizer
	decodes atomic.Int64
}

func (c *countingTokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	c.decodes.Add(1)
	return c.Tokenizer.Decode(ids, skipSpecial)
}

// A request that neither streams nor has stop sequences decodes each choice once, when it is final, not the
// growing prefix at every step; one with a stop sequence must read the text as it grows.
func TestDecodesOnlyWhatIsRead(t *testing.T) {
	s, ts := newTestServer(t, openTiny(t), WithoutBatching())
	ct := &countingTokenizer{Tokenizer: s.tok}
	s.tok = ct
	for _, tc := range []struct {
		name    string
		req     map[string]any
		atLeast int64
		atMost  int64
	}{
		{"plain", map[string]any{"prompt": "w2 w3", "max_tokens": 8, "steps": 8}, 1, 1},
		{"n=2", map[string]any{"prompt": "w2 w3", "max_tokens": 8, "steps": 8, "n": 2, "temperature": 1, "seed": 3}, 2, 2},
		{"stop", map[string]any{"prompt": "w2 w3", "max_tokens": 8, "steps": 8, "stop": "zzz"}, 2, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct.decodes.Store(0)
			r := post(t, ts, "/v1/completions", "", tc.req)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			got := ct.decodes.Load()
			assert.GreaterOrEqual(t, got, tc.atLeast)
			assert.LessOrEqual(t, got, tc.atMost)
		})
	}
}
