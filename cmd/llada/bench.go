package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/llada-go/llada"
)

func init() {
	register("bench", command{summary: "time a file of generation cases (JSON lines) in one process, after a warm-up", run: runBench})
}

// benchCase is one line of the cases file: a prompt (text or ids) and generate settings. Settings use the
// names of `llada generate`'s flags, with - or _ (gen_length or gen-length), so every sampler knob works
// without a second list to keep in step.
type benchCase struct {
	Name      string
	Prompt    string
	PromptIDs []int
	Repeat    int
	Config    llada.GenerateConfig
}

// benchResult is one timed run of a case (the --format json "cases" entries).
type benchResult struct {
	Case      int     `json:"case"` // 1-based, among the cases
	Name      string  `json:"name,omitempty"`
	Run       int     `json:"run"`   // 1-based repeat
	IDs       []int   `json:"ids"`   // generated ids (the canvas after the prompt)
	Cache     string  `json:"cache"` // KV cache mode: none, prefix or dual
	NFE       int     `json:"nfe"`   // forward passes
	Steps     int     `json:"steps"`
	ElapsedMS float64 `json:"elapsed_ms"`
	stepMS    []float64
}

// benchSummary aggregates every timed run (not the warm-up).
type benchSummary struct {
	Runs         int     `json:"runs"`
	Tokens       int     `json:"tokens"` // generated positions over all runs
	ElapsedMS    float64 `json:"elapsed_ms"`
	TokensPerSec float64 `json:"tokens_per_s"`
	NFEPerSec    float64 `json:"nfe_per_s"`
	WarmupMS     float64 `json:"warmup_ms"`
	StepP50MS    float64 `json:"step_p50_ms"`
	StepP90MS    float64 `json:"step_p90_ms"`
	StepP99MS    float64 `json:"step_p99_ms"`
	StepMaxMS    float64 `json:"step_max_ms"`
}

type benchOutput struct {
	Cases   []benchResult `json:"cases"`
	Summary benchSummary  `json:"summary"`
}

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	var mf modelFlags
	mf.add(fs)
	casesPath := fs.String("cases", "", "JSON lines file of cases (- = stdin); each line: prompt or prompt_ids, optional name and repeat, and any `llada generate` setting by flag name, e.g. {\"prompt\":\"The\",\"gen_length\":32,\"sampler\":\"fast-dllm-threshold\",\"threshold\":0.9}")
	warmup := fs.Int("warmup", 1, "untimed generations of the first case before timing")
	repeat := fs.Int("repeat", 1, "times each case runs (multiplies a case's own repeat)")
	format := fs.String("format", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *casesPath == "" {
		return errors.New("--cases: give a JSON lines file (or - for stdin)")
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if *warmup < 0 || *repeat < 1 {
		return fmt.Errorf("--warmup %d / --repeat %d: want warmup >= 0 and repeat >= 1", *warmup, *repeat)
	}
	in := stdin
	if *casesPath != "-" {
		f, err := os.Open(*casesPath)
		if err != nil {
			return fmt.Errorf("--cases: %w", err)
		}
		defer f.Close()
		in = f
	}
	cases, err := readBenchCases(in)
	if err != nil {
		return fmt.Errorf("--cases %s: %w", *casesPath, err)
	}
	m, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	prompts := make([][]int, len(cases))
	for i, c := range cases {
		if prompts[i] = c.PromptIDs; prompts[i] == nil {
			if prompts[i], err = m.Tokenizer().Encode(c.Prompt, true); err != nil {
				return fmt.Errorf("case %d: prompt: %w", i+1, err)
			}
		}
	}

	var out benchOutput
	start := time.Now()
	for range *warmup {
		if _, err := benchRun(ctx, m, prompts[0], cases[0].Config); err != nil {
			return fmt.Errorf("warm-up (case 1): %w", err)
		}
	}
	out.Summary.WarmupMS = ms(time.Since(start))
	var steps []float64
	for i, c := range cases {
		for r := range c.Repeat * *repeat {
			res, err := benchRun(ctx, m, prompts[i], c.Config)
			if err != nil {
				return fmt.Errorf("case %d: %w", i+1, err)
			}
			res.Case, res.Name, res.Run, res.Cache = i+1, c.Name, r+1, c.Config.Cache.String()
			out.Cases = append(out.Cases, res)
			steps = append(steps, res.stepMS...)
			out.Summary.Runs++
			out.Summary.Tokens += len(res.IDs)
			out.Summary.ElapsedMS += res.ElapsedMS
			out.Summary.NFEPerSec += float64(res.NFE)
		}
	}
	s := &out.Summary
	if s.ElapsedMS > 0 {
		s.TokensPerSec = float64(s.Tokens) / (s.ElapsedMS / 1000)
		s.NFEPerSec /= s.ElapsedMS / 1000
	}
	slices.Sort(steps)
	s.StepP50MS, s.StepP90MS, s.StepP99MS = percentile(steps, 50), percentile(steps, 90), percentile(steps, 99)
	if len(steps) > 0 {
		s.StepMaxMS = steps[len(steps)-1]
	}
	if *format == "json" {
		return json.NewEncoder(stdout).Encode(out)
	}
	return writeBenchText(stdout, out)
}

// benchRun times one generation. A step's time runs from the previous step's end (the generation's start for
// the first), so it holds the forward pass, the scoring and the transfer.
func benchRun(ctx context.Context, m *llada.Model, prompt []int, cfg llada.GenerateConfig) (benchResult, error) {
	var res benchResult
	var last llada.Step
	start := time.Now()
	prev := start
	for st, err := range m.Stream(ctx, [][]int{prompt}, cfg) {
		if err != nil {
			return res, err
		}
		now := time.Now()
		res.stepMS = append(res.stepMS, ms(now.Sub(prev)))
		prev = now
		last = st
	}
	res.ElapsedMS = ms(time.Since(start))
	res.Steps = len(res.stepMS)
	res.NFE = last.NFE
	res.IDs = append([]int{}, last.Canvas[last.PromptLen:last.Seq]...)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// percentile is the nearest-rank percentile of sorted xs (0 when empty).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func writeBenchText(w io.Writer, out benchOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "case\trun\tcache\tnfe\tsteps\telapsed_ms\tids")
	for _, r := range out.Cases {
		label := strconv.Itoa(r.Case)
		if r.Name != "" {
			label += " " + r.Name
		}
		ids := make([]string, len(r.IDs))
		for i, id := range r.IDs {
			ids[i] = strconv.Itoa(id)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.2f\t%s\n", label, r.Run, r.Cache, r.NFE, r.Steps, r.ElapsedMS, strings.Join(ids, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := out.Summary
	_, err := fmt.Fprintf(w, "\n%d runs, %d tokens in %.1f ms (warm-up %.1f ms): %.1f tokens/s, %.1f forward passes/s\n"+
		"step ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
		s.Runs, s.Tokens, s.ElapsedMS, s.WarmupMS, s.TokensPerSec, s.NFEPerSec, s.StepP50MS, s.StepP90MS, s.StepP99MS, s.StepMaxMS)
	return err
}

// readBenchCases parses the JSON lines (blank lines and lines starting with # are skipped).
func readBenchCases(r io.Reader) ([]benchCase, error) {
	var cases []benchCase
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c, err := parseBenchCase([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(cases) == 0 {
		return nil, errors.New("no cases")
	}
	return cases, nil
}

// parseBenchCase reads one case: its own keys (name, prompt, prompt_ids, repeat), then every other key as
// the `llada generate` flag of that name, parsed by the same flag definitions as generate's settings.
func parseBenchCase(data []byte) (benchCase, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return benchCase{}, fmt.Errorf("not a JSON object: %w", err)
	}
	c := benchCase{Repeat: 1}
	fs := flag.NewFlagSet("case", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	applySettings := addGenerateSettings(fs, &c.Config)
	var args []string
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic error order
	for _, k := range keys {
		v := raw[k]
		var err error
		switch name := strings.ReplaceAll(k, "_", "-"); name {
		case "name":
			err = json.Unmarshal(v, &c.Name)
		case "prompt":
			err = json.Unmarshal(v, &c.Prompt)
		case "prompt-ids":
			err = json.Unmarshal(v, &c.PromptIDs)
			if err == nil && len(c.PromptIDs) == 0 {
				err = errors.New("empty")
			}
		case "repeat":
			if err = json.Unmarshal(v, &c.Repeat); err == nil && c.Repeat < 1 {
				err = fmt.Errorf("%d: want >= 1", c.Repeat)
			}
		default:
			if fs.Lookup(name) == nil {
				return c, fmt.Errorf("unknown setting %q (want name, prompt, prompt_ids, repeat or a generate flag)", k)
			}
			var s string
			if s, err = jsonScalar(v); err == nil {
				args = append(args, "--"+name+"="+s)
			}
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	if c.Prompt != "" && c.PromptIDs != nil {
		return c, errors.New("give prompt or prompt_ids, not both")
	}
	if c.Prompt == "" && c.PromptIDs == nil {
		return c, errors.New("no prompt or prompt_ids")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := applySettings(); err != nil {
		return c, err
	}
	return c, c.Config.Validate()
}

// jsonScalar renders a JSON string, number or boolean as a flag value.
func jsonScalar(v json.RawMessage) (string, error) {
	var x any
	dec := json.NewDecoder(strings.NewReader(string(v)))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return "", err
	}
	switch t := x.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return "", fmt.Errorf("%s: want a string, number or boolean", v)
}
