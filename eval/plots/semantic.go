package plots

import (
	"fmt"
	"github.com/llada-go/llada/eval"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writeSemanticPlots draws MAUVE against NFE (one line per sampler) and the reliability diagram, when the
// report has them.
func writeSemantic(r *eval.Report, dir string, out map[string]string) error {
	if rows := r.SemanticSamples(); len(rows) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range rows {
			byS[row.Decoding.Sampler] = append(byS[row.Decoding.Sampler], plotter.XY{X: row.MeanNFE, Y: row.Semantic.Mauve.Mauve})
		}
		if err := drawCurves(filepath.Join(dir, "mauve.png"), "MAUVE against human continuations vs NFE", "MAUVE (higher is closer to human text)",
			false, false, curves(byS)); err != nil {
			return fmt.Errorf("plots: mauve: %w", err)
		}
		out[eval.PlotMauve] = "mauve.png"
	}
	if cal := r.Calibration; cal != nil {
		if err := drawReliability(filepath.Join(dir, "calibration.png"), *cal); err != nil {
			return fmt.Errorf("plots: calibration: %w", err)
		}
		out[eval.PlotCalibration] = "calibration.png"
	}
	return nil
}

// drawReliability draws a reliability diagram: accuracy against mean confidence per bin (points sized by
// nothing, so that sparse bins do not hide), the diagonal of perfect calibration, and the bin counts as bars
// scaled to the plot's height.
func drawReliability(path string, cal eval.CalibrationScore) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Denoiser calibration on masked held-out tokens (ECE %.3f)", cal.ECE)
	p.X.Label.Text = "confidence (argmax probability)"
	p.Y.Label.Text = "accuracy; grey bars: share of tokens"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	diag.Color = color.Gray{Y: 90}
	var pts plotter.XYs
	hist := &plotter.Histogram{FillColor: color.Gray{Y: 215}, Width: 1 / float64(max(len(cal.Bins), 1))}
	for _, bn := range cal.Bins {
		w := 0.0
		if cal.Tokens > 0 {
			w = float64(bn.Count) / float64(cal.Tokens)
		}
		hist.Bins = append(hist.Bins, plotter.HistogramBin{Min: bn.Lo, Max: bn.Hi, Weight: w})
		if bn.Count > 0 {
			pts = append(pts, plotter.XY{X: bn.Confidence, Y: bn.Accuracy})
		}
	}
	hist.LineStyle.Width = 0
	p.Add(hist)
	if len(pts) > 0 {
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = palette[0], palette[0]
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(3)
		p.Add(l, sc)
		p.Legend.Add("accuracy per bin", l, sc)
	}
	p.Add(diag)
	p.Legend.Add("perfect calibration", diag)
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(6*vg.Inch, 6*vg.Inch, path)
}
