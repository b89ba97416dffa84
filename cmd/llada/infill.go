package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/llada-go/llada"
)

func init() {
	register("infill", command{summary: "fill the holes (<|mask:N|> or mask ids) of a text anywhere", run: runInfill})
}

// infillOutput is the --format json document of infill and edit.
type infillOutput struct {
	IDs       []int   `json:"ids"` // the whole canvas, holes filled
	Holes     []int   `json:"holes"`
	Text      string  `json:"text"`
	NFE       int     `json:"nfe"`
	Steps     int     `json:"steps"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

func writeInfill(w io.Writer, asJSON bool, res llada.InfillResult) error {
	if asJSON {
		return json.NewEncoder(w).Encode(infillOutput{IDs: res.IDs, Holes: res.Holes, Text: res.Text, NFE: res.NFE,
			Steps: res.Steps, ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000})
	}
	_, err := fmt.Fprintln(w, res.Text)
	return err
}

func runInfill(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newControlCmd("infill", stderr, true).withCanvas(true)
	m, cfg, canvas, err := c.start(args, stdin)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := m.Infill(ctx, canvas, cfg)
	if err != nil {
		return err
	}
	return writeInfill(stdout, c.json(), res)
}
