package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/llada-go/llada/eval"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	var r eval.Report
	for i, s := range []string{"llada-low-confidence", "llada-random"} {
		for k, nfe := range []float64{8, 4, 2} {
			d := eval.Decoding{Sampler: s, TokensPerStep: 1 << k}
			r.Samples = append(r.Samples, eval.SampleRow{Decoding: d, SampleScore: eval.SampleScore{MeanNFE: nfe, GenPPL: float64(2 + i + k)}})
			r.Infill = append(r.Infill, eval.InfillRow{Decoding: d, InfillScore: eval.InfillScore{MeanNFE: nfe, TokenAcc: 0.9 - 0.1*float64(k)}})
			r.Sudoku = append(r.Sudoku, eval.SudokuRow{Decoding: d, SudokuScore: eval.SudokuScore{MeanNFE: nfe, Solved: 3 - k, Puzzles: 4}})
		}
	}
	dir := t.TempDir()
	files, err := Write(&r, dir)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{eval.TaskGenPPL: "genppl.png", eval.TaskInfill: "infill.png", eval.TaskSudoku: "sudoku.png"}, files)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "%s is a PNG", f)
		assert.Less(t, len(data), 150<<10, "plots stay small")
	}
	// With feature-based scores, MAUVE against NFE and the reliability diagram are drawn too.
	for i := range r.Samples {
		r.Samples[i].Semantic = &eval.SampleSemantics{Mauve: eval.MauveResult{Mauve: 0.2 * float64(i%3+1)}}
	}
	r.Calibration = &eval.CalibrationScore{Tokens: 10, ECE: 0.05, Bins: []eval.CalibrationBin{
		{Lo: 0, Hi: 0.5, Count: 6, Confidence: 0.3, Accuracy: 0.25}, {Lo: 0.5, Hi: 1, Count: 4, Confidence: 0.7, Accuracy: 0.75}}}
	files, err = Write(&r, dir)
	require.NoError(t, err)
	assert.Equal(t, "mauve.png", files[eval.PlotMauve])
	assert.Equal(t, "calibration.png", files[eval.PlotCalibration])
	for _, f := range []string{"mauve.png", "calibration.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Less(t, st.Size(), int64(150<<10), "plots stay small")
	}
	files, err = Write(&eval.Report{}, dir)
	require.NoError(t, err)
	assert.Empty(t, files, "no rows, no plots")
	_, err = Write(&r, filepath.Join(dir, "missing", "dir"))
	assert.ErrorContains(t, err, "plots: genppl")
}

// TestStyleCurvesFamilies checks that the continuous curves share no marker or colour with the masked ones, even
// with more masked curves than the palette and shapes have.
func TestStyleCurvesFamilies(t *testing.T) {
	var cs []curve
	for i := 0; i < 12; i++ {
		cs = append(cs, curve{name: fmt.Sprint("masked", i)})
	}
	for _, n := range []string{"ddim", "ddpm", "dpm-solver++", "euler", "heun"} {
		cs = append(cs, curve{name: n + " (continuous)", continuous: true})
	}
	st := styleCurves(cs)
	require.Len(t, st, len(cs))
	contColours := map[color.Color]bool{}
	for i, c := range cs {
		if c.continuous {
			assert.Equal(t, contShape, st[i].shape, c.name)
			assert.NotEmpty(t, st[i].dashes, "%s: continuous curves are dotted", c.name)
			contColours[st[i].color] = true
		}
	}
	assert.Len(t, contColours, 5, "each continuous sampler has its own colour")
	for i, c := range cs {
		if !c.continuous {
			assert.NotEqual(t, contShape, st[i].shape, c.name)
			assert.False(t, contColours[st[i].color], "%s shares a colour with a continuous curve", c.name)
		}
	}
	// Write draws a report that mixes the families.
	var r eval.Report
	for _, d := range []eval.Decoding{{Sampler: "llada-random", TokensPerStep: 1}, {Sampler: "ddim", Steps: 8}, {Sampler: "ddim", Steps: 32}} {
		r.Samples = append(r.Samples, eval.SampleRow{Decoding: d, SampleScore: eval.SampleScore{MeanNFE: float64(d.Steps + 1), GenPPL: 100}})
	}
	files, err := Write(&r, t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, "genppl.png", files[eval.TaskGenPPL])
}
