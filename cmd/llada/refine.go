package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/llada-go/llada"
	"github.com/llada-go/llada/eval"
)

func init() {
	register("refine", command{summary: "draft with the autoregressive judge, then repair the draft with the diffusion model", run: runRefine})
}

type refineOutput struct {
	Draft        []int        `json:"draft"` // prompt + the drafter's continuation
	DraftText    string       `json:"draft_text"`
	PromptLen    int          `json:"prompt_len"`
	ChangedShare float64      `json:"changed_share"`
	Repair       repairOutput `json:"repair"`
}

func runRefine(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newControlCmd("refine", stderr, true).withCanvas(false)
	fs := c.fs
	var rc llada.RefineConfig
	addRepairFlags(fs, &rc.Repair, false)
	judgePath := fs.String("judge", defaultJudge, "autoregressive drafter (ONNX, llada.family=autoregressive) sharing the model's tokenizer")
	fs.IntVar(&rc.Draft.Tokens, "draft-tokens", 32, "tokens the drafter writes after the prompt")
	fs.Float64Var(&rc.Draft.Temperature, "draft-temperature", 1, "drafter temperature (0 = greedy)")
	fs.BoolVar(&rc.Draft.StopAtEOS, "draft-stop-at-eos", false, "end the draft at the drafter's EOS")
	evalN := fs.Int("eval", 0, "instead of one prompt: refine N held-out prompts and report judge gen PPL, distinct-n and the changed share before/after")
	sentences := fs.String("sentences", defaultSentences, "held-out sentences for --eval")
	promptLen := fs.Int("prompt-length", 8, "prompt tokens per held-out sentence for --eval")
	if err := c.parse(args); err != nil {
		return err
	}
	m, cfg, err := c.open()
	if err != nil {
		return err
	}
	defer m.Close()
	rc.Repair.Fill = cfg
	rc.Draft.Seed = rc.Repair.Fill.Seed
	d, err := llada.OpenDrafter(*judgePath, llada.WithIntraOpThreads(c.mf.threads), llada.WithLibraryPath(c.mf.library))
	if err != nil {
		return fmt.Errorf("--judge: %w", err)
	}
	defer d.Close()
	if *evalN > 0 {
		return refineEval(ctx, m, d, *judgePath, *sentences, *evalN, *promptLen, rc, c.json(), stdout)
	}
	prompt, err := c.cf.read(m, stdin, false)
	if err != nil {
		return err
	}
	res, err := m.Refine(ctx, d, prompt, rc)
	if err != nil {
		return err
	}
	draftText, err := m.Tokenizer().Decode(res.Draft, true)
	if err != nil {
		return err
	}
	if c.json() {
		return json.NewEncoder(stdout).Encode(refineOutput{Draft: res.Draft, DraftText: draftText, PromptLen: len(prompt),
			ChangedShare: res.ChangedShare, Repair: toRepairOutput(res.Repair)})
	}
	_, err = fmt.Fprintf(stdout, "draft:   %s\nrefined: %s\n[%.0f%% of the continuation changed, %d forward passes]\n",
		draftText, res.Repair.Text, 100*res.ChangedShare, res.Repair.NFE)
	return err
}

func refineEval(ctx context.Context, m *llada.Model, d *llada.Drafter, judgePath, sentences string, n, promptLen int, rc llada.RefineConfig, asJSON bool, stdout io.Writer) error {
	sents, err := eval.LoadSentences(sentences)
	if err != nil {
		return err
	}
	prompts, err := eval.SentencePrefixes(m.Tokenizer(), sents, promptLen, n)
	if err != nil {
		return err
	}
	judge, err := eval.OpenJudge(judgePath)
	if err != nil {
		return err
	}
	defer judge.Close()
	s, err := eval.Refine(ctx, m, d, judge, prompts, rc)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(s)
	}
	fmt.Fprintf(stdout, "%d prompts of %d tokens, %d-token drafts; repair k=%d threshold=%v rounds=%d\n",
		s.Samples, promptLen, rc.Draft.Tokens, rc.Repair.K, rc.Repair.Threshold, max(rc.Repair.Rounds, 1))
	fmt.Fprintf(stdout, "| | judge gen PPL | distinct-1 | distinct-2 | self-BLEU | diffusion mean log-prob |\n|---|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(stdout, "| draft | %.1f | %.3f | %.3f | %.3f | %.3f |\n", s.Before.GenPPL, s.Before.Distinct[0], s.Before.Distinct[1], s.Before.SelfBLEU, s.LogProbBefore)
	fmt.Fprintf(stdout, "| refined | %.1f | %.3f | %.3f | %.3f | %.3f |\n", s.After.GenPPL, s.After.Distinct[0], s.After.Distinct[1], s.After.SelfBLEU, s.LogProbAfter)
	_, err = fmt.Fprintf(stdout, "changed: %.1f%% of continuation tokens (%.1fs)\n", 100*s.ChangedShare, s.Seconds)
	return err
}
