package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/llada-go/llada"
)

func init() {
	register("tokenize", command{
		summary: "encode text to ids (JSON) or decode ids to text with a tokenizer.json",
		run:     runTokenize,
	})
}

func runTokenize(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokenize", stderr)
	path := fs.String("tokenizer", "", "tokenizer.json `file` (required)")
	noSpecial := fs.Bool("no-special", false, "encode without the post-processor's special tokens (BOS, CLS/SEP...)")
	text := fs.String("text", "", "text to encode; read from stdin when neither --text nor --decode is given")
	decode := fs.String("decode", "", "comma-separated `ids` to decode instead of encoding")
	skip := fs.Bool("skip-special", false, "with --decode, drop special tokens")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: llada tokenize --tokenizer FILE [--no-special] [--text TEXT | --decode 1,2,3 [--skip-special]]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("--tokenizer is required")
	}
	textSet, decodeSet := false, false
	fs.Visit(func(f *flag.Flag) {
		textSet = textSet || f.Name == "text"
		decodeSet = decodeSet || f.Name == "decode"
	})
	if textSet && decodeSet {
		return errors.New("--text and --decode exclude each other")
	}
	tok, err := llada.LoadTokenizer(*path)
	if err != nil {
		return err
	}
	if decodeSet {
		ids, err := parseDecodeIDs(*decode)
		if err != nil {
			return err
		}
		s, err := tok.Decode(ids, *skip)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, s)
		return err
	}
	in := *text
	if !textSet {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		in = string(b)
	}
	ids, err := tok.Encode(in, !*noSpecial)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int{}
	}
	out, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

func parseDecodeIDs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	ids := make([]int, len(parts))
	for i, p := range parts {
		id, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--decode: item %d %q is not an integer id", i+1, p)
		}
		ids[i] = id
	}
	return ids, nil
}
