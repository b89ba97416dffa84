package llada

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Contract is the model-specific metadata a model directory carries in its ONNX metadata_props (keys prefixed
// "llada."). Everything that differs between model families lives here, never in code keyed on model names.
type Contract struct {
	Version      int    // llada.contract; only 1 exists
	Family       string // llada.family; "masked" (absorbing-state discrete diffusion) or "continuous"
	MaskID       int    // llada.mask_token_id; -1 when a continuous model has none
	EOSID        int    // llada.eos_token_id
	PadID        int    // llada.pad_token_id
	EOTID        int    // llada.eot_token_id, -1 when absent
	BOSID        int    // llada.bos_token_id, -1 when absent
	VocabSize    int    // llada.vocab_size: the logits' last dimension
	MaxSeqLen    int    // llada.max_seq_len: prompt + generation must fit
	LogitsShift  bool   // llada.logits_shift: Dream-style, position i is predicted at i-1
	ChatTemplate string // llada.chat_template (Jinja), optional
	// Continuous holds the llada.continuous.* keys of a continuous (embedding-space) model; nil for masked.
	Continuous *ContinuousContract
	// Extra keeps unknown keys so that newer contracts stay readable by older code.
	Extra map[string]string
}

// ContractVersion is the version this package implements.
const ContractVersion = 1

// ParseContract reads the contract from ONNX metadata_props. Missing or malformed required keys are errors that
// name the key; unknown keys are kept in Extra.
func ParseContract(meta map[string]string) (Contract, error) {
	c := Contract{EOTID: -1, BOSID: -1, Extra: map[string]string{}}
	var errs []string
	need := func(key string) (string, bool) {
		v, ok := meta[key]
		if !ok {
			errs = append(errs, fmt.Sprintf("missing metadata key %q", key))
		}
		return strings.TrimSpace(v), ok
	}
	intKey := func(key string, dst *int, required bool) {
		var v string
		var ok bool
		if required {
			v, ok = need(key)
		} else {
			v, ok = meta[key]
			v = strings.TrimSpace(v)
		}
		if !ok {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("metadata key %q = %q is not a non-negative integer", key, v))
			return
		}
		*dst = n
	}
	if v, ok := need("llada.contract"); ok {
		if v != strconv.Itoa(ContractVersion) {
			errs = append(errs, fmt.Sprintf("llada.contract = %q, this build reads contract %d", v, ContractVersion))
		} else {
			c.Version = ContractVersion
		}
	}
	if v, ok := need("llada.family"); ok {
		if v != "masked" && v != FamilyContinuous {
			errs = append(errs, fmt.Sprintf("llada.family = %q is not supported (want \"masked\" or %q)", v, FamilyContinuous))
		}
		c.Family = v
	}
	if c.Family == FamilyContinuous {
		c.MaskID = -1 // optional: marks prompt positions to generate (infilling)
	}
	intKey("llada.mask_token_id", &c.MaskID, c.Family != FamilyContinuous)
	intKey("llada.eos_token_id", &c.EOSID, true)
	intKey("llada.pad_token_id", &c.PadID, true)
	intKey("llada.vocab_size", &c.VocabSize, true)
	intKey("llada.max_seq_len", &c.MaxSeqLen, true)
	intKey("llada.eot_token_id", &c.EOTID, false)
	intKey("llada.bos_token_id", &c.BOSID, false)
	if v, ok := need("llada.logits_shift"); ok {
		switch v {
		case "0":
		case "1":
			c.LogitsShift = true
		default:
			errs = append(errs, fmt.Sprintf("llada.logits_shift = %q, want \"0\" or \"1\"", v))
		}
	}
	c.ChatTemplate = meta["llada.chat_template"]
	known := map[string]bool{"llada.contract": true, "llada.family": true, "llada.mask_token_id": true,
		"llada.eos_token_id": true, "llada.pad_token_id": true, "llada.vocab_size": true, "llada.max_seq_len": true,
		"llada.logits_shift": true, "llada.eot_token_id": true, "llada.bos_token_id": true, "llada.chat_template": true}
	for k, v := range meta {
		if !known[k] {
			c.Extra[k] = v
		}
	}
	if len(errs) == 0 {
		if c.VocabSize == 0 {
			errs = append(errs, "llada.vocab_size must be positive")
		}
		if c.MaxSeqLen == 0 {
			errs = append(errs, "llada.max_seq_len must be positive")
		}
		for _, id := range []struct {
			name string
			v    int
		}{{"mask", c.MaskID}, {"eos", c.EOSID}, {"pad", c.PadID}, {"eot", c.EOTID}, {"bos", c.BOSID}} {
			if id.v >= c.VocabSize && c.VocabSize > 0 {
				errs = append(errs, fmt.Sprintf("llada.%s_token_id = %d is outside the vocabulary (%d)", id.name, id.v, c.VocabSize))
			}
		}
	}
	if c.Family == FamilyContinuous {
		c.Continuous, errs = parseContinuousContract(meta, errs)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return Contract{}, fmt.Errorf("llada: model contract: %s", strings.Join(errs, "; "))
	}
	return c, nil
}
