package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/llada-go/llada"
)

// printDistill writes a distilled model's provenance and recommended sampling budget (llada.distill.*, informational:
// docs/contract.md, "Distillation provenance"); nothing for other models.
func printDistill(w io.Writer, d *llada.Distill) {
	if d == nil {
		return
	}
	var from []string
	if d.Teacher != "" {
		from = append(from, "from "+d.Teacher)
	}
	var extra []string
	switch {
	case d.Rounds == 1:
		extra = append(extra, "1 round")
	case d.Rounds > 1:
		extra = append(extra, fmt.Sprintf("%d rounds", d.Rounds))
	}
	if d.Seed != "" {
		extra = append(extra, "seed "+d.Seed)
	}
	line := "distilled " + orUnknown(d.Method)
	if len(from) > 0 {
		line += " " + strings.Join(from, " ")
	}
	if len(extra) > 0 {
		line += " (" + strings.Join(extra, ", ") + ")"
	}
	fmt.Fprintln(w, line)
	var rec []string
	if d.Sampler != "" {
		rec = append(rec, "--sampler "+d.Sampler)
	}
	if d.Steps > 0 {
		rec = append(rec, fmt.Sprintf("--steps %d", d.Steps))
	}
	if len(rec) > 0 {
		line = "recommended " + strings.Join(rec, " ")
		if d.GenLength > 0 {
			line += fmt.Sprintf(" (trained for --gen-length %d)", d.GenLength)
		}
		fmt.Fprintln(w, line)
	}
	for _, p := range d.Problems {
		fmt.Fprintln(w, "distill warning: "+p)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(method unknown)"
	}
	return s
}
