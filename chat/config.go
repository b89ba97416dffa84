package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// FromConfig reads a Hugging Face tokenizer_config.json: its chat_template (a string, or a list of
// named templates of which "default" is taken) and the special tokens the template may refer to (bos_token,
// eos_token, ... as strings or {"content": ...} objects), returned as template variables for Render.
func FromConfig(data []byte) (*Template, map[string]any, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	raw, ok := cfg["chat_template"]
	if !ok || isJSONNull(raw) {
		return nil, nil, errors.New("tokenizer_config.json: no chat_template")
	}
	var src string
	if err := json.Unmarshal(raw, &src); err != nil {
		var named []struct{ Name, Template string }
		if err2 := json.Unmarshal(raw, &named); err2 != nil {
			return nil, nil, fmt.Errorf("tokenizer_config.json: chat_template is neither a string nor a list of {name, template}: %w", err)
		}
		for _, n := range named {
			if n.Name == "default" {
				src = n.Template
			}
		}
		if src == "" {
			return nil, nil, errors.New(`tokenizer_config.json: chat_template list has no "default" entry`)
		}
	}
	vars := map[string]any{}
	for _, k := range []string{"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"} {
		v, ok := cfg[k]
		if !ok || isJSONNull(v) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			var obj struct{ Content *string }
			if err := json.Unmarshal(v, &obj); err != nil || obj.Content == nil {
				return nil, nil, fmt.Errorf("tokenizer_config.json: %s is neither a string nor {\"content\": ...}", k)
			}
			s = *obj.Content
		}
		vars[k] = s
	}
	t, err := Parse(src)
	if err != nil {
		return nil, nil, err
	}
	return t, vars, nil
}

func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
