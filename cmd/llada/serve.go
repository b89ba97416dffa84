package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/llada-go/llada/serve"
)

func init() {
	register("serve", command{summary: "serve the model over an OpenAI-compatible HTTP API (cross-request batching)", run: runServe})
}

func runServe(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var mf modelFlags
	mf.add(fs)
	mf.be.add(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default; use :8080 to listen on every interface)")
	apiKey := fs.String("api-key", "", "require this bearer key on /v1 requests (default $LLADA_API_KEY; empty = no key)")
	name := fs.String("model-name", "llada", "model id served in /v1/models and responses")
	chatFile := fs.String("chat-template", "", "file with a Jinja chat template, replacing the model's own")
	maxConc := fs.Int("max-concurrent", 64, "generations running at once")
	queue := fs.Int("queue", 256, "requests waiting for a slot before 429")
	maxTokens := fs.Int("max-tokens", 256, "largest max_tokens a request may ask for")
	maxPrompt := fs.Int("max-prompt-tokens", 0, "longest prompt in tokens (0 = the model's max_seq_len)")
	timeout := fs.Duration("timeout", 5*time.Minute, "request timeout (0 = none)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long in-flight requests may finish")
	rows := fs.Int("batch-rows", 32, "most rows in one batched forward pass")
	wait := fs.Duration("batch-wait", 5*time.Millisecond, "longest a forward pass waits for other requests to join")
	quantum := fs.Int("batch-quantum", 16, "canvas lengths are padded to a multiple of this, so nearby lengths share batches")
	inFlight := fs.Int("batches-in-flight", 2, "batched forward passes running at once (one group scores while another runs)")
	noBatch := fs.Bool("no-batching", false, "run every request's forward passes on its own")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	verbose := fs.Bool("v", false, "debug logs (one line per request's settings)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	var logger *slog.Logger
	switch *logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	default:
		return fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}
	key := *apiKey
	if key == "" {
		key = os.Getenv("LLADA_API_KEY")
	}
	opts := []serve.Option{serve.WithLogger(logger), serve.WithAPIKey(key), serve.WithModelName(*name),
		serve.WithMaxConcurrent(*maxConc), serve.WithQueue(*queue), serve.WithMaxTokens(*maxTokens),
		serve.WithMaxPromptTokens(*maxPrompt), serve.WithTimeout(*timeout)}
	if *noBatch {
		opts = append(opts, serve.WithoutBatching())
	} else {
		opts = append(opts, serve.WithBatching(*rows, *wait, *quantum), serve.WithBatchesInFlight(*inFlight))
	}
	if *chatFile != "" {
		src, err := os.ReadFile(*chatFile)
		if err != nil {
			return fmt.Errorf("--chat-template: %w", err)
		}
		opts = append(opts, serve.WithChatTemplate(string(src)))
	}
	model, err := mf.open()
	if err != nil {
		return err
	}
	defer model.Close()
	srv, err := serve.New(model, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("listening", "url", "http://"+ln.Addr().String(), "auth", key != "", "batching", !*noBatch)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Readiness turns 503 at once so a load balancer stops sending; in-flight requests get the drain timeout.
	logger.Info("draining", "timeout", *drain)
	dctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	derr := srv.Drain(dctx)
	if err := hs.Shutdown(dctx); err != nil {
		derr = errors.Join(derr, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		derr = errors.Join(derr, err)
	}
	if derr != nil {
		return derr
	}
	logger.Info("stopped")
	return nil
}
