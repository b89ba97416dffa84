package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
)

func init() {
	register("edit", command{summary: "re-denoise token spans of a text (remask them, refill with any sampler)", run: runEdit})
}

// parseSpans reads "START:END[:LEN],..." (token positions, END exclusive).
func parseSpans(s string) ([]llada.Span, error) {
	var spans []llada.Span
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%q: want START:END or START:END:LEN", part)
		}
		var n [3]int
		for i, x := range f {
			v, err := strconv.Atoi(x)
			if err != nil {
				return nil, fmt.Errorf("%q: %q is not an integer", part, x)
			}
			n[i] = v
		}
		spans = append(spans, llada.Span{Start: n[0], End: n[1], Len: n[2]})
	}
	return spans, nil
}

func runEdit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newControlCmd("edit", stderr, true).withCanvas(false)
	spansFlag := c.fs.String("spans", "", "token spans to rewrite: START:END[:LEN],... (END exclusive; LEN resizes the span)")
	m, cfg, canvas, err := c.start(args, stdin)
	if err != nil {
		return err
	}
	defer m.Close()
	if *spansFlag == "" {
		return errors.New("--spans is required")
	}
	spans, err := parseSpans(*spansFlag)
	if err != nil {
		return fmt.Errorf("--spans: %w", err)
	}
	res, err := m.Edit(ctx, canvas, spans, cfg)
	if err != nil {
		return err
	}
	return writeInfill(stdout, c.json(), res)
}
