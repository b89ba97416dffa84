// Package chat renders Jinja chat templates (tokenizer_config.json "chat_template", or a model's
// llada.chat_template metadata) the way transformers' apply_chat_template does.
//
// It lives apart from package llada because its template engine (gonja, and through it logrus) is a
// dependency that running a model does not need. The package changes no global state: gonja reports a few
// template misuses through logrus' standard logger, whose output stays the process's own choice.
package chat

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Template is a parsed Jinja chat template (tokenizer_config.json "chat_template", or the llada.chat_template
// model metadata). It renders the way transformers' apply_chat_template does: trim_blocks and lstrip_blocks on,
// raise_exception available, messages as a list of {role, content}. Templates are evaluated with
// github.com/nikolalohinski/gonja/v2, a maintained Jinja2 implementation in Go, and can read no files.
type Template struct {
	tpl *exec.Template
}

func chatConfig() *config.Config {
	c := config.New()
	c.TrimBlocks = true
	c.LeftStripBlocks = true
	return c
}

// noFiles makes {% include %} and friends fail: a template shipped with a model must not read the disk.
type noFiles struct{ src string }

func (l noFiles) Read(path string) (io.Reader, error) {
	if path == "chat_template" {
		return strings.NewReader(l.src), nil
	}
	return nil, fmt.Errorf("chat template may not load %q", path)
}

func (l noFiles) Resolve(path string) (string, error) { return path, nil }

func (l noFiles) Inherit(string) (loaders.Loader, error) { return l, nil }

// errRaised carries the message of a template's raise_exception call.
type errRaised struct{ msg string }

func (e *errRaised) Error() string { return "chat template: " + e.msg }

// Parse parses a Jinja chat template.
func Parse(src string) (*Template, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("chat template: empty template")
	}
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	filters.Update(exec.NewFilterSet(map[string]exec.FilterFunction{"tojson": pyToJSON}))
	env := &exec.Environment{
		Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	tpl, err := exec.NewTemplate("chat_template", chatConfig(), noFiles{src}, env)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{tpl: tpl}, nil
}

// Render renders msgs. addGenerationPrompt asks for the opening of the assistant's turn; extra sets further
// template variables (bos_token, eos_token, tools, ...), which may not replace messages or
// add_generation_prompt.
func (c *Template) Render(msgs []Message, addGenerationPrompt bool, extra map[string]any) (out string, err error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{}
	for k, v := range extra {
		if k == "messages" || k == "add_generation_prompt" {
			return "", fmt.Errorf("chat template: extra variable %q is set by Render", k)
		}
		data[k] = v
	}
	var raised *errRaised
	data["messages"] = list
	data["add_generation_prompt"] = addGenerationPrompt
	data["raise_exception"] = func(msg string) (string, error) {
		raised = &errRaised{msg}
		return "", raised
	}
	defer func() {
		// A failing template must come back as an error, whatever the engine does with it.
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: %v", r)
		}
	}()
	out, err = c.tpl.ExecuteToString(exec.NewContext(data))
	if raised != nil {
		return "", raised
	}
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// Render parses template and renders msgs with it; see Template.Render.
func Render(template string, msgs []Message, addGenerationPrompt bool, extra map[string]any) (string, error) {
	t, err := Parse(template)
	if err != nil {
		return "", err
	}
	return t.Render(msgs, addGenerationPrompt, extra)
}
