package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/llada-go/llada"
)

func init() {
	register("repair", command{summary: "remask the tokens the model finds least likely in context and refill them", run: runRepair})
}

type repairRoundOutput struct {
	Remasked    []int   `json:"remasked"`
	Changed     []int   `json:"changed"`
	MeanLogProb float64 `json:"mean_logprob"`
	NFE         int     `json:"nfe"`
}

type repairOutput struct {
	IDs          []int               `json:"ids"`
	Text         string              `json:"text"`
	Changed      int                 `json:"changed"`
	FinalLogProb float64             `json:"final_mean_logprob"`
	NFE          int                 `json:"nfe"`
	Rounds       []repairRoundOutput `json:"rounds"`
}

func toRepairOutput(r llada.RepairResult) repairOutput {
	out := repairOutput{IDs: r.IDs, Text: r.Text, Changed: r.Changed, FinalLogProb: r.FinalLogProb, NFE: r.NFE,
		Rounds: []repairRoundOutput{}}
	for _, rd := range r.Rounds {
		out.Rounds = append(out.Rounds, repairRoundOutput{Remasked: rd.Remasked, Changed: rd.Changed, MeanLogProb: rd.MeanLogProb, NFE: rd.NFE})
	}
	return out
}

// addRepairFlags registers the repair knobs (--k, --repair-threshold, --rounds, --keep); --threshold is the
// sampler's (Fast-dLLM's tau).
func addRepairFlags(fs *flag.FlagSet, rc *llada.RepairConfig, keep bool) {
	fs.IntVar(&rc.K, "k", 0, "tokens remasked per round, the least likely in context (0 with --repair-threshold 0: a tenth)")
	fs.Float64Var(&rc.Threshold, "repair-threshold", 0, "remask instead every token whose in-context probability is below this")
	fs.IntVar(&rc.Rounds, "rounds", 1, "rounds of score, remask, refill")
	if keep {
		fs.IntVar(&rc.Keep, "keep", 0, "never remask the first N tokens (a prompt)")
	}
}

func runRepair(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newControlCmd("repair", stderr, true).withCanvas(false)
	var rc llada.RepairConfig
	addRepairFlags(c.fs, &rc, true)
	m, cfg, canvas, err := c.start(args, stdin)
	if err != nil {
		return err
	}
	defer m.Close()
	rc.Fill = cfg
	res, err := m.Repair(ctx, canvas, rc)
	if err != nil {
		return err
	}
	if c.json() {
		return json.NewEncoder(stdout).Encode(toRepairOutput(res))
	}
	_, err = fmt.Fprintf(stdout, "%s\n[%d rounds, %d tokens changed, mean log-prob %.3f -> %.3f, %d forward passes]\n",
		res.Text, len(res.Rounds), res.Changed, firstLogProb(res), res.FinalLogProb, res.NFE)
	return err
}

func firstLogProb(r llada.RepairResult) float64 {
	if len(r.Rounds) == 0 {
		return r.FinalLogProb
	}
	return r.Rounds[0].MeanLogProb
}
