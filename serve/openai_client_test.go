package serve

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOfficialOpenAIClient runs the official OpenAI Node client (npm openai, pinned in
// tools/openai-client/package.json) against the server end to end: models, completions and chat, streamed and
// not, the diffusion extensions, and the errors it must raise. scripts/setup.sh installs the client; CI sets
// LLADA_REQUIRE_OPENAI_CLIENT=1 so that a missing client fails instead of skipping.
func TestOfficialOpenAIClient(t *testing.T) {
	dir, err := filepath.Abs("../tools/openai-client")
	require.NoError(t, err)
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json"))
	if err != nil || statErr != nil {
		if os.Getenv("LLADA_REQUIRE_OPENAI_CLIENT") != "" {
			t.Fatalf("the OpenAI client is required but missing (node: %v, client: %v); run scripts/setup.sh", err, statErr)
		}
		t.Skip("node or tools/openai-client/node_modules missing; run scripts/setup.sh")
	}
	model := openTiny(t)
	s, ts := newTestServer(t, model, WithAPIKey("test-key"), WithChatTemplate(tinyChat))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LLADA_URL="+ts.URL, "LLADA_KEY=test-key", "LLADA_PROMPT=w2 w3 w4")
	raw, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("client failed: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var got struct {
		Models     []string `json:"models"`
		Completion struct {
			Text, FinishReason, Object string
			Usage                      usage
		} `json:"completion"`
		StreamCompletion struct {
			Text   string
			Chunks int
			Finish string `json:"finish_reason"`
			Usage  *usage
		} `json:"stream_completion"`
		Chat struct {
			Content, Role, Object string
			Finish                string `json:"finish_reason"`
		} `json:"chat"`
		StreamChat struct{ Content, Role string } `json:"stream_chat"`
		Extensions struct{ Text string }          `json:"extensions"`
		WrongKey   struct {
			Status int
			Name   string
		} `json:"wrong_key"`
		BadRequest struct {
			Status  int
			Name    string
			Message string
		} `json:"bad_request"`
		UnknownModel struct {
			Status int
			Name   string
		} `json:"unknown_model"`
	}
	require.NoError(t, json.Unmarshal(raw, &got), string(raw))
	assert.Equal(t, []string{"llada"}, got.Models)

	// What the server answers to the same requests over plain HTTP.
	want := decode(t, post(t, ts, "/v1/completions", "test-key", map[string]any{"prompt": "w2 w3 w4", "max_tokens": 8, "seed": 1}))
	assert.Equal(t, want.Choices[0].Text, got.Completion.Text)
	assert.Equal(t, "text_completion", got.Completion.Object)
	assert.Equal(t, *want.Usage, got.Completion.Usage)
	assert.Equal(t, want.Choices[0].Text, got.StreamCompletion.Text, "streamed deltas concatenate to the whole text")
	assert.Equal(t, *want.Choices[0].FinishReason, got.StreamCompletion.Finish)
	assert.Greater(t, got.StreamCompletion.Chunks, 2)
	require.NotNil(t, got.StreamCompletion.Usage)
	assert.Equal(t, *want.Usage, *got.StreamCompletion.Usage)

	chat := decode(t, post(t, ts, "/v1/chat/completions", "test-key", map[string]any{"messages": []map[string]string{{"role": "user", "content": "w2 w3 w4"}}, "max_tokens": 8}))
	assert.Equal(t, chat.Choices[0].Message.Content, got.Chat.Content)
	assert.Equal(t, "assistant", got.Chat.Role)
	assert.Equal(t, "chat.completion", got.Chat.Object)
	assert.Equal(t, got.Chat.Content, got.StreamChat.Content)
	assert.Equal(t, "assistant", got.StreamChat.Role)

	ext := decode(t, post(t, ts, "/v1/completions", "test-key", map[string]any{"prompt": "w2 w3 w4", "max_tokens": 8, "steps": 4, "block_length": 4, "sampler": "fast-dllm-threshold", "threshold": 0.5}))
	assert.Equal(t, ext.Choices[0].Text, got.Extensions.Text)

	assert.Equal(t, 401, got.WrongKey.Status)
	assert.Equal(t, "AuthenticationError", got.WrongKey.Name)
	assert.Equal(t, 400, got.BadRequest.Status)
	assert.Equal(t, "BadRequestError", got.BadRequest.Name)
	assert.Contains(t, got.BadRequest.Message, "max_tokens")
	assert.Equal(t, 404, got.UnknownModel.Status)
	assert.Equal(t, "NotFoundError", got.UnknownModel.Name)
	_ = s
}
