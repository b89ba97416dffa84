package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/llada-go/llada"
)

func init() {
	register("augment", command{summary: "write seeded mask-and-refill variants of every line of a file (JSONL)", run: runAugment})
}

// augmentRecord is one line of the --out JSONL file.
type augmentRecord struct {
	Line    int    `json:"line"` // 1-based line of --in
	Variant int    `json:"variant"`
	Source  string `json:"source"`
	Text    string `json:"text"`
	IDs     []int  `json:"ids"`
	Masked  []int  `json:"masked"` // token positions remasked and refilled
}

func runAugment(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newControlCmd("augment", stderr, false)
	fs := c.fs
	var ac llada.AugmentConfig
	in := fs.String("in", "", "input text file, one example per line (empty lines are skipped)")
	out := fs.String("out", "", "output JSONL file")
	fs.Float64Var(&ac.MaskRatio, "mask-ratio", 0.15, "share of each line's tokens remasked per variant, in (0,1]")
	fs.IntVar(&ac.Variants, "variants", 1, "variants per line")
	fs.IntVar(&ac.Keep, "keep", 0, "never remask the first N tokens of a line")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when stderr or stdout is a terminal), on, off")
	if err := c.parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--in and --out are required")
	}
	if ac.Variants < 1 {
		return fmt.Errorf("--variants %d: must be at least 1", ac.Variants)
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("--in: %w", err)
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	m, cfg, err := c.open()
	if err != nil {
		return err
	}
	defer m.Close()
	ac.Fill = cfg
	ac.Seed = ac.Fill.Seed
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	showBar := *progress == "on" || (*progress == "auto" && (isTerminal(stderr) || isTerminal(stdout)))
	nonEmpty := 0
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			nonEmpty++
		}
	}
	start, done, written := time.Now(), 0, 0
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		ids, err := m.Tokenizer().Encode(line, true)
		if err != nil {
			return errors.Join(fmt.Errorf("--in line %d: %w", i+1, err), f.Close())
		}
		cfg := ac
		cfg.Seed += uint64(i) * 0x9e3779b97f4a7c15
		cfg.Fill.Seed += uint64(i)
		vars, err := m.Augment(ctx, ids, cfg)
		if err != nil {
			return errors.Join(fmt.Errorf("--in line %d: %w", i+1, err), f.Close())
		}
		for v, x := range vars {
			if err := enc.Encode(augmentRecord{Line: i + 1, Variant: v, Source: line, Text: x.Text, IDs: x.IDs, Masked: x.Masked}); err != nil {
				return errors.Join(err, f.Close())
			}
			written++
		}
		done++
		if showBar {
			drawBar(stderr, done, nonEmpty, time.Since(start))
		}
	}
	if err := w.Flush(); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	if showBar {
		fmt.Fprintln(stderr)
	}
	_, err = fmt.Fprintf(stdout, "%d variants of %d lines written to %s\n", written, done, *out)
	return err
}

// drawBar redraws a one-line progress bar in place.
func drawBar(w io.Writer, done, total int, elapsed time.Duration) {
	const width = 30
	filled := width * done / max(total, 1)
	left := time.Duration(0)
	if done > 0 {
		left = elapsed / time.Duration(done) * time.Duration(total-done)
	}
	fmt.Fprintf(w, "\r[%s%s] %d/%d lines  elapsed %s  left ~%s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		done, total, elapsed.Round(time.Second), left.Round(time.Second))
}
