package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/llada-go/llada"
)

// sampling holds the generation fields shared by /v1/completions and /v1/chat/completions: OpenAI's, then the
// diffusion extensions (docs in README "Serving").
type sampling struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	MaxCompletion *int            `json:"max_completion_tokens"` // chat's newer name for max_tokens
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Seed          *int64          `json:"seed"`
	Stop          json.RawMessage `json:"stop"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N *int `json:"n"`

	// Unsupported OpenAI fields that change the result: rejected when set, rather than silently ignored.
	Logprobs    json.RawMessage `json:"logprobs"`
	Echo        bool            `json:"echo"`
	BestOf      *int            `json:"best_of"`
	Suffix      *string         `json:"suffix"`
	Tools       json.RawMessage `json:"tools"`
	LogitBias   json.RawMessage `json:"logit_bias"`
	FreqPenalty *float64        `json:"frequency_penalty"`
	PresPenalty *float64        `json:"presence_penalty"`

	// Diffusion extensions.
	Steps       *int     `json:"steps"`
	BlockLength *int     `json:"block_length"`
	Sampler     string   `json:"sampler"`
	Remasking   string   `json:"remasking"`
	Threshold   *float64 `json:"threshold"`
	Factor      *float64 `json:"factor"`
	Gamma       *float64 `json:"gamma"`
	Eta         *float64 `json:"eta"`
	AlgTemp     *float64 `json:"alg_temp"`
	TopK        *int     `json:"top_k"`
	CFGScale    *float64 `json:"cfg_scale"`
	StreamSteps bool     `json:"stream_steps"` // extension SSE events "step" with canvas snapshots
}

// requestError is a client error: 400 with OpenAI's invalid_request_error, naming the offending parameter.
type requestError struct {
	param string
	msg   string
}

func (e *requestError) Error() string { return e.msg }

func badParam(param, format string, a ...any) error {
	return &requestError{param: param, msg: fmt.Sprintf(format, a...)}
}

// decodeJSON reads one JSON object into v, naming the problem on malformed input.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			field := te.Field[strings.LastIndex(te.Field, ".")+1:] // embedded structs prefix their own name
			return badParam(field, "field %q must be %s, not a JSON %s", field, te.Type, te.Value)
		case errors.As(err, &se):
			return badParam("", "malformed JSON body at byte %d: %v", se.Offset, err)
		}
		return badParam("", "malformed JSON body: %v", err)
	}
	if dec.More() {
		return badParam("", "the body holds more than one JSON value")
	}
	return nil
}

// stops parses OpenAI's stop: a string or up to four strings.
func (s *sampling) stops() ([]string, error) {
	raw := bytes.TrimSpace(s.Stop)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, badParam("stop", "stop must not be empty")
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badParam("stop", "stop must be a string or an array of strings")
	}
	if len(many) > 4 {
		return nil, badParam("stop", "stop holds %d sequences; at most 4 are allowed", len(many))
	}
	for _, st := range many {
		if st == "" {
			return nil, badParam("stop", "stop must not contain an empty string")
		}
	}
	return many, nil
}

// limits are the server's bounds on one request.
type limits struct {
	maxTokens, defaultTokens, maxN int
}

// config maps the request onto a llada.GenerateConfig and validates it; n is the number of choices per prompt.
func (s *sampling) config(c llada.Contract, lim limits) (cfg llada.GenerateConfig, n int, err error) {
	switch {
	case len(bytes.TrimSpace(s.Logprobs)) > 0 && string(bytes.TrimSpace(s.Logprobs)) != "null" && string(bytes.TrimSpace(s.Logprobs)) != "false":
		return cfg, 0, badParam("logprobs", "logprobs is not supported: a diffusion model commits tokens out of order")
	case s.Echo:
		return cfg, 0, badParam("echo", "echo is not supported")
	case s.BestOf != nil && *s.BestOf != 1:
		return cfg, 0, badParam("best_of", "best_of is not supported")
	case s.Suffix != nil:
		return cfg, 0, badParam("suffix", "suffix is not supported; use the infill API of the library")
	case len(bytes.TrimSpace(s.Tools)) > 0 && string(bytes.TrimSpace(s.Tools)) != "null":
		return cfg, 0, badParam("tools", "tools are not supported")
	case len(bytes.TrimSpace(s.LogitBias)) > 0 && string(bytes.TrimSpace(s.LogitBias)) != "null" && string(bytes.TrimSpace(s.LogitBias)) != "{}":
		return cfg, 0, badParam("logit_bias", "logit_bias is not supported")
	case s.FreqPenalty != nil && *s.FreqPenalty != 0:
		return cfg, 0, badParam("frequency_penalty", "frequency_penalty is not supported")
	case s.PresPenalty != nil && *s.PresPenalty != 0:
		return cfg, 0, badParam("presence_penalty", "presence_penalty is not supported")
	}

	tokens := lim.defaultTokens
	switch {
	case s.MaxTokens != nil:
		tokens = *s.MaxTokens
	case s.MaxCompletion != nil:
		tokens = *s.MaxCompletion
	}
	if tokens < 1 || tokens > lim.maxTokens {
		return cfg, 0, badParam("max_tokens", "max_tokens %d is out of range: it sets the generation length, from 1 to %d", tokens, lim.maxTokens)
	}
	cfg.GenLength = tokens
	n = 1
	if s.N != nil {
		n = *s.N
	}
	if n < 1 || n > lim.maxN {
		return cfg, 0, badParam("n", "n %d is out of range: from 1 to %d", n, lim.maxN)
	}
	if s.Steps != nil {
		if *s.Steps < 1 {
			return cfg, 0, badParam("steps", "steps %d must be at least 1", *s.Steps)
		}
		cfg.Steps = *s.Steps
	}
	if s.BlockLength != nil {
		if *s.BlockLength < 1 {
			return cfg, 0, badParam("block_length", "block_length %d must be at least 1", *s.BlockLength)
		}
		cfg.BlockLength = *s.BlockLength
	}
	if s.Temperature != nil {
		t := *s.Temperature
		if math.IsNaN(t) || t < 0 || t > 2 {
			return cfg, 0, badParam("temperature", "temperature %v is out of range [0, 2]", t)
		}
		cfg.Temperature = t
	}
	if s.Seed != nil {
		cfg.Seed = uint64(*s.Seed)
	}
	if s.CFGScale != nil {
		if *s.CFGScale < 0 {
			return cfg, 0, badParam("cfg_scale", "cfg_scale %v must be >= 0", *s.CFGScale)
		}
		cfg.CFGScale = *s.CFGScale
	}
	if err := s.sampler(&cfg, c); err != nil {
		return cfg, 0, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, badParam("", "%v", err)
	}
	return cfg, n, nil
}

// sampler applies sampler, remasking, top_p and the sampler knobs. A knob given as 0 means 0 (Sampler.Zero); a
// knob the chosen sampler does not read is an error rather than silently ignored.
func (s *sampling) sampler(cfg *llada.GenerateConfig, c llada.Contract) error {
	topP := s.TopP != nil && *s.TopP != 1 // OpenAI clients send top_p=1 to mean "off"
	knobs := s.Threshold != nil || s.Factor != nil || s.Gamma != nil || s.Eta != nil || s.AlgTemp != nil || s.TopK != nil || topP
	if s.Sampler == "" && s.Remasking == "" && !knobs {
		if c.Family == "continuous" {
			cfg.Sampler = llada.SamplerByName(llada.DefaultContinuousSampler)
		}
		return nil
	}
	var smp llada.Sampler
	switch {
	case s.Sampler != "" && s.Remasking != "":
		return badParam("remasking", "sampler %q and remasking %q both choose the sampler; give one", s.Sampler, s.Remasking)
	case s.Sampler != "":
		var err error
		if smp, err = llada.LookupSampler(s.Sampler); err != nil {
			return badParam("sampler", "%v", err)
		}
	case c.Family == "continuous":
		smp = llada.SamplerByName(llada.DefaultContinuousSampler)
	case s.Remasking == "" || s.Remasking == string(llada.RemaskLowConfidence):
		smp = llada.SamplerByName("llada-low-confidence")
	case s.Remasking == string(llada.RemaskRandom):
		smp = llada.SamplerByName("llada-random")
	default:
		return badParam("remasking", "remasking %q is unknown (want %q or %q)", s.Remasking, llada.RemaskLowConfidence, llada.RemaskRandom)
	}
	continuous := smp.Transfer == llada.TransferContinuous
	if continuous != (c.Family == "continuous") {
		return badParam("sampler", "sampler %q does not run on a %s model", smp.Name, c.Family)
	}
	type knob struct {
		name    string
		given   bool
		applies bool
		set     func()
	}
	// setFloat writes a given knob; a 0 is marked as meant literally (Sampler.Zero), not as "the default".
	setFloat := func(dst, v *float64, bit llada.Knob) func() {
		return func() { *dst = *v; setZero(&smp, bit, *v == 0) }
	}
	ks := []knob{
		{"threshold", s.Threshold != nil, smp.Transfer == llada.TransferThreshold || smp.Transfer == llada.TransferThresholdOrQuota,
			setFloat(&smp.Threshold, s.Threshold, llada.KnobThreshold)},
		{"factor", s.Factor != nil, smp.Transfer == llada.TransferFactor, setFloat(&smp.Factor, s.Factor, llada.KnobFactor)},
		{"gamma", s.Gamma != nil, smp.Transfer == llada.TransferEntropyBound, setFloat(&smp.Gamma, s.Gamma, llada.KnobGamma)},
		{"eta", s.Eta != nil, smp.ReMDM == llada.ReMDMCap || smp.ReMDM == llada.ReMDMRescale || smp.ReMDM == llada.ReMDMLoop || smp.Name == llada.SamplerDDIM,
			setFloat(&smp.Eta, s.Eta, llada.KnobEta)},
		{"alg_temp", s.AlgTemp != nil, smp.Transfer == llada.TransferQuota, setFloat(&smp.AlgTemp, s.AlgTemp, llada.KnobAlgTemp)},
		{"top_k", s.TopK != nil, smp.Proposal == llada.ProposeFiltered,
			func() { smp.TopK = *s.TopK; setZero(&smp, llada.KnobTopK, *s.TopK == 0) }},
		{"top_p", topP, smp.Proposal == llada.ProposeFiltered, func() { smp.TopP = *s.TopP }},
	}
	for _, k := range ks {
		if !k.given {
			continue
		}
		if !k.applies {
			return badParam(k.name, "%s does not apply to sampler %q", k.name, smp.Name)
		}
		k.set()
	}
	cfg.Sampler = smp
	return nil
}

func setZero(s *llada.Sampler, k llada.Knob, zero bool) {
	if zero {
		s.Zero |= k
	}
}

// revisable reports whether the sampler may change a token after committing it (ReMDM remasking, LLaDA 2.x
// editing, continuous rounding), so that a committed prefix is not final until the generation ends.
func revisable(cfg llada.GenerateConfig, c llada.Contract) bool {
	s := cfg.Sampler
	return c.Family == "continuous" || s.Transfer == llada.TransferContinuous || s.ReMDM != llada.ReMDMNone || s.EditThreshold > 0
}

// promptInput is OpenAI's completion prompt: a string or an array of strings.
func parsePrompts(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badParam("prompt", "prompt is required")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badParam("prompt", "prompt must be a string or an array of strings (token-id prompts are not supported)")
	}
	if len(many) == 0 {
		return nil, badParam("prompt", "prompt is an empty array")
	}
	return many, nil
}
