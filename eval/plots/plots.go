// Package plots draws the quality-against-NFE figures of an evaluation report. It is its own package so that
// programs using package eval do not link gonum's plotting stack (fonts, PDF, SVG, LaTeX: about 60 packages)
// unless they draw.
package plots

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/llada-go/llada/eval"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// curve is one line of a quality-vs-NFE plot. Curves of the continuous family are drawn apart from the masked
// ones: their own colours, a ring marker no masked curve uses, and a dotted line.
type curve struct {
	name       string
	pts        plotter.XYs
	continuous bool
}

// Write draws one PNG per task of r that has sampler rows (quality against forward passes, one line per
// sampler) into dir and returns the file names by task (for eval.MarkdownOptions.Plots).
func Write(r *eval.Report, dir string) (map[string]string, error) {
	out := map[string]string{}
	type spec struct {
		task, file, title, y string
		logY                 bool
		curves               []curve
	}
	var specs []spec
	family := map[string]bool{} // curve name -> continuous family
	withFamily := func(byS map[string]plotter.XYs) []curve {
		cs := curves(byS)
		for i := range cs {
			cs[i].continuous = family[cs[i].name]
		}
		// The legend lists the masked family, then the continuous one, each sorted by name.
		sort.SliceStable(cs, func(a, b int) bool { return !cs[a].continuous && cs[b].continuous })
		return cs
	}
	if len(r.Samples) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Samples {
			byS[row.Decoding.Name()] = append(byS[row.Decoding.Name()], plotter.XY{X: row.MeanNFE, Y: row.GenPPL})
			family[row.Decoding.Name()] = row.Decoding.Continuous()
		}
		specs = append(specs, spec{eval.TaskGenPPL, "genppl.png", "Generative perplexity under the AR judge vs NFE", "gen PPL, log scale (lower is better)", true, withFamily(byS)})
	}
	if len(r.Infill) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Infill {
			byS[row.Decoding.Name()] = append(byS[row.Decoding.Name()], plotter.XY{X: row.MeanNFE, Y: row.TokenAcc})
			family[row.Decoding.Name()] = row.Decoding.Continuous()
		}
		specs = append(specs, spec{eval.TaskInfill, "infill.png", "Infill token accuracy vs NFE", "token accuracy", false, withFamily(byS)})
	}
	if len(r.Sudoku) > 0 {
		byS := map[string]plotter.XYs{}
		for _, row := range r.Sudoku {
			byS[row.Decoding.Sampler] = append(byS[row.Decoding.Sampler], plotter.XY{X: row.MeanNFE, Y: 100 * row.SolvedRate()})
		}
		specs = append(specs, spec{eval.TaskSudoku, "sudoku.png", "Sudoku puzzles solved vs NFE", "solved (%)", false, curves(byS)})
	}
	for _, s := range specs {
		if err := drawCurves(filepath.Join(dir, s.file), s.title, s.y, s.logY, s.task == eval.TaskSudoku, s.curves); err != nil {
			return nil, fmt.Errorf("plots: %s: %w", s.task, err)
		}
		out[s.task] = s.file
	}
	if err := writeSemantic(r, dir, out); err != nil {
		return nil, err
	}
	if len(r.Distill) > 0 {
		if err := writeDistill(r, filepath.Join(dir, "distill.png")); err != nil {
			return nil, fmt.Errorf("plots: %s: %w", eval.TaskDistill, err)
		}
		out[eval.TaskDistill] = "distill.png"
	}
	return out, nil
}

// drawCurves writes a PNG: the plot on the left (log-scaled NFE axis, since budgets halve), the legend in a
// column on the right so that many samplers do not cover the lines.
func drawCurves(path, title, ylabel string, logY, percent bool, cs []curve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "forward passes (NFE) per item, log scale"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{1, 2, 4, 8}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{1, 2, 5}
	} else if percent {
		p.Y.Min, p.Y.Max = 0, 100
	}
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(9)
	styles := styleCurves(cs)
	for i, c := range cs {
		pts := make(plotter.XYs, 0, len(c.pts))
		for _, q := range c.pts {
			// Log axes cannot show zeros; such points (nothing solved, or no pass at all) sit just above.
			if q.X <= 0 {
				q.X = 0.5
			}
			if logY && q.Y <= 0 {
				continue
			}
			pts = append(pts, q)
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		st := styles[i]
		l.Color, sc.Color = st.color, st.color
		l.Width = vg.Points(1.5)
		l.Dashes = st.dashes
		sc.Shape = st.shape
		sc.Radius = st.radius
		p.Add(l, sc)
		legend.Add(c.name, l, sc)
	}
	const w, h, legendW = 10 * vg.Inch, 5 * vg.Inch, 2.6 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
	legend.Draw(draw.Crop(dc, w-legendW+vg.Points(8), 0, -vg.Points(24), -vg.Points(24)))
	return writePNG(img, path)
}

// curveStyle is how one curve is drawn.
type curveStyle struct {
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
	radius vg.Length
}

// styleCurves gives the masked curves the palette and shapes in turn (dashed once the palette repeats) and the
// continuous curves their own colours, the ring marker and a dotted line, so that the families read apart.
func styleCurves(cs []curve) []curveStyle {
	out := make([]curveStyle, len(cs))
	nMasked, nCont := 0, 0
	for i, c := range cs {
		if c.continuous {
			out[i] = curveStyle{contPalette[nCont%len(contPalette)], contShape, []vg.Length{vg.Points(1.5), vg.Points(2.5)}, vg.Points(4)}
			nCont++
			continue
		}
		st := curveStyle{palette[nMasked%len(palette)], shapes[nMasked%len(shapes)], nil, vg.Points(3)}
		if nMasked >= len(palette) {
			st.dashes = []vg.Length{vg.Points(5), vg.Points(2)}
		}
		out[i] = st
		nMasked++
	}
	return out
}

func curves(byS map[string]plotter.XYs) []curve {
	names := make([]string, 0, len(byS))
	for n := range byS {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]curve, len(names))
	for i, n := range names {
		pts := byS[n]
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		out[i] = curve{name: n, pts: pts}
	}
	return out
}

// palette is the Okabe-Ito colour-blind-safe set plus black and grey.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{213, 94, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{86, 180, 233, 255},
	color.RGBA{240, 228, 66, 255}, color.RGBA{0, 0, 0, 255}, color.RGBA{128, 128, 128, 255},
}

// shapes mark the masked family's curves; contShape (not among them) marks every continuous curve.
var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}

var contShape draw.GlyphDrawer = draw.RingGlyph{}

// contPalette colours the continuous family's curves: dark reds and browns, away from the Okabe-Ito hues of
// the masked curves.
var contPalette = []color.Color{
	color.RGBA{153, 0, 0, 255}, color.RGBA{204, 51, 17, 255}, color.RGBA{136, 34, 85, 255},
	color.RGBA{102, 51, 0, 255}, color.RGBA{221, 68, 119, 255},
}

// logTicks labels a log axis at the given mantissas of every power of ten (1, 2, 4, 8 gives 1 2 4 8 10 20 40...),
// denser than gonum's LogTicks, which labels powers of ten only.
type logTicks []float64

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if lo <= 0 || hi <= lo {
		return out
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for _, m := range t {
			v := m * base
			if v >= lo*0.999 && v <= hi*1.001 {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return out
}

// writePNG writes a drawn canvas to path as PNG.
func writePNG(img *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
