package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/chat"
)

// job is one request's generation.
type job struct {
	chat         bool
	id           string
	created      int64
	prompts      [][]int // token ids, one per prompt; each runs n rows
	n            int
	cfg          llada.GenerateConfig
	stops        []string
	stream       bool
	includeUsage bool
	streamSteps  bool
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		sampling
		Prompt json.RawMessage `json:"prompt"`
	}
	if !s.readBody(w, r, &req) {
		return
	}
	texts, err := parsePrompts(req.Prompt)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	prompts := make([][]int, len(texts))
	for i, t := range texts {
		if prompts[i], err = s.tok.Encode(t, true); err != nil {
			s.badRequest(w, badParam("prompt", "prompt %d: %v", i, err))
			return
		}
	}
	s.runJob(w, r, &req.sampling, prompts, false)
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		sampling
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if !s.readBody(w, r, &req) {
		return
	}
	if s.chat == nil {
		s.badRequest(w, badParam("messages", "chat completions are unavailable: %v", s.chatErr))
		return
	}
	if len(req.Messages) == 0 {
		s.badRequest(w, badParam("messages", "messages is required and must not be empty"))
		return
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, m := range req.Messages {
		text, err := messageText(m.Content)
		if err != nil {
			s.badRequest(w, badParam(fmt.Sprintf("messages[%d].content", i), "%v", err))
			return
		}
		if m.Role == "" {
			s.badRequest(w, badParam(fmt.Sprintf("messages[%d].role", i), "messages[%d] has no role", i))
			return
		}
		msgs[i] = chat.Message{Role: m.Role, Content: text}
	}
	rendered, err := s.chat.Render(msgs, true, s.templateVars())
	if err != nil {
		s.badRequest(w, badParam("messages", "%v", err))
		return
	}
	// The template writes the special tokens itself, so the tokenizer's post-processor must not add more.
	ids, err := s.tok.Encode(rendered, false)
	if err != nil {
		s.badRequest(w, badParam("messages", "%v", err))
		return
	}
	s.runJob(w, r, &req.sampling, [][]int{ids}, true)
}

// messageText reads a chat message's content: a string, or an array of parts of which only text is supported.
func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// templateVars are the variables chat templates commonly read besides messages.
func (s *Server) templateVars() map[string]any {
	vars := map[string]any{}
	for name, id := range map[string]int{"bos_token": s.contract.BOSID, "eos_token": s.contract.EOSID} {
		if id < 0 {
			continue
		}
		if t, err := s.tok.Decode([]int{id}, false); err == nil {
			vars[name] = t
		}
	}
	return vars
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", fmt.Sprintf("request body over %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("reading the request body: %v", err))
		return false
	}
	if err := decodeJSON(body, v); err != nil {
		s.badRequest(w, err)
		return false
	}
	return true
}

func (s *Server) badRequest(w http.ResponseWriter, err error) {
	var re *requestError
	param := ""
	if errors.As(err, &re) {
		param = re.param
	}
	writeError(w, http.StatusBadRequest, "invalid_request_error", param, err.Error())
}

// runJob validates the settings against the prompts and runs the generation, answering in one body or as a
// stream.
func (s *Server) runJob(w http.ResponseWriter, r *http.Request, req *sampling, prompts [][]int, isChat bool) {
	if req.Model != "" && req.Model != s.o.modelName {
		writeErrorCode(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
			fmt.Sprintf("model %q is not served here (this server serves %q)", req.Model, s.o.modelName))
		return
	}
	if req.StreamSteps && !req.Stream {
		s.badRequest(w, badParam("stream_steps", "stream_steps needs stream: true"))
		return
	}
	// Without max_tokens a request generates the default length, or what the model's positions leave.
	def := s.o.defaultTokens
	if s.contract.MaxSeqLen > 0 {
		longest := 0
		for _, p := range prompts {
			longest = max(longest, len(p))
		}
		def = max(min(def, s.contract.MaxSeqLen-longest), 1)
	}
	cfg, n, err := req.config(s.contract, limits{maxTokens: s.o.maxTokens, defaultTokens: def, maxN: s.o.maxN})
	if err != nil {
		s.badRequest(w, err)
		return
	}
	stops, err := req.stops()
	if err != nil {
		s.badRequest(w, err)
		return
	}
	promptTokens := 0
	for i, p := range prompts {
		promptTokens += len(p)
		switch {
		case len(p) > s.o.maxPromptTokens:
			s.badRequest(w, badParam("prompt", "prompt %d has %d tokens; at most %d are allowed", i, len(p), s.o.maxPromptTokens))
			return
		case s.contract.MaxSeqLen > 0 && len(p)+cfg.GenLength > s.contract.MaxSeqLen:
			s.badRequest(w, badParam("max_tokens", "prompt %d (%d tokens) plus max_tokens %d exceeds the model's %d positions", i, len(p), cfg.GenLength, s.contract.MaxSeqLen))
			return
		}
	}
	if len(prompts)*n > s.o.batchRows && s.batch != nil {
		s.badRequest(w, badParam("n", "%d prompts x n %d = %d rows exceed the batch limit %d", len(prompts), n, len(prompts)*n, s.o.batchRows))
		return
	}
	j := &job{chat: isChat, created: time.Now().Unix(), prompts: prompts, n: n, cfg: cfg, stops: stops,
		stream: req.Stream, streamSteps: req.StreamSteps, includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if isChat {
		j.id = s.newID("chatcmpl")
	} else {
		j.id = s.newID("cmpl")
	}
	s.metrics.tokens.WithLabelValues("prompt").Add(float64(promptTokens))
	s.log.Debug("generation", "id", j.id, "prompts", len(prompts), "n", n, "gen_length", cfg.GenLength,
		"steps", cfg.Steps, "sampler", cfg.Sampler.Name, "stream", j.stream)
	s.generate(w, r.Context(), j, promptTokens)
}

// choice is one output row's progress.
type choice struct {
	text     string // final text once done
	sent     string // streamed so far
	ntok     int
	finish   string
	done     bool // complete: the rest of the generation cannot change it
	finished bool // its finish chunk went out
}

func (s *Server) generate(w http.ResponseWriter, ctx context.Context, j *job, promptTokens int) {
	rows := make([][]int, 0, len(j.prompts)*j.n)
	for _, p := range j.prompts {
		for range j.n {
			rows = append(rows, p)
		}
	}
	choices := make([]choice, len(rows))
	revise := revisable(j.cfg, s.contract)
	maxStop := 0
	for _, st := range j.stops {
		maxStop = max(maxStop, len(st))
	}
	var out *sse
	if j.stream {
		out = newSSE(w)
		if j.chat {
			for i := range choices {
				empty := ""
				out.data(s.chunk(j, []chatChoice{{Index: i, Delta: &chatDelta{Role: "assistant", Content: &empty}}}))
			}
		}
	}
	var (
		canvas  []int
		end     []int
		seq, pl int
		genErr  error
		steps   int
	)
	for st, err := range s.stream(ctx, rows, j.cfg) {
		if err != nil {
			genErr = err
			break
		}
		steps++
		s.metrics.steps.Inc()
		canvas = append(canvas[:0], st.Canvas...)
		end = append(end[:0], st.End...)
		seq, pl = st.Seq, st.PromptLen
		if j.streamSteps {
			out.event("step", s.stepEvent(j, st))
		}
		if revise {
			continue
		}
		all := true
		for i := range choices {
			c := &choices[i]
			if c.done {
				continue
			}
			ntok, eos, complete := s.rowSpan(canvas, seq, pl, end[i], i, true)
			if out == nil && len(j.stops) == 0 && !eos && !complete {
				all = false // the text is needed only once final: no decoding of the growing prefix
				continue
			}
			text := s.decodeRow(canvas, seq, pl, i, ntok)
			text, stopped := cutStop(text, j.stops)
			if stopped || eos || complete {
				c.text, c.ntok, c.done = text, ntok, true
				c.finish = "length"
				if stopped || eos {
					c.finish = "stop"
				}
			} else {
				all = false
			}
			if out != nil {
				safe := text
				if !c.done {
					safe = holdBack(text, maxStop)
				}
				s.sendDelta(out, j, i, c, safe)
			}
		}
		if out != nil && out.err != nil {
			genErr = fmt.Errorf("writing the stream: %w", out.err)
			break
		}
		if all { // every row's text is final: stop the generation early, the remaining steps cannot change it
			break
		}
	}
	if genErr == nil && canvas == nil {
		genErr = errors.New("the generation produced no step")
	}
	if genErr != nil {
		s.failGeneration(w, out, ctx, j, genErr)
		return
	}
	completion := 0
	for i := range choices {
		c := &choices[i]
		if !c.done {
			ntok, eos, _ := s.rowSpan(canvas, seq, pl, end[i], i, false)
			text := s.decodeRow(canvas, seq, pl, i, ntok)
			text, stopped := cutStop(text, j.stops)
			c.text, c.ntok, c.done, c.finish = text, ntok, true, "length"
			if stopped || eos {
				c.finish = "stop"
			}
		}
		completion += c.ntok
	}
	s.metrics.tokens.WithLabelValues("completion").Add(float64(completion))
	u := &usage{PromptTokens: promptTokens, CompletionTokens: completion, TotalTokens: promptTokens + completion}
	s.log.Info("generated", "id", j.id, "rows", len(rows), "steps", steps, "prompt_tokens", promptTokens, "completion_tokens", completion)
	if out == nil {
		writeJSON(w, http.StatusOK, s.whole(j, choices, u))
		return
	}
	for i := range choices {
		s.sendDelta(out, j, i, &choices[i], choices[i].text)
	}
	if j.includeUsage {
		r := s.chunk(j, []any{})
		r.Usage = u
		out.data(r)
	}
	out.done()
}

// sendDelta streams what text adds to what the choice already sent, then its finish chunk once it is done.
func (s *Server) sendDelta(out *sse, j *job, i int, c *choice, text string) {
	if c.finished {
		return
	}
	if len(text) > len(c.sent) && strings.HasPrefix(text, c.sent) {
		delta := text[len(c.sent):]
		c.sent = text
		if j.chat {
			out.data(s.chunk(j, []chatChoice{{Index: i, Delta: &chatDelta{Content: &delta}}}))
		} else {
			out.data(s.chunk(j, []completionChoice{{Text: delta, Index: i}}))
		}
	}
	if !c.done || c.text != text {
		return
	}
	c.finished = true
	finish := c.finish
	if j.chat {
		out.data(s.chunk(j, []chatChoice{{Index: i, Delta: &chatDelta{}, FinishReason: &finish}}))
	} else {
		out.data(s.chunk(j, []completionChoice{{Index: i, FinishReason: &finish}}))
	}
}

func (s *Server) chunk(j *job, choices any) *response {
	obj := "text_completion"
	if j.chat {
		obj = "chat.completion.chunk"
	}
	return &response{ID: j.id, Object: obj, Created: j.created, Model: s.o.modelName, Choices: choices}
}

func (s *Server) whole(j *job, choices []choice, u *usage) *response {
	r := &response{ID: j.id, Object: "text_completion", Created: j.created, Model: s.o.modelName, Usage: u}
	if j.chat {
		r.Object = "chat.completion"
		cs := make([]chatChoice, len(choices))
		for i, c := range choices {
			f := c.finish
			cs[i] = chatChoice{Index: i, Message: &chatMessage{Role: "assistant", Content: c.text}, FinishReason: &f}
		}
		r.Choices = cs
		return r
	}
	cs := make([]completionChoice, len(choices))
	for i, c := range choices {
		f := c.finish
		cs[i] = completionChoice{Text: c.text, Index: i, FinishReason: &f}
	}
	r.Choices = cs
	return r
}

// failGeneration answers a generation that ended in an error: before the stream starts with a status, inside
// a stream with an error event (OpenAI clients raise it), and nothing for a client that went away.
func (s *Server) failGeneration(w http.ResponseWriter, out *sse, ctx context.Context, j *job, err error) {
	status, typ := http.StatusInternalServerError, "server_error"
	switch {
	case ctx.Err() != nil:
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.metrics.rejected.WithLabelValues("cancelled").Inc()
			s.log.Info("generation cancelled by the client", "id", j.id)
			if out == nil {
				w.WriteHeader(499)
			}
			return
		}
		s.metrics.rejected.WithLabelValues("timeout").Inc()
		status, typ = http.StatusGatewayTimeout, "timeout"
		err = fmt.Errorf("the request timed out after %v", s.o.timeout)
	case errors.Is(err, llada.ErrInvalidConfig):
		status, typ = http.StatusBadRequest, "invalid_request_error"
	case errors.Is(err, llada.ErrClosed), errors.Is(err, errBatcherClosed):
		status, typ = http.StatusServiceUnavailable, "service_unavailable"
	}
	if status >= 500 {
		s.log.Error("generation failed", "id", j.id, "err", err)
	}
	if out == nil {
		writeError(w, status, typ, "", err.Error())
		return
	}
	out.data(map[string]apiError{"error": errorBody(typ, "", "", err.Error())})
}

// rowSpan measures row i's generation: the tokens before the first EOS or EOT, and with prefix before the first
// masked position too (the part that is final). It reports whether an EOS/EOT ended the text and whether the text
// is complete (ended by EOS or reaching the row's end). It reads ids only, so the step loop can tell when every
// row is final without decoding text that nobody reads.
func (s *Server) rowSpan(canvas []int, seq, promptLen, end, i int, prefix bool) (ntok int, eos, complete bool) {
	gen := canvas[i*seq+promptLen : i*seq+end]
	k := len(gen)
	for p, id := range gen {
		if id == s.contract.EOSID || (s.contract.EOTID >= 0 && id == s.contract.EOTID) {
			k, eos = p, true
			break
		}
		if prefix && id == s.contract.MaskID {
			k = p
			break
		}
	}
	return k, eos, eos || k == len(gen)
}

// decodeRow decodes the first ntok generated tokens of row i.
func (s *Server) decodeRow(canvas []int, seq, promptLen, i, ntok int) string {
	text, err := s.tok.Decode(canvas[i*seq+promptLen:i*seq+promptLen+ntok], true)
	if err != nil { // ids come from the model's own vocabulary; a failure here is a model/tokenizer mismatch
		s.log.Error("decode failed", "err", err)
	}
	return text
}

// cutStop truncates text at the earliest stop sequence.
func cutStop(text string, stops []string) (string, bool) {
	cut := -1
	for _, st := range stops {
		if i := strings.Index(text, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut < 0 {
		return text, false
	}
	return text[:cut], true
}

// holdBack is the part of a still-growing text that can be streamed: without a trailing replacement
// character (a UTF-8 sequence whose remaining bytes are still masked) and without the last maxStop-1 bytes, which
// may be the start of a stop sequence that the next tokens complete.
func holdBack(text string, maxStop int) string {
	text = strings.TrimRight(text, "\uFFFD")
	cut := len(text) - max(maxStop-1, 0)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && cut < len(text) && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// stepEvent is the extension event of one denoising step: each row's generation with masked positions shown
// as U+2591.
func (s *Server) stepEvent(j *job, st llada.Step) map[string]any {
	rows := make([]map[string]any, st.Rows)
	for r := range st.Rows {
		gen := st.Canvas[r*st.Seq+st.PromptLen : (r+1)*st.Seq]
		var b strings.Builder
		masked, from := 0, 0
		flush := func(to int) {
			if to > from {
				t, _ := s.tok.Decode(gen[from:to], true)
				b.WriteString(t)
			}
		}
		for p, id := range gen {
			if id == s.contract.MaskID {
				flush(p)
				b.WriteString("\u2591")
				masked++
				from = p + 1
			}
		}
		flush(len(gen))
		rows[r] = map[string]any{"index": r, "canvas": b.String(), "masked": masked, "committed": len(st.Committed[r])}
	}
	return map[string]any{"id": j.id, "object": "llada.step", "step": st.Step, "block": st.Block, "nfe": st.NFE, "choices": rows}
}

// sse writes server-sent events, flushing each.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func newSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not buffer the stream
	w.WriteHeader(http.StatusOK)
	e := &sse{w: w, rc: http.NewResponseController(w)}
	e.err = e.rc.Flush()
	return e
}

func (e *sse) write(event string, v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	if event != "" {
		_, e.err = fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", event, b)
	} else {
		_, e.err = fmt.Fprintf(e.w, "data: %s\n\n", b)
	}
	if e.err == nil {
		e.err = e.rc.Flush()
	}
}

func (e *sse) data(v any)               { e.write("", v) }
func (e *sse) event(name string, v any) { e.write(name, v) }

func (e *sse) done() {
	if e.err == nil {
		_, e.err = io.WriteString(e.w, "data: [DONE]\n\n")
		if e.err == nil {
			e.err = e.rc.Flush()
		}
	}
}
