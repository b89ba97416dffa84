package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	evalSentences = "../../testdata/eval/brown_heldout.json"
	evalPuzzles   = "../../testdata/eval/sudoku_puzzles.json"
)

// tinySentences writes held-out "sentences" in the tiny model's vocabulary (words w2..w48).
func tinySentences(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sentences.json")
	body := `{"sentences": ["w5 w6 w7 w8 w9 w10 w11 w12 w13 w14", "w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30",
		"w40 w41 w42 w43 w44 w45 w46 w47 w48 w2 w3", "w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13"]}`
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestEvalWritesReportAndPlots(t *testing.T) {
	out := t.TempDir()
	args := []string{"eval", "--model", tinyDir, "--threads", "1", "--sentences", tinySentences(t), "--tasks", "infill,likelihood",
		"--samplers", "llada-low-confidence,llada-random", "--tokens-per-step", "1,2", "--infill-sentences", "3",
		"--infill-length", "8", "--infill-spans", "1,4", "--likelihood-seqs", "2", "--likelihood-length", "16",
		"--mc-samples", "8", "--mc-batch", "4", "--out", out}
	stdout, stderr, code := runCLI(t, "", args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "wrote "+filepath.Join(out, "RESULTS.md")+", README-section.md and 1 plots")
	section, err := os.ReadFile(filepath.Join(out, "README-section.md"))
	require.NoError(t, err)
	assert.Contains(t, string(section), "]("+filepath.ToSlash(filepath.Clean(out))+"/infill.png)")
	assert.Contains(t, string(section), "**Likelihood.**")
	assert.Contains(t, stderr, "5/5", "progress reaches every unit (4 infill settings + likelihood)")
	md, err := os.ReadFile(filepath.Join(out, "RESULTS.md"))
	require.NoError(t, err)
	for _, want := range []string{"## Infill", "| llada-random | k=2 |", "| llada-low-confidence | k=1 |", "## Likelihood bound",
		"![infill quality vs NFE](infill.png)", "go run ./cmd/llada eval --model"} {
		assert.Contains(t, string(md), want)
	}
	f, err := os.Open(filepath.Join(out, "infill.png"))
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 300)

	// The same seed gives the same report, apart from the timings.
	out2 := t.TempDir()
	args[len(args)-1] = out2
	_, stderr, code = runCLI(t, "", args...)
	require.Equal(t, 0, code, stderr)
	md2, err := os.ReadFile(filepath.Join(out2, "RESULTS.md"))
	require.NoError(t, err)
	assert.Equal(t, stripTimes(md), stripTimes(md2))
}

// stripTimes drops the timing columns ("time", "copies/s") of every table and the wall time, which differ
// between runs.
func stripTimes(md []byte) string {
	var b bytes.Buffer
	var drop map[int]bool
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "Regenerate") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			drop = nil
			b.WriteString(line + "\n")
			continue
		}
		cells := strings.Split(line, "|")
		if drop == nil {
			drop = map[int]bool{}
			for i, c := range cells {
				if c = strings.TrimSpace(c); c == "time" || c == "copies/s" {
					drop[i] = true
				}
			}
		}
		for i, c := range cells {
			if !drop[i] {
				b.WriteString(c + "|")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestEvalBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte(`{"sentences": []}`), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown task", []string{"--tasks", "infill,bleu"}, `unknown task "bleu"`},
		{"unknown sampler", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", "SENTENCES", "--samplers", "beam"}, `unknown sampler "beam"`},
		{"English for the toy model", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", evalSentences}, "not a model of this text"},
		{"empty sentences", []string{"--tasks", "likelihood", "--model", tinyDir, "--sentences", empty}, "empty dataset"},
		{"sentences shorter than the infill length", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", "SENTENCES", "--infill-length", "30"}, "no sentence has 30 tokens"},
		{"text model as Sudoku model", []string{"--tasks", "sudoku", "--sudoku-model", tinyDir, "--puzzles", evalPuzzles}, "not a Sudoku model"},
		{"masked model as judge", []string{"--tasks", "genppl", "--model", tinyDir, "--sentences", "SENTENCES", "--judge", tinyDir + "/model.onnx"}, `a judge must be "autoregressive"`},
		{"judge with another vocabulary", []string{"--tasks", "genppl", "--model", tinyDir, "--sentences", "SENTENCES", "--judge", "../../models/judge/model.onnx"},
			"vocabulary mismatch: the model has 50 tokens but the judge has 4096"},
		{"Brown model as Sudoku model", []string{"--tasks", "sudoku", "--sudoku-model", "../../models/brown", "--puzzles", evalPuzzles}, "not a Sudoku model: at blank cells"},
		{"Sudoku model as text model", []string{"--tasks", "likelihood", "--model", "../../models/sudoku", "--sentences", evalSentences}, "not a model of this text: its tokenizer does not reproduce 16 of 16"},
		{"masked model as continuous model", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", "SENTENCES", "--continuous-model", tinyDir},
			`--continuous-model ` + tinyDir + `: llada.family = "masked", want "continuous"`},
		{"continuous model of another vocabulary", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", "SENTENCES", "--continuous-model", continuousTinyDir},
			"the continuous model's vocabulary 64 differs from the text model's 50"},
		{"masked sampler as continuous", []string{"--tasks", "infill", "--model", tinyDir, "--sentences", "SENTENCES", "--continuous-model", continuousTinyDir,
			"--continuous-samplers", "llada-random"}, `"llada-random": not a continuous-family sampler`},
		{"bad continuous steps", []string{"--continuous-steps", "8,0"}, "--continuous-steps"},
		{"bad budget", []string{"--tokens-per-step", "0"}, "--tokens-per-step"},
		{"bad temperature", []string{"--temperature", "-1"}, "--temperature"},
		{"bad size", []string{"--prompts", "0"}, "--prompts 0"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"eval", "--threads", "1", "--quiet", "--out", t.TempDir()}, tc.args...)
			for i, a := range args {
				if a == "SENTENCES" {
					args[i] = tinySentences(t)
				}
			}
			_, stderr, code := runCLI(t, "", args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
