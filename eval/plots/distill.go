package plots

import (
	"fmt"
	"image/color"
	"slices"
	"sort"

	"github.com/llada-go/llada/eval"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// distillMetric is one row of panels of the teacher-vs-student figure.
type distillMetric struct {
	task, label string
	logY        bool
	value       func(eval.DistillRow) float64
}

var distillMetrics = []distillMetric{
	{eval.TaskGenPPL, "gen PPL (log, lower better)", true, func(r eval.DistillRow) float64 { return r.Samples.GenPPL }},
	{eval.TaskGenPPL, "distinct-2", false, func(r eval.DistillRow) float64 { return r.Samples.Distinct[1] }},
	{eval.TaskGenPPL, "self-BLEU (lower: more diverse)", false, func(r eval.DistillRow) float64 { return r.Samples.SelfBLEU }},
	{eval.TaskGenPPL, "tokens per forward pass", false, func(r eval.DistillRow) float64 { return r.TokensPerPass }},
	{eval.TaskInfill, "infill token accuracy", false, func(r eval.DistillRow) float64 { return r.Infill.TokenAcc }},
	{eval.TaskSudoku, "Sudoku solved (%)", false, func(r eval.DistillRow) float64 { return 100 * r.Sudoku.SolvedRate() }},
}

// distillCurve is one model and sampler: its points on one metric.
type distillCurve struct {
	model, family, sampler string
	rows                   []eval.DistillRow
}

// writeDistill draws the teacher-vs-student figure: one row of panels per metric that has data, quality against
// forward passes (left) and against wall-clock seconds (right), every model with its own marker and colour (the
// teacher's samplers told apart by the line's dashes), one shared legend.
func writeDistill(r *eval.Report, path string) error {
	byKey := map[string]*distillCurve{}
	var order []string
	for _, row := range r.Distill {
		k := row.Family + "\x00" + row.Model + "\x00" + row.Decoding.Sampler + "\x00" + row.Task
		c, ok := byKey[k]
		if !ok {
			c = &distillCurve{model: row.Model, family: row.Family, sampler: row.Decoding.Sampler}
			byKey[k] = c
			order = append(order, k)
		}
		c.rows = append(c.rows, row)
	}
	// Models in first-seen order get the markers and colours: the teacher first.
	var models []string
	style := map[string]int{}
	for _, row := range r.Distill {
		m := row.Family + ": " + row.Model
		if _, ok := style[m]; !ok {
			style[m] = len(models)
			models = append(models, m)
		}
	}
	samplerDash := map[string]int{}
	for _, row := range r.Distill {
		if _, ok := samplerDash[row.Decoding.Sampler]; !ok {
			samplerDash[row.Decoding.Sampler] = len(samplerDash)
		}
	}
	dashes := [][]vg.Length{nil, {vg.Points(5), vg.Points(2)}, {vg.Points(1.5), vg.Points(2)}, {vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)}}
	var metrics []distillMetric
	for _, m := range distillMetrics {
		for _, row := range r.Distill {
			if row.Task == m.task {
				metrics = append(metrics, m)
				break
			}
		}
	}
	if len(metrics) == 0 {
		return fmt.Errorf("no rows to draw")
	}
	const panelW, panelH, legendW = 5 * vg.Inch, 2.6 * vg.Inch, 3 * vg.Inch
	w, h := 2*panelW+legendW, vg.Length(len(metrics))*panelH
	img := vgimg.New(w, h)
	dc := draw.New(img)
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(9)
	inLegend := map[string]bool{}
	for mi, m := range metrics {
		for col, xName := range []string{"forward passes (NFE) per item, log scale", "wall clock of the generations (s), log scale"} {
			p := plot.New()
			if mi == 0 {
				p.Title.Text = [2]string{"quality vs NFE", "quality vs wall clock"}[col]
			}
			p.X.Label.Text = xName
			p.Y.Label.Text = m.label
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = [2]logTicks{{1, 2, 4, 8}, {1, 2, 5}}[col] // budgets halve; seconds span decades
			if m.logY {
				p.Y.Scale = plot.LogScale{}
				p.Y.Tick.Marker = spanTicks{}
			}
			p.Add(plotter.NewGrid())
			for _, k := range order {
				c := byKey[k]
				if c.rows[0].Task != m.task {
					continue
				}
				// Points joined in NFE order on both panels, so that a line reads as "more passes" even where
				// the wall clock (noisy on a shared machine) is not monotone in them.
				rows := slices.Clone(c.rows)
				sort.SliceStable(rows, func(a, b int) bool { return rows[a].NFE < rows[b].NFE })
				pts := make(plotter.XYs, 0, len(rows))
				for _, row := range rows {
					x := row.NFE
					if col == 1 {
						x = row.Seconds
					}
					y := m.value(row)
					if x <= 0 || (m.logY && y <= 0) {
						continue // log axes cannot show zeros
					}
					pts = append(pts, plotter.XY{X: x, Y: y})
				}
				if len(pts) == 0 {
					continue
				}
				l, sc, err := plotter.NewLinePoints(pts)
				if err != nil {
					return err
				}
				si := style[c.family+": "+c.model]
				col := distillColor(si)
				l.Color, sc.Color = col, col
				l.Width = vg.Points(1.5)
				l.Dashes = dashes[samplerDash[c.sampler]%len(dashes)]
				sc.Shape = shapes[si%len(shapes)]
				sc.Radius = vg.Points(3.5)
				p.Add(l, sc)
				name := c.family + ": " + c.model + " · " + c.sampler
				if !inLegend[name] {
					inLegend[name] = true
					legend.Add(name, l, sc)
				}
			}
			x0 := vg.Length(col) * panelW
			y1 := h - vg.Length(mi)*panelH
			p.Draw(draw.Crop(dc, x0, x0+panelW-w, y1-panelH, y1-h))
		}
	}
	legend.Draw(draw.Crop(dc, 2*panelW+vg.Points(8), 0, 0, -vg.Points(24)))
	return writePNG(img, path)
}

// distillColor: the palette in turn; the continuous palette after it, so that many models stay apart.
func distillColor(i int) color.Color {
	all := append(append([]color.Color{}, palette...), contPalette...)
	return all[i%len(all)]
}

// spanTicks labels a log axis densely within a decade and at 1, 2, 5 across several, so labels do not overlap.
type spanTicks struct{}

func (spanTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo > 0 && hi/lo < 10 {
		return logTicks{1, 1.5, 2, 3, 5, 7}.Ticks(lo, hi)
	}
	return logTicks{1, 2, 5}.Ticks(lo, hi)
}
