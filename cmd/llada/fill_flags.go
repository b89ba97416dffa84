package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/llada-go/llada"
)

// fillFlags are the flags of the commands that refill holes (infill, edit, repair, refine, augment): the
// sampler and its knobs, temperature, steps and blocks over the holes, guidance, seed.
type fillFlags struct {
	cfg      llada.GenerateConfig
	sampler  func(cfg *llada.GenerateConfig) error
	guidance func(cfg *llada.GenerateConfig, tok llada.Tokenizer) error
}

func (f *fillFlags) add(fs *flag.FlagSet) {
	fs.IntVar(&f.cfg.Steps, "steps", 0, "denoising steps over the holes (0 = one per hole)")
	fs.IntVar(&f.cfg.BlockLength, "block-length", 0, "blocks over the holes, left to right (0 = one block)")
	fs.Float64Var(&f.cfg.Temperature, "temperature", 0, "sampling temperature (0 = greedy)")
	fs.Float64Var(&f.cfg.CFGScale, "cfg-scale", 0, "classifier-free guidance scale (0 = off)")
	fs.Uint64Var(&f.cfg.Seed, "seed", 0, "random seed")
	f.sampler = addSamplerFlags(fs)
	f.guidance = addGuidanceFlags(fs)
}

// config returns the refill configuration once the flags are parsed.
func (f *fillFlags) config(tok llada.Tokenizer) (llada.GenerateConfig, error) {
	cfg := f.cfg
	if err := f.sampler(&cfg); err != nil {
		return cfg, err
	}
	if err := f.guidance(&cfg, tok); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// canvasFlags read a canvas from --text (with <|mask:N|> placeholders when holes are allowed), --prompt-ids,
// or stdin.
type canvasFlags struct {
	text, ids string
}

func (c *canvasFlags) add(fs *flag.FlagSet, holes bool) {
	what := "text"
	if holes {
		what = "text with holes: <|mask:N|> stands for N masked tokens"
	}
	fs.StringVar(&c.text, "text", "", what+" (or read from stdin when neither --text nor --prompt-ids is set)")
	fs.StringVar(&c.ids, "prompt-ids", "", "the canvas as comma-separated token ids (holes as the model's mask id)")
}

func (c *canvasFlags) read(m *llada.Model, stdin io.Reader, holes bool) ([]int, error) {
	switch {
	case c.ids != "" && c.text != "":
		return nil, errors.New("give --text or --prompt-ids, not both")
	case c.ids != "":
		ids, err := parseIDs(c.ids)
		if err != nil {
			return nil, fmt.Errorf("--prompt-ids: %w", err)
		}
		return ids, nil
	}
	text := c.text
	if text == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read text from stdin: %w", err)
		}
		text = strings.TrimRight(string(b), "\n")
	}
	if holes {
		return llada.ParseCanvas(m.Tokenizer(), m.Contract(), text)
	}
	ids, err := m.Tokenizer().Encode(text, true)
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("the text encodes to no tokens")
	}
	return ids, nil
}

func checkFormat(format string) error {
	if format != "text" && format != "json" {
		return fmt.Errorf("--format %q: want text or json", format)
	}
	return nil
}

// controlCmd is the shell shared by infill, edit, repair, refine and augment: flags for the model and the
// refill, an optional --format, parsing, and opening the model.
type controlCmd struct {
	fs     *flag.FlagSet
	mf     modelFlags
	ff     fillFlags
	format *string
	cf     *canvasFlags
	holes  bool
}

func newControlCmd(name string, stderr io.Writer, withFormat bool) *controlCmd {
	c := &controlCmd{fs: newFlagSet(name, stderr)}
	c.mf.add(c.fs)
	c.ff.add(c.fs)
	if withFormat {
		c.format = c.fs.String("format", "text", "output format: text or json")
	}
	return c
}

// parse parses args and rejects positional arguments and unknown formats.
func (c *controlCmd) parse(args []string) error {
	if err := parseFlags(c.fs, args); err != nil {
		return err
	}
	if c.format != nil {
		return checkFormat(*c.format)
	}
	return nil
}

// open opens the model and resolves the refill configuration; the caller closes the model.
func (c *controlCmd) open() (*llada.Model, llada.GenerateConfig, error) {
	m, err := c.mf.open()
	if err != nil {
		return nil, llada.GenerateConfig{}, err
	}
	cfg, err := c.ff.config(m.Tokenizer())
	if err != nil {
		return nil, cfg, errors.Join(err, m.Close())
	}
	return m, cfg, nil
}

func (c *controlCmd) json() bool { return c.format != nil && *c.format == "json" }

// withCanvas registers the canvas flags (see canvasFlags); holes allows placeholders in --text.
func (c *controlCmd) withCanvas(holes bool) *controlCmd {
	c.cf, c.holes = &canvasFlags{}, holes
	c.cf.add(c.fs, holes)
	return c
}

// start parses args, opens the model and reads the canvas; the caller closes the model.
func (c *controlCmd) start(args []string, stdin io.Reader) (*llada.Model, llada.GenerateConfig, []int, error) {
	if err := c.parse(args); err != nil {
		return nil, llada.GenerateConfig{}, nil, err
	}
	m, cfg, err := c.open()
	if err != nil {
		return nil, cfg, nil, err
	}
	canvas, err := c.cf.read(m, stdin, c.holes)
	if err != nil {
		return nil, cfg, nil, errors.Join(err, m.Close())
	}
	return m, cfg, canvas, nil
}
