package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/chat"
)

func init() {
	register("generate", command{summary: "generate text with a diffusion LM (default: the embedded Brown model)", run: runGenerate})
}

// modelFlags are shared by every command that loads a model.
type modelFlags struct {
	dir     string
	library string
	threads int
	be      backendFlags // registered by the commands that support --backend/--device (be.add)
}

func (m *modelFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&m.dir, "model", "", "model directory (model.onnx + tokenizer.json); empty = the embedded default model")
	fs.StringVar(&m.library, "onnxruntime", "", "path of libonnxruntime.so (default: $ONNXRUNTIME_SHARED_LIBRARY_PATH, the llada cache, system paths)")
	fs.IntVar(&m.threads, "threads", 0, "ONNX Runtime intra-op threads (0 = one per core)")
}

func (m *modelFlags) open() (*llada.Model, error) {
	alt, err := m.be.alt()
	if err != nil {
		return nil, err
	}
	if alt != nil {
		return alt.open(m.dir, m.be.device)
	}
	opts := []llada.Option{llada.WithIntraOpThreads(m.threads)}
	if gpu, cuda, err := m.be.ortCUDA(); err != nil {
		return nil, err
	} else if cuda {
		opts = append(opts, llada.WithCUDA(gpu))
	}
	if m.library != "" {
		opts = append(opts, llada.WithLibraryPath(m.library))
	}
	if m.dir == "" {
		return openDefaultModel(opts...)
	}
	return llada.Open(m.dir, opts...)
}

// generateOutput is the --format json document.
type generateOutput struct {
	IDs       []int   `json:"ids"` // whole canvas: prompt + generation, like the reference returns
	PromptLen int     `json:"prompt_len"`
	Text      string  `json:"text"`
	NFE       int     `json:"nfe"`
	Steps     int     `json:"steps"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

func runGenerate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr)
	var mf modelFlags
	mf.add(fs)
	mf.be.add(fs)
	var cfg llada.GenerateConfig
	prompt := fs.String("prompt", "", "prompt text (or read from stdin when neither --prompt nor --prompt-ids is set)")
	promptIDs := fs.String("prompt-ids", "", "prompt as comma-separated token ids, e.g. 1,2,3")
	applySettings := addGenerateSettings(fs, &cfg)
	format := fs.String("format", "text", "output format: text or json")
	useChat := fs.Bool("chat", false, "wrap the prompt as a user turn with the model's chat template (llada.chat_template)")
	live := fs.String("live", "auto", "show the canvas being denoised: auto (when stdout is a terminal), on, off")
	applyConstraint := addConstraintFlags(fs)
	applyGuidance := addGuidanceFlags(fs)
	applyContinuous := addContinuousFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := applySettings(); err != nil {
		return err
	}
	if err := applyContinuous(&cfg); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	m, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	if err := applyConstraint(&cfg, m); err != nil {
		return err
	}
	if err := applyGuidance(&cfg, m.Tokenizer()); err != nil {
		return err
	}

	var ids []int
	switch {
	case *promptIDs != "" && *prompt != "":
		return errors.New("give --prompt or --prompt-ids, not both")
	case *promptIDs != "":
		if ids, err = parseIDs(*promptIDs); err != nil {
			return fmt.Errorf("--prompt-ids: %w", err)
		}
	default:
		text := *prompt
		if text == "" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return fmt.Errorf("read prompt from stdin: %w", err)
			}
			text = strings.TrimRight(string(b), "\n")
		}
		addSpecial := true
		if *useChat {
			tmpl := m.Contract().ChatTemplate
			if tmpl == "" {
				return errors.New("--chat: the model has no llada.chat_template metadata")
			}
			if text, err = chat.Render(tmpl, []chat.Message{{Role: "user", Content: text}}, true, nil); err != nil {
				return fmt.Errorf("--chat: %w", err)
			}
			addSpecial = false // the template writes BOS and the other specials itself
		}
		if ids, err = m.Tokenizer().Encode(text, addSpecial); err != nil {
			return fmt.Errorf("prompt: %w", err)
		}
	}

	showLive := *live == "on" || (*live == "auto" && *format == "text" && isTerminal(stdout))
	start := time.Now()
	var last llada.Step
	steps := 0
	for st, err := range m.Stream(ctx, [][]int{ids}, cfg) {
		if err != nil {
			return err
		}
		last = st
		steps++
		if showLive {
			drawCanvas(stdout, m, st, steps == 1)
		}
	}
	elapsed := time.Since(start)
	canvas := append([]int(nil), last.Canvas[last.PromptLen-len(ids):last.Seq]...)
	text, err := m.Tokenizer().Decode(canvas[len(ids):], true)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		return enc.Encode(generateOutput{IDs: canvas, PromptLen: len(ids), Text: text, NFE: last.NFE, Steps: steps,
			ElapsedMS: float64(elapsed.Microseconds()) / 1000})
	}
	if showLive {
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "[%d steps, %d forward passes, %s]\n", steps, last.NFE, elapsed.Round(time.Millisecond))
		return nil
	}
	_, err = fmt.Fprintln(stdout, text)
	return err
}

func parseIDs(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	ids := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not a token id", p)
		}
		ids = append(ids, n)
	}
	return ids, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// drawCanvas redraws the generation region: committed tokens as text, masks as a shaded block.
func drawCanvas(w io.Writer, m *llada.Model, st llada.Step, first bool) {
	if first {
		fmt.Fprint(w, "\0337") // save the cursor: every step redraws from here
	}
	var b strings.Builder
	b.WriteString("\0338\033[J")
	mask := m.Contract().MaskID
	row := st.Canvas[:st.Seq]
	for _, id := range row[st.PromptLen:] {
		if id == mask {
			b.WriteString("░")
			continue
		}
		piece, err := m.Tokenizer().Decode([]int{id}, true)
		if err != nil {
			piece = "�"
		}
		b.WriteString(piece)
	}
	fmt.Fprintf(&b, "\n[step %d, nfe %d]", st.Step+1, st.NFE)
	fmt.Fprint(w, b.String())
}
